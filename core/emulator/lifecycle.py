"""A stored job as the API shows it at one moment: its clock, pauses and cancel, events, checkpoints, names.

A job's course is fixed when it is created (`training.Plan`); where it stands is a function of the
emulated seconds since creation, `(now - created_at - paused wall time) * speed`. Nothing here
runs in the background: a job "runs" while no emulator process is up, and the next process shows
it where it should be. This module is pure: the job record and the time in, API objects out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.emulator import training
from core.emulator.ids import derived_id
from core.emulator.training import FileProblem, Plan, Progress

PAUSING_SECONDS = 2.0  # emulated seconds a job reports "pausing" before "paused"
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


# -- the job's clock --------------------------------------------------------------------------


def elapsed(job: dict, now: float) -> float:
    """Emulated seconds the job has been alive at wall time `now`, paused time excluded."""
    end = now
    if job.get("cancelled_at") is not None:  # a cancelled job's clock stopped for good
        end = min(end, job["cancelled_at"])
    paused = 0.0
    for pause in job.get("pauses", ()):
        start = pause["at"]
        if start >= end:
            continue
        resumed = pause.get("resumed_at")
        paused += (min(resumed, end) if resumed is not None else end) - start
    return max(0.0, (end - job["created_at"] - paused) * job["speed"])


def wall(job: dict, offset: float) -> float:
    """The wall time at which the job reached `offset` emulated seconds."""
    paused = sum(
        p["resumed_at"] - p["at"]
        for p in job.get("pauses", ())
        if p.get("resumed_at") is not None and p["offset"] < offset
    )
    return job["created_at"] + offset / job["speed"] + paused


def end_offset(plan: Plan | FileProblem) -> float:
    """Emulated seconds after creation at which the job ends on its own (success or failure)."""
    if isinstance(plan, FileProblem):
        return training.failed_validation(plan, math.inf).finished_offset
    return training.progress(plan, math.inf).finished_offset


def open_pause(job: dict) -> dict | None:
    pauses = job.get("pauses") or []
    if pauses and pauses[-1].get("resumed_at") is None:
        return pauses[-1]
    return None


# -- names ------------------------------------------------------------------------------------


def model_name(job: dict) -> str:
    """`ft:{base}:{org}:{suffix}:{8 chars}`, as the service names a tuned model."""
    code = derived_id("", job["id"], "model", length=8).lower()
    return f"ft:{job['model']}:{job['org']}:{job.get('suffix') or ''}:{code}"


def checkpoint_name(job: dict, step: int) -> str:
    return f"{model_name(job)}:ckpt-step-{step}"


def result_file_id(job: dict) -> str:
    # Derived, so two processes that notice the same success create the same file.
    return derived_id("file-", job["id"], "results")


# -- where the job stands ---------------------------------------------------------------------


@dataclass
class Moment:
    """One job at one wall time."""

    job: dict
    plan: Plan | FileProblem
    now: float
    elapsed: float
    progress: Progress
    status: str

    # -- times ----------------------------------------------------------------------------

    def finished_at(self) -> float | None:
        if self.status == "cancelled":
            return self.job["cancelled_at"]
        if self.status in TERMINAL and self.progress.finished_offset is not None:
            return wall(self.job, self.progress.finished_offset)
        return None

    def estimated_finish(self) -> float | None:
        if self.status not in ("queued", "running") or self.progress.estimated_finish_offset is None:
            return None
        # Counted from now, so that time spent paused pushes the estimate out.
        remaining = max(0.0, self.progress.estimated_finish_offset - self.elapsed) / self.job["speed"]
        return self.now + remaining

    def error(self) -> dict | None:
        return self.progress.error if self.status == "failed" else None

    # -- the lists ------------------------------------------------------------------------

    def events(self) -> list[dict]:
        """Every event so far as API objects, oldest first; ids are the same on every call."""
        job = self.job
        timed: list[tuple[float, int, dict]] = []
        for index, event in enumerate(self.progress.events):
            at = wall(job, event.offset)
            timed.append((at, 0, _event(job, ("t", index), at, event.level, event.message, event.type, event.data)))
        for at, key, message in _own_events(job):
            if at <= self.now:
                timed.append((at, 1, _event(job, key, at, "info", message, "message", None)))
        timed.sort(key=lambda item: (item[0], item[1]))  # stable: the training log first at a tie
        return [event for _, _, event in timed]

    def checkpoints(self) -> list[dict]:
        """Checkpoints reached so far as API objects, oldest first."""
        job = self.job
        return [
            {
                "object": "fine_tuning.job.checkpoint",
                "id": derived_id("ftckpt_", job["id"], checkpoint.step),
                "created_at": int(wall(job, checkpoint.offset)),
                "fine_tuned_model_checkpoint": checkpoint_name(job, checkpoint.step),
                "fine_tuning_job_id": job["id"],
                "metrics": {"step": checkpoint.step, **checkpoint.metrics},
                "step_number": checkpoint.step,
            }
            for checkpoint in self.progress.checkpoints
        ]

    def checkpoint_steps(self) -> list[int]:
        return [checkpoint.step for checkpoint in self.progress.checkpoints]


def moment(job: dict, plan: Plan | FileProblem, now: float) -> Moment:
    """Where `job` stands at wall time `now`."""
    spent = elapsed(job, now)
    if isinstance(plan, FileProblem):
        progress = training.failed_validation(
            plan,
            spent,
            job_id=job["id"],
            training_file_id=job["training_file"],
            validation_file_id=job.get("validation_file") or "",
        )
    else:
        progress = training.progress(plan, spent)
    status = progress.status
    pause = open_pause(job)
    if job.get("cancelled_at") is not None:
        status = "cancelled"
    elif pause is not None and status not in TERMINAL:
        paused_for = (now - pause["at"]) * job["speed"]
        status = "pausing" if paused_for < PAUSING_SECONDS else "paused"
    return Moment(job, plan, now, spent, progress, status)


def _event(job: dict, key: tuple, at: float, level: str, message: str, kind: str, data: dict | None) -> dict:
    return {
        "object": "fine_tuning.job.event",
        "id": derived_id("ftevent-", job["id"], *key),
        "created_at": int(at),
        "level": level,
        "message": message,
        "type": kind,
        "data": dict(data) if data else {},
    }


def _own_events(job: dict) -> list[tuple[float, tuple, str]]:
    """Events of what a person did to the job (pause, resume, cancel), which the plan cannot know."""
    events = []
    for number, pause in enumerate(job.get("pauses", ())):
        events.append((pause["at"], ("pause", number), f"Job paused at step {pause['step']}"))
        if pause.get("resumed_at") is not None:
            events.append((pause["resumed_at"], ("resume", number), f"Job resumed at step {pause['step']}"))
    if job.get("cancelled_at") is not None:
        events.append((job["cancelled_at"], ("cancel",), "Job cancelled"))
    return events


# -- the job object ---------------------------------------------------------------------------


def resolved(plan: Plan | FileProblem) -> dict | None:
    """What the plan fixed that the job object shows, kept in the job record so that listing
    finished jobs never needs their files read again."""
    if not isinstance(plan, Plan):
        return None
    values = {
        "batch_size": plan.batch_size,
        "learning_rate_multiplier": plan.learning_rate_multiplier,
        "n_epochs": plan.n_epochs,
    }
    if plan.method == "dpo":
        values["beta"] = plan.beta
    return {"hyperparameters": values, "trained_tokens": plan.trained_tokens}


def hyperparameters(job: dict) -> dict:
    """The values the job trains with, or what was asked for when its files failed validation."""
    if job.get("resolved"):
        return dict(job["resolved"]["hyperparameters"])
    asked = job.get("hyperparameters") or {}
    names = ("batch_size", "learning_rate_multiplier", "n_epochs") + (("beta",) if job["method"] == "dpo" else ())
    return {name: asked.get(name, "auto") for name in names}


def job_object(job: dict, status: str, *, finished_at: float | None, estimated_finish: float | None,
               error: dict | None) -> dict:
    """The `fine_tuning.job` object."""
    values = hyperparameters(job)
    method = job["method"]
    succeeded = status == "succeeded"
    return {
        "object": "fine_tuning.job",
        "id": job["id"],
        "created_at": int(job["created_at"]),
        "error": error,
        "fine_tuned_model": model_name(job) if succeeded else None,
        "finished_at": int(finished_at) if finished_at is not None else None,
        "hyperparameters": {k: v for k, v in values.items() if k != "beta"},  # the legacy field: supervised names
        "model": job["model"],
        "organization_id": job["organization_id"],
        "result_files": [job["result_file"]] if job.get("result_file") else [],
        "status": status,
        "trained_tokens": job["resolved"]["trained_tokens"] if succeeded and job.get("resolved") else None,
        "training_file": job["training_file"],
        "validation_file": job.get("validation_file"),
        "integrations": job.get("integrations"),
        "seed": job["seed"],
        "estimated_finish": int(estimated_finish) if estimated_finish is not None else None,
        "method": {"type": method, method: {"hyperparameters": values}},
        "metadata": job.get("metadata"),
    }
