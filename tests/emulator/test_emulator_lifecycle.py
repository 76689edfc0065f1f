"""Starting and stopping: fast, idempotent, the same port after a restart, and `serve()` in the foreground."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from core.emulator import Emulator
from tests.conftest import REPO


def test_start_is_fast_idempotent_and_a_restart_keeps_the_port(clock):
    emulator = Emulator(clock=clock)
    started = time.perf_counter()
    assert emulator.start() is emulator
    assert time.perf_counter() - started < 0.3
    port = emulator.port
    assert port > 0 and emulator.base_url == f"http://127.0.0.1:{port}/v1"
    assert emulator.start() is emulator and emulator.port == port  # already running: nothing happens
    emulator.stop()
    emulator.stop()  # stopping twice is harmless
    with emulator:
        assert emulator.port == port
    assert not emulator.running


def test_a_taken_port_is_reported_not_swallowed(clock):
    with Emulator(clock=clock) as first:
        with pytest.raises(OSError):
            Emulator(clock=clock, port=first.port).start()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_how_to_connect_and_stops_cleanly_on_a_signal(sig, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "core", "emulator", "--port", "0", "--speed", "60", "--state-dir", str(tmp_path / "emulator")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(4)]
        url = re.search(r"http://127\.0\.0\.1:\d+/v1", "".join(lines)).group(0)
        assert any(f"OPENAI_BASE_URL={url}" in line for line in lines)
        request = urllib.request.Request(url + "/models", headers={"Authorization": "Bearer sk-any"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        process.send_signal(sig)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Emulator stopped." in out and "Traceback" not in err
