"""Jobs one at a time: a thread of the server that validates nothing, trains nothing itself, and
hands each queued job to the training process, turning its messages into the job's record and
events. The training process is started once (spawn) and started again if it dies, so a crash of
training fails the one job with what happened and the server goes on.

Cancel, pause and the server's own stop reach the training process through one shared integer it
reads between steps. A paused job leaves the training process (the next queued job may run); a
resumed one is queued again and continues from the state its pause saved. When the server stops,
the job under way saves its state too and is queued again for the next start."""

from __future__ import annotations

import logging
import multiprocessing
import queue
import shutil
import threading
import time
from collections import deque

import orjson

from core.dataset import lines
from core.emulator import lifecycle
from core.trainer import worker
from core.trainer.service import TrainerService

log = logging.getLogger(__name__)

BASE_LEARNING_RATE = 1e-4  # learning_rate_multiplier x this is the AdamW rate of the LoRA adapter
LORA_R, LORA_ALPHA = 8, 16
READY_TIMEOUT = 600.0  # seconds the training process may take to import torch and friends
STOP_TIMEOUT = 60.0  # seconds a stopping server waits for the job under way to save its state


def examples_of(content: bytes) -> list[dict]:
    index = lines.scan(content)
    return [orjson.loads(lines.content(content, start)) for start in index.starts]


def _fmt(value: float) -> str:
    return f"{value:.2f}" if value >= 0.01 else f"{value:.4f}"


def step_message(metrics: dict) -> str:
    text = f"Step {metrics['step']}/{metrics['total_steps']}: training loss={_fmt(metrics['train_loss'])}"
    if "valid_loss" in metrics:
        text += f", validation loss={_fmt(metrics['valid_loss'])}"
    if "full_valid_loss" in metrics:
        text += f", full validation loss={_fmt(metrics['full_valid_loss'])}"
    return text


