"""Jobs in known states on an emulator driven by a test clock, and an app watching them fast."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from core.clock import ManualClock
from core.emulator import Emulator, ids
from core.service import files, jobs
from core.service.client import connect
from core.service.jobs import JobRequest
from core.service.local_state import JobRecord, LocalState
from core.service.profiles import Active, Profile
from tests.conftest import DATA
from tui.app import TuneDeckApp, make_app

MODEL = "gpt-4o-mini-2024-07-18"
TRAVEL = (DATA / "travel.jsonl").read_bytes().splitlines(keepends=True)
POLL = 0.2  # seconds between two polls of a job in these tests (faster keeps the CPU too busy for the pilot to see the app idle)


class SeededSecrets:
    """Stands in for `secrets` in core.emulator.ids: the same job ids on every run, for pictures."""

    def __init__(self) -> None:
        self._random = random.Random(7)

    def choice(self, seq):
        return self._random.choice(seq)


def steady_ids(monkeypatch) -> None:
    monkeypatch.setattr(ids, "secrets", SeededSecrets())


def profile_of(emu: Emulator) -> Active:
    return Active(Profile(kind="emulator", name="emulator", base_url=emu.base_url), "test")


def app_on(emu: Emulator, clock: ManualClock, path: Path = Path("data/travel.jsonl")) -> TuneDeckApp:
    app = make_app(path, active=profile_of(emu), clock=clock, watch_interval=POLL)
    app.animation_level = "none"
    return app


def write(folder: Path, name: str, lines: list[bytes]) -> Path:
    path = folder / name
    path.write_bytes(b"".join(lines))
    return path


def broken_roles(folder: Path) -> Path:
    """12 travel examples whose line 5 has a role the service does not know."""
    lines = [line.decode() for line in TRAVEL[:12]]
    lines[4] = lines[4].replace('"role":"user"', '"role":"bot"', 1).replace('"role": "user"', '"role": "bot"', 1)
    return write(folder, "roles.jsonl", [line.encode() for line in lines])


async def start_job(emu: Emulator, clock: ManualClock, train: Path, valid: Path | None = None, *, suffix: str | None = None, epochs: int | None = None, remember: bool = True):
    """Upload, wait for processing, create; recorded in local state as the launch screen does."""
    async with connect(profile_of(emu).profile) as conn:
        ids_ = []
        for path in (train, valid):
            if path is None:
                ids_.append(None)
                continue
            file = await files.upload(conn, path)
            clock.advance(2)
            ids_.append((await files.wait_processed(conn, file.id, sleep=lambda s: asyncio.sleep(0))).id)
        # A fixed seed: the emulated curves (and the pictures of them) are the same every run.
        request = JobRequest(model=MODEL, training_file=ids_[0], validation_file=ids_[1], suffix=suffix, n_epochs=epochs, seed=42)
        job = await jobs.create(conn, request)
    if remember:
        with LocalState() as state:
            state.record_job(
                JobRecord(
                    profile=profile_of(emu).profile.identity, job_id=job.id, model=MODEL, training_file=job.training_file,
                    dataset_path=str(train), suffix=suffix, status=job.status, created_at=float(job.created_at),
                    train_path=str(train), validation_path=str(valid) if valid else None,
                )
            )  # fmt: skip
    return job


async def act(emu: Emulator, job_id: str, action: str):
    async with connect(profile_of(emu).profile) as conn:
        return await getattr(jobs, action)(conn, job_id)


async def until(pilot, condition, what: str, tries: int = 400) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never: {what}")


async def several_states(emu: Emulator, clock: ManualClock, folder: Path) -> dict[str, str]:
    """One job in each state a list must show; returns {state: job id}."""
    train = write(folder, "trips.jsonl", TRAVEL[:40])
    valid = write(folder, "trips-valid.jsonl", TRAVEL[40:])
    done = await start_job(emu, clock, train, valid, suffix="trips", epochs=2)
    clock.advance(120)
    failed = await start_job(emu, clock, broken_roles(folder), suffix="roles")
    clock.advance(20)
    cancelled = await start_job(emu, clock, train, suffix="early")
    clock.advance(15)
    await act(emu, cancelled.id, "cancel")
    paused = await start_job(emu, clock, train, suffix="later")
    clock.advance(20)
    await act(emu, paused.id, "pause")
    running = await start_job(emu, clock, train, valid, suffix="trips-v2", epochs=3)
    clock.advance(40)
    return {"succeeded": done.id, "failed": failed.id, "cancelled": cancelled.id, "paused": paused.id, "running": running.id}


def no_blink(screen) -> None:
    """A picture must not catch a text cursor half-way through its blink."""
    for box in screen.query("Input, TextArea"):
        box.cursor_blink = False
