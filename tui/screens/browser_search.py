"""Search and filters: which examples contain some text, have some findings, or follow a roles pattern.

A search (`/`) and a roles filter (`F`, `S U A *`) look through every record in a worker that
posts what matched about ten times a second (`ScanProgress`), so the list fills in while the
user scrolls; a filter by finding code needs no scan, only the findings known so far.
"""

from __future__ import annotations

import re
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import orjson
from textual.message import Message
from textual.worker import get_current_worker

from core.dataset import CODES
from core.dataset.store import Line
from tui.widgets.example_list import Layout, example_text, roles_of
from tui.widgets.findings_panel import error_codes

SCAN_BATCH = 5_000  # records read per call while searching or filtering
ROLE_PATTERN = re.compile(r"[SUATFP?*\s]+")


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


def scan_records(kind: str, query: str, test: Callable[[bytes], bool], pieces, total: int, version: int, *, post: Callable[[Message], object], current_version: Callable[[], int]) -> None:
    """Worker: the records matching `test`, posted about ten times a second."""
    worker = get_current_worker()
    found: list[int] = []
    done, posted = 0, time.monotonic()
    for first, raws in each_record(pieces):
        if worker.is_cancelled or version != current_version():
            return
        found.extend(first + k for k, raw in enumerate(raws) if test(raw))
        done = first + len(raws)
        if time.monotonic() - posted > 0.1:
            post(ScanProgress(kind, query, version, found, done, total, False))
            found, posted = [], time.monotonic()
    post(ScanProgress(kind, query, version, found, done, total, True))
