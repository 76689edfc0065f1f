"""The app's live view of the active profile's jobs: one connection, one Watcher, one JobBoard.

It starts when the Jobs section is first opened, or soon after start-up when local state
remembers a job still running, so a job that ends while the user edits a dataset is announced
anyway (a toast and the terminal bell, once per job). Screens subscribe to `changed`, a Textual
Signal carrying a `Change`: the job and the update that touched it, or `job=None` when the whole
list was read again or the connection's state changed (`status`).

All network work happens in one app worker on the app's event loop; the watcher keeps its own
request budget (core.service.watch), and the list is read again every LIST_INTERVAL seconds to
find jobs started elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial

from textual.signal import Signal

from core.service import jobs, watch
from core.service.client import Connection, connect
from core.service.errors import ServiceError
from core.service.local_state import JobRecord, LocalState
from core.service.profiles import Active
from core.service.tracking import JobBoard, JobView

log = logging.getLogger("tunedeck.jobs")

LIST_INTERVAL = 30.0
RETRY_LIST = 5.0  # after a failed read of the list
FRESH = 5.0  # a list read this recently is not read again when the Jobs section opens
CONNECT_WAIT = 30.0  # seconds a screen waits for the connection before saying it failed


@dataclass(frozen=True)
class Change:
    job: JobView | None  # None: the list as a whole, or the connection
    update: object | None = None  # the watch.Update that changed the job


class JobsFeed:
    def __init__(self, app, active: Active, *, interval: float = watch.INTERVAL, rate: float = watch.RATE, list_interval: float = LIST_INTERVAL):
        self.app = app
        self.active = active
        self.interval = interval
        self.rate = rate
        self.list_interval = list_interval
        self.board = JobBoard()
        self.changed: Signal[Change] = Signal(app, "jobs-changed")
        self.conn: Connection | None = None
        self.status = "connecting…"  # what the connection is doing, in a few words
        self.listed = False  # the service's list has been read at least once
        self.watcher: watch.Watcher | None = None
        self._wake = asyncio.Event()
        self._started = False
        self._state: LocalState | None = None
        self._loading: set[str] = set()
        self._listed_at = 0.0  # time.monotonic() of the last good read of the list

    # life

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.app.run_worker(self._run, name="jobs feed", group="jobs-feed", exit_on_error=False)

    async def connection(self, wait: float = CONNECT_WAIT) -> Connection:
        """The live connection, started if need be: what a screen that talks to the server uses
        (one connection for the app). Raises ServiceError when it cannot be had."""
        self.start()
        deadline = time.monotonic() + wait
        while self.conn is None:
            if self.status.startswith(("cannot connect", "stopped")) or time.monotonic() > deadline:
                raise ServiceError("Not connected", self.status)
            await asyncio.sleep(0.05)
        return self.conn

    def stop(self) -> None:
        """Stop watching (the app now talks to another profile): its workers are cancelled and
        the connection, with any embedded emulator, closes."""
        for group in ("jobs-feed", "jobs-list", "jobs-history"):
            self.app.workers.cancel_group(self.app, group)
        if self._state is not None:
            self._state.close()
            self._state = None

    @property
    def state(self) -> LocalState:
        if self._state is None:
            self._state = LocalState()
        return self._state

    async def _run(self) -> None:
        try:
            async with connect(self.active.profile) as conn:
                self.conn = conn
                self.watcher = watch.Watcher(conn, [], interval=self.interval, rate=self.rate, keep_going=True)
                await asyncio.gather(self._list_loop(), self._watch_loop())
        except ServiceError as error:  # the profile cannot connect at all (no key, bad endpoint)
            self._set_status(f"cannot connect: {error.title}" + (f" — {error.hint}" if error.hint else ""))
        except Exception as error:  # ours (local state, a bug): say so rather than go quiet
            log.exception("jobs feed stopped")
            self._set_status(f"stopped: {type(error).__name__}: {error} (see the log)")
        finally:
            self.conn = None
            self._started = False  # opening the Jobs section again starts it again

    async def _list_loop(self) -> None:
        while True:
            wait = self.list_interval
            try:
                await self.refresh()
            except ServiceError as error:
                self._set_status(f"offline: {error.title}; retrying")
                wait = RETRY_LIST if error.transient else self.list_interval
            await asyncio.sleep(wait)

    async def _watch_loop(self) -> None:
        assert self.watcher is not None
        while True:
            if not self.watcher.tails:
                await self._wake.wait()
                self._wake.clear()
                continue
            try:
                async for update in self.watcher.updates():
                    self._apply(update)
            except ServiceError as error:  # not one job's: a refused key, a broken server
                self._set_status(f"not watching: {error.title}; retrying in {RETRY_LIST:.0f} s")
                await asyncio.sleep(RETRY_LIST)

    # the list

    async def refresh(self) -> None:
        """Read the service's list again and merge it with local state."""
        conn = self.conn
        if conn is None:
            return
        listed = await jobs.list_all(conn)
        records = self.state.jobs(conn.profile.identity)
        ended = self.board.merge(listed, records, self.watcher.tails if self.watcher else ())
        self.listed = True
        self._listed_at = time.monotonic()
        for view in ended:
            self._remember_status(view)
            self._announce_end(view)
        self._watch_active()
        self._set_status("live")

    def refresh_if_stale(self, fresh: float = FRESH) -> None:
        """Read the list again (in a worker: the screen stays live) unless it was read less than
        `fresh` seconds ago: opening the Jobs section shows jobs started elsewhere at once."""
        if self.conn is not None and time.monotonic() - self._listed_at > fresh:
            self.app.run_worker(self._refresh_quietly, group="jobs-list", exclusive=True, exit_on_error=False)

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except ServiceError as error:
            self._set_status(f"offline: {error.title}; retrying")

    def track(self, job, record: JobRecord | None = None) -> None:
        """A job just launched from this app: show and watch it at once."""
        self.board.merge([job], [record] if record else [])
        self._watch_active()
        self.changed.publish(Change(self.board.views[job.id]))

    def load(self, job_id: str) -> None:
        """Read an ended job's history (events, metrics, checkpoints) once, for its screen."""
        if self.conn is None or job_id in self._loading or (self.watcher is not None and job_id in self.watcher.tails):
            return  # being read already (the live watch reads a job's whole history first)
        self._loading.add(job_id)
        self.app.run_worker(partial(self._load, job_id), group="jobs-history", exit_on_error=False)

    async def _load(self, job_id: str) -> None:
        try:
            history = watch.Watcher(self.conn, [job_id], interval=0.0, rate=max(self.rate, 20.0), keep_going=True)
            async for update in history.updates():
                if isinstance(update, (watch.Reconnecting, watch.Reconnected)):
                    continue
                view = self.board.apply(update)
                if view is not None:
                    self.changed.publish(Change(view, update))
        except ServiceError as error:
            self.app.notify(error.hint or error.title, title=f"History of {job_id} not read: {error.title}", severity="error", markup=False)
        finally:
            self._loading.discard(job_id)

    def _watch_active(self) -> None:
        if self.watcher is None:
            return
        for job_id in self.board.active():
            if job_id not in self.watcher.tails:
                self.watcher.add(job_id)
        self._wake.set()

    # updates

    def _apply(self, update) -> None:
        if isinstance(update, watch.Reconnecting):
            self._set_status(f"reconnecting: {update.error.title}; retry in {update.retry_in:.0f} s")
            return
        if isinstance(update, watch.Reconnected):
            self._set_status("live")
            return
        view = self.board.apply(update)
        if view is None:
            return
        if isinstance(update, (watch.StatusChanged, watch.Finished)):
            self._remember_status(view)
        if isinstance(update, watch.Finished):
            self._announce_end(view)
        if isinstance(update, watch.MetricPoint) and view.alarm is not None and view.alarm.step == update.step:  # it fired on this point
            self.app.bell()
            self.app.notify(view.alarm.describe(), title=f"Overfitting: {label(view)}", severity="warning", timeout=15, markup=False)
        self.changed.publish(Change(view, update))

    def _remember_status(self, view: JobView) -> None:
        if self.conn is not None:
            self.state.set_status(self.conn.profile.identity, view.job_id, view.status)

    def _announce_end(self, view: JobView) -> None:
        if not self.board.announce(view):
            return
        status = view.status
        if status == "succeeded":
            body, severity = f"{label(view)} succeeded: {view.fine_tuned_model}", "information"
        elif status == "failed":
            failure = view.failure()
            body, severity = f"{label(view)} failed: {failure.message if failure else 'no reason given'}", "error"
        else:
            body, severity = f"{label(view)} {status}", "warning"
        self.app.bell()
        self.app.notify(body, title=f"Job {status}", severity=severity, timeout=12, markup=False)

    def _set_status(self, text: str) -> None:
        if text != self.status:
            log.info("jobs feed: %s", text)
        self.status = text
        self.changed.publish(Change(None))

    # actions

    async def act(self, job_id: str, action: str) -> JobView:
        """Cancel, pause or resume a job; the view takes the service's answer at once."""
        if self.conn is None:
            raise ServiceError("Not connected", self.status)
        call = {"cancel": jobs.cancel, "pause": jobs.pause, "resume": jobs.resume}[action]
        job = await call(self.conn, job_id)
        view = self.board.apply(watch.StatusChanged(job, self.board.view(job_id).status))
        self._remember_status(view)
        self._watch_active()
        self.changed.publish(Change(view))
        return view


def label(view: JobView) -> str:
    """How a person names a job: its suffix when it has one, else its id."""
    return f"{view.suffix} ({view.job_id})" if view.suffix else view.job_id
