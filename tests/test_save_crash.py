"""Saving is atomic and never clobbers: every write step failing (through the page cache, and
around it as big files are written), a SIGKILL mid-save, another writer changing the file
(replaced, or rewritten in place on a fine or coarse-timestamp filesystem), and permissions kept
across the rename."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pytest

import core.dataset.store
from core.dataset import ChangedOnDisk, open_dataset, writing

REPO = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------- a small dataset


def chat(i: int, text: str = "hello") -> bytes:
    reply = f"reply {i} — café, " + "and some more words " * 25  # 20 of these fill two 4 KiB blocks and more
    return orjson.dumps({"messages": [{"role": "user", "content": f"{text} {i}"}, {"role": "assistant", "content": reply}]})


# Physical lines of the original: 20 records, record 4 ends in CRLF, a blank line after record 10.
ORIGINAL_LINES = [chat(i) + (b"\r\n" if i == 4 else b"\n") for i in range(20)]
ORIGINAL_LINES.insert(11, b"\n")
ORIGINAL = b"".join(ORIGINAL_LINES)

REPLACEMENT = {"messages": [{"role": "user", "content": "replaced"}, {"role": "assistant", "content": "ok ✓"}]}
APPENDED = {"messages": [{"role": "user", "content": "appended"}, {"role": "assistant", "content": "ok"}]}


def _expected() -> bytes:
    lines = list(ORIGINAL_LINES)
    assert lines[3] == chat(3) + b"\n" and lines[5] == chat(5) + b"\n"
    lines[3] = orjson.dumps(REPLACEMENT) + b"\n"  # the file's newline: its first record's, LF
    del lines[5]
    lines.append(orjson.dumps(APPENDED) + b"\n")
    return b"".join(lines)


EXPECTED = _expected()


def make_edits(ds) -> None:
    ds.replace(3, REPLACEMENT)
    ds.delete(5)
    ds.append(APPENDED)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


HAVE_PROC_FD = os.path.isdir("/proc/self/fd")

# ---------------------------------------------------------------------------- failure injection

# The write-path calls of each way of writing (writing.Output): through the page cache, and
# direct (O_DIRECT, big files: here from 0 bytes, in 4 KiB blocks).
PATCHED = {
    "buffered": ("write", "copy_file_range", "fsync", "replace", "fchmod"),
    "direct": ("pwrite", "preadv", "fsync", "replace", "fchmod"),
}


def direct_io_works(folder: Path) -> bool:
    import fcntl

    fd, name = tempfile.mkstemp(dir=folder)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
        return True
    except (OSError, AttributeError):
        return False
    finally:
        os.close(fd)
        os.unlink(name)


@pytest.fixture(params=PATCHED)
def write_mode(request, monkeypatch, tmp_path) -> str:
    if request.param == "direct":
        if not direct_io_works(tmp_path):
            pytest.skip(f"the filesystem of {tmp_path} refuses O_DIRECT: saves there are buffered only")
        monkeypatch.setattr(writing, "DIRECT_MIN", 0)
        monkeypatch.setattr(writing, "BLOCK", 4096)
        # Reading the saved file back into the page cache comes after the save and in a thread
        # of its own: it would use the patched calls below at times of its own.
        monkeypatch.setattr(core.dataset.store, "warm", lambda fd: None)
    return request.param


class Injector:
    """Wraps the write-path `os` functions; the call numbered `fail_at` (0-based, counted across
    all of them) raises EIO. Records every call, whether `os.replace` has already succeeded, and
    how many writes went around the page cache."""

    def __init__(self, mp: pytest.MonkeyPatch, fail_at: int | None, names=PATCHED["buffered"]):
        self.fail_at = fail_at
        self.calls: list[str] = []
        self.failed: str | None = None
        self.failed_after_replace = False
        self.replaced = False
        self.direct_writes = 0
        for name in names:
            mp.setattr(core.dataset.store.os, name, self._wrap(name, getattr(os, name)))

    def _wrap(self, name, real):
        import fcntl

        def wrapper(*args, **kwargs):
            n = len(self.calls)
            self.calls.append(name)
            if n == self.fail_at:
                self.failed = name
                self.failed_after_replace = self.replaced
                raise OSError(errno.EIO, f"injected failure of os.{name} (call {n})")
            if name == "pwrite" and fcntl.fcntl(args[0], fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0):
                self.direct_writes += 1
            result = real(*args, **kwargs)
            if name == "replace":
                self.replaced = True
            return result

        return wrapper


def fresh(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "d.jsonl"
    path.write_bytes(ORIGINAL)
    return path


def test_reference_save_gives_the_expected_bytes(tmp_path):
    path = fresh(tmp_path / "ref")
    with open_dataset(path) as ds:
        make_edits(ds)
        ds.save()
        assert not ds.dirty
    assert path.read_bytes() == EXPECTED


def test_every_write_step_failing_leaves_the_old_file(tmp_path, monkeypatch, write_mode):
    """Fail the 0th, 1st, 2nd, … write-path call until a save goes through untouched."""
    failed_steps: list[str] = []
    after_replace: list[str] = []
    for n in range(500):
        path = fresh(tmp_path / f"n{n}")
        folder = path.parent
        with open_dataset(path) as ds:
            make_edits(ds)
            records = [ds.raw(i) for i in range(len(ds))]
            fds = open_fds() if HAVE_PROC_FD else None
            with monkeypatch.context() as mp:
                injector = Injector(mp, fail_at=n, names=PATCHED[write_mode])
                try:
                    ds.save()
                except OSError as exc:
                    assert exc.errno == errno.EIO and injector.failed, f"step {n}: not the injected failure: {exc!r}"
                    error = exc
                else:
                    error = None
            if error is None and injector.failed_after_replace:
                # Only the folder's fsync failed, after the rename: the save stands (and is logged).
                assert path.read_bytes() == EXPECTED and not ds.dirty
                after_replace.append(f"{n}:os.{injector.failed}")
                continue
            if error is None:
                # No injected failure was reached: every step before this one was covered.
                assert injector.failed is None and len(injector.calls) == n
                assert path.read_bytes() == EXPECTED
                assert not ds.dirty
                assert sorted(os.listdir(folder)) == ["d.jsonl"]
                if write_mode == "direct":
                    assert injector.direct_writes >= 2, "the save did not go around the page cache"
                break

            step = f"{n}:os.{injector.failed}"
            assert sorted(os.listdir(folder)) == ["d.jsonl"], f"{step}: a temp file was left behind"
            if injector.failed_after_replace:
                # The rename already happened (only the folder's fsync is left): the file is the
                # new one, whole. What the document does then is checked in the test below.
                assert path.read_bytes() in (ORIGINAL, EXPECTED), f"{step}: a mix of old and new"
                after_replace.append(step)
                continue
            failed_steps.append(step)
            assert path.read_bytes() == ORIGINAL, f"{step}: the file changed"
            assert ds.dirty, f"{step}: the document is no longer dirty"
            assert [ds.raw(i) for i in range(len(ds))] == records, f"{step}: the edits changed"
            if fds is not None:
                assert open_fds() == fds, f"{step}: a file descriptor leaked"
            # the failure is not sticky: a plain save now goes through
            ds.save()
            assert path.read_bytes() == EXPECTED, f"{step}: the retried save wrote the wrong bytes"
            assert not ds.dirty
            assert sorted(os.listdir(folder)) == ["d.jsonl"]
    else:
        pytest.fail("save never succeeded")
    covered = {step.split(":os.")[1] for step in failed_steps}
    assert covered == set(PATCHED[write_mode]), f"steps covered: {failed_steps}"
    assert len(after_replace) <= 1, after_replace  # at most the folder fsync comes after the rename


def test_folder_fsync_failing_after_the_rename_leaves_a_consistent_document(tmp_path, monkeypatch):
    path = fresh(tmp_path / "f")
    with open_dataset(path) as ds:
        make_edits(ds)
        fds = open_fds() if HAVE_PROC_FD else None
        with monkeypatch.context() as mp:
            injector = Injector(mp, fail_at=None)
            real_fsync = os.fsync

            def fsync(fd):  # the first fsync after the rename is the folder's
                if injector.replaced:
                    raise OSError(errno.EIO, "injected failure of the folder fsync")
                return real_fsync(fd)

            mp.setattr(core.dataset.store.os, "fsync", fsync)
            try:
                ds.save()
            except OSError:
                pass
        assert injector.replaced
        on_disk = path.read_bytes()
        # Either the save counts as not done (old file, still dirty) or as done (new file, clean).
        assert (on_disk, ds.dirty) in ((ORIGINAL, True), (EXPECTED, False)), (
            f"the file is {'new' if on_disk == EXPECTED else 'old'} but dirty={ds.dirty}"
        )
        if fds is not None:
            # A completed save keeps the new version open as the document's source.
            assert open_fds() - fds == (0 if ds.dirty else 1), "a file descriptor leaked"
        ds.replace(0, {"messages": [{"role": "user", "content": "again"}, {"role": "assistant", "content": "ok"}]})
        ds.save()  # the document recognises its own write: no ChangedOnDisk


# ---------------------------------------------------------------------------- SIGKILL mid-save

BIG_LINES = 60_000
SAVES = 8
EDIT_A = {"messages": [{"role": "system", "content": "edit A"}, {"role": "user", "content": "a?"}, {"role": "assistant", "content": "A."}]}
EDIT_B = {"messages": [{"role": "system", "content": "edit B, a longer one"}, {"role": "user", "content": "b?"}, {"role": "assistant", "content": "B!" * 40}]}

_delays = random.Random(20260106)
KILL_DELAYS = [round(_delays.uniform(k * 0.075, (k + 1) * 0.075), 3) for k in range(4)]  # one per 75 ms of 0–300

CHILD = """
import sys, orjson
from core.dataset import open_dataset, writing
path, a, b, saves = sys.argv[1], orjson.loads(sys.argv[2]), orjson.loads(sys.argv[3]), int(sys.argv[4])
writing.DIRECT_MIN = int(sys.argv[5])
ds = open_dataset(path)
ds.replace(0, a)
print("saving", flush=True)
for i in range(saves):
    ds.save()
    print("saved", i, flush=True)
    ds.replace(0, b if i % 2 == 0 else a)
