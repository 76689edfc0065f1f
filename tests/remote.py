"""Fixtures for tests that talk to a real emulator on loopback, on a clock the test drives.

The conftests of the service, evaluation and synthetic-data tests import them, so every such
test checks the emulator's answers against the OpenAPI document the same way.
"""

from __future__ import annotations

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
