"""Building the app for tests: fixed profile, fixed clock, no animation, no user config."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clock import ManualClock
from core.emulator import Emulator
from core.service.profiles import Active, Profile
from tui.app import TuneDeckApp, make_app

EMULATOR = Active(Profile(kind="emulator", name="emulator"), "no credentials configured: the built-in emulator")


def build(path: Path, *, active: Active = EMULATOR) -> TuneDeckApp:
    app = make_app(path, active=active, clock=ManualClock())
    app.animation_level = "none"
    return app


@pytest.fixture
def app_for():
    """`app_for(path)`: the app as a user starts it on `path`, ready for run_test or snap_compare."""
    return build


@pytest.fixture
def clock() -> ManualClock:
    """The test's clock, shared by the emulator and the app (tests/tui/jobs_helpers.app_on)."""
    return ManualClock()


@pytest.fixture
def emulator(clock, tmp_path):
    """An emulator on loopback whose time moves only when the test advances `clock`."""
    with Emulator(state_dir=tmp_path / "emulator", clock=clock) as emu:
        yield emu