print("done", flush=True)
"""


def _sha256(data) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """~60 MB of realistic chat examples, and the sha256 of each state a save can leave."""
    rng = random.Random(7)
    words = (
        "the a to of and in is for on with your you we can travel hotel flight museum food price "
        "season weather beach mountain guide plan route ticket budget night morning local market "
        "Kyoto Lisbon Paris Oaxaca Hanoi Reykjavík Zürich Kraków café naïve 東京 旅行 déjà vu über"
    ).split()

    def sentence(lo, hi):
        return " ".join(rng.choices(words, k=rng.randint(lo, hi))).capitalize() + "."

    questions = [sentence(8, 40) for _ in range(300)]
    answers = [sentence(120, 220) for _ in range(300)]
    system = "You are a helpful travel assistant."
    lines = [
        orjson.dumps(
            {
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": f"#{i} {rng.choice(questions)}"},
                    {"role": "assistant", "content": rng.choice(answers)},
                ]
            }
        )
        for i in range(BIG_LINES)
    ]
    data = b"\n".join(lines) + b"\n"
    assert 50_000_000 < len(data) < 80_000_000
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    path.write_bytes(data)
    rest = data[len(lines[0]) + 1 :]
    states = {
        _sha256(data): "original",
        _sha256(orjson.dumps(EDIT_A) + b"\n" + rest): "edit A",
        _sha256(orjson.dumps(EDIT_B) + b"\n" + rest): "edit B",
    }
    return path, states


@pytest.mark.slow
@pytest.mark.parametrize("delay", KILL_DELAYS, ids=lambda d: f"{int(d * 1000)}ms")
def test_sigkill_during_saves_leaves_a_whole_file(big_file, tmp_path, delay, write_mode):
    source, states = big_file
    direct_min = 0 if write_mode == "direct" else 1 << 62
    path = tmp_path / "big.jsonl"
    shutil.copyfile(source, path)
    with open(path, "rb") as f:  # settle the copy on disk, so the child's first fsync is its own
        os.fsync(f.fileno())
    stderr = open(tmp_path / "child.stderr", "w+b")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), orjson.dumps(EDIT_A), orjson.dumps(EDIT_B), str(SAVES), str(direct_min)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    try:
        first = child.stdout.readline()
        if first != b"saving\n":
            child.wait(timeout=60)
            stderr.seek(0)
            pytest.fail(f"the child did not start saving: {first!r}\n{stderr.read().decode(errors='replace')}")
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        progress = child.stdout.read().decode()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=60)
        child.stdout.close()
        stderr.close()
    assert child.returncode in (-signal.SIGKILL, 0), child.returncode
    saved = progress.count("saved")
    if child.returncode == 0:
        assert "done" in progress and saved == SAVES
    digest = _file_sha256(path)
    assert digest in states, f"killed after {delay * 1000:.0f} ms ({saved} saves done): the file is a mix"
    # save i writes edit A when i is even, edit B when odd; a save that returned is on disk, and
    # the one running when the kill came may or may not have replaced it
    after = ["original"] + ["edit A" if i % 2 == 0 else "edit B" for i in range(SAVES)]
    allowed = {after[saved]} if saved == SAVES else {after[saved], after[saved + 1]}
    assert states[digest] in allowed, f"{saved} saves had returned, yet the file is {states[digest]}"
    leftovers = [name for name in os.listdir(tmp_path) if name not in ("big.jsonl", "child.stderr")]
    assert all(name.startswith(".big.jsonl.") and name.endswith(".tmp") for name in leftovers), leftovers


# ---------------------------------------------------------------------------- changed on disk

SMALL = b"".join(chat(i) + b"\n" for i in range(12))
NEW_FIRST = {"messages": [{"role": "user", "content": "mine"}, {"role": "assistant", "content": "edit"}]}
SMALL_EDITED = orjson.dumps(NEW_FIRST) + b"\n" + SMALL.split(b"\n", 1)[1]


def other_writer_replaces(path: Path) -> bytes:
    """Another program writes a temp file and renames it over ours (editors, jq > tmp && mv)."""
    theirs = b"".join(chat(i, "theirs") + b"\n" for i in range(15))
    tmp = path.with_name("their-temp-file")
    tmp.write_bytes(theirs)
    os.replace(tmp, path)
    return theirs


def overwrite_in_place(path: Path) -> bytes:
    """Another program rewrites a few bytes in place: same inode, same size."""
    with open(path, "r+b") as f:
        f.seek(len(b'{"messages":[{"role":"user","content":"'))
        f.write(b"HELLO")
    data = path.read_bytes()
    assert len(data) == len(SMALL) and data != SMALL
    return data


def test_replaced_file_is_not_clobbered_but_save_as_works(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(SMALL)
    with open_dataset(path) as ds:
        ds.replace(0, NEW_FIRST)
        theirs = other_writer_replaces(path)
        assert ds.changed_on_disk()
        with pytest.raises(ChangedOnDisk):
            ds.save()
        assert path.read_bytes() == theirs
        assert ds.dirty
        assert sorted(os.listdir(tmp_path)) == ["d.jsonl"]

        elsewhere = tmp_path / "mine.jsonl"
        assert ds.save(elsewhere) == elsewhere
        assert elsewhere.read_bytes() == SMALL_EDITED
        assert path.read_bytes() == theirs
        assert not ds.dirty and ds.path == elsewhere


def test_reload_after_a_change_on_disk_then_save_works(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(SMALL)
    with open_dataset(path) as ds:
        ds.replace(0, NEW_FIRST)
        theirs = other_writer_replaces(path)
        with pytest.raises(ChangedOnDisk):
            ds.save()
        ds.reload()
        assert not ds.dirty and not ds.can_undo
        assert len(ds) == 15 and ds.raw(0) == chat(0, "theirs")
        ds.replace(0, NEW_FIRST)
        ds.save()
        assert path.read_bytes() == orjson.dumps(NEW_FIRST) + b"\n" + theirs.split(b"\n", 1)[1]
        assert not ds.dirty


def test_same_size_change_in_place_is_detected(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(SMALL)
    with open_dataset(path) as ds:
        ds.replace(0, NEW_FIRST)
        theirs = overwrite_in_place(path)
        with pytest.raises(ChangedOnDisk):
            ds.save()
        assert path.read_bytes() == theirs


def test_a_file_written_just_before_opening_saves_normally(tmp_path):
    """The control for the tests around it: no change, no complaint (fine timestamps)."""
    path = tmp_path / "d.jsonl"
    path.write_bytes(SMALL)
    with open_dataset(path) as ds:
        ds.replace(0, NEW_FIRST)
        assert not ds.changed_on_disk()
        ds.save()
    assert path.read_bytes() == SMALL_EDITED


def _looks_coarse_and_just_written(path: Path) -> int:
    t = time.time_ns() // 1_000_000_000 * 1_000_000_000
    os.utime(path, ns=(t, t))
    return t


def test_coarse_timestamps_same_size_change_in_place_is_detected(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(SMALL)
    t = _looks_coarse_and_just_written(path)
    with open_dataset(path) as ds:
        assert ds.baseline.digest is not None, "the store did not treat the timestamp as coarse"
        before = os.stat(path)
        ds.replace(0, NEW_FIRST)
        theirs = overwrite_in_place(path)
        os.utime(path, ns=(t, t))
        after = os.stat(path)
        # stat alone cannot tell: size, mtime, inode and device are all the same
        assert (after.st_size, after.st_mtime_ns, after.st_ino, after.st_dev) == (
            before.st_size, before.st_mtime_ns, before.st_ino, before.st_dev,
        )  # fmt: skip
        with pytest.raises(ChangedOnDisk):
            ds.save()
        assert path.read_bytes() == theirs


def test_coarse_timestamps_unchanged_file_saves_normally(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(SMALL)
    t = _looks_coarse_and_just_written(path)
    with open_dataset(path) as ds:
        ds.replace(0, NEW_FIRST)
        os.utime(path, ns=(t, t))  # touched, not changed
        ds.save()
    assert path.read_bytes() == SMALL_EDITED


# ---------------------------------------------------------------------------- permissions


def test_save_keeps_the_file_mode(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(SMALL)
    path.chmod(0o640)
    with open_dataset(path) as ds:
        ds.replace(0, NEW_FIRST)
        ds.save()
    assert path.read_bytes() == SMALL_EDITED
    assert os.stat(path).st_mode & 0o7777 == 0o640
