"""The emulator as a thing to start and stop: a private event loop in a daemon thread, or `serve()`."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path
from collections.abc import Callable

from aiohttp import web

from core.clock import SYSTEM, Clock
from core.emulator.faults import Faults
from core.emulator.server import Exchange, make_app
from core.emulator.service import Service
from core.emulator.state import Store
from core.emulator.training import FileProblem

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024  # the Files API's limit; larger files go through Uploads
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# In-flight requests get this long to finish when the emulator stops; then they are cancelled
# (an open stream is cut, as when a real server goes away).
SHUTDOWN_GRACE = 0.1


class Emulator:
    """An OpenAI-compatible fine-tuning service on loopback, for the SDK to talk to over HTTP.

    `start()` serves from a daemon thread with its own event loop, so a synchronous CLI, an
    asyncio test and a Textual app can all use it; `stop()` closes the listener and every open
    connection; `start()` again listens on the same port with the same state.
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        clock: Clock = SYSTEM,
        speed: float = 1.0,
        api_keys: set[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = False,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.faults = Faults()
        self.exchanges: list[Exchange] = []
        self.host = host
        self._port = port
        self._record = record
        self._service = Service(
            store=Store(state_dir),
            clock=clock,
            speed=float(speed),
            faults=self.faults,
            api_keys=frozenset(api_keys) if api_keys is not None else None,
            max_file_bytes=max_file_bytes,
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopped: asyncio.Event | None = None

    # -- where it listens -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def state_dir(self) -> Path | None:
        return self._service.store.folder

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Emulator:
        with self._lock:
            if self._thread is not None:
                return self
            ready = threading.Event()
            failure: list[BaseException] = []
            thread = threading.Thread(target=self._serve, args=(ready, failure), name="tunedeck-emulator", daemon=True)
            thread.start()
            if not ready.wait(START_TIMEOUT):
                raise RuntimeError("the emulator did not start in time")
            if failure:
                thread.join(STOP_TIMEOUT)
                raise failure[0]
            self._thread = thread
            return self

    def stop(self) -> None:
        with self._lock:
            thread, loop, stopped = self._thread, self._loop, self._stopped
            if thread is None or loop is None or stopped is None:
                return
            loop.call_soon_threadsafe(stopped.set)
            thread.join(STOP_TIMEOUT)
            self._thread = self._loop = self._runner = self._stopped = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._run(ready, failure))
        finally:
            loop.close()

    async def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        app = self._app()
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.host, self._port)
            await site.start()
        except BaseException as exc:
            failure.append(exc)
            await runner.cleanup()
            ready.set()
            return
        # Remember the port the system chose, so a restart listens where clients already point.
        self._port = runner.addresses[0][1]
        self._loop, self._runner, self._stopped = asyncio.get_running_loop(), runner, asyncio.Event()
        ready.set()
        try:
            await self._stopped.wait()
        finally:
            await runner.cleanup()

    def _app(self) -> web.Application:
        """The application served (the trainer serves its own routes over the same front door)."""
        return make_app(self._service, self.exchanges if self._record else None)

    # -- faults on jobs -----------------------------------------------------------------------

    def fail_job(self, job_id: str) -> None:
        """Make a job that has not finished fail at its next step (an internal error, as the service reports)."""
        service = self._service
        now = service.now()
        with service.store.reading() as data:
            service.settle(data, now)
            job = data["jobs"].get(job_id)
            if job is None:
                raise KeyError(job_id)
            if "final" in job:
                raise ValueError(f"job {job_id} has already {job['final']['status']}")
            moment = service.moment(job, now)
            if isinstance(moment.plan, FileProblem):
                raise ValueError(f"job {job_id} is failing its file validation already")
            with service.store.changing():
                job["fail_at_step"] = moment.progress.step + 1


def serve(port: int = 8088, speed: float = 1.0, state_dir: Path | None = None, on_ready: Callable[[Emulator], None] | None = None,
          server: Emulator | None = None) -> None:
    """Run the emulator in the foreground until SIGINT or SIGTERM (`tunedeck emulator`).

    `on_ready(emulator)` is called once it listens; what to tell the user is the CLI's business.
    """
    done = threading.Event()
    # `server`: an Emulator (or the trainer, which is one) made by the caller, served as it is.
    emulator = (server or Emulator(state_dir=state_dir, speed=speed, port=port)).start()
    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, lambda *_: done.set())
            except ValueError:  # not the main thread: only stop() or KeyboardInterrupt end it
                break
        if on_ready is not None:
            on_ready(emulator)
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
