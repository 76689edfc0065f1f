"""A JSONL dataset document: opened without parsing, edited through an overlay, saved atomically.

Opening scans the file once over an mmap (`lines.scan`) to find where each record starts; the
mapping is then closed and records are read with `pread` on demand. (Reading through a live
mapping would crash the whole process with SIGBUS if another program truncated the file in
place, e.g. `jq … > data.jsonl`; `pread` just returns short.)

Edits never touch the file. The document is a *piece table*: a list of pieces, each either a run
of untouched records of a source file (`Run`) or one new record (`Line`). An edit replaces the
piece list; undo/redo swap whole piece lists, so undo brings back the exact original bytes of a
line. Saving copies each run's byte range (never re-serialising it; `writing.Output` picks
`copy_file_range` or, for big files, direct I/O) into a temp file beside the target, fsyncs it,
renames it over the target and fsyncs the folder: a crash at any moment leaves the old file or
the new one, never a mix.

After a save the new file becomes the baseline (for "changed on disk" and for the journal of
unsaved edits), while undo history keeps pointing at the previous version's bytes, which stay
readable through the open descriptor even though that version no longer has a name. The new
version remembers the pieces it was written from (`Source.written_from`), so whoever cached
results per record (the validator) can carry them over instead of reading every record again.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import stat
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from core.dataset import lines
from core.dataset.lines import LineIndex
from core.dataset.writing import Output, SourceShrank, atomic_write, warm

log = logging.getLogger(__name__)


class DatasetError(Exception):
    """A problem a person can act on; `title` is short, `hint` says what to do."""

    def __init__(self, title: str, hint: str = ""):
        super().__init__(f"{title} ({hint})" if hint else title)
        self.title = title
        self.hint = hint


class ChangedOnDisk(DatasetError):
    pass


class RawLine(str):
    """A record that is not a JSON object: its text (for display) and its exact bytes."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawLine:
        text = super().__new__(cls, raw.decode("utf-8", "replace"))
        text.raw = raw
        return text


@dataclass(frozen=True, eq=False)
class Source:
    """One version of the file on disk: an open descriptor and the index of its records."""

    fd: int
    index: LineIndex
    # For a version this document saved: the pieces it was written from, in order. Record k of
    # this source has the exact bytes of record k of their concatenation, so results computed
    # for those bytes (the validator's) carry over to it instead of being computed again.
    written_from: tuple[Piece, ...] = ()

    def record(self, k: int) -> bytes:
        """Content bytes of record k (no line ending)."""
        start = self.index.starts[k]
        span = os.pread(self.fd, self.index.span_end(k) - start, start)
        nl = span.find(b"\n")
        if nl >= 0:
            span = span[:nl]
        return span[:-1] if span.endswith(b"\r") else span

    def records(self, lo: int, hi: int) -> list[bytes]:
        """Content bytes of records lo..hi-1, read with one call."""
        if lo >= hi:
            return []
        start = self.index.starts[lo]
        data = os.pread(self.fd, self.index.span_end(hi - 1) - start, start)
        raws = lines.records_in(data)
        if len(raws) != hi - lo:
            raise ChangedOnDisk("the file changed on disk while it was being read", "reload it")
        return raws

    def span_lines(self, lo: int, hi: int) -> int:
        """Physical lines covered by the spans of records lo..hi-1."""
        index = self.index
        end = index.lineno(hi) if hi < len(index) else index.physical_lines + 1
        return end - index.lineno(lo)


@dataclass(frozen=True)
class Run:
    source: Source
    lo: int
    hi: int

    def __len__(self) -> int:
        return self.hi - self.lo


@dataclass(frozen=True)
class Line:
    raw: bytes  # the record's content, without a line ending

    def __len__(self) -> int:
        return 1


Piece = Run | Line


@dataclass(frozen=True)
class Baseline:
    """What the file on disk looked like when we last read or wrote it."""

    size: int
    mtime_ns: int
    inode: int
    device: int
    digest: bytes | None  # content hash, taken only when the mtime could not tell changes apart

    def matches(self, st: os.stat_result) -> bool:
        return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev) == (self.size, self.mtime_ns, self.inode, self.device)


def _file_digest(fd: int) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        h.update(chunk)
        offset += len(chunk)
    return h.digest()