class Runner:
    def __init__(self, service: TrainerService, threads: int | None = None):
        self.service = service
        self.threads = threads
        self.next_faults: dict = {}  # applied to the next job that starts (tests inject crashes here)
        self._context = multiprocessing.get_context("spawn")
        self._pending: deque[str] = deque()
        self._wake = threading.Condition()
        self._current: str | None = None
        self._stopping = False
        self._process = None
        self._inbox = self._outbox = None
        self._control = self._context.Value("i", worker.GO, lock=False)  # read by the training process between steps
        self._stop_by = 0.0
        self._thread = threading.Thread(target=self._loop, name="tunedeck-trainer-jobs", daemon=True)

    # -- from the routes ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, job_id: str) -> None:
        with self._wake:
            self._pending.append(job_id)
            self._wake.notify()

    def cancel(self, job_id: str) -> None:
        with self._wake:
            if job_id in self._pending:
                self._pending.remove(job_id)
            elif self._current == job_id:
                self._control.value = worker.CANCEL  # the training process checks it before every step
                return
        self.forget_state(job_id)  # a paused job's saved state, if any

    def pause(self, job_id: str) -> bool:
        """Ask the job under way to save its state and leave at the next step boundary."""
        with self._wake:
            if self._current != job_id or self._control.value != worker.GO:
                return False
            self._control.value = worker.PAUSE
            return True

    def forget_state(self, job_id: str) -> None:
        shutil.rmtree(self.service.job_dir(job_id) / worker.RESUME, ignore_errors=True)

    @property
    def busy(self) -> bool:
        return self._current is not None

    def stop(self) -> None:
        """Stop taking jobs; the job under way saves its state (within a step) to go on at the next start."""
        with self._wake:
            self._stopping = True
            self._stop_by = time.monotonic() + STOP_TIMEOUT
            if self._control.value == worker.GO:
                self._control.value = worker.STOP
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT + 5)
        self._end_process()

    # -- the jobs thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job_id = self._current = self._pending.popleft()
            try:
                self._run(job_id)
            except Exception as exc:  # our own bug: the job fails, the next one runs
                log.exception("trainer: job %s", job_id)
                self._fail(job_id, f"The trainer could not run the job: {type(exc).__name__}: {exc}")
            finally:
                with self._wake:
                    self._current = None

    def _spec(self, job_id: str) -> dict | None:
        service = self.service
        with service.store.reading() as data:
            job = data["jobs"].get(job_id)
            if job is None or "final" in job:
                return None
            job = dict(job)
        local = service.models[job["model"]]
        values = job["resolved"]["hyperparameters"]
        saved = worker.saved_state(service.job_dir(job_id))
        validation = job.get("validation_file")
        faults, self.next_faults = self.next_faults, {}
        return {
            "job_id": job_id,
            "model_path": str(local.path),
            "max_length": local.max_length,
            "examples": examples_of(service.store.get_blob("files", job["training_file"]) or b""),
            "valid_examples": examples_of(service.store.get_blob("files", validation) or b"") if validation else [],
            "n_epochs": values["n_epochs"],
            "batch_size": values["batch_size"],
            "learning_rate": values["learning_rate_multiplier"] * BASE_LEARNING_RATE,
            "method": job["method"],
            "beta": values.get("beta"),
            "resume": str(saved[1]) if saved else None,
            "lora_r": LORA_R,
            "lora_alpha": LORA_ALPHA,
            "seed": job["seed"],
            "out_dir": str(service.job_dir(job_id)),
            "threads": self.threads,
            "faults": faults,
        }

    def _ensure_process(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        self._end_process()
        self._inbox, self._outbox = self._context.Queue(), self._context.Queue()
        self._process = self._context.Process(target=worker.main, args=(self._inbox, self._outbox, self._control),
                                              name="tunedeck-training", daemon=True)
        self._process.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._stopping:
                return
            try:
                kind, _, _ = self._outbox.get(timeout=0.5)
            except queue.Empty:
                if not self._process.is_alive():
                    raise RuntimeError(f"the training process exited while starting (exit code {self._process.exitcode})")
                continue
            if kind == "ready":
                return
        raise RuntimeError("the training process did not start in time")

    def _end_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.is_alive():
            try:
                self._inbox.put(None)
            except Exception:
                pass
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)

    def _run(self, job_id: str) -> None:
        spec = self._spec(job_id)
        if spec is None:  # cancelled (or gone) while queued
            return
        with self._wake:
            if self._stopping:
                return
            self._control.value = worker.GO
        self._ensure_process()
        if self._stopping:
            return
        self._inbox.put(spec)
        process, started = self._process, time.time()
        while True:
            try:
                batch = [self._outbox.get(timeout=0.5)]
            except queue.Empty:
                if not process.is_alive():
                    if self._stopping:  # ended by stop() after its wait: the next start recovers the job
                        return
                    self._process = None
                    self._fail(job_id, f"The training process exited unexpectedly (exit code {process.exitcode}); "
                                       "the job's progress is lost.")
                    return
                if self._stopping and time.monotonic() > self._stop_by:
                    return  # the job stays running: the next start resumes it from its last saved state
                continue
            while len(batch) < 200:  # apply a burst of steps in one write
                try:
                    batch.append(self._outbox.get_nowait())
                except queue.Empty:
                    break
            if self._apply(job_id, batch, started):
                with self.service.store.reading() as data:
                    if "final" in data["jobs"][job_id]:
                        self.forget_state(job_id)
                return

    # -- what training said -------------------------------------------------------------------

    def _apply(self, job_id: str, messages: list[tuple], started: float) -> bool:
        """Record `messages` of the job; True once the job has left the training process."""
        service = self.service
        events: list[tuple] = []
        ended = False
        with service.store.changing() as data:
            job = data["jobs"][job_id]
            for kind, _, payload in messages:
                if kind == "started":
                    if "final" not in job:
                        job["status"] = "running"
                    job["total_steps"] = payload["total_steps"]
                    job["run_from_step"] = payload["from_step"]
                    on = f"(on {payload['device']}, {payload['dtype']})"
                    events.append(("info", f"Training continues from step {payload['from_step']} {on}" if payload["from_step"]
                                   else f"Fine-tuning job started {on}", "message", None))
                elif kind == "step":
                    metrics = {k: v for k, v in payload.items() if k != "trained_tokens"}
                    done = payload["step"] - job.get("run_from_step", 0)
                    rate = (time.time() - started) / max(done, 1)
                    job["estimated_finish"] = time.time() + rate * (payload["total_steps"] - payload["step"])
                    # After a crash the run goes on from its last epoch end: steps already logged are
                    # trained again but not logged twice, so the log's steps only ever increase.
                    if payload["step"] > job.get("step", 0):
                        job["step"] = payload["step"]
                        events.append(("info", step_message(metrics), "metrics", metrics))
                elif kind == "checkpoint":
                    again = any(c["step"] == payload["step"] for c in job.get("checkpoints", []))
                    kept = [c for c in job.get("checkpoints", []) if c["step"] in payload["kept"] and c["step"] != payload["step"]]
                    kept.append({"step": payload["step"], "created_at": time.time(), "metrics": payload["metrics"]})
                    job["checkpoints"] = kept
                    if not again:
                        events.append(("info", f"Checkpoint created at step {payload['step']}", "message", None))
                elif kind in ("paused", "stopped") and "final" in job:  # cancelled as it paused
                    ended = True
                elif kind == "paused":
                    job["status"] = "paused"
                    job["estimated_finish"] = None
                    events.append(("info", f"Job paused at step {payload['step']}", "message", None))
                    ended = True
                elif kind == "stopped":
                    job["status"] = "queued"  # the next start of the trainer takes it from the saved state
                    job["estimated_finish"] = None
                    events.append(("info", f"The trainer is stopping: training stopped at step {payload['step']} and its "
                                   "state is saved; the job continues from there when the trainer starts again", "message", None))
                    ended = True
                elif kind == "succeeded" and "final" in job:  # cancelled just as it ended: cancelled it stays
                    ended = True
                elif kind == "succeeded":
                    job["resolved"]["trained_tokens"] = payload["trained_tokens"]
                    service.add_result_file(data, job, payload["result_csv"])
                    service.finish(job, "succeeded")
                    events.append(("info", f"New fine-tuned model created: {lifecycle.model_name(job)}", "message", None))
                    events.append(("info", "The job has successfully completed", "message", None))
                    ended = True
                elif kind == "cancelled":
                    service.finish(job, "cancelled")
                    events.append(("info", f"Training stopped at step {payload['step']} of {job.get('total_steps', '?')}", "message", None))
                    ended = True
                elif kind == "failed":
                    message = f"Training failed at step {job.get('step', 0)}: {payload['message']}"
                    service.finish(job, "failed", {"code": "training_failed", "message": message, "param": None})
                    events.append(("error", message, "message", None))
                    ended = True
        service.add_events(job_id, events)
        return ended

    def _fail(self, job_id: str, message: str) -> None:
        service = self.service
        with service.store.changing() as data:
            job = data["jobs"].get(job_id)
            if job is None or "final" in job:
                return
            service.finish(job, "failed", {"code": "training_failed", "message": message, "param": None})
        service.add_event(job_id, message, level="error")
        self.forget_state(job_id)
