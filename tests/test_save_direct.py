"""Big files are saved around the page cache (O_DIRECT): the bytes are the same as the buffered
way's, whatever the file holds and however it was edited, and a filesystem that refuses direct
writes midway still gets the whole file.

The direct path starts at writing.DIRECT_MIN (128 MiB); here it starts at 0 bytes with 4 KiB
blocks, so small files cross many blocks and records straddle block ends.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random

import orjson
import pytest

import core.dataset.store
from core.dataset import open_dataset, writing
from tests.test_roundtrip import CASES
from tests.test_save_crash import direct_io_works


class DirectWrites:
    """Counts the writes that went around the page cache."""

    def __init__(self, monkeypatch):
        self.count = 0
        real = os.pwrite

        def pwrite(fd, data, offset):
            self.count += bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)
            return real(fd, data, offset)

        monkeypatch.setattr(core.dataset.store.os, "pwrite", pwrite)


@pytest.fixture
def direct(monkeypatch, tmp_path) -> DirectWrites:
    if not direct_io_works(tmp_path):
        pytest.skip(f"the filesystem of {tmp_path} refuses O_DIRECT: saves there are buffered only")
    monkeypatch.setattr(writing, "DIRECT_MIN", 0)
    monkeypatch.setattr(writing, "BLOCK", 4096)
    return DirectWrites(monkeypatch)


@pytest.mark.parametrize("name", [name for name in CASES if CASES[name]])
def test_open_and_save_is_byte_identical(tmp_path, direct, name):
    data = CASES[name] * 2000  # each case's odd bytes, over several blocks
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(data)
    with open_dataset(path) as ds:
        ds.save()
    assert path.read_bytes() == data
    assert direct.count >= 1


def varied_file(rng: random.Random) -> bytes:
    """Records of 20 B to 3 KB: CRLF and LF, blank lines, invalid JSON and UTF-8, a BOM, no final newline."""
    lines = [b"\xef\xbb\xbf"]
    for i in range(400):
        roll = rng.random()
        if roll < 0.05:
            lines.append(b'{"messages": [oops\n')
        elif roll < 0.08:
            lines.append(b"\xff\xfe not utf-8\n")
        elif roll < 0.12:
            lines.append(b"\n" * rng.randint(1, 3))
        text = " ".join(rng.choices(["café", "token", "東京", "plan", "a"], k=rng.randint(1, 600)))
        record = orjson.dumps({"messages": [{"role": "user", "content": f"#{i}"}, {"role": "assistant", "content": text}]})
        lines.append(record + (b"\r\n" if rng.random() < 0.3 else b"\n"))
    return b"".join(lines).rstrip(b"\n")


def edit(ds, rng: random.Random, count: int) -> None:
    for k in range(count):
        n = len(ds)
        new = {"messages": [{"role": "user", "content": f"edit {k}"}, {"role": "assistant", "content": "x" * rng.randint(1, 5000)}]}
        op = rng.choice(["replace", "insert", "delete", "move", "append", "duplicate"])
        if op == "replace":
            ds.replace(rng.randrange(n), new)
        elif op == "insert":
            ds.insert(rng.randrange(n), new)
        elif op == "delete":
            ds.delete(rng.randrange(n))
        elif op == "move":
            ds.move(rng.randrange(n), rng.randrange(n))
        elif op == "duplicate":
            ds.duplicate(rng.randrange(n))
        else:
            ds.append(new)


@pytest.mark.parametrize("seed", range(4))
def test_edited_saves_give_the_same_bytes_as_buffered_ones(tmp_path, monkeypatch, direct, seed):
    data = varied_file(random.Random(seed))
    (tmp_path / "direct.jsonl").write_bytes(data)
    (tmp_path / "buffered.jsonl").write_bytes(data)
    a, b = open_dataset(tmp_path / "direct.jsonl"), open_dataset(tmp_path / "buffered.jsonl")
    try:
        for round in range(3):  # later saves copy from what the earlier ones wrote
            edits = random.Random(seed * 10 + round)
            edit(a, edits, 12)
            edit(b, random.Random(seed * 10 + round), 12)
            written = direct.count
            a.save()
            assert direct.count > written, "the save did not go around the page cache"
            written = direct.count
            with monkeypatch.context() as mp:
                mp.setattr(writing, "DIRECT_MIN", 1 << 62)
                b.save()
            assert direct.count == written, "the buffered save went around the page cache"
            assert a.path.read_bytes() == b.path.read_bytes(), f"round {round}"
            with open_dataset(a.path) as again:
                assert [again.raw(i) for i in range(len(again))] == [a.raw(i) for i in range(len(a))]
    finally:
        a.close()
        b.close()


CHANGE = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "edited"}]}


def buffered_save(tmp_path, monkeypatch, data: bytes) -> bytes:
    """The bytes a buffered save of `data` with record 3 replaced by CHANGE gives."""
    reference = tmp_path / "reference.jsonl"
    reference.write_bytes(data)
    with monkeypatch.context() as mp, open_dataset(reference) as ds:
        mp.setattr(writing, "DIRECT_MIN", 1 << 62)
        ds.replace(3, CHANGE)
        ds.save()
    return reference.read_bytes()


def save_with_change(path) -> None:
    with open_dataset(path) as ds:
        ds.replace(3, CHANGE)
        ds.save()
        assert not ds.dirty


def file_and_expected(tmp_path, monkeypatch, seed: int):
    """A varied file to save with CHANGE, and the bytes the buffered way saves it as."""
    data = varied_file(random.Random(seed))
    path = tmp_path / "d.jsonl"
    path.write_bytes(data)
    return path, buffered_save(tmp_path, monkeypatch, data)


def is_direct(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


def test_a_direct_write_refused_midway_is_written_through_the_page_cache(tmp_path, monkeypatch, direct):
    """Some filesystems accept O_DIRECT and then refuse a write (EINVAL): the rest goes buffered."""
    path, expected = file_and_expected(tmp_path, monkeypatch, 9)
    real = os.pwrite
    refused = []

    def pwrite(fd, buffer, offset):
        if is_direct(fd) and offset >= 8192:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, buffer, offset)

    monkeypatch.setattr(core.dataset.store.os, "pwrite", pwrite)
    save_with_change(path)
    assert refused == [8192], "the first refusal should switch the rest of the file to buffered writes"
    assert path.read_bytes() == expected


def test_a_short_direct_write_is_finished_through_the_page_cache(tmp_path, monkeypatch, direct):
    path, expected = file_and_expected(tmp_path, monkeypatch, 10)
    real = os.pwrite
    short = []

    def pwrite(fd, buffer, offset):
        if is_direct(fd) and not short:
            short.append(offset)
            return real(fd, buffer[:1000], offset)  # as a full disk may: part of it, unaligned
        return real(fd, buffer, offset)

    monkeypatch.setattr(core.dataset.store.os, "pwrite", pwrite)
    save_with_change(path)
    assert short == [0]
    assert path.read_bytes() == expected


def test_where_direct_io_is_refused_at_once_the_file_is_written_buffered_and_not_read_back(tmp_path, monkeypatch, direct):
    data = varied_file(random.Random(11))
    expected = buffered_save(tmp_path, monkeypatch, data)
    warmed = []
    monkeypatch.setattr(core.dataset.store, "warm", lambda fd: warmed.append(fd))
    for how in ("fcntl", "first write"):
        path = tmp_path / f"{how}.jsonl"
        path.write_bytes(data)
        with monkeypatch.context() as mp:
            if how == "fcntl":  # a filesystem with no direct I/O at all
                real = fcntl.fcntl

                def refuse(fd, command, arg=0):
                    if command == fcntl.F_SETFL and arg & os.O_DIRECT:
                        raise OSError(errno.EINVAL, "Invalid argument")
                    return real(fd, command, arg)

                mp.setattr(writing.fcntl, "fcntl", refuse)
            else:  # one that takes the flag and refuses every direct write
                real_pwrite = os.pwrite

                def pwrite(fd, buffer, offset):
                    if is_direct(fd):
                        raise OSError(errno.EINVAL, "Invalid argument")
                    return real_pwrite(fd, buffer, offset)

                mp.setattr(core.dataset.store.os, "pwrite", pwrite)
            save_with_change(path)
        assert path.read_bytes() == expected, how
    assert warmed == [], "a file written through the page cache needs no reading back"


def test_small_files_stay_buffered(tmp_path, monkeypatch):
    if not direct_io_works(tmp_path):
        pytest.skip(f"the filesystem of {tmp_path} refuses O_DIRECT: every save there is buffered")
    monkeypatch.setattr(writing, "DIRECT_MIN", 32 << 20)
    counted = DirectWrites(monkeypatch)
    path = tmp_path / "d.jsonl"
    path.write_bytes(varied_file(random.Random(3)))
    with open_dataset(path) as ds:
        ds.delete(0)
        ds.save()
    assert counted.count == 0


def test_a_save_stands_when_the_saved_file_cannot_be_read_back(tmp_path, monkeypatch, direct):
    """Reading the new file back into the page cache only helps the next save: out of file
    descriptors for it, the save is still done and the document knows it."""
    path = tmp_path / "d.jsonl"
    path.write_bytes(varied_file(random.Random(5)))

    def no_more_descriptors(fd):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(writing.os, "dup", no_more_descriptors)
    with open_dataset(path) as ds:
        ds.delete(1)
        expected = [ds.raw(i) for i in range(len(ds))]
        ds.save()
        assert not ds.dirty and not ds.changed_on_disk()
    with open_dataset(path) as saved:
        assert [saved.raw(i) for i in range(len(saved))] == expected