def _baseline(fd: int) -> Baseline:
    """Stat the file so a later change can be told apart from it.

    Doubt remains when the file was modified within one timestamp tick of now: a second change
    in the same tick would leave size, mtime and inode as they are. On filesystems with fine
    timestamps (a tick of a few ms) we wait out the tick and stat again; on coarse ones (whole
    seconds: FAT, some network mounts) we keep a content hash instead.
    """
    st = os.fstat(fd)
    coarse = st.st_mtime_ns % 1_000_000_000 == 0
    window = 2_000_000_000 if coarse else 20_000_000
    age = time.time_ns() - st.st_mtime_ns
    digest = None
    if 0 <= age < window:
        if coarse:
            digest = _file_digest(fd)
        else:
            time.sleep((window - age) / 1e9)
            st = os.fstat(fd)
    return Baseline(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, digest)


def encode(example) -> bytes:
    """The bytes a new record is written as: compact JSON, key order kept.

    `example` is a dict, a pydantic model of `schema.py`, or a `str`/`bytes` raw line (kept as
    given, for the raw editor — it must be one line).
    """
    if isinstance(example, RawLine):
        return example.raw
    if isinstance(example, bytes | str):
        raw = example.encode("utf-8", "surrogateescape") if isinstance(example, str) else example
        if b"\n" in raw:
            raise ValueError("a raw record must be a single line")
        return raw.rstrip(b"\r")
    if hasattr(example, "model_dump"):
        example = example.model_dump(mode="json", exclude_unset=True)
    if not isinstance(example, dict):
        raise TypeError(f"an example is a dict or a schema model, not {type(example).__name__}")
    return orjson.dumps(example)


