"""The emulator's stateful store: files, uploads, jobs and deleted models, in memory or in a folder.

A folder holds `state.json` (`{"schema_version": 1, "files": {...}, "uploads": {...}, "jobs":
{...}, "deleted_models": [...]}`), the bytes of each file under `files/<id>` and of each pending
upload part under `parts/<id>`, and `state.lock`. Two processes may share a folder (a CLI `launch`
while the app watches): every read or change holds an exclusive `flock` on `state.lock`, reloads
`state.json` when another process replaced it, and a change is written to a temporary file, fsynced
and renamed over the old one, so a reader never sees half a state.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

SCHEMA_VERSION = 1
STATE_FILE = "state.json"
LOCK_FILE = "state.lock"

# Upgrades of older state files, keyed by the version they upgrade from. None yet: version 1 is the
# first. A state written by a newer TuneDeck is refused rather than silently rewritten.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}

_BLOB_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")


class StateError(RuntimeError):
    """The state folder cannot be used (written by a newer version, or not emulator state)."""


def empty_state() -> dict:
    return {"schema_version": SCHEMA_VERSION, "files": {}, "uploads": {}, "jobs": {}, "deleted_models": []}


def migrate(data: dict, where: str = "state") -> dict:
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(version, int):
        raise StateError(f"{where} is not TuneDeck emulator state (no schema_version)")
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{where} was written by a newer TuneDeck (schema {version}; this one reads up to {SCHEMA_VERSION})"
        )
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    for key, value in empty_state().items():
        data.setdefault(key, value)
    return data


class Store:
    """Everything the emulated service remembers. Use `reading()` / `changing()` around every access."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else None
        self._lock = threading.RLock()
        self._data = empty_state()
        self._seen: tuple | None = None  # identity of the state.json we last read or wrote
        self._depth = 0
        self._dirty = False
        self._blobs: dict[str, bytes] = {}
        if self.folder is not None:
            for sub in ("files", "parts"):
                (self.folder / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
            with self.reading():  # fail now, not on the first request, if the folder is unusable
                pass

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[dict]:
        """The current state, for reading only; consistent for the duration of the block."""
        with self._transaction(write=False) as data:
            yield data

    @contextmanager
    def changing(self) -> Iterator[dict]:
        """The current state to change in place; written out when the outermost block ends cleanly."""
        with self._transaction(write=True) as data:
            yield data

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[dict]:
        with self._lock:
            outer = self._depth == 0
            lock_fd = None
            if outer and self.folder is not None:
                lock_fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            self._depth += 1
            failed = False
            try:
                if outer and self.folder is not None:
                    self._refresh()
                yield self._data
                if write:
                    self._dirty = True
            except BaseException:
                failed = True
                raise
            finally:
                self._depth -= 1
                if outer:
                    try:
                        if self.folder is not None:
                            if failed:
                                self._seen = None  # a change may be half done: reload the last good state
                            elif self._dirty:
                                self._write()
                    finally:
                        self._dirty = False
                        if lock_fd is not None:
                            fcntl.flock(lock_fd, fcntl.LOCK_UN)
                            os.close(lock_fd)

    def _identity(self, path: Path) -> tuple | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        path = self.folder / STATE_FILE
        identity = self._identity(path)
        if identity is None:
            if self._seen is not None:  # the file vanished under us: start over rather than guess
                self._data, self._seen = empty_state(), None
            return
        if identity == self._seen:
            return
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise StateError(f"{path} is not valid JSON: {exc}") from None
        self._data = migrate(data, str(path))
        self._seen = identity

    def _write(self) -> None:
        path = self.folder / STATE_FILE
        tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
        _write_synced(tmp, orjson.dumps(self._data, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)
        _sync_folder(self.folder)
        self._seen = self._identity(path)

    # -- bytes of files and upload parts ------------------------------------------------------

    def put_blob(self, kind: str, name: str, data: bytes) -> None:
        """Keep `data` as `kind/name` (kind: "files" or "parts"); blobs never change once written."""
        key = _blob_key(kind, name)
        if self.folder is None:
            with self._lock:
                self._blobs[key] = bytes(data)
            return
        path = self.folder / key
        tmp = path.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
        _write_synced(tmp, data)
        os.replace(tmp, path)

    def get_blob(self, kind: str, name: str) -> bytes | None:
        key = _blob_key(kind, name)
        if self.folder is None:
            with self._lock:
                return self._blobs.get(key)
        try:
            return (self.folder / key).read_bytes()
        except FileNotFoundError:
            return None

    def drop_blob(self, kind: str, name: str) -> None:
        key = _blob_key(kind, name)
        if self.folder is None:
            with self._lock:
                self._blobs.pop(key, None)
            return
        (self.folder / key).unlink(missing_ok=True)


def _blob_key(kind: str, name: str) -> str:
    # Names come from URLs: refuse anything that could step outside the folder.
    if kind not in ("files", "parts") or not _BLOB_NAME.fullmatch(name):
        raise ValueError(f"not a blob name: {kind}/{name!r}")
    return f"{kind}/{name}"


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse to fsync a folder; the rename is still atomic
        pass
    finally:
        os.close(fd)
