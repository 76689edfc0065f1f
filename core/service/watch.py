"""Tailing jobs as they train: status changes, new events in order, metric points, checkpoints.

    async for update in Watcher(conn, [job.id]).updates():
        ...  # StatusChanged, NewEvent, MetricPoint, NewCheckpoint, Reconnecting, Reconnected, Finished, Lost

The service has no event stream: events come newest-first in pages. Each poll reads the first
page, and pages back with `after` while a whole page is new, so a burst of events between two
polls is never skipped. Events of one poll are emitted only once every page of it has arrived,
oldest first, and an event id is never emitted twice — so a poll that fails half-way is simply
done again, and the final list is the same as on a clean connection.

Errors that pass (429, 5xx, a dropped connection) are reported as `Reconnecting` and retried
with back-off (the server's retry-after when it sends one); others (a refused key, an unknown
job) end the watch with the ServiceError — or, with `keep_going`, an unknown job ends only its
own watch, with a `Lost` update.

Cost is bounded: every request goes through one pacer, at most RATE requests per second for all
the jobs of a Watcher together, and each job is polled at most every `interval` seconds. Each
poll costs 2 requests (the job, its first page of events), more only when events must be paged
back or checkpoints fetched. Watching 50 jobs at the default rate polls each about every 25 s.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from core.clock import SYSTEM, Clock
from core.service import jobs
from core.service.client import Connection
from core.service.errors import NotFound, RateLimited, ServiceError
from core.service.limits import POLL_INTERVAL, POLL_RATE

RATE = POLL_RATE
INTERVAL = POLL_INTERVAL
PAGE = 100  # events per page (the service's maximum)
BACKOFF_MAX = 30.0

METRIC_KEYS = (
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


@dataclass(frozen=True)
class StatusChanged:
    job: FineTuningJob
    previous: str | None  # None on the first look at the job


@dataclass(frozen=True)
class NewEvent:
    job_id: str
    event: FineTuningJobEvent


@dataclass(frozen=True, slots=True)
class MetricPoint:
    job_id: str
    step: int
    total_steps: int | None
    created_at: int
    values: dict[str, float]  # the METRIC_KEYS present in this event

    @property
    def epoch_end(self) -> bool:
        """Full validation metrics come only at the end of an epoch."""
        return "full_valid_loss" in self.values


@dataclass(frozen=True)
class NewCheckpoint:
    job_id: str
    checkpoint: FineTuningJobCheckpoint


@dataclass(frozen=True)
class Reconnecting:
    error: ServiceError
    retry_in: float
    attempt: int


@dataclass(frozen=True)
class Reconnected:
    after_attempts: int


@dataclass(frozen=True)
class Finished:
    job: FineTuningJob


@dataclass(frozen=True)
class Lost:
    """A job that can no longer be watched (deleted, or refused to this key): the others go on."""

    job_id: str
    error: ServiceError


Update = StatusChanged | NewEvent | MetricPoint | NewCheckpoint | Reconnecting | Reconnected | Finished | Lost


def metric_point(job_id: str, event: FineTuningJobEvent) -> MetricPoint | None:
    data = event.data if isinstance(event.data, dict) else None
    if event.type != "metrics" or not data or not isinstance(data.get("step"), int):
        return None
    values = {k: float(data[k]) for k in METRIC_KEYS if isinstance(data.get(k), (int, float))}
    return MetricPoint(job_id, data["step"], data.get("total_steps"), event.created_at, values)


class Pacer:
    """At most `rate` requests per second, spaced evenly."""

    def __init__(self, rate: float, clock: Clock, sleep: Callable[[float], Awaitable[None]]):
        self.gap = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self.next_at = 0.0

    async def take(self) -> None:
        now = self.clock.now()
        if now < self.next_at:
            await self.sleep(self.next_at - now)
            now = self.clock.now()
        self.next_at = max(now, self.next_at) + self.gap


@dataclass
class _Tail:
    """What one watched job has already shown."""

    job_id: str
    status: str | None = None
    seen: set[str] = field(default_factory=set)
    checkpoints: set[str] = field(default_factory=set)
    due_at: float = 0.0
    finished: bool = False


class Watcher:
    def __init__(
        self,
        conn: Connection,
        job_ids: list[str],
        *,
        interval: float = INTERVAL,
        rate: float = RATE,
        page: int = PAGE,
        clock: Clock = SYSTEM,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        keep_going: bool = False,
    ):
        self.conn = conn
        self.keep_going = keep_going  # a job's lasting error: report it as Lost and watch the rest
        self.client = conn.once  # retries are ours, so they can be reported
        self.interval = interval
        self.page = page
        self.clock = clock
        self.sleep = sleep
        self.pacer = Pacer(rate, clock, sleep)
        self.tails = {job_id: _Tail(job_id) for job_id in job_ids}
        self._random = random.Random(0)

    def add(self, job_id: str) -> None:
        self.tails.setdefault(job_id, _Tail(job_id))

    def remove(self, job_id: str) -> None:
        self.tails.pop(job_id, None)

    async def updates(self) -> AsyncIterator[Update]:
        failures = 0
        while self.tails:
            now = self.clock.now()
            due = [t for t in self.tails.values() if t.due_at <= now]
            if not due:
                await self.sleep(min(t.due_at for t in self.tails.values()) - now)
                continue
            for tail in due:
                try:
                    found = await self._poll(tail)
                except ServiceError as error:
                    if not error.transient:
                        if not (self.keep_going and isinstance(error, NotFound)):
                            raise  # a refused key or a broken server concerns every job
                        self.tails.pop(tail.job_id, None)
                        yield Lost(tail.job_id, error)
                        continue
                    failures += 1
                    wait = self._backoff(error, failures)
                    yield Reconnecting(error, wait, failures)
                    await self.sleep(wait)
                    break  # start the round again: the server is likely unwell for every job
                if failures:
                    yield Reconnected(failures)
                    failures = 0
                for update in found:
                    yield update
                tail.due_at = self.clock.now() + self.interval
                if tail.finished:
                    self.tails.pop(tail.job_id, None)

    def _backoff(self, error: ServiceError, attempt: int) -> float:
        if isinstance(error, RateLimited) and error.retry_after:
            return min(error.retry_after, BACKOFF_MAX)
        base = min(BACKOFF_MAX, 2.0 ** min(attempt - 1, 5))
        return base * (0.75 + 0.5 * self._random.random())

    async def _poll(self, tail: _Tail) -> list[Update]:
        """Everything new about one job since the last poll; nothing is recorded if it raises."""
        await self.pacer.take()
        job = await jobs.retrieve(self.conn, tail.job_id, client=self.client)
        events = await self._new_events(tail)
        out: list[Update] = []
        if job.status != tail.status:
            out.append(StatusChanged(job, tail.status))
        checkpoint_hint = False
        for event in events:
            out.append(NewEvent(tail.job_id, event))
            point = metric_point(tail.job_id, event)
            if point is not None:
                out.append(point)
            elif "checkpoint" in event.message.lower():
                checkpoint_hint = True
        terminal = jobs.is_terminal(job.status)
        if checkpoint_hint or (terminal and job.status == "succeeded"):
            await self.pacer.take()
            for checkpoint in sorted(await jobs.checkpoints(self.conn, tail.job_id, client=self.client), key=lambda c: c.step_number):
                if checkpoint.id not in tail.checkpoints:
                    out.append(NewCheckpoint(tail.job_id, checkpoint))
        # Nothing failed: commit what this poll saw.
        tail.status = job.status
        tail.seen.update(e.id for e in events)
        tail.checkpoints.update(u.checkpoint.id for u in out if isinstance(u, NewCheckpoint))
        if terminal:
            tail.finished = True
            out.append(Finished(job))
        return out

    async def _new_events(self, tail: _Tail) -> list[FineTuningJobEvent]:
        """Events not seen yet, oldest first, paging back while a whole page is new."""
        newest_first: list[FineTuningJobEvent] = []
        after = None
        while True:
            await self.pacer.take()
            page, more = await jobs.events_page(self.conn, tail.job_id, limit=self.page, after=after, client=self.client)
            fresh = [e for e in page if e.id not in tail.seen]
            newest_first.extend(fresh)
            if not more or len(fresh) < len(page) or not page:
                break
            after = page[-1].id
        return newest_first[::-1]


async def watch(conn: Connection, job_id: str, **options) -> AsyncIterator[Update]:
    """Tail one job until it ends."""
    async for update in Watcher(conn, [job_id], **options).updates():
        yield update
