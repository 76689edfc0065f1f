"""Emulators on a manual clock, SDK clients over HTTP, and an OpenAPI check of every answer they gave."""

from __future__ import annotations

import pytest
import pytest_asyncio
from openai import AsyncOpenAI

from core.clock import ManualClock
from core.emulator import Emulator
from tests.emulator import openapi_check

API_KEY = "sk-test"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulators(clock):
    """A factory of started, recording emulators on the test's clock.

    At teardown each is stopped and every exchange it recorded is checked against the OpenAPI
    document, so every test here is also a conformance test.
    """
    started: list[Emulator] = []

    def make(**options) -> Emulator:
        options.setdefault("clock", clock)
        options.setdefault("record", True)
        emulator = Emulator(**options).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()
    for emulator in started:
        openapi_check.assert_conform(emulator.exchanges)


@pytest.fixture
def emulator(emulators) -> Emulator:
    return emulators()


@pytest_asyncio.fixture
async def client(emulator):
    async with AsyncOpenAI(base_url=emulator.base_url, api_key=API_KEY, max_retries=0) as sdk:
        yield sdk
