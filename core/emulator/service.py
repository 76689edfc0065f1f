"""The emulated service's shared rules over the store: files becoming ready, job plans, settling finished jobs."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field, replace

from aiohttp import web

from core.clock import Clock
from core.emulator import lifecycle, training
from core.emulator.errors import not_found
from core.emulator.faults import Faults
from core.emulator.state import Store
from core.emulator.training import FileProblem, Plan

ORG = "tunedeck"  # the organisation part of tuned model names: ft:{base}:tunedeck:{suffix}:{id}
ORGANIZATION_ID = "org-tunedeck"
PROCESSING_SECONDS = 1.0  # emulated seconds between an upload and its file being "processed"
UPLOAD_LIFETIME = 3600.0  # wall seconds an Upload stays open, as the service documents


@dataclass
class Service:
    """What every route needs: the store, the clock, the speed, the faults and the limits."""

    store: Store
    clock: Clock
    speed: float
    faults: Faults
    api_keys: frozenset[str] | None
    max_file_bytes: int
    _plans: dict[str, Plan | FileProblem] = field(default_factory=dict, repr=False)
    _ends: dict[tuple, float] = field(default_factory=dict, repr=False)
    _plans_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> float:
        return self.clock.now()

    # -- files --------------------------------------------------------------------------------

    def add_file(self, data: dict, file_id: str, size: int, *, filename: str, purpose: str,
                 created_at: float, ready_at: float | None = None) -> dict:
        """Record a file whose bytes are already kept (`store.put_blob`), inside `store.changing()`."""
        record = {
            "id": file_id,
            "bytes": size,
            "created_at": created_at,
            "filename": filename,
            "purpose": purpose,
            "ready_at": ready_at if ready_at is not None else created_at + PROCESSING_SECONDS / self.speed,
        }
        data["files"][file_id] = record
        return record

    def file_object(self, record: dict, now: float) -> dict:
        return {
            "id": record["id"],
            "object": "file",
            "bytes": record["bytes"],
            "created_at": int(record["created_at"]),
            "filename": record["filename"],
            "purpose": record["purpose"],
            "status": "processed" if now >= record["ready_at"] else "uploaded",
        }

    def find_file(self, data: dict, file_id: str, param: str = "file_id") -> dict:
        record = data["files"].get(file_id)
        if record is None:
            raise not_found(f"No such File object: {file_id}", param)
        return record

    def file_in_use(self, data: dict, file_id: str) -> bool:
        # A job (and the tuned model it made) keeps answering from its training file after the
        # file itself is deleted, as on the service, so its bytes stay.
        return any(file_id in (job["training_file"], job.get("validation_file")) for job in data["jobs"].values())

    # -- jobs ---------------------------------------------------------------------------------

    def find_job(self, data: dict, job_id: str) -> dict:
        job = data["jobs"].get(job_id)
        if job is None:
            raise not_found(f"No fine-tuning job found with id {job_id}", "fine_tuning_job_id")
        return job

    def plan(self, job: dict) -> Plan | FileProblem:
        """The job's plan, made once per process from its files (pure, so any process gets the same)."""
        with self._plans_lock:
            plan = self._plans.get(job["id"])
        if plan is None:
            plan = self.make_plan(job)
            with self._plans_lock:
                self._plans[job["id"]] = plan
        fail_at = job.get("fail_at_step")
        if fail_at and isinstance(plan, Plan):
            plan = replace(plan, fail_at_step=max(1, min(int(fail_at), plan.total_steps)))
        return plan

    def remember_plan(self, job_id: str, plan: Plan | FileProblem) -> None:
        with self._plans_lock:
            self._plans[job_id] = plan

    def make_plan(self, job: dict) -> Plan | FileProblem:
        """Raises `training.InvalidParameter` for a request the service refuses outright."""
        training_bytes = self.store.get_blob("files", job["training_file"])
        if training_bytes is None:
            return FileProblem("invalid_training_file", f"File {job['training_file']} has no content", "training_file", None)
        validation_bytes = None
        if job.get("validation_file"):
            validation_bytes = self.store.get_blob("files", job["validation_file"])
            if validation_bytes is None:
                return FileProblem("invalid_validation_file", f"File {job['validation_file']} has no content", "validation_file", None)
        return training.make_plan(
            training_bytes,
            validation_bytes,
            model=job["model"],
            method=job["method"],
            hyperparameters=job.get("hyperparameters") or None,
            seed=job["seed"],
            job_id=job["id"],
            training_file_id=job["training_file"],
            validation_file_id=job.get("validation_file") or "",
            fine_tuned_model=lifecycle.model_name(job),
        )

    def end_offset(self, job: dict) -> float:
        """When the job ends on its own, in emulated seconds after creation (cached per process)."""
        key = (job["id"], job.get("fail_at_step"))
        with self._plans_lock:
            end = self._ends.get(key)
        if end is None:
            end = lifecycle.end_offset(self.plan(job))
            with self._plans_lock:
                self._ends[key] = end
        return end

    def moment(self, job: dict, now: float | None = None) -> lifecycle.Moment:
        return lifecycle.moment(job, self.plan(job), self.now() if now is None else now)

    def settle(self, data: dict, now: float) -> None:
        """Record jobs that reached the end since anyone last looked: final status, result file.

        Runs inside a `store.reading()`; it opens a change only when some job did finish, so
        polling costs no write.
        """
        finished = []
        for job in data["jobs"].values():
            # One subtraction per unfinished job: polling many jobs must stay cheap.
            if "final" not in job and lifecycle.elapsed(job, now) >= self.end_offset(job):
                finished.append(self.moment(job, now))
        if not finished:
            return
        with self.store.changing() as changed:
            for moment in finished:
                job = changed["jobs"].get(moment.job["id"])
                if job is None or "final" in job:
                    continue
                job["final"] = {"status": moment.status, "finished_at": moment.finished_at(), "error": moment.error()}
                if moment.status == "succeeded" and moment.progress.result_csv is not None:
                    self._add_result_file(changed, job, moment)

    def _add_result_file(self, data: dict, job: dict, moment: lifecycle.Moment) -> None:
        # The service serves the step metrics CSV base64-encoded; clients decode it.
        file_id = lifecycle.result_file_id(job)
        if file_id not in data["files"]:
            content = base64.b64encode(moment.progress.result_csv.encode("utf-8"))
            finished = moment.finished_at() or moment.now
            self.store.put_blob("files", file_id, content)  # small: fine to write under the lock
            self.add_file(data, file_id, len(content), filename="step_metrics.csv", purpose="fine-tune-results",
                          created_at=finished, ready_at=finished)
        job["result_file"] = file_id

    def job_object(self, job: dict, now: float) -> dict:
        final = job.get("final")
        if final is not None:  # from the record alone: no plan, no file read
            return lifecycle.job_object(job, final["status"], finished_at=final["finished_at"],
                                        estimated_finish=None, error=final["error"])
        moment = self.moment(job, now)
        return lifecycle.job_object(job, moment.status, finished_at=moment.finished_at(),
                                    estimated_finish=moment.estimated_finish(), error=moment.error())

    def tuned_models(self, data: dict) -> dict[str, dict]:
        """Tuned model name -> its job, for jobs that succeeded and whose model was not deleted."""
        deleted = set(data["deleted_models"])
        models = {}
        for job in data["jobs"].values():
            final = job.get("final")
            if final and final["status"] == "succeeded":
                name = lifecycle.model_name(job)
                if name not in deleted:
                    models[name] = job
        return models


SERVICE = web.AppKey("service", Service)


def service_of(request: web.Request) -> Service:
    return request.app[SERVICE]

