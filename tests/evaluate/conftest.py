"""Evaluations against a real emulator on loopback, on a clock the test drives, with a tuned model trained on it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import openai
import pytest

from tests.conftest import DATA
from tests.remote import clock, conn, emulator  # noqa: F401  (fixtures)

BASE = "gpt-4o-mini-2024-07-18"
KEY = "sk-test-eval-0000000000"
TRAVEL = (DATA / "travel.jsonl").read_bytes().splitlines(keepends=True)
TRAINED = 38  # the first 38 travel examples train the model; the last 10 are held out
DONE = 3600.0  # emulated seconds after which any test job has ended


@pytest.fixture
def train_file(tmp_path) -> Path:
    path = tmp_path / "travel.train.jsonl"
    path.write_bytes(b"".join(TRAVEL[:TRAINED]))
    return path


@pytest.fixture
def validation_file(tmp_path) -> Path:
    path = tmp_path / "travel.validation.jsonl"
    path.write_bytes(b"".join(TRAVEL[TRAINED:]))
    return path


@pytest.fixture
def tuned(emulator, clock, train_file) -> str:
    """The name of a model the emulator "trained" on `train_file` (a job run to success)."""
    with openai.OpenAI(base_url=emulator.base_url, api_key=KEY, max_retries=0) as sdk:
        with open(train_file, "rb") as f:
            file = sdk.files.create(file=f, purpose="fine-tune")
        while sdk.files.retrieve(file.id).status != "processed":
            clock.advance(1)
        job = sdk.fine_tuning.jobs.create(model=BASE, training_file=file.id, suffix="trips")
        clock.advance(DONE)
        job = sdk.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded" and job.fine_tuned_model
    return job.fine_tuned_model


def chat_requests(emulator) -> list[str]:
    """The model named by each chat request the emulator received, in order (retries included;
    not a request cancelled before its body arrived)."""
    return [
        json.loads(x.request_body)["model"]
        for x in list(emulator.exchanges)
        if x.method == "POST" and x.path == "/v1/chat/completions" and x.request_body
    ]


async def settled(emulator, quiet: float = 0.2) -> None:
    """Wait until the emulator has recorded the requests a cancelled run left in flight."""
    count = -1
    while count != len(emulator.exchanges):
        count = len(emulator.exchanges)
        await asyncio.sleep(quiet)
