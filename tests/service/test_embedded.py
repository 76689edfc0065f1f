"""With no credentials TuneDeck talks to its built-in emulator, whose jobs outlive the process."""

import pytest

from core import paths
from core.service import files, jobs
from core.service.client import connect
from core.service.jobs import JobRequest
from core.service.profiles import resolve
from tests.conftest import DATA

pytestmark = pytest.mark.asyncio


async def test_no_credentials_connects_to_the_embedded_emulator_and_jobs_persist():
    active = resolve()
    assert active.profile.embedded
    async with connect(active.profile) as conn:
        assert conn.offline and conn.base_url.startswith("http://127.0.0.1:")
        assert "gpt-4o-mini-2024-07-18" in [m.id async for m in conn.client.models.list()]
        file = await files.upload(conn, DATA / "travel.jsonl")
        await files.wait_processed(conn, file.id, poll=0.2)
        job = await jobs.create(conn, JobRequest(model="gpt-4o-mini-2024-07-18", training_file=file.id))
    assert (paths.data_dir() / "emulator" / "state.json").exists()
    async with connect(resolve().profile) as again:  # as a later process would: a new emulator, same folder
        assert (await jobs.retrieve(again, job.id)).training_file == file.id
