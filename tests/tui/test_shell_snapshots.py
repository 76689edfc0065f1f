"""Pictures of the shell at 80×24: the folder view, help, the quit prompt, the EMULATOR badge.

Each picture was looked at before it was accepted (tests/tui/__snapshots__/).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.tui.conftest import build

SIZE = (80, 24)


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # the app shows paths as typed: "data", the same on every machine
    return Path("data")


async def _scanned(pilot) -> None:
    """Every file's row filled in, and the table redrawn with its final column widths (on a busy
    machine the last rows' messages can still be queued when the scan's worker has ended)."""
    from textual.widgets import DataTable

    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    for _ in range(200):
        tables = pilot.app.screen.query(DataTable)
        if tables and not any(str(cell).strip() == "…" for row in range(tables.first().row_count) for cell in tables.first().get_row_at(row)):
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)  # a few frames: the screen is painted with the final widths (a modal shows what was last painted)


def test_folder_view(snap_compare, in_repo):
    assert snap_compare(build(in_repo), terminal_size=SIZE, run_before=_scanned)


def test_help_screen(snap_compare, in_repo):
    assert snap_compare(build(in_repo), terminal_size=SIZE, run_before=_scanned, press=["question_mark"])


def test_emulator_badge_on_the_playground(snap_compare, in_repo):
    assert snap_compare(build(in_repo), terminal_size=SIZE, run_before=_scanned, press=["3"])


def test_quit_with_unsaved_changes_asks(snap_compare, in_repo):
    async def edit_then_quit(pilot) -> None:
        await _scanned(pilot)
        pilot.app.document(in_repo / "travel.jsonl").delete(0)  # in memory only: never saved here
        await pilot.press("ctrl+q")
        await pilot.pause()

    assert snap_compare(build(in_repo), terminal_size=SIZE, run_before=edit_then_quit)
