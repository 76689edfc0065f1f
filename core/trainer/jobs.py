"""The trainer's /fine_tuning/jobs routes: checked as the emulator checks them, then trained for real.

Pause asks the job under way to save its state at the next step boundary: the job shows `pausing`
until the training process has saved it, then `paused`. Resume queues it again; it continues from
the saved step, so its metric events go on from there."""

from __future__ import annotations

import threading
import time

from aiohttp import web

from core.emulator import training
from core.emulator.errors import invalid
from core.emulator.ids import new_id
from core.emulator.jobs import checked_integrations, checked_metadata, checked_seed, method_and_hyperparameters, ready_file
from core.emulator.service import ORG, ORGANIZATION_ID, service_of
from core.emulator.training import FileProblem
from core.emulator.wire import json_response, list_object, page, query_int, read_json, string_field
from core.trainer.service import TrainerService, stand_in

MAX_SUFFIX = 64


def validate(service: TrainerService, job_id: str) -> None:
    """The service's `validating_files` step, with core.dataset's rules; then queued, or failed."""
    with service.store.reading() as data:
        job = dict(data["jobs"][job_id])
    training_bytes = service.store.get_blob("files", job["training_file"]) or b""
    validation_bytes = service.store.get_blob("files", job["validation_file"]) if job.get("validation_file") else None
    try:
        plan = training.make_plan(training_bytes, validation_bytes, model=job["model"], method=job["method"],
                                  hyperparameters=job["hyperparameters"], seed=job["seed"], base=stand_in(job["model"]))
    except Exception as exc:  # the request was checked at creation: anything here is ours to report
        plan = FileProblem("invalid_training_file", f"The files could not be validated: {exc}", "training_file", None)
    with service.store.changing() as data:
        record = data["jobs"][job_id]
        if "final" in record:  # cancelled while validating
            return
        if isinstance(plan, FileProblem):
            service.finish(record, "failed", {"code": plan.code, "message": plan.message, "param": plan.param})
        else:
            record["status"] = "queued"
            values = {"batch_size": plan.batch_size, "learning_rate_multiplier": plan.learning_rate_multiplier,
                      "n_epochs": plan.n_epochs}
            if plan.method == "dpo":
                values["beta"] = plan.beta
            record["resolved"] = {"hyperparameters": values, "trained_tokens": None}  # tokens: counted by training
    if isinstance(plan, FileProblem):
        service.add_event(job_id, plan.message, level="error")
        return
    service.add_event(job_id, "Files validated, moving job to queued state")
    service.runner.submit(job_id)


async def create_job(request: web.Request) -> web.Response:
    service: TrainerService = service_of(request)
    body = await read_json(request)
    model_name = string_field(body, "model", required=True)
    training_file = string_field(body, "training_file", required=True)
    validation_file = string_field(body, "validation_file")
    suffix = string_field(body, "suffix", max_length=MAX_SUFFIX) or None
    method, hyperparameters = method_and_hyperparameters(body)
    metadata = checked_metadata(body.get("metadata"))
    seed = checked_seed(body.get("seed"))
    integrations = checked_integrations(body.get("integrations"))
    if model_name not in service.models:
        served = ", ".join(sorted(service.models)) or "none"
        raise invalid(f"Model {model_name} is not available for fine-tuning on this trainer (it serves: {served}).",
                      "model", "model_not_available")
    try:
        training._checked_hyperparameters(hyperparameters, method)
    except training.InvalidParameter as exc:
        raise invalid(exc.message, exc.param, "invalid_hyperparameters") from None
    now = service.now()
    with service.store.reading() as data:
        ready_file(service, data, training_file, "training_file", now)
        if validation_file:
            ready_file(service, data, validation_file, "validation_file", now)
    job = {
        "id": new_id("ftjob-"),
        "created_at": now,
        "model": model_name,
        "org": ORG,
        "organization_id": ORGANIZATION_ID,
        "training_file": training_file,
        "validation_file": validation_file or None,
        "method": method,
        "hyperparameters": hyperparameters,
        "seed": seed,
        "suffix": suffix,
        "metadata": metadata,
        "integrations": integrations,
        "speed": 1.0,
        "status": "validating_files",
        "step": 0,
        "checkpoints": [],
        "pauses": [],
        "cancelled_at": None,
        "result_file": None,
        "resolved": None,
    }
    with service.store.changing() as data:
        data["jobs"][job["id"]] = job
        answer = service.job_object(job, now)
    validating = f"Validating training file: {training_file}" + (f" and validation file: {validation_file}" if validation_file else "")
    service.add_events(job["id"], [("info", f"Created fine-tuning job: {job['id']}", "message", None),
                                   ("info", validating, "message", None)])
    threading.Thread(target=validate, args=(service, job["id"]), name="tunedeck-trainer-validate", daemon=True).start()
    return json_response(answer)


