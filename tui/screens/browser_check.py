"""Checking a file in a worker: marks, token counts and findings range by range, then the stats.

`Validator.run(on_chunk=...)` reports each checked range as it finishes (`ValidationChunk`), so
the list and the findings fill in while the user scrolls; the stats need the whole file and come
with the report (`ValidationDone`). Results carry the `Layout` they were computed for, so they
can follow their records through edits made meanwhile.
"""

from __future__ import annotations

import os
import sys
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message
from textual.worker import get_current_worker

from core.dataset import Cancelled, Dataset, Finding, Validator
from core.dataset import stats
from core.dataset.rules import has_error
from core.dataset.store import Source
from core.dataset.validate import Columns, Report
from tui.widgets.example_list import Layout
from tui.widgets.stats_panel import histogram


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


def check_dataset(ds: Dataset, validator: Validator, version: int, layout: Layout, cancel: threading.Event, *, post: Callable[[Message], object], current_version: Callable[[], int]) -> None:
    """Worker: check `ds`, posting progress, each range's results, then the report (or why it stopped)."""
    worker = get_current_worker()
    model = validator.model.name

    def progress(done: int, total: int) -> None:
        if worker.is_cancelled:
            cancel.set()
        post(ValidationProgress(model, done, total))

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
        post(ValidationChunk(model, layout, version, id(source), lo, shown, found))

    try:
        # Worker processes for big files even on two cores: a thread would hold the GIL
        # and slow every keypress.
        lower_priority()
        start_process_helpers()
        report = validator.run(progress=progress, cancel=cancel, on_chunk=chunk, workers=max(2, min(os.cpu_count() or 1, 4)))
        flagged, records = _locate(ds, report)
        numbers = stats.compute(report)
        counts = histogram(stats.valid_numbers(report.columns, report.columns.tokens))
    except Cancelled:
        post(ValidationStopped(model, None))
        return
    except Exception as error:
        if version != current_version():  # an edit raced this read; a new run follows
            post(ValidationStopped(model, None))
            return
        post(ValidationStopped(model, getattr(error, "title", None) or str(error) or type(error).__name__))
        return
    post(ValidationDone(model, layout, version, report, flagged, records, numbers, counts))


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


def _record_at(ds: Dataset, line: int, hint: int) -> int:
    """The record on `line`, trying first where it is when no blank lines come between."""
    guess = hint + line - ds.lineno(hint)
    if 0 <= guess < len(ds) and ds.lineno(guess) == line:
        return guess
    found = ds.record_at_line(line)
    return found if found is not None else len(ds) - 1
