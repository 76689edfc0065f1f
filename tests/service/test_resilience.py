"""Through errors, storms, drops and restarts the watcher ends with the same events, once each,
and a job is never created twice."""

from __future__ import annotations

import pytest

from core.service import files, jobs
from core.service.errors import InvalidRequest
from core.service.jobs import JobRequest
from core.service.watch import RATE, Finished, NewEvent, Reconnected, Reconnecting, StatusChanged, Watcher
from tests.conftest import DATA
from tests.service.conftest import requests_to

MODEL = "gpt-4o-mini-2024-07-18"
pytestmark = pytest.mark.asyncio


async def started_job(conn, sleep, **request) -> str:
    file = await files.upload(conn, DATA / "travel.jsonl")
    await files.wait_processed(conn, file.id, sleep=sleep)
    return (await jobs.create(conn, JobRequest(model=MODEL, training_file=file.id, **request))).id


async def server_events(conn, job_id) -> list[str]:
    return [e.id for e in reversed([e async for e in conn.client.fine_tuning.jobs.list_events(job_id, limit=100)])]


async def test_thirty_percent_failures_change_nothing_but_the_time(conn, emulator, clock, sleep):
    job_id = await started_job(conn, sleep)
    # Four independent rules of 8.5% each: 1 - 0.915**4 = 30% of requests fail one way or another.
    rules = [emulator.faults.add("*", kind, rate=0.085, seed=n, retry_after=1) for n, kind in enumerate(("500", "503", "429", "drop"))]
    updates = [u async for u in Watcher(conn, [job_id], clock=clock, sleep=sleep).updates()]
    emulator.faults.clear()
    assert all(rule.fired for rule in rules)
    reconnects = [u for u in updates if isinstance(u, Reconnecting)]
    assert len(reconnects) >= 5 and any(isinstance(u, Reconnected) for u in updates)
    seen = [u.event.id for u in updates if isinstance(u, NewEvent)]
    assert len(seen) == len(set(seen))  # nothing twice
    assert seen == await server_events(conn, job_id)  # nothing missing, in order
    assert isinstance(updates[-1], Finished) and updates[-1].job.status == "succeeded"


async def test_a_429_storm_is_waited_out_with_the_servers_retry_after(conn, emulator, clock, sleep):
    job_id = await started_job(conn, sleep)
    emulator.faults.add("GET /v1/fine_tuning/jobs/*", "429", count=6, retry_after=7)
    updates = [u async for u in Watcher(conn, [job_id], clock=clock, sleep=sleep).updates()]
    waits = [u.retry_in for u in updates if isinstance(u, Reconnecting)]
    assert waits == [7.0] * 6
    assert updates[-1].job.status == "succeeded"


async def test_the_watch_survives_a_server_restart(conn, emulator, clock, sleep):
    job_id = await started_job(conn, sleep)
    watcher = Watcher(conn, [job_id], clock=clock, sleep=sleep)
    restarted = stopped = False
    seen = []
    async for update in watcher.updates():
        if isinstance(update, NewEvent):
            seen.append(update.event.id)
            if not stopped and update.event.type == "metrics":
                emulator.stop()
                stopped = True
        if isinstance(update, Reconnecting) and not restarted:
            assert "reach" in update.error.title.lower()
            emulator.start()
            restarted = True
    assert stopped and restarted
    assert update.job.status == "succeeded"
    assert seen == await server_events(conn, job_id)


async def test_pause_and_resume_show_the_statuses_the_document_omits(conn, emulator, clock, sleep):
    job_id = await started_job(conn, sleep)
    statuses = []
    async for update in Watcher(conn, [job_id], clock=clock, sleep=sleep).updates():
        if isinstance(update, StatusChanged):
            statuses.append(update.job.status)
            if update.job.status == "running" and "paused" not in statuses:
                await jobs.pause(conn, job_id)
            elif update.job.status == "paused":
                await jobs.resume(conn, job_id)
    assert "paused" in statuses
    assert statuses.index("paused") < len(statuses) - 1 and statuses[-1] == "succeeded"
    assert "running" in statuses[statuses.index("paused"):]


async def test_watching_fifty_jobs_stays_within_the_request_budget(conn, emulator, clock, sleep):
    file = await files.upload(conn, DATA / "travel.jsonl")
    await files.wait_processed(conn, file.id, sleep=sleep)
    ids = [(await jobs.create(conn, JobRequest(model=MODEL, training_file=file.id, n_epochs=1))).id for _ in range(50)]
    before = len(emulator.exchanges)
    started = clock.now()
    finished = [u async for u in Watcher(conn, ids, clock=clock, sleep=sleep).updates() if isinstance(u, Finished)]
    elapsed = clock.now() - started
    requests = len(emulator.exchanges) - before
    assert len(finished) == 50
    # Evenly spaced at RATE per second: n requests need (n - 1) / RATE seconds.
    assert requests <= RATE * elapsed + 1, f"{requests} requests in {elapsed:.0f} s"


async def test_an_ambiguous_failure_does_not_create_a_second_job(conn, emulator, clock, sleep):
    file = await files.upload(conn, DATA / "travel.jsonl")
    await files.wait_processed(conn, file.id, sleep=sleep)
    emulator.faults.add("POST /v1/fine_tuning/jobs", "drop", count=1)
    emulator.faults.add("POST /v1/fine_tuning/jobs", "503", count=1)
    job = await jobs.create(conn, JobRequest(model=MODEL, training_file=file.id))
    listed = [j async for j in conn.client.fine_tuning.jobs.list()]
    assert [j.id for j in listed] == [job.id]


async def test_a_job_created_whose_answer_was_lost_is_found_not_created_again(conn, emulator, clock, sleep):
    file = await files.upload(conn, DATA / "travel.jsonl")
    await files.wait_processed(conn, file.id, sleep=sleep)
    lost = emulator.faults.add("POST /v1/fine_tuning/jobs", "drop-after", count=1)
    job = await jobs.create(conn, JobRequest(model=MODEL, training_file=file.id))
    assert lost.fired == 1
    assert [j.id async for j in conn.client.fine_tuning.jobs.list()] == [job.id]
    assert len(requests_to(emulator, "POST", "/v1/fine_tuning/jobs")) == 1  # found by its token, not sent again


async def test_a_refused_job_is_not_retried(conn, emulator, clock, sleep):
    file = await files.upload(conn, DATA / "travel.jsonl")
    await files.wait_processed(conn, file.id, sleep=sleep)
    with pytest.raises(InvalidRequest) as caught:
        await jobs.create(conn, JobRequest(model=MODEL, training_file=file.id, suffix="x" * 65))
    assert "suffix" in (caught.value.param or caught.value.hint)
    assert len(requests_to(emulator, "POST", "/v1/fine_tuning/jobs")) == 1
