"""Steps the emulator tests share: uploading a file until it is processed, running a job's clock."""

from __future__ import annotations

from pathlib import Path

from openai import AsyncOpenAI

from core.clock import ManualClock
from tests.conftest import DATA

TERMINAL = ("succeeded", "failed", "cancelled")


def travel() -> bytes:
    return (DATA / "travel.jsonl").read_bytes()


async def upload(client: AsyncOpenAI, clock: ManualClock, content: bytes | Path, name: str = "train.jsonl"):
    """Upload for fine-tuning and let the emulated second pass after which the file is processed."""
    data = content.read_bytes() if isinstance(content, Path) else content
    uploaded = await client.files.create(file=(name, data, "application/jsonl"), purpose="fine-tune")
    clock.advance(1.0)
    return uploaded


async def advance_until(client: AsyncOpenAI, clock: ManualClock, job_id: str, done=TERMINAL, *, step: float = 2.0,
                        limit: int = 400):
    """Move the clock `step` seconds at a time, polling the job, until its status is in `done`."""
    for _ in range(limit):
        job = await client.fine_tuning.jobs.retrieve(job_id)
        if job.status in done:
            return job
        clock.advance(step)
    raise AssertionError(f"job {job_id} is still {job.status} after {limit * step:g} emulated seconds")


async def all_events(client: AsyncOpenAI, job_id: str, page: int = 20) -> list:
    """Every event, newest first, read page by page with the `after` cursor."""
    events, after = [], None
    while True:
        kwargs = {"limit": page} if after is None else {"limit": page, "after": after}
        listed = await client.fine_tuning.jobs.list_events(job_id, **kwargs)
        events.extend(listed.data)
        if not listed.has_more:
            return events
        after = listed.data[-1].id
