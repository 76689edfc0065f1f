"""Unsaved edits survive a crash and are offered back only for the same file."""

import os
import subprocess
import sys

from core.dataset import journal, open_dataset
from tests.conftest import REPO

ORIGINAL = b'{"n": 0}\n{"n": 1}\n{"n": 2}\n'


def test_edits_survive_a_killed_process(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(ORIGINAL)
    script = (
        "import os, sys\n"
        "from core.dataset import open_dataset, journal\n"
        f"ds = open_dataset({str(path)!r})\n"
        "journal.attach(ds)\n"
        "ds.replace(1, {'n': 10})\n"
        "ds.append('raw \\xff line'.encode('latin-1'))\n"
        "ds.delete(0)\n"
        "os._exit(9)  # a crash: no save, no cleanup\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=os.environ.copy())
    assert result.returncode == 9
    assert path.read_bytes() == ORIGINAL
    ds = open_dataset(path)
    recovery = journal.find(ds)
    assert recovery is not None and recovery.applies and recovery.edits == 3
    journal.restore(ds, recovery)
    assert [ds.raw(i) for i in range(len(ds))] == [b'{"n":10}', b'{"n": 2}', b"raw \xff line"]
    ds.undo()
    assert not ds.dirty


def test_journal_goes_away_on_save_and_is_stale_after_outside_changes(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(ORIGINAL)
    ds = open_dataset(path)
    journal.attach(ds)
    ds.delete(0)
    assert journal.journal_path(path).exists()
    ds.undo()
    assert not journal.journal_path(path).exists()  # nothing unsaved
    ds.delete(0)
    ds.save()
    assert not journal.journal_path(path).exists()
    ds.delete(0)
    path.write_bytes(ORIGINAL + b'{"n": 3}\n')  # someone else changes the file
    recovery = journal.find(open_dataset(path))
    assert recovery is not None and not recovery.applies and "changed" in recovery.describe()
