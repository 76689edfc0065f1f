"""Generation against a real emulator on loopback, on a clock the test drives; every answer checked against the OpenAPI document."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio

from core.clock import ManualClock
from core.emulator import Emulator
from core.service.client import connect
from core.service.profiles import Profile
from tests.emulator import openapi_check

KEY = "sk-test-generate-000000000"
GENERATOR = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def emulator(tmp_path):
    with Emulator(state_dir=tmp_path / "emulator", clock=ManualClock(), record=True) as emu:
        yield emu
    openapi_check.assert_conform(emu.exchanges)


@pytest_asyncio.fixture
async def conn(emulator):
    async with connect(Profile(kind="emulator", name="test", base_url=emulator.base_url)) as connection:
        yield connection


def chat_bodies(emulator) -> list[dict]:
    """The body of each chat request the emulator received, in order (retries included)."""
    return [
        json.loads(x.request_body)
        for x in list(emulator.exchanges)
        if x.method == "POST" and x.path == "/v1/chat/completions" and x.request_body
    ]


def chat_statuses(emulator) -> list[int]:
    return [x.status for x in list(emulator.exchanges) if x.method == "POST" and x.path == "/v1/chat/completions"]
