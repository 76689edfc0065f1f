"""The trainer's /chat/completions route: real generation, as JSON or as an SSE stream of the
tokens as they come, framed by the emulator's stream plumbing."""

from __future__ import annotations

import asyncio

from aiohttp import web

from core.emulator.chat import FINGERPRINT, _checked_messages, stream_chunks
from core.emulator.errors import invalid
from core.emulator.ids import new_id
from core.emulator.models import model_not_found
from core.emulator.service import service_of
from core.emulator.wire import json_response, read_json, string_field
from core.trainer.service import TrainerService

_DONE = object()


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise invalid(f"Invalid '{name}': expected a number between {low:g} and {high:g}.", name, "invalid_value")
    return float(value)


def _max_tokens(body: dict) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid("Invalid 'max_tokens': expected a positive integer.", "max_tokens", "invalid_value")
    return value


async def create_completion(request: web.Request) -> web.StreamResponse:
    service: TrainerService = service_of(request)
    body = await read_json(request)
    name = string_field(body, "model", required=True)
    messages = _checked_messages(body)
    temperature = _number(body, "temperature", 0, 2)
    top_p = _number(body, "top_p", 0, 1)
    max_tokens = _max_tokens(body)
    seed = body.get("seed") if isinstance(body.get("seed"), int) and not isinstance(body.get("seed"), bool) else None
    stream = body.get("stream") is True
    options = body.get("stream_options") or {}
    include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
    with service.store.reading() as data:
        found = service.adapter_for(data, name)
    if found is None:
        raise model_not_found(name)
    local, adapter, _ = found
    kwargs = dict(tools=body.get("tools"), max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)
    completion_id = new_id("chatcmpl-", 29)
    created = int(service.now())
    if not stream:
        answer = await asyncio.to_thread(service.generator.generate, local, adapter, messages, **kwargs)
        return json_response({
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": name,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }],
            "usage": _usage(answer),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        })

    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue = asyncio.Queue()
    result: list = []

    def run() -> None:
        try:
            result.append(service.generator.generate(
                local, adapter, messages, on_text=lambda text: loop.call_soon_threadsafe(pieces.put_nowait, text), **kwargs))
        except BaseException as exc:
            result.append(exc)
        finally:
            loop.call_soon_threadsafe(pieces.put_nowait, _DONE)

    async def texts():
        while (piece := await pieces.get()) is not _DONE:
            yield piece
        if isinstance(result[0], BaseException):
            raise result[0]

    worker = loop.run_in_executor(None, run)
    try:
        return await stream_chunks(request, completion_id, created, name, texts(),
                                   (lambda: _usage(result[0])) if include_usage else None,
                                   lambda: result[0].finish_reason)
    finally:
        await worker


def _usage(answer) -> dict:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def routes() -> list[web.RouteDef]:
    return [web.post("/v1/chat/completions", create_completion)]
