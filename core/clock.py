"""The one place TuneDeck reads the time, so ETAs, "3 min ago" and the emulator's jobs are testable.

Code that needs the time takes a `Clock` (default: `SYSTEM`); tests pass a `ManualClock` and move it
with `advance()`. Times are Unix seconds as floats, the unit the OpenAI API uses (as ints).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to; safe to read from any thread."""

    def __init__(self, start: float = 1_790_000_000.0):  # 2026-09-21, a fixed and recent date
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds
            return self._now


SYSTEM = SystemClock()


def ago(then: float, now: float) -> str:
    """A short human distance in the past: 'just now', '4 min ago', '3 h ago', '2 days ago'."""
    seconds = max(0.0, now - then)
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{round(seconds / 60)} min ago"
    if seconds < 86_400:
        return f"{round(seconds / 3600)} h ago"
    days = round(seconds / 86_400)
    return f"{days} day{'s' if days != 1 else ''} ago"
