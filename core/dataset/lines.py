"""The line-offset index of a JSONL file: where every record starts, built over an mmap in windows.

A *record* is a non-blank line; blank (whitespace-only) lines are kept byte-exact by the store
but are not records. The index holds `starts[k]`, the byte offset of record k, in one
`array('q')` (8 bytes a record). Physical line numbers are derived: record k is on line
k + 1 + (blank lines before it), and blank lines are rare, so only the places where blank lines
occur are stored (`gap_records`, `gap_totals`). The end of a record is found on demand.

Scanning touches every page of the file; to keep resident memory flat whatever the file size we
scan in windows and drop each window's pages from our mapping afterwards (the page cache keeps
them, so a later read is still fast). The inner loop is the hot path of opening a file: it is
kept to one `find`, one byte test and one append per line.
"""

from __future__ import annotations

import mmap
from array import array
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

BOM = b"\xef\xbb\xbf"
WINDOW = 32 * 1024 * 1024
_WHITESPACE = b" \t\r\n\f\v"
_OPEN_BRACE = ord("{")


@dataclass
class LineIndex:
    """Where the records of one byte buffer are. Built by `scan`; grows while a scan streams in."""

    size: int  # bytes in the file
    bom: bool = False  # the file starts with a UTF-8 byte-order mark
    crlf: bool = False  # the first record ends with CRLF: new lines are written the same way
    starts: array = field(default_factory=lambda: array("q"))
    gap_records: array = field(default_factory=lambda: array("q"))  # record k has blanks before it
    gap_totals: array = field(default_factory=lambda: array("q"))  # blank lines up to that record
    physical_lines: int = 0  # all lines, blank ones included (a final line without newline counts)
    ends_with_newline: bool = True
    complete: bool = False

    def __len__(self) -> int:
        return len(self.starts)

    def lineno(self, k: int) -> int:
        """1-based physical line number of record k."""
        g = bisect_right(self.gap_records, k)
        return k + 1 + (self.gap_totals[g - 1] if g else 0)

    def span_end(self, k: int) -> int:
        """Offset where record k's span ends: the next record's start, or the end of the file.

        A record's span holds its line ending and any blank lines after it, so copying the spans
        of consecutive records reproduces the bytes between them exactly.
        """
        return self.starts[k + 1] if k + 1 < len(self.starts) else self.size


def _blank(buf, start: int, end: int) -> bool:
    return not bytes(buf[start:end]).strip(_WHITESPACE)


def scan(buf, *, on_batch: Callable[[LineIndex], None] | None = None) -> LineIndex:
    """Index the records of `buf` (an mmap or bytes).

    `on_batch` is called after each window with the index so far (the TUI streams rows in while
    the rest of a large file is still being indexed).
    """
    size = len(buf)
    index = LineIndex(size=size)
    pos = 0
    if bytes(buf[:3]) == BOM:
        index.bom = True
        pos = 3
    starts = index.starts
    find = buf.find
    blanks = 0  # blank lines seen so far
    pending = 0  # blank lines since the last record
    lines = 0
    droppable = isinstance(buf, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED")
    while pos < size:
        window_start = pos
        window_end = min(pos + WINDOW, size)
        batch: list[int] = []
        add = batch.append
        while True:
            nl = find(b"\n", pos, window_end)
            if nl < 0:
                if window_end < size and pos > window_start:
                    break  # the line runs past this window: start the next window with it
                nl = find(b"\n", pos)  # last line, or one line longer than a whole window
                if nl < 0:
                    nl = size
            lines += 1
            # JSON objects start with "{": decide almost every line on that one byte.
            if (buf[pos] == _OPEN_BRACE or not _blank(buf, pos, nl)) if nl > pos else False:
                if pending:
                    index.gap_records.append(len(starts) + len(batch))
                    blanks += pending
                    index.gap_totals.append(blanks)
                    pending = 0
                add(pos)
            else:
                pending += 1
            pos = nl + 1
            if pos >= window_end:
                break
        starts.extend(batch)
        if droppable:
            # Let go of the pages just scanned (the mapping, not the page cache).
            aligned = window_start - window_start % mmap.PAGESIZE
            if min(pos, size) > aligned:
                buf.madvise(mmap.MADV_DONTNEED, aligned, min(pos, size) - aligned)
        if on_batch is not None:
            on_batch(index)
    index.physical_lines = lines
    if len(starts):  # new lines are written with the first record's line ending
        first_nl = buf.find(b"\n", starts[0])
        index.crlf = first_nl > 0 and buf[first_nl - 1] == 13
    index.ends_with_newline = size == 0 or buf[size - 1] == 10
    index.complete = True
    return index


def line_end(buf, start: int) -> int:
    """Offset of the `\\n` ending the line that starts at `start` (or the end of the buffer)."""
    nl = buf.find(b"\n", start)
    return len(buf) if nl < 0 else nl


def content(buf, start: int) -> bytes:
    """The bytes of the line at `start` without its line ending (`\\n` or `\\r\\n`)."""
    end = line_end(buf, start)
    if end > start and buf[end - 1] == 13:
        end -= 1
    return bytes(buf[start:end])


def records_in(data: bytes) -> list[bytes]:
    """The records of a run of whole lines: blank lines skipped, line endings stripped."""
    out = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line and (line[0] == 123 or line.strip(_WHITESPACE)):
            out.append(line)
    return out
