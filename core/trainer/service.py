"""The trainer's state over the emulator's store: job records that real training moves on, each
job's event log on disk, its folder of adapters, and the job object as the API shows it.

A job's folder is `<state>/jobs/<job id>/`: `events.jsonl` (oldest first, appended by the one
thread that runs jobs), `checkpoints/step-N/` (the adapters of the last three epochs), `model/`
(the final adapter) and, while the job is unfinished, `resume/` (its last saved training state).
The job record in state.json holds status, step, pauses, checkpoints and the end.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from core.dataset.base_models import BaseModel
from core.emulator import lifecycle
from core.emulator.ids import derived_id
from core.emulator.service import Service
from core.trainer.config import LocalModel

ACTIVE = ("validating_files", "queued", "running")


def stand_in(name: str) -> BaseModel:
    """What core.dataset's rules check a local model's files against: the service's limits, with
    the tokenizer TuneDeck counts with offline (the model's own cuts examples at max_length)."""
    return BaseModel(name, 65_536, "o200k_base", 0.0)


@dataclass
class TrainerService(Service):
    models: dict[str, LocalModel] = field(default_factory=dict)
    runner: object = None  # core.trainer.runner.Runner, set once both exist
    generator: object = None  # core.trainer.generate.Generator
    _events_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _event_counts: dict[str, int] = field(default_factory=dict, repr=False)

    # Jobs here move on when training reports, not on a clock: nothing to settle on a read.
    def settle(self, data: dict, now: float) -> None:
        return None

    def status(self, job: dict) -> str:
        return job["final"]["status"] if "final" in job else job["status"]

    def job_object(self, job: dict, now: float) -> dict:
        final = job.get("final") or {}
        status = self.status(job)
        estimate = job.get("estimated_finish") if status in ("queued", "running") else None
        return lifecycle.job_object(job, status, finished_at=final.get("finished_at"), estimated_finish=estimate,
                                    error=final.get("error"))

    def finish(self, job: dict, status: str, error: dict | None = None) -> None:
        """Record the job's end (inside `store.changing()`); the first end recorded stays."""
        if "final" not in job:
            job["final"] = {"status": status, "finished_at": time.time(), "error": error}

    # -- folders and events -------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.store.folder / "jobs" / job_id

    def add_events(self, job_id: str, events: list[tuple[str, str, str, dict | None]]) -> None:
        """Append `(level, message, type, data)` events to the job's log, stamped now."""
        if not events:
            return
        folder = self.job_dir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "events.jsonl"
        with self._events_lock:
            count = self._event_counts.get(job_id)
            if count is None:
                count = len(path.read_bytes().splitlines()) if path.exists() else 0
            lines = []
            for level, message, kind, data in events:
                lines.append(orjson.dumps({
                    "object": "fine_tuning.job.event",
                    "id": derived_id("ftevent-", job_id, count),
                    "created_at": int(time.time()),
                    "level": level,
                    "message": message,
                    "type": kind,
                    "data": data or {},
                }) + b"\n")
                count += 1
            with open(path, "ab") as f:
                f.write(b"".join(lines))
            self._event_counts[job_id] = count

    def add_event(self, job_id: str, message: str, level: str = "info", kind: str = "message", data: dict | None = None) -> None:
        self.add_events(job_id, [(level, message, kind, data)])

    def events(self, job_id: str) -> list[dict]:
        path = self.job_dir(job_id) / "events.jsonl"
        with self._events_lock:
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                return []
        return [orjson.loads(line) for line in raw.splitlines() if line.strip()]

    def checkpoint_objects(self, job: dict) -> list[dict]:
        """The job's kept checkpoints as API objects, oldest first."""
        return [
            {
                "object": "fine_tuning.job.checkpoint",
                "id": derived_id("ftckpt_", job["id"], c["step"]),
                "created_at": int(c["created_at"]),
                "fine_tuned_model_checkpoint": lifecycle.checkpoint_name(job, c["step"]),
                "fine_tuning_job_id": job["id"],
                "metrics": {"step": c["step"], **c["metrics"]},
                "step_number": c["step"],
            }
            for c in job.get("checkpoints", [])
        ]

    def add_result_file(self, data: dict, job: dict, csv: str) -> None:
        """The step metrics CSV, base64-encoded as the service serves it (inside `store.changing()`)."""
        file_id = lifecycle.result_file_id(job)
        content = base64.b64encode(csv.encode("utf-8"))
        now = time.time()
        self.store.put_blob("files", file_id, content)
        self.add_file(data, file_id, len(content), filename="step_metrics.csv", purpose="fine-tune-results",
                      created_at=now, ready_at=now)
        job["result_file"] = file_id

    def adapter_for(self, data: dict, name: str) -> tuple[LocalModel, Path | None, dict | None] | None:
        """(base model, adapter folder or None, job) for a model name this trainer answers to."""
        if name in self.models:
            return self.models[name], None, None
        if name in data["deleted_models"]:
            return None
        tuned = self.tuned_models(data)
        job = tuned.get(name)
        if job is not None and job["model"] in self.models:
            return self.models[job["model"]], self.job_dir(job["id"]) / "model", job
        model, _, step = name.rpartition(":ckpt-step-")
        if model and step.isdigit():
            for job in data["jobs"].values():
                if lifecycle.model_name(job) == model and job["model"] in self.models:
                    if any(c["step"] == int(step) for c in job.get("checkpoints", [])):
                        return self.models[job["model"]], self.job_dir(job["id"]) / "checkpoints" / f"step-{step}", job
        return None
