"""The /models routes and what a model name stands for: a base model, a tuned model, or a checkpoint."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from aiohttp import web

from core.dataset import base_models
from core.emulator import lifecycle
from core.emulator.errors import ApiError, not_found
from core.emulator.service import ORG, Service, service_of
from core.emulator.training import Plan
from core.emulator.wire import json_response, list_object

_DATED = re.compile(r"(\d{4})-(\d{2})-(\d{2})$")
_FALLBACK_CREATED = 1_698_000_000  # 2023-10-22: the gpt-3.5-turbo snapshots without a date in the name
_CHECKPOINT = re.compile(r"^(?P<model>ft:.+):ckpt-step-(?P<step>\d+)$")


@dataclass
class Known:
    """A model name the service answers to."""

    id: str
    created: int
    owned_by: str
    base: base_models.BaseModel
    job: dict | None = None  # the job that trained it (tuned models and checkpoints)
    tuned: bool = False  # a final tuned model (the only kind that can be deleted)


def model_not_found(name: str) -> ApiError:
    return not_found(f"The model `{name}` does not exist or you do not have access to it.", "model", "model_not_found")


def _created(name: str) -> int:
    match = _DATED.search(name)
    if not match:
        return _FALLBACK_CREATED
    day = dt.date(*map(int, match.groups()))
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def _base(name: str) -> Known | None:
    snapshot = base_models.ALIASES.get(name, name)
    model = base_models.MODELS.get(snapshot)
    if model is None:
        return None
    return Known(name, _created(snapshot), "system", model)


def find(service: Service, data: dict, name: str, now: float) -> Known:
    """What `name` stands for, or the service's 404 `model_not_found`."""
    known = _base(name)
    if known is not None:
        return known
    tuned = service.tuned_models(data)
    job = tuned.get(name)
    if job is not None:
        return Known(name, int(job["final"]["finished_at"] or job["created_at"]), ORG,
                     base_models.lookup(job["model"]), job, tuned=True)
    match = _CHECKPOINT.match(name)
    if match:
        step = int(match["step"])
        for job in data["jobs"].values():
            if lifecycle.model_name(job) != match["model"]:
                continue
            moment = service.moment(job, now)
            if step in moment.checkpoint_steps() and isinstance(moment.plan, Plan):
                created = next(c["created_at"] for c in moment.checkpoints() if c["step_number"] == step)
                return Known(name, created, ORG, base_models.lookup(job["model"]), job)
    raise model_not_found(name)


def model_object(known: Known) -> dict:
    return {"id": known.id, "object": "model", "created": known.created, "owned_by": known.owned_by}


async def list_models(request: web.Request) -> web.Response:
    service = service_of(request)
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        objects = [model_object(_base(name)) for name in base_models.MODELS]
        for name, job in service.tuned_models(data).items():
            objects.append(model_object(find(service, data, name, now)))
    return json_response(list_object(objects))


async def retrieve_model(request: web.Request) -> web.Response:
    service = service_of(request)
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        return json_response(model_object(find(service, data, request.match_info["model"], now)))


async def delete_model(request: web.Request) -> web.Response:
    service = service_of(request)
    name = request.match_info["model"]
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        known = find(service, data, name, now)
        if not known.tuned:
            raise ApiError(403, f"You cannot delete {name}: only fine-tuned models of your organization can be deleted.",
                           param="model", code="model_not_deletable")
        with service.store.changing():
            data["deleted_models"].append(name)
    return json_response({"id": name, "object": "model", "deleted": True})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/models", list_models),
        web.get("/v1/models/{model}", retrieve_model),
        web.delete("/v1/models/{model}", delete_model),
    ]
