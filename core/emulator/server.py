"""The aiohttp application: the front door every request passes (faults, auth, errors, recording) and the routes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web

from core.emulator import chat, files, jobs, models
from core.emulator.errors import ApiError, server_error
from core.emulator.faults import TRANSPORT_KINDS
from core.emulator.ids import mask_key, new_id
from core.emulator.service import ORGANIZATION_ID, SERVICE, Service
from core.emulator.wire import STANDARD_HEADERS, STREAMED_BODY, json_response

log = logging.getLogger(__name__)

EXCHANGES = web.AppKey("exchanges", list)
AZURE_PREFIX = "/openai"


@dataclass
class Exchange:
    """One request and its answer, as recorded with `record=True` (never the request's headers:
    they carry the key)."""

    method: str
    path: str
    query: dict[str, str]
    request_body: bytes
    request_content_type: str
    status: int  # 0: the connection was dropped on purpose, no answer
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    @property
    def streamed(self) -> bool:
        return self.response_headers.get("Content-Type", "").startswith("text/event-stream")


class Dropped(Exception):
    """The connection was closed on purpose without an answer."""


def _fault_error(kind: str, retry_after: float) -> ApiError:
    if kind == "429":
        seconds = max(1, round(retry_after + 0.4999))  # the header is whole seconds, at least 1
        return ApiError(
            429,
            f"Rate limit reached for requests. Please try again in {retry_after:g}s.",
            type="requests",
            code="rate_limit_exceeded",
            # retry-after-ms is what the SDK prefers: it keeps sub-second test delays exact.
            headers={"retry-after": str(seconds), "retry-after-ms": str(int(retry_after * 1000))},
        )
    if kind == "503":
        return ApiError(503, "The server is overloaded or not ready yet.", type="server_error")
    return server_error()


async def _apply_faults(request: web.Request, service: Service) -> bool:
    """Apply the faults that act before the request is handled; True when its answer must be
    lost after it was handled (the ambiguous failure a client cannot tell from a drop)."""
    lose_answer = False
    for rule in service.faults.hits(request.method, api_path(request.path), TRANSPORT_KINDS):
        if rule.kind == "latency":
            await asyncio.sleep(rule.latency)
        elif rule.kind == "drop":
            raise Dropped()
        elif rule.kind == "drop-after":
            lose_answer = True
        else:
            raise _fault_error(rule.kind, rule.retry_after)
    return lose_answer


def _authenticate(request: web.Request, service: Service) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip() if scheme.lower() == "bearer" else ""
    key = key or request.headers.get("api-key", "").strip()  # Azure's header
    if not key:
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using "
            "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if service.api_keys is not None and key not in service.api_keys:
        raise ApiError(
            401,
            f"Incorrect API key provided: {mask_key(key)}. The emulator was started with a fixed set of keys.",
            code="invalid_api_key",
        )


def _http_error(request: web.Request, exc: web.HTTPException) -> ApiError:
    if exc.status == 404:
        return ApiError(404, f"Invalid URL ({request.method} {request.path})")
    if exc.status == 405:
        return ApiError(405, f"Invalid method for URL ({request.method} {request.path})")
    if exc.status == 413:
        return ApiError(413, "The request body is too large.", code="request_too_large")
    return ApiError(exc.status, exc.reason or "The request could not be handled.")


@web.middleware
async def front_door(request: web.Request, handler) -> web.StreamResponse:
    service = request.app[SERVICE]
    exchanges = request.app.get(EXCHANGES)
    request[STANDARD_HEADERS] = {
        "x-request-id": new_id("req_", 32),
        "openai-organization": ORGANIZATION_ID,
        "openai-version": "2020-10-01",
    }
    response: web.StreamResponse
    try:
        lose_answer = await _apply_faults(request, service)
        _authenticate(request, service)
        response = await handler(request)
        if lose_answer:
            raise Dropped()
    except Dropped:
        if exchanges is not None:
            exchanges.append(await _exchange(request, 0))
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError() from None  # nothing more is written on a dropped connection
    except ApiError as exc:
        response = json_response(exc.body(), exc.status, exc.headers)
    except web.HTTPException as exc:
        error = _http_error(request, exc)
        response = json_response(error.body(), error.status)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("emulator: %s %s failed", request.method, request.path)  # never the headers: they hold the key
        response = json_response(server_error().body(), 500)
    if isinstance(response, web.Response):
        for name, value in request[STANDARD_HEADERS].items():
            response.headers.setdefault(name, value)
    if exchanges is not None:
        exchanges.append(await _exchange(request, response.status, response))
    return response


async def _exchange(request: web.Request, status: int, response: web.StreamResponse | None = None) -> Exchange:
    try:
        body = await request.read()
    except Exception:  # a body too large to keep is recorded as empty
        body = b""
    if isinstance(response, web.Response):
        answer = response.body if isinstance(response.body, bytes) else b""
    else:
        answer = request.get(STREAMED_BODY, b"")
    return Exchange(
        method=request.method,
        path=api_path(request.path),  # Azure's /openai/... recorded as the /v1 path it stands for
        query=dict(request.query),
        request_body=body,
        request_content_type=request.headers.get("Content-Type", ""),
        status=status,
        response_headers=dict(response.headers) if response is not None else {},
        response_body=answer,
    )


def make_app(service: Service, exchanges: list | None = None, modules: tuple | None = None,
             chat_handler=None) -> web.Application:
    """The app serving `modules` (each with a `routes()`; default the emulator's files, jobs,
    models and chat). The trainer passes its own jobs, models and chat over the same front door."""
    # Bodies are read whole (they become files); the limit lets a file just over the Files API
    # limit arrive so it can be refused with a useful message instead of a bare 413.
    limit = max(service.max_file_bytes, files.MAX_PART_BYTES) + files.MULTIPART_SLACK
    app = web.Application(middlewares=[front_door], client_max_size=limit)
    app[SERVICE] = service
    if exchanges is not None:
        app[EXCHANGES] = exchanges
    for module in modules if modules is not None else (files, jobs, models, chat):
        for route in module.routes():
            app.router.add_route(route.method, route.path, route.handler)
            # Azure OpenAI serves the same API under /openai (api-version in the query, key in
            # the api-key header), so the azure profile's code path can be tested here too.
            app.router.add_route(route.method, AZURE_PREFIX + route.path.removeprefix("/v1"), route.handler)
    # Azure puts the deployment (its name for the model) in the chat URL; the body keeps `model`.
    app.router.add_post(AZURE_PREFIX + "/deployments/{deployment}/chat/completions", chat_handler or chat.create_completion)
    return app


def api_path(path: str) -> str:
    """The service's /v1 path for a path of either flavour (Azure's /openai/... included)."""
    if path.startswith(AZURE_PREFIX + "/deployments/") and path.endswith("/chat/completions"):
        return "/v1/chat/completions"
    if path.startswith(AZURE_PREFIX + "/"):
        return "/v1" + path.removeprefix(AZURE_PREFIX)
    return path
