"""Opening a file in a worker: its first rows on screen while the line index is still being built.

Opening streams the index in batches (`IndexGrew`); until the `Dataset` is ready (`Opened`), the
list reads its rows straight from the file through `StreamingRows`.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from textual.message import Message
from textual.worker import get_current_worker

from core.dataset import Dataset, DatasetError, RawLine, open_dataset
from core.dataset.lines import LineIndex
from core.dataset.store import Source


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


def open_while_indexing(path: Path, post: Callable[[Message], object]) -> None:
    """Worker: open `path`, posting the rows as the index grows, then the dataset (or why not)."""
    worker = get_current_worker()
    rows: StreamingRows | None = None

    def batch(index: LineIndex) -> None:
        nonlocal rows
        if worker.is_cancelled:
            raise _StopIndexing()
        if rows is not None:
            post(IndexGrew(rows, max(0, len(index) - 1)))
            return
        # First rows: pause the scan until they are drawn. The scan is pure Python and would
        # take every other turn of the interpreter from the event loop drawing them.
        rows = StreamingRows(path, index)
        drawn = threading.Event()
        post(IndexGrew(rows, max(0, len(index) - 1), drawn))
        drawn.wait(0.5)

    try:
        dataset = open_dataset(path, on_batch=batch)
    except (_StopIndexing, DatasetError) as error:
        if rows is not None:
            rows.close()
        if isinstance(error, DatasetError):
            post(OpenFailed(error.title, error.hint))
        return
    post(Opened(dataset, rows))
