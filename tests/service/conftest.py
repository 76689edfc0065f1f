"""The service layer against a real emulator on loopback, on a clock the test drives."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from core.clock import ManualClock
from core.emulator import Emulator
from core.service.client import connect
from core.service.profiles import Profile
from tests.emulator import openapi_check


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock, tmp_path):
    """A recording emulator; every answer it gave is checked against the OpenAPI document."""
    with Emulator(state_dir=tmp_path / "emulator", clock=clock, record=True) as emu:
        yield emu
    openapi_check.assert_conform(emu.exchanges)


@pytest_asyncio.fixture
async def conn(emulator):
    async with connect(Profile(kind="emulator", name="test", base_url=emulator.base_url)) as connection:
        yield connection


@pytest.fixture
def sleep(clock):
    """A sleep that moves the emulator's clock instead of waiting: hours of training in a blink."""

    async def advance(seconds: float) -> None:
        clock.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    return advance


def requests_to(emulator, method: str, prefix: str) -> list:
    return [x for x in emulator.exchanges if x.method == method and x.path.startswith(prefix)]
