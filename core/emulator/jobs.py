"""The /fine_tuning/jobs routes: creating a job as the service checks it, and pausing, resuming, cancelling it."""

from __future__ import annotations

import asyncio
import math
import secrets

from aiohttp import web

from core.dataset import base_models
from core.emulator import lifecycle, training
from core.emulator.errors import ApiError, invalid
from core.emulator.ids import new_id
from core.emulator.service import ORG, ORGANIZATION_ID, Service, service_of
from core.emulator.training import Plan
from core.emulator.wire import json_response, json_type, list_object, page, query_int, read_json, string_field

MAX_SUFFIX = 64
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_INTEGRATIONS = 5
MAX_SEED = 2_147_483_647


# -- checking a new job -----------------------------------------------------------------------


def base_model_for(data: dict, service: Service, name: str) -> base_models.BaseModel:
    """The fine-tunable base model `name` stands for: a snapshot, an alias, or a tuned model of ours."""
    if name.startswith("ft:"):
        job = service.tuned_models(data).get(name)
        if job is None:
            raise _model_not_available(name)
        name = job["model"]
    try:
        model = base_models.lookup(name)
    except base_models.UnknownModel:
        raise _model_not_available(name) from None
    if not model.fine_tunable:
        raise _model_not_available(name)
    return model


def _model_not_available(name: str):
    return invalid(f"Model {name} is not available for fine-tuning or does not exist.", "model", "model_not_available")


def method_and_hyperparameters(body: dict) -> tuple[str, dict]:
    """`method: {"type", "<type>": {"hyperparameters"}}`, or the legacy top-level `hyperparameters`."""
    legacy = body.get("hyperparameters")
    if legacy is not None and not isinstance(legacy, dict):
        raise invalid(f"Invalid type for 'hyperparameters': expected an object, but got {json_type(legacy)} instead.",
                      "hyperparameters", "invalid_type")
    method = body.get("method")
    if method is None:
        return "supervised", dict(legacy or {})
    if not isinstance(method, dict):
        raise invalid(f"Invalid type for 'method': expected an object, but got {json_type(method)} instead.", "method", "invalid_type")
    kind = method.get("type")
    if kind not in ("supervised", "dpo", "reinforcement"):
        raise invalid(f"Invalid value for 'method.type': {kind!r}. Supported values are: 'supervised', 'dpo' and 'reinforcement'.",
                      "method.type", "invalid_value")
    if kind == "reinforcement":
        raise invalid("The reinforcement method needs graders, which this emulator does not imitate; use supervised or dpo.",
                      "method.type", "unsupported_method")
    settings = method.get(kind) or {}
    if not isinstance(settings, dict):
        raise invalid(f"Invalid type for 'method.{kind}': expected an object.", f"method.{kind}", "invalid_type")
    given = settings.get("hyperparameters")
    if given is not None and not isinstance(given, dict):
        raise invalid(f"Invalid type for 'method.{kind}.hyperparameters': expected an object.",
                      f"method.{kind}.hyperparameters", "invalid_type")
    if given and legacy:
        raise invalid("Give hyperparameters either in 'method' or in the deprecated 'hyperparameters', not both.",
                      "hyperparameters", "conflicting_parameters")
    return kind, dict(given or legacy or {})


def checked_metadata(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"Invalid type for 'metadata': expected an object, but got {json_type(value)} instead.", "metadata", "invalid_type")
    if len(value) > MAX_METADATA_PAIRS:
        raise invalid(
            f"Invalid 'metadata': too many properties. Expected an object with at most {MAX_METADATA_PAIRS} "
            f"properties, but got an object with {len(value)} properties instead.",
            "metadata",
            "object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise invalid(
                f"Invalid 'metadata': key too long. Expected a key with maximum length {MAX_METADATA_KEY}, "
                f"but got a key with length {len(key)} instead.",
                "metadata",
                "string_above_max_length",
            )
        if not isinstance(item, str):
            raise invalid(f"Invalid type for 'metadata.{key}': expected a string, but got {json_type(item)} instead.",
                          f"metadata.{key}", "invalid_type")
        if len(item) > MAX_METADATA_VALUE:
            raise invalid(
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length "
                f"{MAX_METADATA_VALUE}, but got a string with length {len(item)} instead.",
                f"metadata.{key}",
                "string_above_max_length",
            )
    return dict(value)


def checked_seed(value) -> int:
    if value is None:
        return secrets.randbelow(MAX_SEED + 1)  # the service picks one and reports it
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"Invalid type for 'seed': expected an integer, but got {json_type(value)} instead.", "seed", "invalid_type")
    if not 0 <= value <= MAX_SEED:
        raise invalid(f"Invalid 'seed': {value}; it must be between 0 and {MAX_SEED}.", "seed", "integer_out_of_range")
    return value


def checked_integrations(value) -> list | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise invalid("Invalid 'integrations': expected an array of objects.", "integrations", "invalid_type")
    if len(value) > MAX_INTEGRATIONS:
        raise invalid(f"Invalid 'integrations': at most {MAX_INTEGRATIONS} integrations.", "integrations", "array_above_max_length")
    return value


def ready_file(service: Service, data: dict, file_id: str, param: str, now: float) -> None:
    record = data["files"].get(file_id)
    if record is None:
        raise invalid(f"Invalid file ID: {file_id} does not exist.", param, "invalid_file_id")
    if record["purpose"] != "fine-tune":
        raise invalid(f"File {file_id} has purpose {record['purpose']!r}; fine-tuning needs a file uploaded with purpose 'fine-tune'.",
                      param, "invalid_file_purpose")
    if service.file_object(record, now)["status"] != "processed":
        raise invalid(f"File {file_id} is not ready: it is still being processed. Wait until its status is 'processed'.",
                      param, "file_not_ready")


