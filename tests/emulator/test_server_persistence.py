"""State that outlives a server: restart on the same port, a second process on the same folder, the format on disk."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import openai
import pytest
from openai import AsyncOpenAI

from core.clock import SYSTEM, ManualClock
from core.emulator import SCHEMA_VERSION, Emulator, StateError
from tests.conftest import REPO
from tests.emulator.conftest import API_KEY
from tests.emulator.helpers import TERMINAL, advance_until, all_events, travel, upload

BASE = "gpt-4o-mini-2024-07-18"


def sdk(emulator: Emulator, retries: int = 0) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=emulator.base_url, api_key=API_KEY, max_retries=retries)


@pytest.mark.asyncio
async def test_a_restart_mid_watch_keeps_the_port_and_the_job_moves_on(client, clock, emulator):
    uploaded = await upload(client, clock, travel())
    job = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id)
    job = await advance_until(client, clock, job.id, ("running",))
    url = emulator.base_url
    before = len(await all_events(client, job.id))

    emulator.stop()
    with pytest.raises(openai.APIConnectionError):  # the watcher sees the server go away ...
        await client.fine_tuning.jobs.retrieve(job.id)
    clock.advance(20)  # ... while the job keeps training
    emulator.start()
    assert emulator.base_url == url

    again = await client.fine_tuning.jobs.retrieve(job.id)  # same client, same URL
    assert again.status == "running"
    assert len(await all_events(client, job.id)) > before
    assert (await advance_until(client, clock, job.id)).status == "succeeded"


@pytest.mark.asyncio
async def test_a_second_emulator_on_the_folder_sees_the_job_where_it_should_be(emulators, tmp_path):
    folder = tmp_path / "emulator"
    first_clock = ManualClock()
    first = emulators(state_dir=folder, clock=first_clock)
    async with sdk(first) as client:
        uploaded = await upload(client, first_clock, travel())
        job = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id, suffix="kept")
        first_clock.advance(30)
        seen_by_first = await all_events(client, job.id)
    first.stop()  # no process is up ...

    later = ManualClock(first_clock.now())  # ... and the second process starts at the same moment
    second = emulators(state_dir=folder, clock=later)
    async with sdk(second) as client:
        assert [e.id for e in await all_events(client, job.id)] == [e.id for e in seen_by_first]
        later.advance(1000)  # long after it finished, with nobody watching
        done = await client.fine_tuning.jobs.retrieve(job.id)
        assert done.status == "succeeded" and done.fine_tuned_model.startswith(f"ft:{BASE}:tunedeck:kept:")
        assert done.fine_tuned_model in [m.id for m in (await client.models.list()).data]
        answer = await client.chat.completions.create(
            model=done.fine_tuned_model, messages=[{"role": "user", "content": "Best time to visit Japan?"}]
        )
        assert "spring" in answer.choices[0].message.content


@pytest.mark.asyncio
async def test_two_emulators_on_one_folder_see_each_others_writes(emulators, clock, tmp_path):
    folder = tmp_path / "shared"
    left, right = emulators(state_dir=folder), emulators(state_dir=folder)
    async with sdk(left) as a, sdk(right) as b:
        uploads = [a.files.create(file=(f"a{i}.jsonl", b'{"x": 1}\n'), purpose="fine-tune") for i in range(8)]
        uploads += [b.files.create(file=(f"b{i}.jsonl", b'{"y": 2}\n'), purpose="fine-tune") for i in range(8)]
        created = await asyncio.gather(*uploads)  # interleaved read-modify-writes under the lock
        clock.advance(1)
        ids = {f.id for f in created}
        assert {f.id for f in (await a.files.list()).data} == ids == {f.id for f in (await b.files.list()).data}
        job = await b.fine_tuning.jobs.create(model=BASE, training_file=(await upload(b, clock, travel())).id)
        assert (await a.fine_tuning.jobs.retrieve(job.id)).id == job.id
        await a.fine_tuning.jobs.cancel(job.id)
        assert (await b.fine_tuning.jobs.retrieve(job.id)).status == "cancelled"


@pytest.mark.asyncio
async def test_another_process_launching_a_job_is_seen_here(emulators, tmp_path):
    """A CLI `launch` in another process while the app's emulator serves the same folder."""
    folder = tmp_path / "shared"
    here = emulators(state_dir=folder, clock=SYSTEM, speed=1000)
    script = textwrap.dedent(f"""
        import asyncio, sys, time
        from openai import AsyncOpenAI
        from core.emulator import Emulator

        async def main():
            with Emulator(state_dir={str(folder)!r}, speed=1000) as emulator:
                async with AsyncOpenAI(base_url=emulator.base_url, api_key="sk-cli", max_retries=0) as client:
                    data = open({str(REPO / "data" / "travel.jsonl")!r}, "rb").read()
                    uploaded = await client.files.create(file=("travel.jsonl", data), purpose="fine-tune")
                    time.sleep(0.01)  # one emulated second at speed 1000
                    job = await client.fine_tuning.jobs.create(model={BASE!r}, training_file=uploaded.id)
                    print(job.id)

        asyncio.run(main())
    """)
    launched = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert launched.returncode == 0, launched.stderr
    job_id = launched.stdout.strip()
    async with sdk(here) as client:
        assert [j.id for j in (await client.fine_tuning.jobs.list()).data] == [job_id]
        for _ in range(200):  # about 70 emulated seconds of training take 70 ms at speed 1000
            job = await client.fine_tuning.jobs.retrieve(job_id)
            if job.status in TERMINAL:
                break
            await asyncio.sleep(0.01)
        assert job.status == "succeeded"


def test_the_state_folder_is_versioned_json_with_file_bytes_beside_it(tmp_path, clock):
    folder = tmp_path / "emulator"
    emulator = Emulator(state_dir=folder, clock=clock)

    async def fill():
        with emulator:
            async with sdk(emulator) as client:
                uploaded = await upload(client, clock, travel())
                job = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id)
                await client.files.delete(uploaded.id)  # the job still needs its bytes
                return uploaded.id, job.id

    file_id, job_id = asyncio.run(fill())
    state = json.loads((folder / "state.json").read_text())
    assert state["schema_version"] == SCHEMA_VERSION == 1
    assert set(state) >= {"files", "uploads", "jobs", "deleted_models"}
    assert job_id in state["jobs"] and file_id not in state["files"]
    assert (folder / "files" / file_id).read_bytes() == travel()
    assert not list(folder.glob(".*.tmp")) and not list(folder.glob("files/.*.tmp"))  # atomic writes leave nothing

    state["schema_version"] = SCHEMA_VERSION + 1
    (folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(StateError, match="newer TuneDeck"):
        Emulator(state_dir=folder, clock=clock)
    (folder / "state.json").write_text("{not json")
    with pytest.raises(StateError):
        Emulator(state_dir=folder, clock=clock)
