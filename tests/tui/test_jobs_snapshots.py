"""Pictures of the Jobs section at 80×24, on an emulator whose ids and clock are fixed.

Each picture was looked at (rendered to text and PNG) before it was accepted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import DataTable

from core.clock import ManualClock
from core.emulator import Emulator
from tests.tui.jobs_helpers import POLL, TRAVEL, app_on, broken_roles, several_states, start_job, steady_ids, until, write
from tui.screens.job import JobScreen
from tui.screens.jobs import JobsScreen

SIZE = (80, 24)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock, tmp_path, monkeypatch):
    steady_ids(monkeypatch)
    with Emulator(state_dir=tmp_path / "emulator", clock=clock) as emu:
        yield emu


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    # Files are named relative to where TuneDeck started: the same short names on every machine.
    monkeypatch.chdir(tmp_path)


async def settled(pilot) -> None:
    """Quiet polls: the watcher has seen everything the clock allows. Toasts (jobs announced as
    ended) are other tests' business and would hide the screen's corner."""
    await pilot.pause(3 * POLL)
    pilot.app.clear_notifications()
    await pilot.pause()


async def open_job(pilot, job_id: str) -> JobScreen:
    await pilot.press("2")
    await until(pilot, lambda: isinstance(pilot.app.screen, JobsScreen) and job_id in pilot.app.screen.query_one(DataTable).rows, "the row")
    pilot.app.push_screen(JobScreen(job_id))
    await until(pilot, lambda: isinstance(pilot.app.screen, JobScreen), "the job screen")
    return pilot.app.screen


def test_snapshot_list_in_several_states(snap_compare, emulator, clock, tmp_path):
    # Made before the app starts: a feed reading the list half-way would wait 30 s for the rest.
    asyncio.run(several_states(emulator, clock, Path(".")))

    async def listed(pilot) -> None:
        await pilot.press("2")
        await until(pilot, lambda: isinstance(pilot.app.screen, JobsScreen) and pilot.app.screen.query_one(DataTable).row_count == 5, "five rows")
        await until(pilot, lambda: "/" in str(pilot.app.screen.query_one(DataTable).get_row_at(0)[3]), "progress")
        await settled(pilot)

    assert snap_compare(app_on(emulator, clock, Path(".")), terminal_size=SIZE, run_before=listed)


def test_snapshot_job_mid_run_with_chart_and_log(snap_compare, emulator, clock):
    async def mid_run(pilot) -> None:
        job = await start_job(emulator, clock, write(Path("."), "trips.jsonl", TRAVEL[:40]), write(Path("."), "valid.jsonl", TRAVEL[40:]), suffix="trips", epochs=3)
        clock.advance(45)  # 10 s of validation and queue, then 0.38 s a step: step 92 of 120
        screen = await open_job(pilot, job.id)
        await until(pilot, lambda: screen.view.step and screen.view.step[0] > 80, "two epochs and more")
        await settled(pilot)

    assert snap_compare(app_on(emulator, clock, Path(".")), terminal_size=SIZE, run_before=mid_run)


def test_snapshot_job_after_success_with_checkpoints(snap_compare, emulator, clock):
    async def succeeded(pilot) -> None:
        job = await start_job(emulator, clock, write(Path("."), "trips.jsonl", TRAVEL[:40]), write(Path("."), "valid.jsonl", TRAVEL[40:]), suffix="trips", epochs=3)
        clock.advance(600)
        screen = await open_job(pilot, job.id)
        await until(pilot, lambda: len(screen.view.checkpoints) == 3 and screen.view.points, "the history")
        await pilot.press("k")
        await settled(pilot)

    assert snap_compare(app_on(emulator, clock, Path(".")), terminal_size=SIZE, run_before=succeeded)


def test_snapshot_failed_job(snap_compare, emulator, clock):
    async def failed(pilot) -> None:
        job = await start_job(emulator, clock, broken_roles(Path(".")), suffix="roles")
        clock.advance(60)
        screen = await open_job(pilot, job.id)
        await until(pilot, lambda: screen.view.status == "failed" and screen.view.events, "the failure")
        await settled(pilot)

    assert snap_compare(app_on(emulator, clock, Path(".")), terminal_size=SIZE, run_before=failed)


def test_snapshot_overfitting_alarm(snap_compare, emulator, clock):
    async def overfitting(pilot) -> None:
        job = await start_job(emulator, clock, write(Path("."), "ten.jsonl", TRAVEL[:10]), write(Path("."), "valid.jsonl", TRAVEL[40:]), suffix="ten", epochs=10)
        clock.advance(40)
        screen = await open_job(pilot, job.id)
        await until(pilot, lambda: screen.view.alarm is not None, "the alarm")
        await settled(pilot)

    assert snap_compare(app_on(emulator, clock, Path(".")), terminal_size=SIZE, run_before=overfitting)