# -- routes -----------------------------------------------------------------------------------


async def create_job(request: web.Request) -> web.Response:
    service = service_of(request)
    body = await read_json(request)
    model_name = string_field(body, "model", required=True)
    training_file = string_field(body, "training_file", required=True)
    validation_file = string_field(body, "validation_file")
    suffix = string_field(body, "suffix", max_length=MAX_SUFFIX) or None
    method, hyperparameters = method_and_hyperparameters(body)
    metadata = checked_metadata(body.get("metadata"))
    seed = checked_seed(body.get("seed"))
    integrations = checked_integrations(body.get("integrations"))
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        base = base_model_for(data, service, model_name)
        if method == "dpo" and not base.dpo:
            raise invalid(f"Model {base.name} does not support the dpo method; it supports supervised fine-tuning only.",
                          "method.type", "unsupported_method")
        ready_file(service, data, training_file, "training_file", now)
        if validation_file:
            ready_file(service, data, validation_file, "validation_file", now)
    job = {
        "id": new_id("ftjob-"),
        "created_at": now,
        "model": base.name,
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
        "speed": service.speed,
        "fail_at_step": None,
        "pauses": [],
        "cancelled_at": None,
        "result_file": None,
        "resolved": None,
    }
    try:
        # Reading and counting a big file takes a while: off the event loop.
        plan = await asyncio.to_thread(service.make_plan, job)
    except training.InvalidParameter as exc:
        raise invalid(exc.message, exc.param, "invalid_hyperparameters" if exc.param.startswith("hyperparameters") else None) from None
    job["resolved"] = lifecycle.resolved(plan)
    failure = service.faults.take_job_failure()
    if failure is not None and isinstance(plan, Plan):
        job["fail_at_step"] = max(1, math.ceil(plan.total_steps * failure))
    service.remember_plan(job["id"], plan)
    with service.store.changing() as data:
        data["jobs"][job["id"]] = job
        return json_response(service.job_object(job, now))


async def list_jobs(request: web.Request) -> web.Response:
    service = service_of(request)
    limit = query_int(request, "limit", 20, 1, 100)
    after = request.query.get("after")
    wanted = {key[len("metadata[") : -1]: value for key, value in request.query.items()
              if key.startswith("metadata[") and key.endswith("]")}
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        jobs = [job for job in data["jobs"].values()
                if all((job.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
        jobs.sort(key=lambda job: job["created_at"])  # stable: creation order at a tie
        jobs.reverse()  # newest first
        chosen, has_more = page(jobs, after, limit)
        objects = [service.job_object(job, now) for job in chosen]
    return json_response(list_object(objects, has_more))


async def retrieve_job(request: web.Request) -> web.Response:
    service = service_of(request)
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        job = service.find_job(data, request.match_info["job_id"])
        return json_response(service.job_object(job, now))


async def _change_job(request: web.Request, change) -> web.Response:
    """Apply `change(service, job, now)` to the job under the store's write lock; answer the job."""
    service = service_of(request)
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        with service.store.changing():
            job = service.find_job(data, request.match_info["job_id"])
            change(service, job, now)
        return json_response(service.job_object(job, now))


def _refuse(job: dict, status: str, wanted: str) -> ApiError:
    return invalid(f"Job {job['id']} {status}; {wanted}.", "fine_tuning_job_id", "invalid_job_status")


def _cancel(service, job: dict, now: float) -> None:
    status = service.moment(job, now).status if "final" not in job else job["final"]["status"]
    if status in lifecycle.TERMINAL:
        raise _refuse(job, f"has already {status}", "only a job that has not finished can be cancelled")
    job["cancelled_at"] = now
    job["final"] = {"status": "cancelled", "finished_at": now, "error": None}


def _pause(service, job: dict, now: float) -> None:
    moment = service.moment(job, now)
    if moment.status != "running":
        raise _refuse(job, f"is {moment.status}", "only a running job can be paused")
    job["pauses"].append({"at": now, "offset": moment.elapsed, "step": moment.progress.step, "resumed_at": None})


def _resume(service, job: dict, now: float) -> None:
    moment = service.moment(job, now)
    pause = lifecycle.open_pause(job)
    if pause is None or moment.status not in ("pausing", "paused"):
        raise _refuse(job, f"is {moment.status}", "only a paused job can be resumed")
    pause["resumed_at"] = now


async def cancel_job(request: web.Request) -> web.Response:
    return await _change_job(request, _cancel)


async def pause_job(request: web.Request) -> web.Response:
    return await _change_job(request, _pause)


async def resume_job(request: web.Request) -> web.Response:
    return await _change_job(request, _resume)


async def _listed(request: web.Request, items, default_limit: int, most: int, *, ids: bool = False) -> web.Response:
    """One page of a job's `items(moment)` (events, checkpoints), newest first as the service lists them."""
    service = service_of(request)
    limit = query_int(request, "limit", default_limit, 1, most)
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        job = service.find_job(data, request.match_info["job_id"])
        listed = items(service.moment(job, now))
    listed.reverse()
    chosen, has_more = page(listed, request.query.get("after"), limit)
    return json_response(list_object(chosen, has_more, ids=ids))


async def list_events(request: web.Request) -> web.Response:
    return await _listed(request, lambda moment: moment.events(), 20, 1000)


async def list_checkpoints(request: web.Request) -> web.Response:
    return await _listed(request, lambda moment: moment.checkpoints(), 10, 100, ids=True)


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
