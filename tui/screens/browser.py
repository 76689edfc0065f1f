"""The dataset browser: a virtual list of examples, the findings, the stats, search and filters.

Everything slow runs in thread workers that report with typed messages; handlers on the event
loop render. Opening streams the line index in (rows appear before the file is fully indexed);
validation reports each checked range as it finishes (`Validator.run(on_chunk=...)`), so marks,
token counts and findings fill in while the user scrolls; the stats need the whole file and
appear at the end. Edits (from the editor or anyone holding the shared `Dataset`) arrive through
`Dataset.listen`; results computed for an older version follow their records through
`Layout` keys until fresh ones arrive.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import partial
from operator import itemgetter
from pathlib import Path

import orjson
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, ProgressBar, Static
from textual.worker import get_current_worker

from core.dataset import CODES, Cancelled, Dataset, DatasetError, Finding, RawLine, Validator, open_dataset
from core.dataset import base_models, stats
from core.dataset.lines import LineIndex
from core.dataset.rules import has_error
from core.dataset.store import Line, Source
from core.dataset.validate import Columns, Report
from tui.widgets.example_list import (
    MARKS,
    ExampleList,
    Layout,
    Verdicts,
    component_style,
    example_text,
    one_line,
    roles_of,
    text_strip,
)
from tui.widgets.profile_bar import ProfileBar

SCAN_BATCH = 5_000  # records read per call while searching or filtering
TRANSLATE_LIMIT = 300_000  # above this, a list of records is rebuilt by a new scan, not carried over an edit
WIDE = 96  # columns from which findings and stats sit beside the list (below 96 they open under it)
ROLE_PATTERN = re.compile(r"[SUATFP?*\s]+")


# ----------------------------------------------------------------- messages from workers
@dataclass
class IndexGrew(Message):
    rows: StreamingRows
    count: int
    drawn: threading.Event | None = None  # set once rows are on screen (first batch only)


@dataclass
class Opened(Message):
    dataset: Dataset
    rows: StreamingRows | None


@dataclass
class OpenFailed(Message):
    title: str
    hint: str


class DatasetChanged(Message):
    """The shared dataset was edited, undone, or saved (possibly from another thread)."""


@dataclass
class ValidationProgress(Message):
    model: str
    done: int
    total: int


@dataclass
class ValidationChunk(Message):
    """Results for one range of records, before the file-level rules have run."""

    model: str
    layout: Layout
    version: int
    source_id: int
    lo: int
    columns: Columns
    found: list[tuple[int, Finding]]


@dataclass
class ValidationDone(Message):
    model: str
    layout: Layout
    version: int
    report: Report
    flagged: dict[int, str]
    records: array  # the record of each finding in report.findings (-1 for the whole file)
    stats: stats.Stats
    histogram: list[int]


@dataclass
class ValidationStopped(Message):
    model: str
    error: str | None  # None when cancelled


@dataclass
class ScanProgress(Message):
    """Records that matched a search or a roles filter, as the scan goes."""

    kind: str  # "search" or "roles"
    query: str
    version: int
    found: list[int]
    done: int
    total: int
    finished: bool


# ----------------------------------------------------------------- reading while indexing
class StreamingRows:
    """The records of a file whose index is still being built, read straight from the file."""

    def __init__(self, path: Path, index: LineIndex):
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._source = Source(self._fd, index)
        self.index = index
        self.count = 0  # records whose end is known (set from the event loop)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int):
        raw = self._source.record(i)
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        return value if isinstance(value, dict) else RawLine(raw)

    def lineno(self, i: int) -> int:
        return self.index.lineno(i)

    def identity(self, i: int) -> tuple:
        return ("indexing", i)

    def record_at_line(self, line: int) -> int | None:
        found = bisect_left(range(self.count), line, key=self.index.lineno)
        return found if found < self.count else None

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass


class _StopIndexing(Exception):
    pass


def lower_priority() -> None:
    """Run this thread, and the processes it starts, at a lower CPU priority (Linux: per thread).

    Validation keeps every core busy for a minute on a big file; the event loop must still get
    the CPU the moment a key arrives. Worker processes inherit the niceness of the thread that
    starts them. Best effort: elsewhere this does nothing.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def start_process_helpers() -> None:
    """Start multiprocessing's resource tracker with the process's own stderr.

    While a Textual app runs, `sys.stderr` is a capture object whose `fileno()` is -1, and the
    tracker is started with that descriptor: validating a big file with worker processes from
    inside the app would fail with "bad value(s) in fds_to_keep". Once started, it is reused.
    """
    from multiprocessing import resource_tracker

    if sys.__stderr__ is None:
        return
    captured = sys.stderr
    sys.stderr = sys.__stderr__
    try:
        resource_tracker.ensure_running()
    finally:
        sys.stderr = captured


# ----------------------------------------------------------------- findings
class FindingsModel:
    """The findings known so far, grouped by code, each with its record in `layout`'s order."""

    def __init__(self, layout: Layout, version: int, *, partial: bool):
        self.layout = layout
        self.version = version
        self.partial = partial
        self.groups: dict[str, list[tuple[int, Finding]]] = {}
        self.by_record: dict[int, list[Finding]] = {}
        self.total = 0
        self._sorted: dict[tuple, array] = {}

    @classmethod
    def of_report(cls, layout: Layout, version: int, report: Report, records: array) -> FindingsModel:
        model = cls(layout, version, partial=False)
        model.add(list(zip(records, report.findings)))
        return model

    def add(self, pairs: list[tuple[int, Finding]]) -> None:
        touched = set()
        for record, finding in pairs:
            group = self.groups.setdefault(finding.code, [])
            if group and group[-1][0] > record:
                touched.add(finding.code)  # ranges can finish out of order
            group.append((record, finding))
            if record >= 0:
                self.by_record.setdefault(record, []).append(finding)
        for code in touched:
            self.groups[code].sort(key=itemgetter(0))
        self.total += len(pairs)
        self._sorted.clear()

    def ordered_groups(self) -> list[tuple[str, list[tuple[int, Finding]]]]:
        """Errors first, then warnings; within each, in the order they first occur."""
        return sorted(self.groups.items(), key=lambda kv: (CODES[kv[0]][0] != "error", _first_record(kv[1])))

    def records(self, codes: frozenset[str] | None = None) -> array:
        """Sorted records with a finding (with one of `codes`)."""
        key = (codes,)
        if key not in self._sorted:  # array: 8 bytes a record, however many problems there are
            wanted = self.groups if codes is None else {c: self.groups.get(c, ()) for c in codes}
            self._sorted[key] = array("q", sorted({r for group in wanted.values() for r, _ in group if r >= 0}))
        return self._sorted[key]