async def list_jobs(request: web.Request) -> web.Response:
    service = service_of(request)
    limit = query_int(request, "limit", 20, 1, 100)
    wanted = {key[len("metadata[") : -1]: value for key, value in request.query.items()
              if key.startswith("metadata[") and key.endswith("]")}
    now = service.now()
    with service.store.reading() as data:
        jobs = [job for job in data["jobs"].values() if all((job.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
        jobs.sort(key=lambda job: job["created_at"], reverse=True)
        chosen, has_more = page(jobs, request.query.get("after"), limit)
        objects = [service.job_object(job, now) for job in chosen]
    return json_response(list_object(objects, has_more))


async def retrieve_job(request: web.Request) -> web.Response:
    service = service_of(request)
    with service.store.reading() as data:
        job = service.find_job(data, request.match_info["job_id"])
        return json_response(service.job_object(job, service.now()))


async def cancel_job(request: web.Request) -> web.Response:
    service: TrainerService = service_of(request)
    now = service.now()
    with service.store.changing() as data:
        job = service.find_job(data, request.match_info["job_id"])
        status = service.status(job)
        if status in ("succeeded", "failed", "cancelled"):
            raise invalid(f"Job {job['id']} has already {status}; only a job that has not finished can be cancelled.",
                          "fine_tuning_job_id", "invalid_job_status")
        job["cancelled_at"] = time.time()
        service.finish(job, "cancelled")
        answer = service.job_object(job, now)
    service.add_event(job["id"], "Job cancelled")
    service.runner.cancel(job["id"])  # training stops before its next step
    return json_response(answer)


def _refuse(job: dict, status: str, wanted: str):
    return invalid(f"Job {job['id']} is {status}; {wanted}.", "fine_tuning_job_id", "invalid_job_status")


async def pause_job(request: web.Request) -> web.Response:
    service: TrainerService = service_of(request)
    now = service.now()
    with service.store.changing() as data:
        job = service.find_job(data, request.match_info["job_id"])
        status = service.status(job)
        if status != "running" or not service.runner.pause(job["id"]):
            raise _refuse(job, status, "only a running job can be paused")
        job["status"] = "pausing"  # until the training process has saved its state
        job["pauses"].append({"at": time.time(), "step": job.get("step", 0), "resumed_at": None})
        return json_response(service.job_object(job, now))


async def resume_job(request: web.Request) -> web.Response:
    service: TrainerService = service_of(request)
    now = service.now()
    with service.store.changing() as data:
        job = service.find_job(data, request.match_info["job_id"])
        status = service.status(job)
        if status != "paused":
            raise _refuse(job, status, "only a paused job can be resumed" + (" (it pauses at the end of the step under way)"
                                                                              if status == "pausing" else ""))
        job["status"] = "queued"  # until the training process has loaded the saved state
        pause = job["pauses"][-1]
        pause["resumed_at"] = time.time()
        step = job.get("step", 0)
        answer = service.job_object(job, now)
    service.add_event(job["id"], f"Job resumed at step {step}")
    service.runner.submit(job["id"])
    return json_response(answer)


async def list_events(request: web.Request) -> web.Response:
    service: TrainerService = service_of(request)
    limit = query_int(request, "limit", 20, 1, 1000)
    with service.store.reading() as data:
        job = service.find_job(data, request.match_info["job_id"])
    events = service.events(job["id"])
    events.reverse()  # newest first
    chosen, has_more = page(events, request.query.get("after"), limit)
    return json_response(list_object(chosen, has_more))


async def list_checkpoints(request: web.Request) -> web.Response:
    service: TrainerService = service_of(request)
    limit = query_int(request, "limit", 10, 1, 100)
    with service.store.reading() as data:
        job = service.find_job(data, request.match_info["job_id"])
        listed = service.checkpoint_objects(job)
    listed.reverse()
    chosen, has_more = page(listed, request.query.get("after"), limit)
    return json_response(list_object(chosen, has_more, ids=True))


def routes() -> list[web.RouteDef]:
    base = "/v1/fine_tuning/jobs"
    return [
        web.post(base, create_job),
        web.get(base, list_jobs),
        web.get(base + "/{job_id}", retrieve_job),
        web.post(base + "/{job_id}/cancel", cancel_job),
        web.post(base + "/{job_id}/pause", pause_job),
        web.post(base + "/{job_id}/resume", resume_job),
        web.get(base + "/{job_id}/events", list_events),
        web.get(base + "/{job_id}/checkpoints", list_checkpoints),
    ]
