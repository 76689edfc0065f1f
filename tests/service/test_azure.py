"""The azure profile goes through the same code path: AsyncAzureOpenAI against the emulator's
Azure-style routes (/openai/..., api-version, api-key header, deployment in the chat URL)."""

import pytest
from pydantic import SecretStr

from core.service import chat, files, jobs
from core.service.client import connect
from core.service.jobs import JobRequest
from core.service.profiles import Profile
from core.service.watch import Finished, Watcher
from tests.conftest import DATA

pytestmark = pytest.mark.asyncio


async def test_the_whole_workflow_through_an_azure_profile(emulator, clock, sleep):
    root = emulator.base_url.removesuffix("/v1")
    profile = Profile(kind="azure", name="az", azure_endpoint=root, api_version="2025-04-01-preview", api_key=SecretStr("azure-key-0123456789"))
    async with connect(profile) as conn:
        assert "/openai" in conn.base_url
        file = await files.upload(conn, DATA / "travel.jsonl")
        await files.wait_processed(conn, file.id, sleep=sleep)
        job = await jobs.create(conn, JobRequest(model="gpt-4o-mini-2024-07-18", training_file=file.id, n_epochs=1))
        updates = [u async for u in Watcher(conn, [job.id], clock=clock, sleep=sleep).updates()]
        assert isinstance(updates[-1], Finished) and updates[-1].job.status == "succeeded"
        reply, done = await chat.complete(conn, updates[-1].job.fine_tuned_model, [{"role": "user", "content": "Best time to visit Japan?"}])
        assert "spring" in reply.lower() or "autumn" in reply.lower()
    assert any(x.path == "/v1/chat/completions" for x in emulator.exchanges)