def _first_record(group: list[tuple[int, Finding]]) -> int:
    return min((r for r, _ in group if r >= 0), default=1 << 62)


def error_codes() -> frozenset[str]:
    return frozenset(code for code, (severity, _) in CODES.items() if severity == "error")


class FindingsPanel(ScrollView, can_focus=True, inherit_bindings=False):
    """Findings grouped by code with counts; Enter on one jumps to its example."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Previous finding", id="findings.up", show=False),
        Binding("down", "cursor(1)", "Next finding", id="findings.down", show=False),
        Binding("pageup", "cursor(-10)", "Page up", id="findings.page_up", show=False),
        Binding("pagedown", "cursor(10)", "Page down", id="findings.page_down", show=False),
        Binding("home", "cursor(-1000000000)", "First finding", id="findings.first", show=False),
        Binding("end", "cursor(1000000000)", "Last finding", id="findings.last", show=False),
        Binding("enter", "select", "Jump", id="findings.select", tooltip="Jump to the finding's example; on a code: filter the list by it"),
        Binding("space", "fold", "Fold", id="findings.fold", tooltip="Fold or unfold the findings of a code"),
    ]
    COMPONENT_CLASSES = {"findings--title", "findings--cursor", "findings--error", "findings--warning", "findings--line", "findings--code"}
    DEFAULT_CSS = """
    FindingsPanel {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        background: $surface;
        & > .findings--title { text-style: bold; background: $panel; }
        & > .findings--cursor { background: $block-cursor-blurred-background; }
        &:focus > .findings--cursor { background: $block-cursor-background; }
        & > .findings--error { color: $text-error; text-style: bold; }
        & > .findings--warning { color: $text-warning; text-style: bold; }
        & > .findings--line { color: $text-muted; }
        & > .findings--code { text-style: bold; }
    }
    """

    @dataclass
    class Jump(Message):
        """Enter on a finding: go to its example (`record` in the model's layout, or a `line`)."""

        record: int | None
        line: int | None

    @dataclass
    class FilterCode(Message):
        code: str

    @dataclass
    class Selected(Message):
        finding: Finding | None

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model: FindingsModel | None = None
        self.status = "not checked yet"
        self.folded: set[str] = set()
        self.auto_fold = True  # large sets start folded, until the user unfolds something
        self._groups: list[tuple[str, list[tuple[int, Finding]]]] = []
        self._by_code: dict[str, list[tuple[int, Finding]]] = {}
        self._starts: list[int] = []
        self.count = 0
        self.cursor = 0

    def show(self, model: FindingsModel | None, status: str) -> None:
        keep = self._item(self.cursor)
        self.model, self.status = model, status
        self._groups = model.ordered_groups() if model is not None else []
        self._by_code = dict(self._groups)
        if self.auto_fold and model is not None and model.total > 200:
            self.folded = {code for code, _ in self._groups}
        self._layout_rows()
        if keep is not None:
            self.cursor = self._position_of(keep)
        self.cursor = max(0, min(self.cursor, self.count - 1))
        self.refresh()

    def _layout_rows(self) -> None:
        self._starts, row = [], 0
        for code, items in self._groups:
            self._starts.append(row)
            row += 1 + (0 if code in self.folded else len(items))
        self.count = row
        self.virtual_size = Size(0, row + 1)

    def _item(self, position: int) -> tuple[str, int] | None:
        """(code, -1 for its header or the finding's place in the group) at a row."""
        if not self._groups or position >= self.count:
            return None
        g = bisect_right(self._starts, position) - 1
        return self._groups[g][0], position - self._starts[g] - 1

    def _position_of(self, item: tuple[str, int]) -> int:
        for (code, items), start in zip(self._groups, self._starts):
            if code == item[0]:
                return start + (0 if code in self.folded else min(item[1], len(items) - 1) + 1)
        return 0

    def selected(self) -> Finding | None:
        item = self._item(self.cursor)
        if item is None or item[1] < 0:
            return None
        return self._by_code[item[0]][item[1]][1]

    def action_cursor(self, delta: int) -> None:
        self.cursor = max(0, min(self.cursor + delta, self.count - 1)) if self.count else 0
        top, page = self.scroll_offset.y, max(1, self.scrollable_content_region.height - 1)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + page:
            self.scroll_to(y=self.cursor - page + 1, animate=False)
        self.refresh()
        self.post_message(self.Selected(self.selected()))

    def action_fold(self) -> None:
        item = self._item(self.cursor)
        if item is None:
            return
        self.auto_fold = False
        self.folded ^= {item[0]}
        self._layout_rows()
        self.cursor = self._position_of((item[0], -1))
        self.refresh()

    def action_select(self) -> None:
        item = self._item(self.cursor)
        if item is None:
            return
        code, place = item
        if place < 0:
            self.post_message(self.FilterCode(code))
            return
        record, finding = self._by_code[code][place]
        if record >= 0:
            self.post_message(self.Jump(record, None))
        elif finding.related_line is not None:
            self.post_message(self.Jump(None, finding.related_line))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        style = partial(component_style, self)
        if y == 0:
            total = self.model.total if self.model is not None else 0
            title_style = base + style("findings--title")
            title = Text(f" Findings {total:,}" + (f" · {len(self._groups)} codes" if self._groups else "") + f"  {self.status}", style=title_style, no_wrap=True)
            title.truncate(width, overflow="ellipsis")
            return text_strip(title, width, self.app.console)
        position = self.scroll_offset.y + y - 1
        item = self._item(position)
        if item is None:
            if y == 1 and self.model is not None and not self.model.total and not self.status:
                return text_strip(Text("   no problems found", style=base + style("findings--line")), width, self.app.console)
            return Strip.blank(width, base)
        code, place = item
        items = self._by_code[code]
        line_style = base + style("findings--cursor") if position == self.cursor else base
        severity = CODES[code][0]
        text = Text(style=line_style, no_wrap=True, end="")
        if place < 0:
            text.append(" ▸ " if code in self.folded else " ▾ ")
            text.append(MARKS[severity], style(f"findings--{severity}"))
            text.append(f" {code}", style("findings--code"))
            count = f"{len(items):,} "
            text.truncate(max(0, width - len(count)), overflow="ellipsis", pad=True)
            text.append(count)
        else:
            _, finding = items[place]
            where = f"{finding.line:>6}" if finding.line is not None else "  file"
            text.append(f"   {where} ", style("findings--line"))
            text.append(one_line(finding.message))
            text.truncate(width, overflow="ellipsis")
        return text_strip(text, width, self.app.console)

    def on_click(self, event) -> None:
        if event.y >= 1:
            self.cursor = self.scroll_offset.y + event.y - 1
            self.action_cursor(0)

    def on_focus(self) -> None:
        self.refresh()
        self.post_message(self.Selected(self.selected()))

    def on_blur(self) -> None:
        self.refresh()


# ----------------------------------------------------------------- stats
SPARK = "▁▂▃▄▅▆▇█"


def histogram(values, bins: int = 20) -> list[int]:
    """Counts of `values` in `bins` equal-width bins from the smallest to the largest."""
    # Each distinct value counted once (in C), then binned: a file has a few thousand distinct
    # values, so this stays quick at a million examples.
    by_value = Tally(values)
    if not by_value:
        return []
    lo, hi = min(by_value), max(by_value)
    if lo == hi:
        return [by_value[lo]]
    counts = [0] * bins
    scale = bins / (hi - lo + 1)
    for v, n in by_value.items():
        counts[int((v - lo) * scale)] += n
    return counts


def sparkline(counts: list[int]) -> str:
    top = max(counts, default=0)
    if not top:
        return ""
    return "".join(" " if c == 0 else SPARK[min(len(SPARK) - 1, (c * len(SPARK) - 1) // top)] for c in counts)


def money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


class StatsPanel(Static):
    """Counts, the token distribution, the training bill for the chosen base model."""

    DEFAULT_CSS = """
    StatsPanel { height: auto; padding: 0 1; background: $surface; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show_waiting(self, model: str, note: str) -> None:
        text = Text()
        text.append("Stats", style="bold")
        text.append(f" · {model}\n", style="dim")
        text.append(note, style="dim")
        self.update(text)

    def show_stats(self, report: Report, numbers: stats.Stats, counts: list[int]) -> None:
        t = numbers.tokens
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("Stats", style="bold")
        text.append(f" · {numbers.model.name}\n", style="dim")
        rows = [
            ("examples", f"{numbers.records:,} · {numbers.examples:,} valid · {report.format}"),
            ("tokens", f"mean {t.mean:,.0f} · p50 {t.p50:,} · p90 {t.p90:,}"),
            ("", f"{t.min:,} {sparkline(counts)} {t.max:,}" if counts else ""),
            ("over limit", f"{numbers.over_limit:,} (limit {numbers.model.token_limit:,})"),
            ("epochs", f"{numbers.epochs}" + (" (service default)" if numbers.epochs_is_default else "")),
            ("billed", f"{numbers.billed_tokens:,} tokens"),
            ("cost", f"≈ {money(numbers.cost_usd)} ({base_models.PRICES_AS_OF} prices)"),
        ]
        for name, value in rows:
            text.append(f"{name:<11}", style="bold" if name else "")
            text.append(f"{value}\n")
        text.rstrip()
        self.update(text)


# ----------------------------------------------------------------- search and filters
def search_test(query: str) -> Callable[[bytes], bool]:
    """Does a record's text contain `query` (ignoring case)?

    A plain ASCII query is looked for in the raw bytes first: JSON writes ASCII text as is, so a
    line without those bytes cannot match, and only the lines with them are parsed.
    """
    wanted = query.lower()
    quick = wanted.encode() if wanted.isascii() and not set(wanted) & set('"\\/') else None

    def test(raw: bytes) -> bool:
        if quick is not None and quick not in raw.lower():
            return False
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        text = example_text(value) if isinstance(value, dict) else raw.decode("utf-8", "replace")
        return wanted in text.lower()

    return test


def roles_test(pattern: str) -> Callable[[bytes], bool]:
    """Do a record's roles (`SUAUA`) match a pattern like `S U A *` (`*` any roles, `?` one)?"""
    wanted = "".join(pattern.split()).upper()

    def test(raw: bytes) -> bool:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return False
        return fnmatchcase(roles_of(value).replace(" ", ""), wanted)

    return test


def parse_filter(text: str) -> tuple[str, object] | str:
    """("codes", frozenset) or ("roles", pattern); a message saying why not otherwise."""
    words = text.strip()
    if words in CODES:
        return "codes", frozenset({words})
    if words.lower() in ("error", "errors"):
        return "codes", error_codes()
    if words.lower() in ("warning", "warnings"):
        return "codes", frozenset(CODES) - error_codes()
    if words and ROLE_PATTERN.fullmatch(words.upper()):
        return "roles", words.upper()
    return f"not a finding code, 'errors', 'warnings' or a roles pattern: {words!r}"


def each_record(pieces) -> Iterator[tuple[int, list[bytes]]]:
    """(first record number, raw records) in batches, reading whole ranges at a time."""
    position = 0
    for piece in pieces:
        if isinstance(piece, Line):
            yield position, [piece.raw]
            position += 1
            continue
        for lo in range(piece.lo, piece.hi, SCAN_BATCH):
            hi = min(lo + SCAN_BATCH, piece.hi)
            yield position, piece.source.records(lo, hi)
            position += hi - lo


def translate(records, old: Layout, new: Layout) -> array:
    """Records of one version of the document, found again in another (sorted; gone ones dropped)."""
    if old is new:
        return records
    moved = (new.index(old.key(r)) for r in records)
    return array("q", sorted(r for r in moved if r is not None))


def _record_at(ds: Dataset, line: int, hint: int) -> int:
    """The record on `line`, trying first where it is when no blank lines come between."""
    guess = hint + line - ds.lineno(hint)
    if 0 <= guess < len(ds) and ds.lineno(guess) == line:
        return guess
    found = ds.record_at_line(line)
    return found if found is not None else len(ds) - 1


# ----------------------------------------------------------------- the screen
@dataclass
class Scan:
    """A search or roles filter: what is looked for and what matched so far (current records)."""

    kind: str
    query: str
    found: array = field(default_factory=lambda: array("q"))
    done: int = 0
    total: int = 0
    finished: bool = False
    carried: bool = False  # `found` came from before an edit, until this scan's first results
    layout: Layout | None = None  # the version `found` refers to


class BrowserScreen(Screen):
    """One JSONL file: its examples, what is wrong with them, and what training on them costs."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]
    # The footer has room for about six keys at 80 columns: the rest are in help (?) and the palette.
    BINDINGS = [
        Binding("slash", "search", "Search", id="browser.search", tooltip="Search the text of every example"),
        Binding("n", "match(1)", "Next match", id="browser.next_match", show=False),
        Binding("N", "match(-1)", "Previous match", id="browser.previous_match", show=False),
        Binding("right_square_bracket", "problem(1)", "Next problem", id="browser.next_problem", key_display="]"),
        Binding("left_square_bracket", "problem(-1)", "Previous problem", id="browser.previous_problem", show=False, key_display="["),
        Binding("e", "first_error", "First error", id="browser.first_error", show=False),
        Binding("F", "filter", "Filter", id="browser.filter", show=False, tooltip="Filter: only examples with a finding code, errors, warnings, or roles like S U A *"),
        Binding("f", "toggle_findings", "Findings", id="browser.findings", tooltip="Findings panel: show or hide"),
        Binding("s", "toggle_stats", "Stats", id="browser.stats", show=False, tooltip="Stats panel: show or hide"),
        Binding("m", "next_model", "Base model", id="browser.model", show=False, tooltip="Base model: count tokens and cost for the next one"),
        Binding("S", "split", "Split…", id="browser.split", show=False, tooltip="Split into training and validation files, then launch"),
        Binding("r", "replay", "Replay", id="browser.replay", show=False, tooltip="Replay the highlighted example in the Playground: its prompt to each model, next to its answer"),
        Binding("escape", "escape", "Clear / back", id="browser.escape", show=False, tooltip="Clear the search and the filter; then back to the folder"),
    ]

    def __init__(self, path: Path, *, model: str | None = None, open_line: int | None = None) -> None:
        super().__init__()
        self.path = path
        self.open_line = open_line  # a physical line to open in the editor once the file is read (a job's failure)
        self.model = base_models.lookup(model)
        self.dataset: Dataset | None = None
        self.report: Report | None = None
        self.verdicts = Verdicts()
        self.findings: FindingsModel | None = None
        self.search: Scan | None = None
        self.filter: tuple[str, object] | None = None  # ("codes", codes) or ("roles", pattern)
        self.roles_scan: Scan | None = None
        self.progress = (0, 0)
        self._version = 0  # bumped by every change to the dataset, from whichever thread made it
        self._layout: Layout | None = None  # the current version's order of records
        self._layout_version = -1
        self._validators: dict[str, Validator] = {}
        self._validating = False
        self._rerun = False
        self._cancel = threading.Event()
        self._panels: dict[str, bool | None] = {"findings": None, "stats": None}  # None: by width
        self._prompt_mode = ""
        self._pending_change = False

    # ------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield ProfileBar("datasets")
        with Horizontal(id="browser-top"):
            yield Static(id="browser-status", markup=False)
            yield ProgressBar(id="browser-progress", show_eta=False, show_percentage=True)
        with Horizontal(id="browser-body"):
            with Vertical(id="browser-main"):
                yield ExampleList(id="examples")
                # The prompt (search, filter) takes the detail line's place: nothing else moves.
                yield Static(id="browser-detail", markup=False)
                yield Input(id="browser-prompt")
            with Horizontal(id="browser-side"):
                yield FindingsPanel(id="findings")
                yield StatsPanel(id="stats")
        yield Footer()

    @property
    def examples(self) -> ExampleList:
        return self.query_one(ExampleList)

    @property
    def findings_panel(self) -> FindingsPanel:
        return self.query_one(FindingsPanel)

    def on_mount(self) -> None:
        self._list = self.examples
        self.examples.verdicts = self.verdicts
        self.examples.focus()
        self.query_one("#browser-progress").display = False
        self.query_one(StatsPanel).show_waiting(self.model.name, "waiting for the file to open…")
        self._apply_panels()
        key = self.path.resolve()
        if key in self.app.documents:
            self._use(self.app.documents[key])
        else:
            self._status(f"{self.path.name} · opening…")
            self.open_file(key)

    def on_unmount(self) -> None:
        self._cancel.set()
        if self.dataset is not None:
            self.dataset.unlisten(self._dataset_changed)

    def on_resize(self) -> None:
        self._apply_panels()

    def _apply_panels(self) -> None:
        narrow = self.size.width < WIDE
        shown = {name: (choice if choice is not None else not narrow) for name, choice in self._panels.items()}
        self.query_one(FindingsPanel).display = shown["findings"]
        self.query_one(StatsPanel).display = shown["stats"]
        self.query_one("#browser-side").display = shown["findings"] or shown["stats"]

    def _status(self, text: str | Text) -> None:
        # One fixed line: no layout pass (it would redraw the whole screen on every key).
        self.query_one("#browser-status", Static).update(text, layout=False)

    # ------------------------------------------------------------- opening
    @work(thread=True, group="open", exit_on_error=False)
    def open_file(self, path: Path) -> None:
        worker = get_current_worker()
        rows: StreamingRows | None = None

        def batch(index: LineIndex) -> None:
            nonlocal rows
            if worker.is_cancelled:
                raise _StopIndexing()
            if rows is not None:
                self.post_message(IndexGrew(rows, max(0, len(index) - 1)))
                return
            # First rows: pause the scan until they are drawn. The scan is pure Python and would
            # take every other turn of the interpreter from the event loop drawing them.
            rows = StreamingRows(path, index)
            drawn = threading.Event()
            self.post_message(IndexGrew(rows, max(0, len(index) - 1), drawn))
            drawn.wait(0.5)

        try:
            dataset = open_dataset(path, on_batch=batch)
        except (_StopIndexing, DatasetError) as error:
            if rows is not None:
                rows.close()
            if isinstance(error, DatasetError):
                self.post_message(OpenFailed(error.title, error.hint))
            return
        self.post_message(Opened(dataset, rows))

    def on_index_grew(self, message: IndexGrew) -> None:
        if self.dataset is not None:
            return
        message.rows.count = max(message.rows.count, message.count)
        if self.examples.rows is not message.rows:
            self.examples.set_rows(message.rows)
        else:
            self.examples.grown()
        if message.drawn is not None:
            self.call_after_refresh(message.drawn.set)
        self._status(f"{self.path.name} · {message.count:,} examples so far · indexing…")

    def on_opened(self, message: Opened) -> None:
        dataset = self.app.documents.setdefault(self.path.resolve(), message.dataset)
        if dataset is not message.dataset:  # someone opened it meanwhile: share theirs
            message.dataset.close()
        self._use(dataset)
        if message.rows is not None:
            message.rows.close()

    def on_open_failed(self, message: OpenFailed) -> None:
        self._status(Text(f"{self.path.name}: {message.title}", style="bold red"))
        self.query_one(StatsPanel).show_waiting(self.model.name, message.hint)
        self.notify(message.hint, title=message.title, severity="error", markup=False)

    def _use(self, dataset: Dataset) -> None:
        self.dataset = dataset
        dataset.listen(self._dataset_changed)
        self._seen = dataset.pieces()
        self.examples.set_rows(dataset)
        self._validate()
        self._update_status()
        if self.open_line is not None:
            line, self.open_line = self.open_line, None
            record = dataset.record_at_line(line)
            if record is None:
                self.notify(f"Line {line} of {self.path.name} holds no example now: the file changed since the job.", severity="warning", markup=False)
            else:
                self.open_editor(record)

    # ------------------------------------------------------------- following edits
    def _dataset_changed(self, dataset: Dataset) -> None:
        """Any thread: note the change now (so no stale row is drawn), handle it on the loop."""
        self._version += 1
        self._list.stale()  # (a plain reference: no DOM query from another thread)
        self.post_message(DatasetChanged())

    def on_dataset_changed(self, message: DatasetChanged) -> None:
        if self.is_current:
            self._catch_up()
        else:
            self._pending_change = True  # the editor is on top: catch up once, when it closes

    def on_screen_resume(self) -> None:
        if self.dataset is None:
            return
        if self._pending_change or self.dataset.pieces() != self._seen:
            self._version += 1
            self._catch_up()

    def _catch_up(self) -> None:
        ds = self.dataset
        if ds is None:
            return
        self._pending_change = False
        self._seen = ds.pieces()
        # Carry the search matches and the filter over to the new order right away (rows that
        # moved keep their place in them); new scans then look at the records that changed.
        if self.search is not None:
            self._start_scan("search", self.search.query, carry=self.search)
        if self.filter is not None and self.filter[0] == "roles":
            self._start_scan("roles", self.filter[1], carry=self.roles_scan)
        elif self.filter is not None:
            self._apply_code_filter()
        self.examples.changed()
        self._validate()
        self._update_status()
        self._update_detail()

    def current_layout(self) -> Layout:
        if self._layout is None or self._layout_version != self._version:
            self._layout = Layout(self.dataset.pieces())
            self._layout_version = self._version
        return self._layout

    def to_current(self, records, layout: Layout | None) -> array:
        if layout is None or len(records) > TRANSLATE_LIMIT and layout is not self.current_layout():
            return array("q")
        return translate(records, layout, self.current_layout())

    def _show_view(self, records: array | None) -> None:
        """Filter the list to these records (of the current version), or show all."""
        self.examples.set_view(records)

    # ------------------------------------------------------------- validation
    def _validator(self) -> Validator:
        validator = self._validators.get(self.model.name)
        if validator is None:
            validator = self._validators[self.model.name] = Validator(self.dataset, self.model)
        return validator

    def _validate(self) -> None:
        if self.dataset is None:
            return
        if self._validating:
            self._rerun = True  # let the run finish: its checked ranges are kept for the next one
            return
        self._validating, self._rerun = True, False
        self._cancel = threading.Event()
        if self.report is None:
            self.query_one(StatsPanel).show_waiting(self.model.name, "counting tokens… (the stats need every example)")
        self.query_one("#browser-progress").display = True
        self.run_validation(self.dataset, self._validator(), self._version, self.current_layout(), self._cancel)

    @work(thread=True, group="validate", exit_on_error=False)
    def run_validation(self, ds: Dataset, validator: Validator, version: int, layout: Layout, cancel: threading.Event) -> None:
        worker = get_current_worker()
        model = validator.model.name

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:
                cancel.set()
            self.post_message(ValidationProgress(model, done, total))

        def chunk(source: Source, lo: int, columns: Columns) -> None:
            if worker.is_cancelled:
                cancel.set()
                return
            found = []
            for k in sorted(columns.problems):
                record = layout.index((id(source), lo + k))
                if record is None:
                    continue
                line = ds.lineno(record)
                found.extend((record, Finding(p[0], p[2], line, p[1], p[3])) for p in columns.problems[k])
            # The marks and token counts are all the list shows until the report: keeping only
            # those columns (shared, not copied) lets the rest go while the file is checked.
            shown = Columns(kind=columns.kind, tokens=columns.tokens, problems=columns.problems)
            self.post_message(ValidationChunk(model, layout, version, id(source), lo, shown, found))

        try:
            # Worker processes for big files even on two cores: a thread would hold the GIL
            # and slow every keypress.
            lower_priority()
            start_process_helpers()
            report = validator.run(progress=progress, cancel=cancel, on_chunk=chunk, workers=max(2, min(os.cpu_count() or 1, 4)))
            flagged, records = self._locate(ds, report)
            numbers = stats.compute(report)
            counts = histogram(stats.valid_numbers(report.columns, report.columns.tokens))
        except Cancelled:
            self.post_message(ValidationStopped(model, None))
            return
        except Exception as error:
            if version != self._version:  # an edit raced this read; a new run follows
                self.post_message(ValidationStopped(model, None))
                return
            self.post_message(ValidationStopped(model, getattr(error, "title", None) or str(error) or type(error).__name__))
            return
        self.post_message(ValidationDone(model, layout, version, report, flagged, records, numbers, counts))

    @staticmethod
    def _locate(ds: Dataset, report: Report) -> tuple[dict[int, str], array]:
        """Each record's worst severity, and each finding's record (findings come in line order)."""
        flagged = {k: "error" if has_error(problems) else "warning" for k, problems in report.columns.problems.items()}
        records, hint = array("q"), 0
        for finding in report.findings:
            if finding.line is None:
                records.append(-1)
                continue
            hint = _record_at(ds, finding.line, hint)
            records.append(hint)
            if finding.severity == "error":
                flagged[hint] = "error"
            else:
                flagged.setdefault(hint, "warning")
        return flagged, records

    def on_validation_progress(self, message: ValidationProgress) -> None:
        if message.model != self.model.name:
            return
        self.progress = (message.done, message.total)
        self.query_one("#browser-progress", ProgressBar).update(progress=message.done, total=max(1, message.total))
        self._update_status()

    def on_validation_chunk(self, message: ValidationChunk) -> None:
        if message.model != self.model.name:
            return
        self.verdicts.add_chunk(message.source_id, message.lo, message.columns)
        if self.findings is None or not self.findings.partial or self.findings.layout is not message.layout:
            self.findings = FindingsModel(message.layout, message.version, partial=True)
        self.findings.add(message.found)
        self._findings_changed()

    def on_validation_done(self, message: ValidationDone) -> None:
        if message.model != self.model.name:  # the user chose another model meanwhile
            self._validation_ended()
            return
        self.report = message.report
        self.verdicts.finish(message.layout, message.report.columns, message.flagged)
        self.findings = FindingsModel.of_report(message.layout, message.version, message.report, message.records)
        self.query_one(StatsPanel).show_stats(message.report, message.stats, message.histogram)
        self._validation_ended()
        self._findings_changed()

    def on_validation_stopped(self, message: ValidationStopped) -> None:
        if message.error is not None and message.model == self.model.name and not self._rerun:
            self.notify(message.error, title="Validation stopped", severity="error", markup=False)
        self._validation_ended()

    def _validation_ended(self) -> None:
        self._validating = False
        self.query_one("#browser-progress").display = False
        if self._rerun:
            self._validate()
        self._update_status()

    def _findings_changed(self) -> None:
        if self.filter is not None and self.filter[0] == "codes":
            self._apply_code_filter()
        self.examples.changed()
        done = self.report is not None and not self._validating
        self.findings_panel.show(self.findings, "" if done else "checking…")
        self._update_status()
        self._update_detail()

    # ------------------------------------------------------------- status lines
    def _update_status(self) -> None:
        ds = self.dataset
        if ds is None:
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.path.name, style="bold")
        text.append(f" · {len(ds):,} examples")
        if self._validating:
            done, total = self.progress
            text.append(f" · checking {done * 100 // max(1, total)}%", style="italic")
        if self.report is not None:
            text.append(f" · {self.report.valid_examples:,} valid")
            text.append(f" · ✗ {len(self.report.errors):,}", style="bold red" if self.report.errors else "green")
            text.append(f" · ! {len(self.report.warnings):,}", style="bold yellow" if self.report.warnings else "green")
        if ds.dirty:
            text.append(" · modified", style="bold")
        if self.search is not None:
            more = "" if self.search.finished else "…"
            text.append(f"  /{self.search.query}: {len(self.search.found):,}{more} match{'es' if len(self.search.found) != 1 else ''}", style="italic")
        if self.filter is not None and self.examples.view is not None:
            shown = self.filter[1] if self.filter[0] == "roles" else ", ".join(sorted(self.filter[1])) if len(self.filter[1]) < 3 else "…"
            text.append(f"  filter {shown}: {len(self.examples.view):,} shown", style="italic")
        self._status(text)

    def _update_detail(self) -> None:
        detail = self.query_one("#browser-detail", Static)
        if self.findings_panel.has_focus:
            finding = self.findings_panel.selected()
            if finding is not None:
                text = Text(no_wrap=True, overflow="ellipsis")
                text.append(f"{finding.where()}  ", style="dim")
                text.append(one_line(finding.message))
                if finding.fix:
                    text.append(f" — {one_line(finding.fix)}", style="italic")
                detail.update(text, layout=False)
                return
        record = self.examples.cursor_record
        if record is None or self.dataset is None or record >= len(self.dataset):
            detail.update("", layout=False)
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"line {self.dataset.lineno(record)} ", style="dim")
        found = self._findings_of(record)
        mark, _ = self.verdicts.at(self.dataset.identity(record))
        if found:
            first = found[0]
            text.append(MARKS[first.severity] + " ", style="bold red" if first.severity == "error" else "bold yellow")
            text.append(f"{first.code}: ", style="bold")
            text.append(one_line(first.message))
            if len(found) > 1:
                text.append(f"  (+{len(found) - 1} more)", style="dim")
        elif mark is None:
            text.append("not checked yet", style="dim italic")
        else:
            text.append("no problems", style="dim")
            self._point_to_first_error(text)
        detail.update(text, layout=False)

    def _point_to_first_error(self, text: Text) -> None:
        """On a clean row, say where the first error is (the panels may be closed at 80×24)."""
        errors = self._problems(error_codes())
        if not len(errors) or self.findings is None:
            return
        record = errors[0]
        first = next((f for f in self._findings_of(record) if f.severity == "error"), None)
        if first is not None:
            text.append(" · first error: ", style="dim")
            text.append(f"line {self.dataset.lineno(record)} {first.code}", style="bold")
            text.append(" (e)", style="dim")

    def _findings_of(self, record: int) -> list[Finding]:
        model = self.findings
        if model is None or self.dataset is None:
            return []
        if model.layout is not self.current_layout():
            found = model.layout.index(self.dataset.identity(record))
            if found is None:
                return []
            record = found
        return model.by_record.get(record, [])

    @on(ExampleList.CursorMoved)
    def _cursor_moved(self) -> None:
        self._update_detail()

    @on(FindingsPanel.Selected)
    def _finding_selected(self) -> None:
        self._update_detail()

    # ------------------------------------------------------------- moving between problems
    def _problems(self, codes: frozenset[str] | None = None) -> array:
        if self.findings is None:
            return array("q")
        return self.to_current(self.findings.records(codes), self.findings.layout)

    def _step(self, records, direction: int, what: str) -> None:
        here = self.examples.cursor_record
        if here is None:
            return
        at = bisect_right(records, here) if direction > 0 else bisect_left(records, here) - 1
        if 0 <= at < len(records):
            self._show_record(records[at])
        else:
            self.notify(f"No {what} {'below' if direction > 0 else 'above'}.", timeout=2)

    def _show_record(self, record: int) -> None:
        view = self.examples.view
        if view is not None:
            at = bisect_left(view, record)
            if at >= len(view) or view[at] != record:
                self._clear_filter()
        self.examples.go_to_record(record)

    def action_problem(self, direction: int) -> None:
        self._step(self._problems(), direction, "problems")

    def action_split(self) -> None:
        if getattr(self, "dataset", None) is None:
            return
        from tui.screens.split import SplitScreen

        # The report is reused when it is current; the split screen checks again otherwise.
        current = self.report if self.report is not None and not self._validating else None
        self.app.push_screen(SplitScreen(self.dataset, current))

    def action_replay(self) -> None:
        record = self.examples.cursor_record
        if getattr(self, "dataset", None) is None or record is None or record >= len(self.dataset):
            return
        # The document's version of it, saved or not (the Playground reads the same document).
        self.app.run_worker(self.app.replay_in_playground(self.path, self.dataset.lineno(record)), group="replay", exit_on_error=False)

    def action_first_error(self) -> None:
        errors = self._problems(error_codes())
        if len(errors):
            self._show_record(errors[0])
        else:
            self.notify("No errors" + (" found so far." if self._validating else "."), timeout=2)

    def action_match(self, direction: int) -> None:
        if self.search is None:
            self.notify("No search: press / to search.", timeout=2)
            return
        self._step(self.search.found, direction, "matches")

    @on(FindingsPanel.Jump)
    def _jump(self, message: FindingsPanel.Jump) -> None:
        if self.dataset is None:
            return
        if message.record is not None:
            found = self.to_current([message.record], self.findings.layout)
            if not len(found):
                self.notify("That example has changed since it was checked.", timeout=3)
                return
            self._show_record(found[0])
        elif message.line is not None:
            record = self.dataset.record_at_line(message.line)
            if record is not None:
                self._show_record(record)

    @on(FindingsPanel.FilterCode)
    def _filter_code(self, message: FindingsPanel.FilterCode) -> None:
        self._set_filter(("codes", frozenset({message.code})))

    @on(ExampleList.Chosen)
    def _chosen(self, message: ExampleList.Chosen) -> None:
        self.open_editor(message.record)

    def open_editor(self, record: int) -> None:
        if self.dataset is None:
            self.notify("The file is still opening.", timeout=2)
            return
        try:
            from tui.screens.editor import EditorScreen
        except ModuleNotFoundError as error:
            if error.name != "tui.screens.editor":
                raise
            self.notify("The example editor is not built yet.", severity="warning", timeout=3)
            return
        self.app.push_screen(EditorScreen(self.dataset, record, model=self.model.name))

    # ------------------------------------------------------------- search and filter
    def action_search(self) -> None:
        self._open_prompt("search", self.search.query if self.search else "", "/ search the examples' text — Enter: go to the first match, Esc: clear")

    def action_filter(self) -> None:
        current = ""
        if self.filter is not None:
            current = self.filter[1] if self.filter[0] == "roles" else next(iter(self.filter[1])) if len(self.filter[1]) == 1 else ""
        self._open_prompt("filter", current, "filter: a finding code, errors, warnings, or roles like S U A *")

    def _open_prompt(self, mode: str, value: str, placeholder: str) -> None:
        if self.dataset is None:
            self.notify("The file is still opening.", timeout=2)
            return
        prompt = self.query_one("#browser-prompt", Input)
        self._prompt_mode = mode
        prompt.suggester = SuggestFromList(sorted(CODES) + ["errors", "warnings"]) if mode == "filter" else None
        prompt.placeholder = placeholder
        prompt.value = value
        self.query_one("#browser-detail").display = False
        prompt.display = True
        prompt.focus()

    def _close_prompt(self) -> None:
        prompt = self.query_one("#browser-prompt", Input)
        prompt.display = False
        self.query_one("#browser-detail").display = True
        self._prompt_mode = ""
        self.examples.focus()

    @on(Input.Changed, "#browser-prompt")
    def _prompt_changed(self, event: Input.Changed) -> None:
        if self._prompt_mode == "search":
            self._set_search(event.value)

    @on(Input.Submitted, "#browser-prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        mode = self._prompt_mode
        self._close_prompt()
        if mode == "search":
            if self.search is not None and len(self.search.found):
                here = self.examples.cursor_record or 0
                at = bisect_left(self.search.found, here)
                self._show_record(self.search.found[at] if at < len(self.search.found) else self.search.found[0])
        elif mode == "filter":
            if not event.value.strip():
                self._clear_filter()
                return
            parsed = parse_filter(event.value)
            if isinstance(parsed, str):
                self.notify(parsed, title="Filter", severity="warning", markup=False)
            else:
                self._set_filter(parsed)

    def _set_search(self, query: str) -> None:
        if not query.strip():
            self.search = None
            self.examples.matches = None
            self.examples.highlight = ""
            self.workers.cancel_group(self, "scan-search")
        else:
            self.examples.highlight = query.lower()
            self._start_scan("search", query)
        self.examples.changed()
        self._update_status()

    def _set_filter(self, spec: tuple[str, object]) -> None:
        self.filter = spec
        if spec[0] == "codes":
            self._apply_code_filter()
        else:
            self._start_scan("roles", spec[1])
        self._update_status()

    def _apply_code_filter(self) -> None:
        self._show_view(self._problems(self.filter[1]))

    def _clear_filter(self) -> None:
        self.filter = None
        self.roles_scan = None
        self.workers.cancel_group(self, "scan-roles")
        self._show_view(None)
        self._update_status()

    def _start_scan(self, kind: str, query: str, carry: Scan | None = None) -> None:
        """Look through every record in a worker; `carry`: the same scan before an edit."""
        scan = Scan(kind, query)
        if carry is not None and carry.layout is not None and len(carry.found) <= TRANSLATE_LIMIT:
            scan.found, scan.carried = translate(carry.found, carry.layout, self.current_layout()), True
        scan.layout = self.current_layout()
        if kind == "search":
            self.search = scan
            self.examples.matches = scan.found
        else:
            self.roles_scan = scan
            self._show_view(scan.found)
        test = search_test(query) if kind == "search" else roles_test(query)
        work = partial(self._scan, kind, query, test, self.dataset.pieces(), len(self.dataset), self._version)
        self.run_worker(work, thread=True, group=f"scan-{kind}", exclusive=True, exit_on_error=False)

    def _scan(self, kind: str, query: str, test: Callable[[bytes], bool], pieces, total: int, version: int) -> None:
        """Worker: the records matching `test`, posted about ten times a second."""
        worker = get_current_worker()
        found: list[int] = []
        done, posted = 0, time.monotonic()
        for first, raws in each_record(pieces):
            if worker.is_cancelled or version != self._version:
                return
            found.extend(first + k for k, raw in enumerate(raws) if test(raw))
            done = first + len(raws)
            if time.monotonic() - posted > 0.1:
                self.post_message(ScanProgress(kind, query, version, found, done, total, False))
                found, posted = [], time.monotonic()
        self.post_message(ScanProgress(kind, query, version, found, done, total, True))

    def on_scan_progress(self, message: ScanProgress) -> None:
        scan = self.search if message.kind == "search" else self.roles_scan
        if scan is None or scan.query != message.query or message.version != self._version:
            return
        if scan.carried:  # this scan's own results replace the ones carried over the edit
            scan.found, scan.carried = array("q"), False
        scan.found.extend(message.found)
        scan.done, scan.total, scan.finished = message.done, message.total, message.finished
        if message.kind == "roles":
            self._show_view(scan.found)
        else:
            self.examples.matches = scan.found
            self.examples.changed()
        self._update_status()

    # ------------------------------------------------------------- panels and the rest
    def _toggle(self, name: str, widget_id: str) -> None:
        widget = self.query_one(widget_id)
        showing = not widget.display
        self._panels[name] = showing
        self._apply_panels()
        if showing and widget.can_focus:
            widget.focus()
        elif not showing:
            self.examples.focus()

    def action_toggle_findings(self) -> None:
        self._toggle("findings", "#findings")

    def action_toggle_stats(self) -> None:
        self._toggle("stats", "#stats")

    def action_next_model(self) -> None:
        names = list(base_models.MODELS)
        self.model = base_models.MODELS[names[(names.index(self.model.name) + 1) % len(names)]]
        self._cancel.set()  # results for the other model are of no use now
        self.verdicts.clear()
        self.report = None
        self.findings = None
        self.query_one(StatsPanel).show_waiting(self.model.name, "counting tokens…")
        self.notify(f"Counting tokens and cost for {self.model.name}", timeout=2, markup=False)
        if self._validating:
            self._rerun = True
        else:
            self._validate()
        self._findings_changed()

    def action_escape(self) -> None:
        if self._prompt_mode:
            if self._prompt_mode == "search":
                self._set_search("")
            self._close_prompt()
        elif self.search is not None or self.filter is not None:
            self._set_search("")
            self._clear_filter()
        elif len(self.app.screen_stack) > 1:
            self.dismiss()
