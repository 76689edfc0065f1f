"""A picture of a finished batch evaluation: totals per model, the examples ordered by how much
the models disagree, and the highlighted one beside its gold answer. Looked at (text and PNG)
before it was accepted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.clock import ManualClock
from core.emulator import Emulator
from tests.tui.jobs_helpers import TRAVEL, app_on, no_blink, steady_ids, until, write
from tests.tui.test_evaluation_screen import BASE, evaluation
from tests.tui.test_playground import tuned_model


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock, tmp_path, monkeypatch):
    steady_ids(monkeypatch)
    monkeypatch.chdir(tmp_path)  # files named relative to where TuneDeck started: the same on every machine
    # Latency is the wall clock's: held still, the picture does not depend on the machine's speed.
    monkeypatch.setattr("core.evaluate.run.time", SimpleNamespace(perf_counter=lambda: 0.0))
    with Emulator(state_dir=tmp_path / "emulator", clock=clock) as emu:
        yield emu


def test_snapshot_evaluation_results(snap_compare, emulator, clock):
    train = write(Path("."), "trips.jsonl", TRAVEL[:12])
    tuned = asyncio.run(tuned_model(emulator, clock, train))

    async def run_before(pilot) -> None:
        screen = await evaluation(pilot, Path("trips.jsonl"), [BASE, tuned])
        await pilot.press("ctrl+r")
        await until(pilot, lambda: not screen.running and len(screen.answers) == 24 and not screen._redraw_due, "the run")
        await pilot.press("d")
        no_blink(screen)
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app_on(emulator, clock, train), run_before=run_before, terminal_size=(100, 30))
