"""The trainer as a thing to start and stop: the emulator's server with the trainer's routes,
a jobs thread and its training process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from core.emulator import files
from core.emulator.emulator import Emulator, serve as serve_until_stopped
from core.emulator.server import make_app
from core.trainer import chat, jobs, models, worker
from core.trainer.config import LocalModel
from core.trainer.generate import Generator
from core.trainer.runner import Runner
from core.trainer.service import TrainerService

# Files are checked when a job is created, so they are "processed" as soon as they are stored.
INSTANT = 1e9


class Trainer(Emulator):
    """`Trainer(models, state_dir).start()`: an OpenAI-compatible fine-tuning server on loopback
    that trains LoRA adapters for real. State (files, jobs, adapters) lives in `state_dir`.

    `stop()` lets the job under way save its training state at the next step boundary; the next
    start on the same `state_dir` continues it from there. A job that was running when the trainer
    died without stopping continues from its last saved state (the end of its last epoch, or a
    pause), or fails with `training_interrupted` when it had none; one that was pausing is paused at
    that state. Paused jobs stay paused; jobs still validating or queued are validated or queued again.
    """

    def __init__(self, models: dict[str, LocalModel], state_dir: Path, *, host: str = "127.0.0.1", port: int = 0,
                 api_keys: set[str] | None = None, record: bool = False, threads: int | None = None):
        super().__init__(state_dir=Path(state_dir), speed=INSTANT, api_keys=api_keys, host=host, port=port, record=record)
        base = self._service
        self._service = TrainerService(store=base.store, clock=base.clock, speed=base.speed, faults=base.faults,
                                       api_keys=base.api_keys, max_file_bytes=base.max_file_bytes, models=dict(models))
        self.runner = Runner(self._service, threads=threads)
        self._service.runner = self.runner
        self._service.generator = Generator(threads=threads)
        self._recovered = False

    @property
    def service(self) -> TrainerService:
        return self._service

    def _app(self) -> web.Application:
        return make_app(self._service, self.exchanges if self._record else None,
                        modules=(files, jobs, models, chat), chat_handler=chat.create_completion)

    def start(self) -> Trainer:
        if not self._recovered:
            self._recovered = True
            self._recover()
            self.runner.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.runner.stop()

    def inject(self, **faults) -> None:
        """Faults for the next job that starts training: crash_at_step=N (an exception),
        exit_at_step=N (the process dies), step_delay=seconds (slow steps)."""
        self.runner.next_faults = dict(faults)

    def _recover(self) -> None:
        service = self._service
        again, told = [], []
        with service.store.changing() as data:
            for job in sorted(data["jobs"].values(), key=lambda j: j["created_at"]):
                if "final" in job or job.get("status") in (None, "paused"):
                    continue
                if job["status"] in ("running", "pausing"):
                    saved = worker.saved_state(service.job_dir(job["id"]))
                    if saved is None:
                        message = ("The trainer stopped while this job ran, before it had saved any training state; "
                                   "start it again.")
                        service.finish(job, "failed", {"code": "training_interrupted", "message": message, "param": None})
                        told.append((job["id"], message, "error"))
                        continue
                    if job["status"] == "pausing":  # what the user asked for: paused, at the state saved last
                        job["status"] = "paused"
                        told.append((job["id"], f"Job paused at step {saved[0]} (the trainer stopped while it was pausing)", "warn"))
                        continue
                    told.append((job["id"], f"The trainer stopped while this job ran; it continues from step {saved[0]}, "
                                 "its last saved state", "warn"))
                    job["status"] = "queued"
                again.append(job)
        for job_id, message, level in told:
            service.add_event(job_id, message, level=level)
        for job in again:
            if job["status"] == "queued":
                self.runner.submit(job["id"])
            else:
                jobs.validate(service, job["id"])


def serve(models: dict[str, LocalModel], state_dir: Path, port: int = 8089, host: str = "127.0.0.1",
          on_ready: Callable[[Trainer], None] | None = None) -> None:
    """Run the trainer in the foreground until SIGINT or SIGTERM (`tunedeck trainer`)."""
    serve_until_stopped(on_ready=on_ready, server=Trainer(models, state_dir, host=host, port=port))
