"""The service layer against a real emulator on loopback, on a clock the test drives."""

from __future__ import annotations

import asyncio

import pytest

from tests.remote import clock, conn, emulator  # noqa: F401  (fixtures)


@pytest.fixture
def sleep(clock):
    """A sleep that moves the emulator's clock instead of waiting: hours of training in a blink."""

    async def advance(seconds: float) -> None:
        clock.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    return advance


def requests_to(emulator, method: str, prefix: str) -> list:
    return [x for x in emulator.exchanges if x.method == method and x.path.startswith(prefix)]
