"""Faults a test or a demo asks the emulator to inject: errors, latency, dropped connections, failing jobs."""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field

# How a request can go wrong on the way to the service (the front door applies these) ...
TRANSPORT_KINDS = ("429", "500", "503", "latency", "drop", "drop-after")
# ... and how a chat answer can go wrong inside it (the chat route applies this one).
REPLY_KINDS = ("malformed",)
KINDS = TRANSPORT_KINDS + REPLY_KINDS


@dataclass
class Fault:
    """One rule: on requests matching `route`, do `kind` with probability `rate`, at most `count` times."""

    route: str
    kind: str
    rate: float = 1.0
    count: int | None = None
    retry_after: float = 1.0  # seconds, sent with 429
    latency: float = 0.5  # seconds of wall time, for "latency"
    seed: int = 0
    fired: int = 0  # how many requests this rule has hit so far (tests assert on it)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def matches(self, method: str, path: str) -> bool:
        pattern = self.route.strip()
        if pattern == "*":
            return True
        if " " in pattern:
            want_method, want_path = pattern.split(None, 1)
            return fnmatch.fnmatchcase(method.upper(), want_method.upper()) and fnmatch.fnmatchcase(path, want_path)
        return fnmatch.fnmatchcase(path, pattern)  # a bare path pattern matches every method

    def _roll(self) -> bool:
        if self.count is not None and self.fired >= self.count:
            return False
        if self.rate < 1.0 and self._random.random() >= self.rate:
            return False
        self.fired += 1
        return True


@dataclass
class JobFailure:
    """The next created jobs fail at this fraction of their steps."""

    at_fraction: float
    remaining: int


class Faults:
    """The fault rules of one emulator; safe to change from a test thread while it serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._job_failures: list[JobFailure] = []

    def add(
        self,
        route: str = "*",
        kind: str = "500",
        rate: float = 1.0,
        count: int | None = None,
        retry_after: float = 1.0,
        latency: float = 0.5,
        seed: int = 0,
    ) -> Fault:
        """Inject `kind` on requests matching `route` ("*", "POST /v1/files", "GET /v1/fine_tuning/jobs/*").

        Kinds: "429" (with retry-after), "500", "503", "latency" (then the request proceeds),
        "drop" (the connection is closed without an answer), "drop-after" (the request is
        carried out, then the connection is closed: the client cannot know it succeeded), "malformed" (chat replies that are
        asked for JSON come back broken). Returns the rule; its `fired` counts the hits.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate is a probability between 0 and 1")
        rule = Fault(route, kind, rate, count, retry_after, latency, seed)
        with self._lock:
            self._rules.append(rule)
        return rule

    def fail_jobs(self, at_fraction: float = 0.5, count: int = 1) -> None:
        """Make the next `count` created jobs fail once `at_fraction` of their steps are done."""
        if not 0.0 <= at_fraction <= 1.0:
            raise ValueError("at_fraction is between 0 and 1")
        with self._lock:
            self._job_failures.append(JobFailure(at_fraction, count))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._job_failures.clear()

    @property
    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def hits(self, method: str, path: str, kinds: tuple[str, ...]) -> list[Fault]:
        """The rules of these kinds that fire for this request, in the order they were added."""
        with self._lock:
            return [rule for rule in self._rules if rule.kind in kinds and rule.matches(method, path) and rule._roll()]

    def take_job_failure(self) -> float | None:
        """The failure fraction for a job being created now, if one was asked for."""
        with self._lock:
            while self._job_failures:
                failure = self._job_failures[0]
                if failure.remaining > 0:
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._job_failures.pop(0)
                    return failure.at_fraction
                self._job_failures.pop(0)
            return None
