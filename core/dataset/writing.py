"""Putting a document's bytes into a new file: untouched byte ranges are copied, never
re-serialised, and the file is replaced atomically.

A new file is written front to back through an `Output`, one of two ways with the same bytes:
- buffered, for files under DIRECT_MIN (128 MiB; below that the buffered way was as quick here)
  and wherever the filesystem refuses direct I/O: `copy_file_range` copies in the kernel,
  through the page cache;
- direct, for bigger files: the bytes are gathered in one page-aligned buffer and each full
  buffer is written with O_DIRECT, around the page cache. On this project's machines (2-core
  VMs) a buffered copy of a 1.1 GB file plus its fsync took 0.8–3.3 s, most of it the kernel
  finding 1.1 GB of fresh memory for the copy's page cache (touching fresh memory alone ran at
  0.5–1.4 GB/s there); the direct write took 0.7 s.
The last part of the buffer (any length) is written buffered, after O_DIRECT is turned off.
A file written direct is not in the page cache, and the next save copies from it: `warm` reads
it back in the background (the same fresh memory, found while the user edits on; asked with
POSIX_FADV_WILLNEED instead, Linux left the pages slow to read the first time). The document
stops it once a newer save has replaced that file, or when it closes.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: every file is written buffered there
    fcntl = None

log = logging.getLogger(__name__)

DIRECT_MIN = 128 << 20  # bytes: below this the page cache costs little, and a copy stays cached
BLOCK = 8 << 20  # bytes per direct write: a multiple of any device's logical block size
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_UNSUPPORTED = (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


class SourceShrank(Exception):
    """The file being copied from ended before the range asked for (truncated meanwhile)."""


class Output:
    """A new file written front to back: `write` bytes, `copy` byte ranges of another file.

    Used as a context manager: leaving the block writes what the buffer still holds, so the
    file is whole only after it (and before its fsync). `written` counts the bytes so far.
    """

    def __init__(self, fd: int, size_hint: int = 0):
        self.fd = fd
        self.written = 0
        self._direct = size_hint >= DIRECT_MIN and _set_direct(fd, True)
        self.bypassed_cache = False  # some of the file went around the page cache
        self._buffer = mmap.mmap(-1, BLOCK) if self._direct else None  # page-aligned, as O_DIRECT needs
        self._view = memoryview(self._buffer) if self._buffer is not None else None
        self._held = 0  # bytes in the buffer, not yet written
        self._placed = 0  # where the buffer's first byte goes in the file

    def write(self, data: bytes) -> None:
        if self._view is None:
            self.written += write_all(self.fd, data)
            return
        data = memoryview(data)
        while data:
            n = min(len(data), BLOCK - self._held)
            self._view[self._held : self._held + n] = data[:n]
            self._held += n
            data = data[n:]
            if self._held == BLOCK:
                self._flush()
        self.written = self._placed + self._held

    def copy(self, src: int, offset: int, count: int) -> None:
        """Append bytes offset..offset+count of the file open as `src`."""
        if self._view is None:
            copy_range(src, self.fd, offset, count)
            self.written += count
            return
        end = offset + count
        while offset < end:
            with self._view[self._held : min(BLOCK, self._held + end - offset)] as room:
                n = os.preadv(src, [room], offset)
            if n == 0:
                raise SourceShrank()
            self._held += n
            offset += n
            if self._held == BLOCK:
                self._flush()
        self.written = self._placed + self._held

    def __enter__(self) -> Output:
        return self

    def __exit__(self, kind, error, trace) -> None:
        """Write what the buffer still holds (unless writing failed), then free it."""
        if self._buffer is None:
            return
        try:
            if kind is None:
                if self._direct:
                    self._direct = not _set_direct(self.fd, False)
                self._flush()
        finally:
            self._view.release()
            self._view = None
            self._buffer.close()
            self._buffer = None

    def _flush(self) -> None:
        """Write the buffer at its place in the file: direct while that works, else buffered."""
        with self._view[: self._held] as data:
            done = 0
            if self._direct:
                try:
                    done = os.pwrite(self.fd, data, self._placed)
                    self.bypassed_cache = self.bypassed_cache or done > 0
                except OSError as exc:
                    if exc.errno not in _UNSUPPORTED:
                        raise
                    log.info("direct write refused (%s); writing the rest through the page cache", exc)
                if done < len(data):  # refused, or a short write leaving an unaligned rest
                    self._direct = not _set_direct(self.fd, False)
            while done < len(data):
                with data[done:] as rest:
                    done += os.pwrite(self.fd, rest, self._placed + done)
        self._placed += self._held
        self._held = 0


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for `fd`; False where the system or filesystem has no such mode."""
    if not _O_DIRECT or fcntl is None:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT if on else flags & ~_O_DIRECT)
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
        return False
    return True


def warm(fd: int) -> threading.Event | None:
    """Read the file open as `fd` into the page cache, in a thread of its own.

    Returns an event that stops the reading when set (None when nothing was started).
    """
    if not hasattr(os, "preadv"):  # only where files are written direct (Linux)
        return None
    try:
        own = os.dup(fd)  # the caller may close `fd` meanwhile
    except OSError as exc:  # (out of descriptors: the save itself is done, this only helps the next)
        log.info("could not read the saved file back into the page cache: %s", exc)
        return None
    stop = threading.Event()

    def read_back() -> None:
        try:
            buffer = bytearray(1 << 20)
            offset = 0
            while not stop.is_set() and (n := os.preadv(own, [buffer], offset)):
                offset += n
        except OSError as exc:
            log.info("could not read the saved file back into the page cache: %s", exc)
        finally:
            os.close(own)

    try:
        threading.Thread(target=read_back, name="warm-saved-file", daemon=True).start()
    except RuntimeError as exc:  # no thread to be had (interpreter shutting down, limits)
        os.close(own)
        log.info("could not read the saved file back into the page cache: %s", exc)
        return None
    return stop


def atomic_write(target: Path, write: Callable[[int], object]) -> tuple[int, object]:
    """Replace `target` with what `write(fd)` writes, atomically; keeps the file's permissions.

    Writes a temp file in the same folder, fsyncs it, renames it over the target and fsyncs the
    folder: a crash at any point leaves either the old file or the new one. Returns the open
    descriptor of the new file (the caller closes it) and what `write` returned.
    """
    target = Path(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        result = write(fd)
        os.fsync(fd)
        os.replace(tmp, target)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        _fsync_folder(target.parent)
    except OSError as exc:
        # The new file is complete and in place; only the durability of the rename across a
        # power cut is in doubt. Failing the save now would leave the document believing the
        # old file is on disk, so it is reported and the save stands.
        log.warning("saved %s, but syncing its folder failed: %s", target, exc)
    return fd, result


def write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    return len(data)


def copy_range(src: int, dst: int, offset: int, count: int) -> None:
    """Copy bytes between files in the kernel when it can; plain reads and writes otherwise."""
    while count > 0:
        try:
            n = os.copy_file_range(src, dst, count, offset)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            n = 0
        if n == 0:  # unsupported here, or a short file: fall back for the rest
            while count > 0:
                chunk = os.pread(src, min(count, 1 << 22), offset)
                if not chunk:
                    raise SourceShrank()
                write_all(dst, chunk)
                offset += len(chunk)
                count -= len(chunk)
            return
        offset += n
        count -= n


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
