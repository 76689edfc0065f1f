"""The whole remote workflow through the service layer, over HTTP, against the emulator."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest

from core.service import chat, files, jobs
from core.service.errors import FileNotReady, InvalidRequest, TrainingFileRejected
from core.service.jobs import JobRequest
from core.service.local_state import LocalState
from core.service.watch import Finished, MetricPoint, NewCheckpoint, NewEvent, StatusChanged, Watcher
from tests.conftest import DATA
from tests.service.conftest import requests_to

MODEL = "gpt-4o-mini-2024-07-18"
pytestmark = pytest.mark.asyncio


async def processed_file(conn, sleep, path=DATA / "travel.jsonl", **kw):
    file = await files.upload(conn, path, **kw)
    return await files.wait_processed(conn, file.id, sleep=sleep)


async def test_upload_reports_progress_and_reuses_identical_bytes(conn, emulator, sleep, tmp_path):
    seen = []
    with LocalState(tmp_path / "state.sqlite3") as state:
        first = await files.upload(conn, DATA / "travel.jsonl", progress=seen.append, state=state)
        stages = [p.stage for p in seen]
        assert stages[0] == "hashing" and "sending" in stages and stages[-1] == "done"
        assert seen[-1].done == seen[-1].total == (DATA / "travel.jsonl").stat().st_size
        seen.clear()
        again = await files.upload(conn, DATA / "travel.jsonl", progress=seen.append, state=state)
    assert again.id == first.id
    assert seen[-1].stage == "reused"
    assert len(requests_to(emulator, "POST", "/v1/files")) == 1  # the bytes went up once


async def test_a_deleted_upload_is_sent_again(conn, tmp_path):
    with LocalState(tmp_path / "state.sqlite3") as state:
        first = await files.upload(conn, DATA / "travel.jsonl", state=state)
        await conn.client.files.delete(first.id)
        again = await files.upload(conn, DATA / "travel.jsonl", state=state)
    assert again.id != first.id


async def test_big_files_go_through_the_uploads_api_in_parts(conn, emulator, sleep):
    path = DATA / "travel.jsonl"
    file = await processed_file(conn, sleep, path, files_api_limit=1024, part_size=4096)
    parts = requests_to(emulator, "POST", "/v1/uploads/")
    assert len([p for p in parts if p.path.endswith("/parts")]) == -(-path.stat().st_size // 4096)
    content = await conn.client.files.content(file.id)
    assert content.content == path.read_bytes()


async def test_a_file_that_is_not_jsonl_is_rejected_naming_the_line(conn, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"messages": []}\n[1, 2]\n')
    with pytest.raises(TrainingFileRejected) as caught:
        await files.upload(conn, bad)
    assert caught.value.line == 2


async def test_a_job_cannot_start_on_an_unprocessed_file(conn):
    file = await files.upload(conn, DATA / "travel.jsonl")
    with pytest.raises((FileNotReady, InvalidRequest)):
        await jobs.create(conn, JobRequest(model=MODEL, training_file=file.id))


async def test_launch_watch_results_and_chat(conn, clock, sleep, tmp_path):
    lines = (DATA / "travel.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "train.jsonl").write_bytes(b"".join(lines[:38]))
    (tmp_path / "valid.jsonl").write_bytes(b"".join(lines[38:]))
    train = await processed_file(conn, sleep, tmp_path / "train.jsonl")
    valid = await processed_file(conn, sleep, tmp_path / "valid.jsonl")
    request = JobRequest(model=MODEL, training_file=train.id, validation_file=valid.id, suffix="travel", n_epochs=2)
    with LocalState(tmp_path / "state.sqlite3") as state:
        job = await jobs.create(conn, request, state=state)
        assert [j.job_id for j in state.jobs(conn.profile.identity)] == [job.id]

    updates = [u async for u in Watcher(conn, [job.id], clock=clock, sleep=sleep).updates()]

    statuses = [u.job.status for u in updates if isinstance(u, StatusChanged)]
    assert statuses[-1] == "succeeded" and "running" in statuses
    events = [u.event for u in updates if isinstance(u, NewEvent)]
    everything = [e async for e in conn.client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert [e.id for e in events] == [e.id for e in reversed(everything)]  # all of them, oldest first, once
    finished = updates[-1]
    assert isinstance(finished, Finished)
    points = [u for u in updates if isinstance(u, MetricPoint)]
    total = points[-1].total_steps
    assert [p.step for p in points] == list(range(1, total + 1))
    assert sum(p.epoch_end for p in points) == 2
    assert len([u for u in updates if isinstance(u, NewCheckpoint)]) == 2  # one per epoch (at most the last 3)

    rows = list(csv.DictReader(io.StringIO(await jobs.result_csv(conn, finished.job.result_files[0]))))
    assert len(rows) == total and float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])

    tuned = finished.job.fine_tuned_model
    assert tuned.startswith(f"ft:{MODEL}:") and ":travel:" in tuned
    prompt = [{"role": "user", "content": "What should I pack for Kyoto in autumn?"}]
    pieces = [p async for p in chat.stream_chat(conn, tuned, prompt)]
    text = "".join(p.text for p in pieces if isinstance(p, chat.Delta))
    whole, done = await chat.complete(conn, tuned, prompt)
    assert text == whole and text
    assert pieces[-1].usage is not None and pieces[-1].usage.completion_tokens > 0
    replies = {line for line in (DATA / "travel.jsonl").read_text().splitlines()}
    assert any(whole in line for line in replies)  # the tuned model answers from what it learned


async def test_stopping_a_stream_early_closes_it(conn):
    prompt = [{"role": "user", "content": "Tell me a long story about mountains."}]
    stream = chat.stream_chat(conn, MODEL, prompt)
    first = await stream.__anext__()
    assert isinstance(first, chat.Delta)
    await stream.aclose()  # what cancelling the consuming task does


async def test_a_failing_training_file_fails_the_job_naming_the_line(conn, sleep, tmp_path):
    path = tmp_path / "roles.jsonl"
    good = (DATA / "travel.jsonl").read_text().splitlines()[:12]
    good[4] = good[4].replace('"role":"user"', '"role":"bot"', 1).replace('"role": "user"', '"role": "bot"', 1)
    path.write_text("\n".join(good) + "\n")
    train = await processed_file(conn, sleep, path)
    job = await jobs.create(conn, JobRequest(model=MODEL, training_file=train.id))
    final = None
    for _ in range(200):
        final = await jobs.retrieve(conn, job.id)
        if jobs.is_terminal(final.status):
            break
        await sleep(5)
    assert final.status == "failed"
    assert "line 5" in final.error.message.lower() and "bot" in final.error.message
