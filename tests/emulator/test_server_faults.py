"""Injected faults, through the real SDK: keys, rate limits, server errors, latency, drops, failing jobs, broken JSON."""

from __future__ import annotations

import json
import math
import time

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from tests.emulator.conftest import API_KEY
from tests.emulator.helpers import advance_until, all_events, travel, upload

BASE = "gpt-4o-mini-2024-07-18"


@pytest.mark.asyncio
async def test_keys_are_checked_only_when_configured_and_never_echoed(emulators):
    open_door = emulators()
    async with AsyncOpenAI(base_url=open_door.base_url, api_key="anything-at-all", max_retries=0) as sdk:
        assert (await sdk.models.list()).data
    # The SDK refuses to send no key at all; a plain HTTP client can.
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}):
            async with http.get(open_door.base_url + "/models", headers=headers) as response:
                body = await response.json()
            assert response.status == 401 and "didn't provide an API key" in body["error"]["message"]

    locked = emulators(api_keys={"sk-proj-right-key-0000"})
    wrong = "sk-proj-wrong-secret-key-9876"
    async with AsyncOpenAI(base_url=locked.base_url, api_key=wrong, max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as raised:
            await sdk.models.list()
    assert raised.value.status_code == 401 and raised.value.code == "invalid_api_key"
    assert "Incorrect API key provided: sk-…9876" in raised.value.message and wrong not in raised.value.message
    assert all(wrong.encode() not in e.response_body for e in locked.exchanges)
    async with AsyncOpenAI(base_url=locked.base_url, api_key="sk-proj-right-key-0000", max_retries=0) as sdk:
        assert (await sdk.models.list()).data


@pytest.mark.asyncio
async def test_a_429_carries_retry_after_and_the_sdk_retries_through_it(emulator):
    rule = emulator.faults.add("GET /v1/models", "429", count=2, retry_after=0.05)
    async with AsyncOpenAI(base_url=emulator.base_url, api_key=API_KEY, max_retries=2) as sdk:
        started = time.monotonic()
        assert (await sdk.models.list()).data
        waited = time.monotonic() - started
    assert rule.fired == 2 and waited >= 0.1  # it waited what retry-after-ms said, twice
    limited = [e for e in emulator.exchanges if e.status == 429]
    assert len(limited) == 2
    assert limited[0].response_headers["retry-after"] == "1" and limited[0].response_headers["retry-after-ms"] == "50"

    emulator.faults.add("GET /v1/models", "429", count=1, retry_after=3)
    async with AsyncOpenAI(base_url=emulator.base_url, api_key=API_KEY, max_retries=0) as sdk:
        with pytest.raises(openai.RateLimitError) as raised:
            await sdk.models.list()
    assert raised.value.code == "rate_limit_exceeded" and raised.value.response.headers["retry-after"] == "3"


@pytest.mark.asyncio
@pytest.mark.parametrize(("kind", "error"), [("500", openai.InternalServerError), ("503", openai.InternalServerError)])
async def test_server_errors_come_with_envelopes(client, emulator, kind, error):
    emulator.faults.add("POST /v1/fine_tuning/jobs", kind, count=1)
    with pytest.raises(error) as raised:
        await client.fine_tuning.jobs.create(model=BASE, training_file="file-x")
    assert raised.value.status_code == int(kind) and raised.value.type == "server_error"


@pytest.mark.asyncio
async def test_a_dropped_connection_is_a_connection_error_and_a_retry_gets_through(client, emulator):
    emulator.faults.add("GET /v1/fine_tuning/jobs", "drop", count=1)
    with pytest.raises(openai.APIConnectionError):
        await client.fine_tuning.jobs.list()
    assert [e.status for e in emulator.exchanges] == [0]
    emulator.faults.add("GET /v1/fine_tuning/jobs", "drop", count=1)
    async with AsyncOpenAI(base_url=emulator.base_url, api_key=API_KEY, max_retries=1) as sdk:
        assert (await sdk.fine_tuning.jobs.list()).data == []


@pytest.mark.asyncio
async def test_routes_are_matched_by_glob_and_latency_delays_the_answer(client, emulator):
    emulator.faults.add("GET /v1/fine_tuning/jobs/*", "500")
    assert (await client.fine_tuning.jobs.list()).data == []  # the list is not under /jobs/*
    with pytest.raises(openai.InternalServerError):
        await client.fine_tuning.jobs.retrieve("ftjob-anything")
    emulator.faults.clear()
    emulator.faults.add("/v1/models", "latency", latency=0.2)  # a bare path: every method
    started = time.monotonic()
    await client.models.list()
    assert time.monotonic() - started >= 0.2


def test_rates_are_seeded_so_a_storm_is_reproducible(emulator):
    def storm() -> list[bool]:
        emulator.faults.clear()
        emulator.faults.add("*", "503", rate=0.3, seed=11)
        return [bool(emulator.faults.hits("GET", "/v1/models", ("503",))) for _ in range(200)]

    first = storm()
    assert first == storm() and 40 <= sum(first) <= 80
    with pytest.raises(ValueError):
        emulator.faults.add("*", "teapot")


@pytest.mark.asyncio
async def test_the_next_job_can_be_made_to_fail_mid_run(client, clock, emulator):
    uploaded = await upload(client, clock, travel())
    emulator.faults.fail_jobs(at_fraction=0.5)
    doomed = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id)
    healthy = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id)
    doomed = await advance_until(client, clock, doomed.id)
    assert doomed.status == "failed" and doomed.error.code == "internal_error" and doomed.fine_tuned_model is None
    total = 3 * 48
    events = await all_events(client, doomed.id)
    assert sum(e.type == "metrics" for e in events) == math.ceil(total * 0.5) - 1
    assert events[0].level == "error"
    assert (await advance_until(client, clock, healthy.id)).status == "succeeded"


@pytest.mark.asyncio
async def test_a_running_job_can_be_failed_on_demand(client, clock, emulator):
    uploaded = await upload(client, clock, travel())
    job = await client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id)
    job = await advance_until(client, clock, job.id, ("running",))
    clock.advance(10)
    done_before = sum(e.type == "metrics" for e in await all_events(client, job.id))
    emulator.fail_job(job.id)
    failed = await advance_until(client, clock, job.id)
    assert failed.status == "failed" and failed.error.code == "internal_error"
    assert sum(e.type == "metrics" for e in await all_events(client, job.id)) == done_before
    with pytest.raises(ValueError):
        emulator.fail_job(job.id)


@pytest.mark.asyncio
async def test_chat_replies_can_come_back_as_malformed_json(client, emulator):
    ask = {"model": "gpt-4o-mini", "response_format": {"type": "json_object"},
           "messages": [{"role": "user", "content": "Generate 3 training examples for a travel assistant as JSON."}]}
    rule = emulator.faults.add("POST /v1/chat/completions", "malformed", count=1)
    broken = await client.chat.completions.create(**ask)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.choices[0].message.content)
    fine = await client.chat.completions.create(**ask)
    assert isinstance(json.loads(fine.choices[0].message.content), dict) and rule.fired == 1
