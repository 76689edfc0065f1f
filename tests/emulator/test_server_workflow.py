"""The whole workflow through the real SDK over HTTP: upload, train, watch, read results, talk to the model."""

from __future__ import annotations

import base64
import csv
import io
import json
import re

import openai
import pytest

from core.dataset import open_dataset, validate
from core.dataset.stats import compute
from tests.conftest import DATA
from tests.emulator.helpers import all_events, upload

BASE = "gpt-4o-mini-2024-07-18"
JAPAN = "Best time to visit Japan?"
JAPAN_ANSWER = "The best time to visit Japan is spring (March–May) or autumn (September–November)."


@pytest.mark.asyncio
async def test_upload_train_watch_and_chat_with_the_tuned_model(client, clock):
    uploaded = await upload(client, clock, DATA / "travel.jsonl", "travel.jsonl")
    assert (await client.files.retrieve(uploaded.id)).status == "processed"

    job = await client.fine_tuning.jobs.create(
        model=BASE, training_file=uploaded.id, suffix="travel", seed=7, metadata={"dataset": "travel"}
    )
    assert job.status == "validating_files" and job.seed == 7 and job.fine_tuned_model is None

    # Watch it the way a client does: poll, note every status it passes through.
    statuses = [job.status]
    while job.status not in ("succeeded", "failed", "cancelled"):
        clock.advance(2.0)
        job = await client.fine_tuning.jobs.retrieve(job.id)
        if job.status != statuses[-1]:
            statuses.append(job.status)
        if job.status == "running":
            assert job.estimated_finish and job.estimated_finish >= int(clock.now())
    assert statuses == ["validating_files", "queued", "running", "succeeded"]
    assert re.fullmatch(rf"ft:{BASE}:tunedeck:travel:[a-z0-9]{{8}}", job.fine_tuned_model)
    assert job.finished_at and job.finished_at <= int(clock.now())
    expected = compute(validate(open_dataset(DATA / "travel.jsonl"), BASE))
    assert job.trained_tokens == expected.billed_tokens
    assert job.hyperparameters.n_epochs == expected.epochs == 3
    total_steps = expected.epochs * 48 // job.hyperparameters.batch_size

    # Events: newest first, paged with `after`, every id once, the same ids on every read.
    events = await all_events(client, job.id, page=20)
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)) > 20
    assert ids == [e.id for e in (await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data]
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    assert events[0].message == "The job has successfully completed"
    assert events[-1].message.startswith("Created fine-tuning job")
    metrics = [e for e in events if e.type == "metrics"]
    assert len(metrics) == total_steps
    assert metrics[0].data["step"] == total_steps and metrics[0].data["total_steps"] == total_steps
    assert {"train_loss", "train_mean_token_accuracy"} <= set(metrics[0].data)

    # Checkpoints of the last three epochs, newest first, named after the model.
    checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job.id)).data
    steps = [c.step_number for c in checkpoints]
    assert steps == [total_steps, total_steps * 2 // 3, total_steps // 3]
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-{total_steps}"
    assert all(c.fine_tuning_job_id == job.id and c.metrics.train_loss is not None for c in checkpoints)

    # The result file: base64 of a CSV with one row per step.
    assert len(job.result_files) == 1
    result = await client.files.retrieve(job.result_files[0])
    assert result.purpose == "fine-tune-results" and result.status == "processed"
    raw = (await client.files.content(result.id)).read()
    rows = list(csv.DictReader(io.StringIO(base64.b64decode(raw).decode("utf-8"))))
    assert len(rows) == total_steps and rows[-1]["step"] == str(total_steps)

    # The tuned model is listed, retrievable, and answers from its training data.
    listed = [m.id for m in (await client.models.list()).data]
    assert BASE in listed and job.fine_tuned_model in listed
    assert (await client.models.retrieve(job.fine_tuned_model)).owned_by == "tunedeck"
    messages = [{"role": "system", "content": "You are a helpful travel assistant."}, {"role": "user", "content": JAPAN}]
    answer = await client.chat.completions.create(model=job.fine_tuned_model, messages=messages)
    assert answer.choices[0].message.content == JAPAN_ANSWER
    assert answer.choices[0].finish_reason == "stop" and answer.usage.completion_tokens > 0

    stream = await client.chat.completions.create(
        model=job.fine_tuned_model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    pieces, usage = [], None
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        if chunk.usage:
            usage = chunk.usage
    assert len(pieces) > 3 and "".join(pieces) == JAPAN_ANSWER
    assert usage is not None and usage.total_tokens == answer.usage.total_tokens

    # A checkpoint answers too; the job can be found by the metadata the client set.
    early = await client.chat.completions.create(model=checkpoints[-1].fine_tuned_model_checkpoint, messages=messages)
    assert early.choices[0].message.content == JAPAN_ANSWER
    assert [j.id for j in (await client.fine_tuning.jobs.list(metadata={"dataset": "travel"})).data] == [job.id]
    assert (await client.fine_tuning.jobs.list(metadata={"dataset": "other"})).data == []

    # Deleting the tuned model takes it out of /models and out of chat.
    deleted = await client.models.delete(job.fine_tuned_model)
    assert deleted.deleted is True
    assert job.fine_tuned_model not in [m.id for m in (await client.models.list()).data]
    with pytest.raises(openai.NotFoundError) as raised:
        await client.chat.completions.create(model=job.fine_tuned_model, messages=messages)
    assert raised.value.code == "model_not_found"


@pytest.mark.asyncio
async def test_base_models_answer_in_prose_or_in_the_json_asked_for(client):
    listed = [m.id for m in (await client.models.list()).data]
    assert "gpt-4.1-2025-04-14" in listed and all(not m.startswith("ft:") for m in listed)
    question = [{"role": "user", "content": "What should I pack for a week of hiking in Patagonia?"}]
    prose = await client.chat.completions.create(model="gpt-4o-mini", messages=question)
    assert prose.choices[0].message.content.strip() and prose.model == BASE  # the snapshot answers

    as_json = await client.chat.completions.create(model="gpt-4o-mini", messages=question,
                                                   response_format={"type": "json_object"})
    assert isinstance(json.loads(as_json.choices[0].message.content), dict)

    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=question, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None for chunk in chunks)  # no usage chunk unless asked for
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == prose.choices[0].message.content

    with pytest.raises(openai.NotFoundError) as raised:
        await client.chat.completions.create(model="gpt-7-imaginary", messages=question)
    assert raised.value.code == "model_not_found" and "gpt-7-imaginary" in raised.value.message


@pytest.mark.asyncio
async def test_files_are_listed_paged_and_deleted(client, clock):
    first = await upload(client, clock, b'{"a": 1}\n', "one.jsonl")
    second = await upload(client, clock, b'{"b": 2}\n', "two.jsonl")
    listed = await client.files.list()
    assert [f.id for f in listed.data] == [second.id, first.id]  # newest first
    page = await client.files.list(limit=1, order="asc")
    assert [f.id for f in page.data] == [first.id] and page.has_more
    after = await client.files.list(limit=1, order="asc", after=first.id)
    assert [f.id for f in after.data] == [second.id] and not after.has_more
    assert (await client.files.list(purpose="batch")).data == []
    assert (await client.files.content(first.id)).read() == b'{"a": 1}\n'
    assert (await client.files.delete(first.id)).deleted is True
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve(first.id)
