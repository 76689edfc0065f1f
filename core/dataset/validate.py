"""Validation of a whole dataset: every record checked, token-counted, and the file judged.

Per-record work (`rules.check_line`) runs over ranges of records, in this process or in worker
processes that each read their byte range of the file themselves; results are kept per record in
compact columns and cached, so after an edit only the edited records are checked again, and a
save checks nothing again: the results follow the bytes into the version just written. The
file-level rules (too few examples, mixed formats, duplicates, several system prompts) run over
the columns afterwards, every time.

Worker processes are started with forkserver (spawn where there is none), never forked from the
caller: the TUI calls this from a thread, and forking a process with live threads can deadlock.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import weakref
from array import array
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from core.dataset import base_models, rules
from core.dataset.base_models import BaseModel
from core.dataset.lines import records_in
from core.dataset.rules import CHAT, CODES, INVALID, PREFERENCE, Checked, Finding, Problem
from core.dataset.store import Dataset, Line, Run, Source
from core.dataset.tokens import Counter

CHUNK = 20_000  # records per task: progress is reported and cancel is checked this often
PROCESS_THRESHOLD = 60_000  # below this, starting workers costs more than it saves

Progress = Callable[[int, int], None]
# (source, lo, columns): per-record results of records lo.. of one source, as soon as they are known.
Chunk = Callable[[Source, int, "Columns"], None]


class Cancelled(Exception):
    """Validation was cancelled; nothing was half-recorded."""


@dataclass
class Columns:
    """Per-record results for a range of records, one compact array per number.

    Numbers are machine integers in arrays, never Python objects per record: at a million
    records that is 37 bytes each (a list of ints would be about ten times as much).
    """

    kind: array = field(default_factory=lambda: array("b"))
    tokens: array = field(default_factory=lambda: array("i"))
    messages: array = field(default_factory=lambda: array("i"))
    system_tokens: array = field(default_factory=lambda: array("i"))
    user_tokens: array = field(default_factory=lambda: array("i"))
    assistant_tokens: array = field(default_factory=lambda: array("i"))
    duplicate_key: array = field(default_factory=lambda: array("Q"))
    system_key: array = field(default_factory=lambda: array("Q"))
    problems: dict[int, list[Problem]] = field(default_factory=dict)  # sparse: record -> problems

    NUMBERS = ("kind", "tokens", "messages", "system_tokens", "user_tokens", "assistant_tokens", "duplicate_key", "system_key")

    @classmethod
    def zeros(cls, n: int) -> Columns:
        """n blank records, to be filled in place (once each, in any order) with `put` and `set`."""
        return cls(**{name: array(numbers.typecode, [0]) * n for name, numbers in cls().numbers()})

    def numbers(self) -> Iterator[tuple[str, array]]:
        return ((name, getattr(self, name)) for name in self.NUMBERS)

    def __len__(self) -> int:
        return len(self.kind)

    def add(self, checked: Checked) -> None:
        if checked.problems:
            self.problems[len(self.kind)] = checked.problems
        self.kind.append(checked.kind)
        self.tokens.append(checked.tokens)
        self.messages.append(checked.messages)
        self.system_tokens.append(checked.system_tokens)
        self.user_tokens.append(checked.user_tokens)
        self.assistant_tokens.append(checked.assistant_tokens)
        self.duplicate_key.append(checked.duplicate_key)
        self.system_key.append(checked.system_key)

    def add_all(self, checked: list[Checked]) -> None:
        """`add` each of `checked`, a column at a time (eight method calls a record, saved)."""
        base = len(self.kind)
        for k, one in enumerate(checked):
            if one.problems:
                self.problems[base + k] = one.problems
        self.kind.extend([one.kind for one in checked])
        self.tokens.extend([one.tokens for one in checked])
        self.messages.extend([one.messages for one in checked])
        self.system_tokens.extend([one.system_tokens for one in checked])
        self.user_tokens.extend([one.user_tokens for one in checked])
        self.assistant_tokens.extend([one.assistant_tokens for one in checked])
        self.duplicate_key.extend([one.duplicate_key for one in checked])
        self.system_key.extend([one.system_key for one in checked])

    def set(self, at: int, checked: Checked) -> None:
        """Fill blank record `at` with one record's results."""
        for name, numbers in self.numbers():
            numbers[at] = getattr(checked, name)
        if checked.problems:
            self.problems[at] = checked.problems

    def put(self, at: int, other: Columns, lo: int = 0, hi: int | None = None) -> None:
        """Fill blank records at.. with records lo..hi-1 of `other`."""
        hi = len(other) if hi is None else hi
        for name, numbers in self.numbers():
            numbers[at : at + hi - lo] = getattr(other, name)[lo:hi]
        # Problems are sparse: look at whichever is fewer, the range or the records with problems.
        if hi - lo < len(other.problems):
            found = ((k, other.problems.get(k)) for k in range(lo, hi))
        else:
            found = ((k, problems) for k, problems in other.problems.items() if lo <= k < hi)
        for k, problems in found:
            if problems:
                self.problems[at + k - lo] = problems

    def extend(self, other: Columns, lo: int = 0, hi: int | None = None) -> None:
        """Append records lo..hi-1 of `other`."""
        hi = len(other) if hi is None else hi
        base = len(self.kind)
        for name in self.NUMBERS:
            getattr(self, name).extend(getattr(other, name)[lo:hi])
        for k, problems in other.problems.items():
            if lo <= k < hi:
                self.problems[base + k - lo] = problems

    def invalid(self) -> set[int]:
        """Records with an error: the service would not train on them."""
        return {k for k, problems in self.problems.items() if rules.has_error(problems)}

    def one(self, k: int) -> Checked:
        values = {name: getattr(self, name)[k] for name in self.NUMBERS}
        return Checked(problems=self.problems.get(k), **values)


