"""What goes wrong, goes wrong as on the service: bad files, bad parameters, cancel, pause and resume."""

from __future__ import annotations

import aiohttp
import openai
import orjson
import pytest

from tests.conftest import DATA
from tests.emulator.helpers import advance_until, all_events, travel, upload

BASE = "gpt-4o-mini-2024-07-18"


async def running_job(client, clock, **options):
    uploaded = await upload(client, clock, travel())
    job = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id, **options)
    return await advance_until(client, clock, job.id, ("running",))


def steps_of(events) -> int:
    return sum(1 for e in events if e.type == "metrics")


# -- files the service refuses ----------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b'{"messages": []}\n[1, 2]\n', 2),
        (b'{"messages": []}\n\n{"messages": []}\nnot json at all\n', 4),  # blank lines still count
        (b'{"a": 1}\n"just a string"\n', 2),
    ],
)
async def test_an_upload_that_is_not_jsonl_of_objects_is_refused_naming_the_line(client, content, line):
    with pytest.raises(openai.BadRequestError) as raised:
        await client.files.create(file=("bad.jsonl", content), purpose="fine-tune")
    assert raised.value.status_code == 400 and raised.value.param == "file"
    assert raised.value.body["message"] == (
        "Expected file to have JSONL format, where every line is a valid JSON dictionary. "
        f"Line {line} is not a dictionary."
    )


@pytest.mark.asyncio
async def test_fewer_than_ten_examples_fails_the_job_in_validation(client, clock):
    five = b"".join(travel().splitlines(keepends=True)[:5])
    uploaded = await upload(client, clock, five)
    job = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id)
    job = await advance_until(client, clock, job.id)
    assert job.status == "failed" and job.fine_tuned_model is None and job.trained_tokens is None
    assert job.error.code == "invalid_n_examples" and job.error.param == "training_file"
    assert "10" in job.error.message and "5 examples" in job.error.message
    assert (await client.fine_tuning.jobs.list_events(job.id)).data[0].level == "error"


@pytest.mark.asyncio
async def test_a_bad_role_fails_the_job_with_its_line_number(client, clock):
    lines = travel().splitlines(keepends=True)
    lines[6] = lines[6].replace(b'"role": "user"', b'"role": "robot"', 1)
    uploaded = await upload(client, clock, b"".join(lines))
    job = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id)
    job = await advance_until(client, clock, job.id)
    assert job.status == "failed" and job.error.param == "training_file"
    assert "Line 7" in job.error.message and "robot" in job.error.message


# -- parameters the service refuses -------------------------------------------------------------


@pytest.mark.asyncio
async def test_job_parameters_are_checked_with_openai_error_envelopes(client, clock):
    uploaded = await upload(client, clock, travel())

    async def refused(**options) -> openai.BadRequestError:
        options.setdefault("model", BASE)
        options.setdefault("training_file", uploaded.id)
        with pytest.raises(openai.BadRequestError) as raised:
            await client.fine_tuning.jobs.create(**options)
        assert raised.value.status_code == 400 and raised.value.type == "invalid_request_error"
        return raised.value

    error = await refused(model="gpt-5-turbo-imaginary")
    assert (error.code, error.param) == ("model_not_available", "model")
    error = await refused(suffix="x" * 65)
    assert (error.code, error.param) == ("string_above_max_length", "suffix") and "65" in error.message
    error = await refused(metadata={f"k{i}": "v" for i in range(17)})
    assert (error.code, error.param) == ("object_above_max_properties", "metadata")
    error = await refused(metadata={"k" * 65: "v"})
    assert error.param == "metadata" and "key too long" in error.message
    error = await refused(metadata={"k": "v" * 513})
    assert error.param == "metadata.k" and error.code == "string_above_max_length"
    error = await refused(model="gpt-3.5-turbo-0125", method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}})
    assert error.code == "unsupported_method" and "dpo" in error.message
    error = await refused(training_file="file-doesnotexist")
    assert (error.code, error.param) == ("invalid_file_id", "training_file")
    error = await refused(validation_file="file-doesnotexist")
    assert error.param == "validation_file"
    error = await refused(method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}})
    assert error.param == "hyperparameters.n_epochs"
    error = await refused(seed=-1)
    assert error.param == "seed"

    fresh = await client.files.create(file=("fresh.jsonl", travel()), purpose="fine-tune")
    error = await refused(training_file=fresh.id)  # uploaded, not yet processed
    assert error.code == "file_not_ready"
    assert (await client.fine_tuning.jobs.list()).data == []  # nothing was created by any of these


