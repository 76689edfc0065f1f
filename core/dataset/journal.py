"""Unsaved edits survive a crash: a journal per open file, kept in the user's state dir.

The journal is rewritten after every edit (temp file + rename, so it is never half-written) and
removed when the document is saved or back to its saved state. It describes the document as
pieces relative to the file on disk — runs of its records by number, and new records by their
bytes — so it stays small however large the file is. It is only offered back when the file on
disk is still exactly the one the edits were made against (size, mtime, inode).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from core import paths
from core.dataset.store import Dataset, Line, Piece, Run

VERSION = 1


def journal_path(path: Path) -> Path:
    key = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:24]
    folder = paths.state_dir() / "journals"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / f"{key}.json"


def _encode_line(raw: bytes) -> list:
    try:
        return ["line", raw.decode("utf-8")]
    except UnicodeDecodeError:
        return ["bytes", base64.b64encode(raw).decode()]


def _state(ds: Dataset) -> dict:
    source = ds.source
    records: list = []
    for piece in ds.pieces():
        if isinstance(piece, Run) and piece.source is source:
            records.append(["run", piece.lo, piece.hi])
        elif isinstance(piece, Run):  # bytes of an earlier version (after undo past a save)
            records.extend(_encode_line(piece.source.record(k)) for k in range(piece.lo, piece.hi))
        else:
            records.append(_encode_line(piece.raw))
    b = ds.baseline
    return {
        "version": VERSION,
        "path": str(ds.path.resolve()),
        "baseline": {"size": b.size, "mtime_ns": b.mtime_ns, "inode": b.inode},
        "edits": ds.edits,
        "records": records,
    }


def write(ds: Dataset) -> None:
    """Journal the document now (or remove the journal when nothing is unsaved)."""
    target = journal_path(ds.path)
    if not ds.dirty:
        target.unlink(missing_ok=True)
        return
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(_state(ds)))
    os.replace(tmp, target)


def attach(ds: Dataset) -> None:
    """Keep a journal of `ds` from now on."""
    ds.listen(write)


@dataclass(frozen=True)
class Recovery:
    """Unsaved edits found for a file from an earlier session."""

    path: Path
    edits: int
    records: int
    applies: bool  # False when the file changed on disk since: the edits cannot be replayed
    data: dict

    def describe(self) -> str:
        if not self.applies:
            return f"unsaved edits to {self.path} were found, but the file has changed since; they cannot be restored"
        return f"{self.edits} unsaved edit{'s' if self.edits != 1 else ''} to {self.path} from an earlier session"


def find(ds: Dataset) -> Recovery | None:
    """Is there a journal for this file from an earlier session?"""
    target = journal_path(ds.path)
    try:
        data = orjson.loads(target.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    if data.get("version") != VERSION:
        return None
    b, base = data["baseline"], ds.baseline
    applies = (b["size"], b["mtime_ns"], b["inode"]) == (base.size, base.mtime_ns, base.inode)
    return Recovery(ds.path, int(data.get("edits", 0)), len(data["records"]), applies, data)


def restore(ds: Dataset, recovery: Recovery) -> None:
    """Apply recovered edits to a freshly opened document, as one undoable edit."""
    if not recovery.applies:
        raise ValueError(recovery.describe())
    source = ds.source
    pieces: list[Piece] = []
    for item in recovery.data["records"]:
        kind = item[0]
        if kind == "run":
            pieces.append(Run(source, item[1], item[2]))
        elif kind == "line":
            pieces.append(Line(item[1].encode("utf-8")))
        else:
            pieces.append(Line(base64.b64decode(item[1])))
    ds.set_pieces(pieces, f"restore {recovery.edits} unsaved edits")


def discard(ds: Dataset) -> None:
    journal_path(ds.path).unlink(missing_ok=True)