def check_records(raws: Iterable[bytes], model: BaseModel) -> Columns:
    """Check records one after another in this process."""
    counter = Counter(model.encoding)
    enabled = gc.isenabled()
    gc.disable()  # nothing here makes cycles; collecting during a bulk load is pure cost
    try:
        checked = [rules.check_line(raw, counter, model) for raw in raws]
    finally:
        if enabled:
            gc.enable()
    columns = Columns()
    columns.add_all(checked)
    return columns


def check_file_range(path: str, start: int, end: int, count: int, model_name: str) -> Columns:
    """Worker task: check the `count` records in bytes start..end of the file at `path`."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    raws = records_in(data)
    if len(raws) != count:
        raise RuntimeError(f"{path} changed while it was being validated")
    return check_records(raws, base_models.lookup(model_name))


def _pool_context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


@dataclass
class Report:
    """The verdict on one dataset for one model."""

    path: str
    model: BaseModel
    columns: Columns
    findings: list[Finding]
    records: int
    format: str  # chat, preference, mixed, unknown, empty

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def valid_examples(self) -> int:
        return self.records - len(self.columns.invalid())

    def by_code(self) -> dict[str, list[Finding]]:
        groups: dict[str, list[Finding]] = {}
        for finding in self.findings:
            groups.setdefault(finding.code, []).append(finding)
        return groups

    def for_line(self, line: int) -> list[Finding]:
        return [f for f in self.findings if f.line == line]

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "model": self.model.name,
            "format": self.format,
            "records": self.records,
            "valid_examples": self.valid_examples,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "by_code": {
                code: {"severity": CODES[code][0], "count": len(group), "lines": [f.line for f in group if f.line is not None]}
                for code, group in sorted(self.by_code().items())
            },
            "findings": [f.to_json() for f in self.findings],
        }


class Validator:
    """Validates one dataset, remembering per-record results between runs (one per model).

    Results are kept per source (a version of the file on disk: one array per number over all
    its records) and per new record (by its bytes). Saving makes a new source whose records are
    bytes the validator has seen (`Source.written_from`), so their results are carried over
    instead of computed again; likewise back from a newer source when undo returns to an older
    one. Only the columns of the sources the document uses now are kept between runs.
    """

    def __init__(self, dataset: Dataset, model: str | BaseModel | None = None):
        self.dataset = dataset
        self.model = model if isinstance(model, BaseModel) else base_models.lookup(model)
        # Weak keys: the columns of a version nothing refers to any more (after a reload) go
        # with it, and a new source can never pick up the results of a dead one.
        self._runs: weakref.WeakKeyDictionary[Source, Columns] = weakref.WeakKeyDictionary()
        self._lines: dict[bytes, Checked] = {}  # new records, by their bytes
        self._counter: Counter | None = None  # for new records, made on first need
        # The pieces the last report was made for and its columns (weakly: the caller holds the
        # report). Saving right after a run writes exactly those pieces, so the new source's
        # columns are that report's, shared rather than assembled again.
        self._last: tuple[tuple, weakref.ref] | None = None

    def run(
        self,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        workers: int | None = None,
        on_chunk: Chunk | None = None,
    ) -> Report:
        """Check what is not checked yet and judge the whole file.

        `on_chunk(source, lo, columns)` receives each range of records of a source as soon as it
        is checked (in the order ranges finish; before the file-level rules), so a UI can show
        partial results of a long run. Records already cached (or carried over) are not reported.
        """
        ds = self.dataset
        pieces = ds.pieces()
        used = list(dict.fromkeys(p.source for p in pieces if isinstance(p, Run)))
        plans = {source: self._carried(source) for source in used if source not in self._runs}
        total = sum(len(source.index) if plan is None else _count(plan[1]) for source, plan in plans.items())
        done = 0
        for source, plan in plans.items():
            columns, ranges = plan or (Columns.zeros(len(source.index)), [(0, len(source.index))])
            done = self._check_source(source, columns, ranges, progress, cancel, workers, done, total, on_chunk)
            self._runs[source] = columns
        for source in [s for s in self._runs if s not in used]:
            del self._runs[source]  # carried into the sources in use (or not needed any more)
        if len(pieces) == 1 and isinstance(pieces[0], Run) and len(pieces[0]) == len(pieces[0].source.index):
            columns = self._runs[pieces[0].source]  # the whole of one version: no copy
        else:
            columns = Columns.zeros(len(ds))
            at = 0
            for piece in pieces:
                if isinstance(piece, Run):
                    columns.put(at, self._runs[piece.source], piece.lo, piece.hi)
                else:
                    columns.set(at, self._line(piece.raw))
                at += len(piece)
        self._last = (tuple(pieces), weakref.ref(columns))
        if progress is not None:
            progress(total, total)
        return _judge(ds, self.model, columns)

    def _line(self, raw: bytes) -> Checked:
        checked = self._lines.get(raw)
        if checked is None:
            self._counter = self._counter or Counter(self.model.encoding)
            checked = self._lines[raw] = rules.check_line(raw, self._counter, self.model)
        return checked

    def _carried(self, source: Source) -> tuple[Columns, list[tuple[int, int]]] | None:
        """Columns of `source` with the results already known for its bytes filled in, and the
        ranges of records still to check; None when nothing is known.

        Known are: the sources this one was saved from and new records already checked
        (`written_from`), and, for an older version that undo brought back, the newer sources
        saved from it. Only exact bytes are matched, so nothing stale can be carried.
        """
        n = len(source.index)
        if source.written_from and self._last is not None and source.written_from == self._last[0]:
            columns = self._last[1]()
            if columns is not None and len(columns) == n:
                return columns, []
        columns, filled = Columns.zeros(n), bytearray(n)
        at = 0
        for piece in source.written_from:
            if isinstance(piece, Line):
                checked = self._lines.get(piece.raw)
                if checked is not None:
                    columns.set(at, checked)
                    filled[at] = 1
            elif (known := self._runs.get(piece.source)) is not None:
                columns.put(at, known, piece.lo, piece.hi)
                filled[at : at + len(piece)] = b"\1" * len(piece)
            at += len(piece)
        for newer, known in self._runs.items():
            at = 0
            for piece in newer.written_from:
                if isinstance(piece, Run) and piece.source is source:
                    columns.put(piece.lo, known, at, at + len(piece))
                    filled[piece.lo : piece.hi] = b"\1" * len(piece)
                at += len(piece)
        if filled.find(1) < 0:
            return None
        ranges, lo = [], filled.find(0)
        while lo >= 0:
            hi = filled.find(1, lo)
            hi = n if hi < 0 else hi
            ranges.append((lo, hi))
            lo = filled.find(0, hi)
        return columns, ranges

    def _check_source(self, source, columns, ranges, progress, cancel, workers, done, total, on_chunk=None) -> int:
        """Check records `ranges` of `source` into `columns`; returns `done` plus their count."""
        n = _count(ranges)
        workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
        # At least four tasks per worker, so no worker sits idle while the last one finishes.
        chunk = max(1, min(CHUNK, -(-n // (4 * workers))))
        tasks = [(lo, min(lo + chunk, hi)) for a, hi in ranges for lo in range(a, hi, chunk)]
        index = source.index
        # Workers read the file by its path, which holds this version only while it is the
        # document's own (undo after a save can bring back records of the replaced file).
        if workers > 1 and n >= PROCESS_THRESHOLD and source is self.dataset.source and self.dataset.path.exists():
            path = str(self.dataset.path)
            with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
                futures = {
                    pool.submit(check_file_range, path, index.starts[lo], index.span_end(hi - 1), hi - lo, self.model.name): lo
                    for lo, hi in tasks
                }
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in finished:
                        # Let go of the future: it holds its result, a copy of what `put` stores.
                        lo, result = futures.pop(future), future.result()
                        columns.put(lo, result)
                        if on_chunk is not None:
                            on_chunk(source, lo, result)
                        done += len(result)
                        if progress is not None:
                            progress(done, total)
                    if cancel is not None and cancel.is_set():
                        for future in pending:
                            future.cancel()
                        raise Cancelled()
        else:
            for lo, hi in tasks:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                result = check_records(source.records(lo, hi), self.model)
                columns.put(lo, result)
                if on_chunk is not None:
                    on_chunk(source, lo, result)
                done += hi - lo
                if progress is not None:
                    progress(done, total)
        return done


def _count(ranges: list[tuple[int, int]]) -> int:
    return sum(hi - lo for lo, hi in ranges)


def _judge(ds: Dataset, model: BaseModel, columns: Columns) -> Report:
    """Turn per-record results into findings with line numbers, then apply the file-level rules."""
    findings: list[Finding] = []
    n = len(columns)
    if ds.bom:
        findings.append(Finding("utf8-bom", "the file starts with a UTF-8 byte-order mark; some tools reject it", None, fix="save without the BOM"))
    chats, preferences = columns.kind.count(CHAT), columns.kind.count(PREFERENCE)
    record_findings: dict[int, list[Finding]] = {}
    for k, problems in columns.problems.items():
        line = ds.lineno(k)
        record_findings[k] = [rules.make_finding(p, line) for p in problems]
    # Exact duplicates: every later copy names the first.
    for first, k in _repeated_keys(columns.duplicate_key):
        if _same(ds, first, k):
            first_line = ds.lineno(first)
            record_findings.setdefault(k, []).append(
                Finding("duplicate-example", f"an exact copy of the example on line {first_line}", ds.lineno(k), fix="delete this copy", related_line=first_line)
            )
    for k in sorted(record_findings):
        findings.extend(record_findings[k])
    valid = n - len(columns.invalid())
    if valid < base_models.MIN_EXAMPLES:
        findings.append(
            Finding(
                "too-few-examples",
                f"{valid} valid example{'s' if valid != 1 else ''}; the service requires at least {base_models.MIN_EXAMPLES}",
                None,
                fix="add examples (50–100 good ones is a common starting point)",
            )
        )
    if chats and preferences:
        minority, name = (PREFERENCE, "preference") if preferences <= chats else (CHAT, "chat")
        first = columns.kind.index(minority)
        findings.append(
            Finding(
                "mixed-formats",
                f"{chats} chat and {preferences} preference examples in one file; the first {name} example is on line {ds.lineno(first)}",
                None,
                fix="keep one format per file",
                related_line=ds.lineno(first),
            )
        )
    # Counted in C over the whole column (a generator over a million records takes ten times as
    # long); then the records that are not examples are taken back out.
    prompts = Tally(columns.system_key)
    kinds = columns.kind.tobytes()
    k = kinds.find(INVALID)
    while k >= 0:
        prompts[columns.system_key[k]] -= 1
        k = kinds.find(INVALID, k + 1)
    del prompts[0]  # no system prompt
    prompts = +prompts  # drops the keys counted only for records that are not examples
    if len(prompts) > 1:
        (common, count), *others = prompts.most_common()
        other_lines = sorted(ds.lineno(columns.system_key.index(key)) for key, _ in others[:3])
        findings.append(
            Finding(
                "several-system-prompts",
                f"{len(prompts)} different system prompts; the most common is used by {count:,} examples, others first appear on line"
                f"{'s' if len(other_lines) > 1 else ''} {', '.join(map(str, other_lines))}",
                None,
                fix="use the system prompt you will send in production, everywhere",
                related_line=other_lines[0],
            )
        )
    kind = "empty" if n == 0 else "mixed" if chats and preferences else "chat" if chats else "preference" if preferences else "unknown"
    return Report(path=str(ds.path), model=model, columns=columns, findings=findings, records=n, format=kind)


def _repeated_keys(keys: array) -> Iterator[tuple[int, int]]:
    """(first record, later record) for each record whose key (not 0) an earlier record has.

    A dict of every key would cost about 100 bytes a record; instead a first pass marks each
    key's bit in a table of 16 bits per record and keeps only the keys whose bit was already
    set (the repeats, and a few keys that share a bit), and a second pass looks just at those.
    """
    bits = max(16, (16 * len(keys)).bit_length())
    mask = (1 << bits) - 1
    table = bytearray(1 << (bits - 3))
    again = set()
    for key in keys:
        if key:
            h = key & mask
            if table[h >> 3] & (1 << (h & 7)):
                again.add(key)
            else:
                table[h >> 3] |= 1 << (h & 7)
    del table
    if not again:
        return
    first_seen: dict[int, int] = {}
    for k, key in enumerate(keys):
        if key in again:
            first = first_seen.setdefault(key, k)
            if first != k:
                yield first, k


def _same(ds: Dataset, a: int, b: int) -> bool:
    """Digests match; compare the examples themselves so a collision can never be reported."""
    return ds[a] == ds[b]


def validate(
    dataset: Dataset,
    model: str | None = None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> Report:
    """Validate a whole dataset once (see `Validator` to re-validate cheaply after edits)."""
    return Validator(dataset, model).run(progress=progress, cancel=cancel, workers=workers)