class Dataset:
    """An open JSONL file. Use `open_dataset(path)`.

    `ds[i]` is record i parsed (a dict), or a `RawLine` when it is not a JSON object. Parsed
    examples are cached: treat them as read-only and edit through `replace`.
    """

    def __init__(self, path: Path, source: Source, baseline: Baseline, head: bytes):
        self.path = path
        self._source = source
        self._baseline = baseline
        self._head = head  # bytes before the first record: a BOM and leading blank lines
        self._pieces: list[Piece] = [Run(source, 0, len(source.index))] if len(source.index) else []
        self._saved: list[Piece] = self._pieces
        self._undo: list[tuple[list[Piece], str]] = []
        self._redo: list[tuple[list[Piece], str]] = []
        self._sources = [source]
        self._cache: OrderedDict[tuple, object] = OrderedDict()
        self._reindex()
        self._listeners: list[Callable[[Dataset], None]] = []  # the journal, the browser, …
        self._warming = None  # stops the last saved file being read back (see writing.warm)

    # ---------------------------------------------------------------- reading
    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: int):
        key = self.identity(i)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        raw = self.raw(i)
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            value = RawLine(raw)
        self._cache[key] = value
        if len(self._cache) > 4096:
            self._cache.popitem(last=False)
        return value

    def __iter__(self) -> Iterator:
        for i in range(len(self)):
            yield self[i]

    def raw(self, i: int) -> bytes:
        """The exact bytes of record i, without its line ending."""
        piece, offset = self._locate(i)
        if isinstance(piece, Line):
            return piece.raw
        return piece.source.record(piece.lo + offset)

    def identity(self, i: int) -> tuple:
        """A key that stays the same as long as record i's bytes do (for caches of results)."""
        piece, offset = self._locate(i)
        if isinstance(piece, Line):
            return ("line", piece.raw)
        return (id(piece.source), piece.lo + offset)

    def lineno(self, i: int) -> int:
        """1-based physical line of record i in the document as it would be saved now."""
        p = self._piece_at(i)
        piece, before = self._pieces[p], self._line_offsets[p]
        line = self._head_lines + before + 1
        if isinstance(piece, Run):
            offset = i - self._offsets[p]
            line += piece.source.span_lines(piece.lo, piece.lo + offset) if offset else 0
        return line

    def record_at_line(self, line: int) -> int | None:
        """The record on physical line `line`, or the next record after it; None past the end."""
        lo, hi = 0, len(self)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.lineno(mid) < line:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self) else None

    @property
    def bom(self) -> bool:
        return self._source.index.bom

    @property
    def newline(self) -> bytes:
        return b"\r\n" if self._source.index.crlf else b"\n"

    @property
    def dirty(self) -> bool:
        """True when the document differs from the file as last opened or saved."""
        return self._pieces != self._saved

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def pieces(self) -> list[Piece]:
        """The current piece list (for the validator and the journal)."""
        return list(self._pieces)

    @property
    def source(self) -> Source:
        """The version of the file on disk the document was last read from or saved to."""
        return self._source

    @property
    def baseline(self) -> Baseline:
        return self._baseline

    @property
    def edits(self) -> int:
        """Edits that undo can take back."""
        return len(self._undo)

    def set_pieces(self, pieces: list[Piece], label: str) -> None:
        """Replace the whole document as one undoable edit (used to restore a journal)."""
        self._edit(label, list(pieces))

    # ---------------------------------------------------------------- editing
    def replace(self, i: int, example) -> None:
        self._check_index(i)
        self._edit(f"replace record {i + 1}", self._splice(i, i + 1, [Line(encode(example))]))

    def insert(self, i: int, example) -> None:
        if not 0 <= i <= len(self):
            raise IndexError(f"cannot insert at {i}: the dataset has {len(self)} records")
        self._edit(f"insert at {i + 1}", self._splice(i, i, [Line(encode(example))]))

    def append(self, example) -> None:
        self.insert(len(self), example)

    def extend(self, examples) -> None:
        """Append several examples as one undoable edit."""
        new = [Line(encode(e)) for e in examples]
        if new:
            self._edit(f"append {len(new)} records", self._splice(len(self), len(self), new))

    def delete(self, i: int) -> None:
        self._check_index(i)
        self._edit(f"delete record {i + 1}", self._splice(i, i + 1, []))

    def duplicate(self, i: int) -> None:
        """Insert a copy of record i (its exact bytes) right after it."""
        self._check_index(i)
        self._edit(f"duplicate record {i + 1}", self._splice(i + 1, i + 1, [Line(self.raw(i))]))

    def move(self, i: int, j: int) -> None:
        """Move record i so that it ends up at position j."""
        self._check_index(i)
        self._check_index(j)
        if i == j:
            return
        moved = self._slice(i, i + 1)
        pieces = self._splice(i, i + 1, [])
        pieces = self._splice(j, j, moved, pieces)
        self._edit(f"move record {i + 1} to {j + 1}", pieces)

    def undo(self) -> bool:
        if not self._undo:
            return False
        pieces, label = self._undo.pop()
        self._redo.append((self._pieces, label))
        self._set(pieces)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        pieces, label = self._redo.pop()
        self._undo.append((self._pieces, label))
        self._set(pieces)
        return True

    def _check_index(self, i: int) -> None:
        if not 0 <= i < len(self):
            raise IndexError(f"record {i} is out of range: the dataset has {len(self)} records")

    def _edit(self, label: str, pieces: list[Piece]) -> None:
        self._undo.append((self._pieces, label))
        self._redo.clear()
        self._set(pieces)

    def _set(self, pieces: list[Piece]) -> None:
        self._pieces = pieces
        self._reindex()
        self._changed()

    def _slice(self, lo: int, hi: int, pieces: list[Piece] | None = None) -> list[Piece]:
        """Pieces covering records lo..hi-1 of `pieces` (default: the current ones)."""
        out: list[Piece] = []
        pos = 0
        for piece in self._pieces if pieces is None else pieces:
            n = len(piece)
            a, b = max(lo, pos), min(hi, pos + n)
            if a < b:
                out.append(piece if (a, b) == (pos, pos + n) else Run(piece.source, piece.lo + a - pos, piece.lo + b - pos))
            pos += n
        return out

    def _splice(self, lo: int, hi: int, new: list[Piece], pieces: list[Piece] | None = None) -> list[Piece]:
        """`pieces` with records lo..hi-1 replaced by `new`; adjacent runs are merged."""
        pieces = self._pieces if pieces is None else pieces
        total = sum(len(p) for p in pieces)
        merged: list[Piece] = []
        for piece in self._slice(0, lo, pieces) + new + self._slice(hi, total, pieces):
            last = merged[-1] if merged else None
            if isinstance(piece, Run) and isinstance(last, Run) and last.source is piece.source and last.hi == piece.lo:
                merged[-1] = Run(piece.source, last.lo, piece.hi)
            else:
                merged.append(piece)
        return merged

    def _reindex(self) -> None:
        """Cumulative record and line counts per piece, for O(log pieces) lookups."""
        offsets, line_offsets = [], []
        count = lines_before = 0
        for piece in self._pieces:
            offsets.append(count)
            line_offsets.append(lines_before)
            count += len(piece)
            lines_before += piece.source.span_lines(piece.lo, piece.hi) if isinstance(piece, Run) else 1
        self._offsets, self._line_offsets, self._count = offsets, line_offsets, count
        # The head is a BOM and blank lines; in a file of blank lines only, its last line may
        # lack a newline, which must be added before a record follows it.
        head = self._head
        self._head_complete = head in (b"", lines.BOM) or head.endswith(b"\n")
        self._head_lines = head.count(b"\n") + (0 if self._head_complete else 1)

    def _piece_at(self, i: int) -> int:
        self._check_index(i)
        return bisect_right(self._offsets, i) - 1

    def _locate(self, i: int) -> tuple[Piece, int]:
        p = self._piece_at(i)
        return self._pieces[p], i - self._offsets[p]

    # ---------------------------------------------------------------- saving
    def changed_on_disk(self) -> bool:
        """Has someone else changed the file since we opened or saved it?"""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True
        if not self._baseline.matches(st):
            return True
        if self._baseline.digest is None:
            return False
        with open(self.path, "rb") as f:
            return _file_digest(f.fileno()) != self._baseline.digest

    def save(self, path: str | os.PathLike | None = None, *, force: bool = False) -> Path:
        """Write the document to `path` (default: where it was opened) atomically.

        Refuses (ChangedOnDisk) to overwrite the opened file when it changed on disk since it
        was opened or last saved, unless `force`. Saving elsewhere ("save as") is always allowed
        and makes that file the document's file.
        """
        target = Path(path) if path is not None else self.path
        same = target.resolve() == self.path.resolve()
        if same and not force and self.changed_on_disk():
            raise ChangedOnDisk(
                f"{self.path} changed on disk since it was opened",
                "save to another file, or reload it (your edits would be lost on reload)",
            )
        fd, (placed, uncached) = atomic_write(target, self._write)
        self._rebase(fd, target, placed)
        # The file read back so far was this save's source (left reading meanwhile, it made
        # the save quicker: two threads finding memory); the new file is the next save's.
        self._stop_warming()
        if uncached:
            self._warming = warm(fd)
        return target

    def _stop_warming(self) -> None:
        if self._warming is not None:
            self._warming.set()
            self._warming = None

    def _write(self, fd: int) -> tuple[list[int], bool]:
        """Write the document into `fd`; returns the offset where each piece landed, and whether
        the bytes went around the page cache."""
        newline = self.newline
        placed = []
        try:
            with Output(fd, size_hint=self._size_hint()) as out:
                if self._head:
                    out.write(self._head)
                ends_with_newline = self._head_complete
                for piece in self._pieces:
                    if not ends_with_newline:  # the line before had none (it ended the old file)
                        out.write(newline)
                    placed.append(out.written)
                    if isinstance(piece, Line):
                        out.write(piece.raw + newline)
                        ends_with_newline = True
                    else:
                        index = piece.source.index
                        start, end = index.starts[piece.lo], index.span_end(piece.hi - 1)
                        out.copy(piece.source.fd, start, end - start)
                        ends_with_newline = os.pread(piece.source.fd, 1, end - 1) == b"\n"
        except SourceShrank:
            raise DatasetError("the file being copied ended early", "it was truncated while saving") from None
        return placed, out.bypassed_cache

    def _size_hint(self) -> int:
        """About how many bytes `_write` will write (it picks how to write by size)."""
        size = len(self._head)
        for piece in self._pieces:
            if isinstance(piece, Line):
                size += len(piece.raw) + 2
            else:
                index = piece.source.index
                size += index.span_end(piece.hi - 1) - index.starts[piece.lo]
        return size

    def _rebase(self, fd: int, target: Path, placed: list[int]) -> None:
        """Make the file just written the document's source and baseline, without rescanning it."""
        index = LineIndex(size=os.fstat(fd).st_size, bom=self._source.index.bom, crlf=self._source.index.crlf)
        lineno = self._head_lines + 1  # line where the next piece starts
        for piece, offset in zip(self._pieces, placed):
            first = len(index.starts)
            if isinstance(piece, Line):
                index.starts.append(offset)
                _note_line(index, first, lineno)
                lineno += 1
                continue
            src = piece.source.index
            delta = offset - src.starts[piece.lo]
            index.starts.extend(src.starts[piece.lo : piece.hi])
            if delta:
                starts = index.starts
                for k in range(first, len(starts)):
                    starts[k] += delta
            # Blank lines inside the run keep their places relative to its records.
            base = src.lineno(piece.lo)
            _note_line(index, first, lineno)
            g = bisect_right(src.gap_records, piece.lo)
            while g < len(src.gap_records) and src.gap_records[g] < piece.hi:
                k = src.gap_records[g]
                _note_line(index, first + k - piece.lo, lineno + src.lineno(k) - base)
                g += 1
            lineno += piece.source.span_lines(piece.lo, piece.hi)
        index.physical_lines = lineno - 1
        index.ends_with_newline = index.size == 0 or os.pread(fd, 1, index.size - 1) == b"\n"
        index.complete = True
        source = Source(fd, index, written_from=tuple(self._pieces))
        self._sources.append(source)
        self._source = source
        self.path = target
        self._baseline = _baseline(fd)
        self._pieces = [Run(source, 0, len(index))] if len(index) else []
        self._saved = self._pieces
        self._reindex()
        self._changed()

    def reload(self) -> None:
        """Drop every edit and read the file from disk again (also clears undo history).

        A file that has not changed since it was read or saved is not read again: the document
        goes back to the source it has, so whatever was cached for those bytes stays valid. A
        file that changed is opened afresh and shares nothing with the old version.
        Listeners stay and are told, as after any change (the journal forgets the dropped edits)."""
        if not self.changed_on_disk():
            source = self._source
            for old in self._sources:
                if old is not source:
                    os.close(old.fd)
            self._sources = [source]
            self._pieces = [Run(source, 0, len(source.index))] if len(source.index) else []
            self._saved = self._pieces
            self._undo.clear()
            self._redo.clear()
            self._cache.clear()
            self._reindex()
            self._changed()
            return
        fresh = open_dataset(self.path)
        listeners = self._listeners
        self.close()
        self.__dict__.update(fresh.__dict__)
        self._listeners = listeners
        self._changed()

    # ---------------------------------------------------------------- listeners
    def listen(self, callback: Callable[[Dataset], None]) -> None:
        """Call `callback(dataset)` after every change, save and reload (once, however often asked)."""
        if callback not in self._listeners:
            self._listeners.append(callback)

    def unlisten(self, callback: Callable[[Dataset], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def listening(self, callback: Callable[[Dataset], None]) -> bool:
        return callback in self._listeners

    def _changed(self) -> None:
        for callback in list(self._listeners):
            callback(self)

    def close(self) -> None:
        self._stop_warming()
        for source in self._sources:
            try:
                os.close(source.fd)
            except OSError:
                pass
        self._sources = []

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Dataset {self.path} records={len(self)} dirty={self.dirty}>"


def _note_line(index: LineIndex, k: int, lineno: int) -> None:
    """Record that record k of a new index sits on physical line `lineno`.

    Only changes in the count of blank lines before a record are stored (see `LineIndex`).
    """
    blanks = lineno - k - 1
    if blanks != (index.gap_totals[-1] if index.gap_totals else 0):
        if index.gap_records and index.gap_records[-1] == k:
            index.gap_totals[-1] = blanks
        else:
            index.gap_records.append(k)
            index.gap_totals.append(blanks)


def open_dataset(path: str | os.PathLike, *, on_batch: Callable[[LineIndex], None] | None = None) -> Dataset:
    """Open a JSONL file for reading and editing. Scans line offsets only; parses nothing.

    Raises `DatasetError` with a readable title for a missing file, a folder, or no permission.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file", "check the path") from None
    except IsADirectoryError:
        raise DatasetError(f"{path} is a folder", "open a .jsonl file inside it") from None
    except PermissionError:
        raise DatasetError(f"{path}: permission denied", "check the file's permissions") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DatasetError(f"{path} is not a regular file", "open a .jsonl file")
        if st.st_size:
            with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mm:
                index = lines.scan(mm, on_batch=on_batch)
                head = bytes(mm[: index.starts[0]]) if len(index) else bytes(mm[:])
        else:
            index = LineIndex(size=0, complete=True)
            head = b""
        return Dataset(path, Source(fd, index), _baseline(fd), head)
    except BaseException:
        os.close(fd)
        raise
