"""TuneDeck in a real terminal: start it in tmux on the broken sample and read the screen.

tmux is installed (Debian package) when it is missing and this machine allows it; otherwise the
test is skipped and the reason is printed in the summary (-ra).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO

TUNEDECK = Path(sys.executable).parent / "tunedeck"


def _install_tmux() -> str | None:
    """Try apt-get; returns why it could not be had, or None when tmux is there now."""
    if shutil.which("tmux"):
        return None
    apt = shutil.which("apt-get")
    if apt is None:
        return "tmux is missing and there is no apt-get to install it"
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if prefix is None:
        return "tmux is missing and installing it needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([*prefix, apt, "install", "-y", "-q", "tmux"], [*prefix, apt, "update", "-q"], [*prefix, apt, "install", "-y", "-q", "tmux"]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=600)
        if result.returncode == 0 and shutil.which("tmux"):
            return None
    return f"tmux could not be installed: {result.stderr.strip().splitlines()[-1:] or result.returncode}"


@pytest.fixture(scope="session")
def tmux() -> str:
    reason = _install_tmux()
    if reason:
        pytest.skip(reason)
    return shutil.which("tmux")


class Terminal:
    def __init__(self, tmux: str, socket: str, session: str):
        self.tmux, self.socket, self.session = tmux, socket, session

    def run(self, *args: str) -> str:
        return subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True, text=True, check=True).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if all(t in screen for t in texts) or time.monotonic() > deadline:
                return screen
            time.sleep(0.2)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def exited(self, timeout: float = 10.0) -> bool:
        """Has the program ended (and its tmux session with it)?"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = subprocess.run([self.tmux, "-L", self.socket, "has-session", "-t", self.session], capture_output=True)
            if alive.returncode != 0:
                return True
            time.sleep(0.2)
        return False


@pytest.fixture
def terminal(tmux, tmp_path):
    socket = f"tunedeck-test-{uuid.uuid4().hex[:8]}"
    env = " ".join(f"TUNEDECK_{name.upper()}_DIR={tmp_path / name}" for name in ("config", "data", "state"))
    command = f"cd {REPO} && env -u OPENAI_API_KEY -u OPENAI_BASE_URL {env} TERM=xterm-256color {TUNEDECK} data/broken.jsonl"
    subprocess.run([tmux, "-L", socket, "new-session", "-d", "-s", "t", "-x", "100", "-y", "30", command], check=True)
    yield Terminal(tmux, socket, "t")
    subprocess.run([tmux, "-L", socket, "kill-server"], capture_output=True)


def test_the_broken_sample_in_a_real_terminal(terminal):
    # Validation fills in as it goes: wait for its end (the error count in the header).
    screen = terminal.wait_for("EMULATOR", "invalid-json", "✗ 24")
    assert "EMULATOR" in screen, screen
    assert "broken.jsonl" in screen, screen
    assert "invalid-json" in screen, screen  # a finding, by its code
    assert "✗ 24" in screen and "9 valid" in screen, screen  # the counts of data/README.md's table
    terminal.keys("C-q")  # nothing edited: quits without asking
    assert terminal.exited()
