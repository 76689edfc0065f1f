"""The trainer's /models routes: the local base models of the config and the adapters tuned from them."""

from __future__ import annotations

from aiohttp import web

from core.emulator.errors import ApiError
from core.emulator.models import model_not_found
from core.emulator.service import ORG, service_of
from core.emulator.wire import json_response, list_object
from core.trainer.service import TrainerService


def _objects(service: TrainerService, data: dict) -> dict[str, dict]:
    objects = {}
    for name, local in service.models.items():
        created = int((local.path / "config.json").stat().st_mtime) if (local.path / "config.json").exists() else 0
        objects[name] = {"id": name, "object": "model", "created": created, "owned_by": "user"}
    for name, job in service.tuned_models(data).items():
        objects[name] = {"id": name, "object": "model", "created": int(job["final"]["finished_at"]), "owned_by": ORG}
    return objects


async def list_models(request: web.Request) -> web.Response:
    service = service_of(request)
    with service.store.reading() as data:
        return json_response(list_object(list(_objects(service, data).values())))


async def retrieve_model(request: web.Request) -> web.Response:
    service: TrainerService = service_of(request)
    name = request.match_info["model"]
    with service.store.reading() as data:
        found = _objects(service, data).get(name)
        if found is None and service.adapter_for(data, name) is not None:  # a checkpoint
            found = {"id": name, "object": "model", "created": int(service.now()), "owned_by": ORG}
    if found is None:
        raise model_not_found(name)
    return json_response(found)


async def delete_model(request: web.Request) -> web.Response:
    service: TrainerService = service_of(request)
    name = request.match_info["model"]
    with service.store.changing() as data:
        if name not in service.tuned_models(data):
            if name in service.models:
                raise ApiError(403, f"You cannot delete {name}: it is a base model of the trainer's config.",
                               param="model", code="model_not_deletable")
            raise model_not_found(name)
        data["deleted_models"].append(name)
    return json_response({"id": name, "object": "model", "deleted": True})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/models", list_models),
        web.get("/v1/models/{model}", retrieve_model),
        web.delete("/v1/models/{model}", delete_model),
    ]
