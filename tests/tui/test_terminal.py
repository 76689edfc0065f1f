"""TuneDeck in a real terminal: start it in tmux on the broken sample and read the screen.

tmux is installed (Debian package) when it is missing and this machine allows it; otherwise the
test is skipped and the reason is printed in the summary (-ra).
"""

from __future__ import annotations

import os
import re
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
def start(tmux, tmp_path):
    """`start(extra_env)`: TuneDeck on the broken sample in a fresh tmux server, 100×30."""
    sockets = []

    def run(extra: str = "TERM=xterm-256color") -> Terminal:
        socket = f"tunedeck-test-{uuid.uuid4().hex[:8]}"
        sockets.append(socket)
        env = " ".join(f"TUNEDECK_{name.upper()}_DIR={tmp_path / name}" for name in ("config", "data", "state"))
        command = f"cd {REPO} && env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u NO_COLOR -u COLORTERM {env} {extra} {TUNEDECK} data/broken.jsonl"
        subprocess.run([tmux, "-L", socket, "new-session", "-d", "-s", "t", "-x", "100", "-y", "30", command], check=True)
        return Terminal(tmux, socket, "t")

    yield run
    for socket in sockets:
        subprocess.run([tmux, "-L", socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(start):
    return start()


def test_the_broken_sample_in_a_real_terminal(terminal):
    # Validation fills in as it goes: wait for its end (the error count in the header).
    screen = terminal.wait_for("EMULATOR", "invalid-json", "✗ 24")
    assert "EMULATOR" in screen, screen
    assert "broken.jsonl" in screen, screen
    assert "invalid-json" in screen, screen  # a finding, by its code
    assert "✗ 24" in screen and "9 valid" in screen, screen  # the counts of data/README.md's table
    terminal.keys("C-q")  # nothing edited: quits without asking
    assert terminal.exited()


def colour_codes(screen: str) -> list[list[int]]:
    """The SGR parameters of every escape sequence in a `capture-pane -e` picture."""
    return [[int(n) for n in m.group(1).split(";") if n] for m in re.finditer(r"\x1b\[([0-9;]*)m", screen)]


def colours(params: list[int]) -> list[tuple]:
    """The colours an SGR sequence sets: ("16", n), ("256", n) or ("rgb", r, g, b)."""
    found, i = [], 0
    while i < len(params):
        n = params[i]
        if n in (38, 48) and i + 1 < len(params):
            if params[i + 1] == 5:
                found.append(("256", params[i + 2]))
                i += 3
                continue
            if params[i + 1] == 2:
                found.append(("rgb", *params[i + 2 : i + 5]))
                i += 5
                continue
        if 30 <= n <= 37 or 40 <= n <= 47 or 90 <= n <= 97 or 100 <= n <= 107:
            found.append(("16", n))
        i += 1
    return found


def grey(colour: tuple) -> bool:
    kind, *value = colour
    if kind == "256":
        return value[0] in (0, 7, 8, 15, 16, 231) or 232 <= value[0] <= 255
    if kind == "rgb":
        return value[0] == value[1] == value[2]
    return value[0] in (30, 37, 90, 97, 40, 47, 100, 107)


@pytest.mark.parametrize("extra", ["TERM=xterm-256color NO_COLOR=1", "TERM=xterm"])
def test_without_colour_or_with_16_the_marks_still_tell_problems_apart(start, extra):
    terminal = start(extra)
    terminal.wait_for("EMULATOR", "invalid-json", "✗ 24")
    screen = terminal.run("capture-pane", "-p", "-e", "-t", terminal.session)
    plain = terminal.screen()
    assert "✗" in plain and "!" in plain and "EMULATOR" in plain  # meaning carried by glyphs and words
    used = {c for params in colour_codes(screen) for c in colours(params)}
    if "NO_COLOR" in extra:  # Textual turns every colour to a grey: nothing may hang on hue
        assert all(grey(c) for c in used), sorted(c for c in used if not grey(c))
    else:  # a 16-colour terminal gets the 16 standard colours only
        assert used and all(kind == "16" for kind, *_ in used), sorted(used)
    terminal.keys("C-q")
    assert terminal.exited()