@pytest.mark.asyncio
async def test_dpo_and_legacy_hyperparameters_and_integrations_are_accepted(client, clock):
    uploaded = await upload(client, clock, travel())
    legacy = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id,
                                                  hyperparameters={"n_epochs": 2, "batch_size": 4})
    assert legacy.hyperparameters.n_epochs == 2 and legacy.hyperparameters.batch_size == 4
    assert legacy.method.type == "supervised" and legacy.method.supervised.hyperparameters.n_epochs == 2
    integrations = [{"type": "wandb", "wandb": {"project": "tunedeck"}}]
    with_wandb = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id, integrations=integrations)
    assert with_wandb.integrations[0].wandb.project == "tunedeck"
    assert 0 <= with_wandb.seed <= 2_147_483_647  # chosen by the service when not given

    pairs = await upload(client, clock, DATA / "preferences.jsonl")
    dpo = await client.fine_tuning.jobs.create(model=BASE, training_file=pairs.id,
                                               method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}})
    assert dpo.method.type == "dpo" and dpo.method.dpo.hyperparameters.beta == 0.2
    assert (await advance_until(client, clock, dpo.id)).status == "succeeded"


# -- cancel, pause, resume ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancel_mid_run_stops_the_job_where_it_was(client, clock):
    job = await running_job(client, clock)
    clock.advance(10)
    cancelled = await client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at == int(clock.now())
    events = await all_events(client, job.id)
    assert events[0].message == "Job cancelled"
    clock.advance(500)  # long past when it would have finished
    later = await client.fine_tuning.jobs.retrieve(job.id)
    assert later.status == "cancelled" and later.fine_tuned_model is None and later.result_files == []
    assert [e.id for e in await all_events(client, job.id)] == [e.id for e in events]
    with pytest.raises(openai.BadRequestError) as raised:
        await client.fine_tuning.jobs.cancel(job.id)
    assert raised.value.code == "invalid_job_status"


@pytest.mark.asyncio
async def test_pause_freezes_progress_and_resume_continues_it(client, clock):
    job = await running_job(client, clock)
    clock.advance(5)
    paused = await client.fine_tuning.jobs.pause(job.id)
    assert paused.status == "pausing" and paused.estimated_finish is None
    clock.advance(1)
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "pausing"
    clock.advance(2)
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "paused"
    steps = steps_of(await all_events(client, job.id))
    assert steps > 0
    clock.advance(600)  # paused time does not count
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "paused"
    assert steps_of(await all_events(client, job.id)) == steps
    with pytest.raises(openai.BadRequestError):
        await client.fine_tuning.jobs.pause(job.id)

    resumed = await client.fine_tuning.jobs.resume(job.id)
    assert resumed.status == "running" and resumed.estimated_finish > int(clock.now())
    clock.advance(5)
    assert steps_of(await all_events(client, job.id)) > steps
    messages = [e.message for e in await all_events(client, job.id)]
    assert any(m.startswith("Job paused at step") for m in messages) and any(m.startswith("Job resumed") for m in messages)
    with pytest.raises(openai.BadRequestError):
        await client.fine_tuning.jobs.resume(job.id)
    done = await advance_until(client, clock, job.id)
    assert done.status == "succeeded"
    # The whole run took its training time plus the 600+ s it spent paused.
    assert done.finished_at - done.created_at > 600


# -- the server never falls over ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_malformed_requests_get_error_envelopes_not_crashes(emulator):
    headers = {"Authorization": "Bearer sk-test"}
    url = emulator.base_url
    async with aiohttp.ClientSession(headers=headers) as http:
        async def answer(method: str, path: str, **options) -> tuple[int, dict]:
            async with http.request(method, url + path, **options) as response:
                return response.status, orjson.loads(await response.read())

        status, body = await answer("POST", "/fine_tuning/jobs", data=b"{not json", headers={"Content-Type": "application/json"})
        assert status == 400 and "could not parse the JSON body" in body["error"]["message"]
        status, body = await answer("POST", "/fine_tuning/jobs", data=b"[1, 2]", headers={"Content-Type": "application/json"})
        assert status == 400
        status, body = await answer("GET", "/no/such/route")
        assert status == 404 and body["error"]["message"] == "Invalid URL (GET /v1/no/such/route)"
        status, body = await answer("DELETE", "/fine_tuning/jobs")
        assert status == 405 and body["error"]["type"] == "invalid_request_error"
        status, body = await answer("POST", "/files", data=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert status == 400
        status, body = await answer("POST", "/files", data=b"plain", headers={"Content-Type": "text/plain"})
        assert status == 400
        status, body = await answer("GET", "/files?limit=lots")
        assert status == 400 and body["error"]["param"] == "limit"
        status, body = await answer("GET", "/fine_tuning/jobs?limit=0")
        assert status == 400
        status, body = await answer("POST", "/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "wizard"}]})
        assert status == 400 and body["error"]["param"] == "messages[0].role"
        status, body = await answer("POST", "/chat/completions", json={"model": "gpt-4o-mini"})
        assert status == 400 and body["error"]["code"] == "missing_required_parameter"
        status, body = await answer("GET", "/files/..%2F..%2Fstate.json/content")
        assert status == 404
        status, body = await answer("GET", "/fine_tuning/jobs/ftjob-nope/events")
        assert status == 404
    # Still serving.
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(url + "/models") as response:
            assert response.status == 200
