"""The /chat/completions route: JSON answers and SSE streams, from a tuned model's data or a base model's prose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import orjson
from aiohttp import web

from core.clock import SystemClock
from core.emulator import answers, models
from core.emulator.errors import invalid
from core.emulator.faults import REPLY_KINDS
from core.emulator.ids import new_id
from core.emulator.service import Service, service_of
from core.emulator.wire import STANDARD_HEADERS, STREAMED_BODY, json_response, json_type, read_json, string_field

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# Wall seconds between stream chunks at speed 1, so a demo on the real clock streams visibly; on a
# test's manual clock chunks go out at once.
CHUNK_SECONDS = 0.015
FINGERPRINT = "fp_tunedeck"
# Structured outputs (response_format json_schema) came with gpt-4o-2024-08-06 and gpt-4o-mini;
# the gpt-3.5-turbo snapshots (and models tuned from them) take json_object only, and the service
# refuses a schema for them with a 400 naming response_format. Clients fall back on that.
NO_STRUCTURED_OUTPUTS = frozenset({"gpt-3.5-turbo-0125", "gpt-3.5-turbo-1106", "gpt-3.5-turbo-0613"})


def _checked_messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if messages is None:
        raise invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise invalid("Invalid 'messages': expected a non-empty array of messages.", "messages", "invalid_value")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"Invalid type for 'messages[{index}]': expected an object, but got {json_type(message)} instead.",
                          f"messages[{index}]", "invalid_type")
        role = message.get("role")
        if role not in ROLES:
            raise invalid(f"Invalid value: {role!r}. Supported values are: {', '.join(repr(r) for r in ROLES)}.",
                          f"messages[{index}].role", "invalid_value")
    return messages


def _usage(messages: list[dict], text: str, encoding: str) -> dict:
    counted = answers.usage(messages, text, encoding_name=encoding)
    return {
        **counted,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


async def create_completion(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    body = await read_json(request)
    name = string_field(body, "model", required=True)
    messages = _checked_messages(body)
    response_format = body.get("response_format")
    if response_format is not None and not isinstance(response_format, dict):
        raise invalid("Invalid type for 'response_format': expected an object.", "response_format", "invalid_type")
    seed = body.get("seed")
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
    stream = body.get("stream") is True
    options = body.get("stream_options") or {}
    include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        known = models.find(service, data, name, now)
        examples = service.plan(known.job).examples if known.job is not None else None
    if response_format and response_format.get("type") == "json_schema" and known.base.name in NO_STRUCTURED_OUTPUTS:
        raise invalid(
            "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model. "
            "Learn more about supported models at the Structured Outputs guide: "
            "https://platform.openai.com/docs/guides/structured-outputs",
            "response_format",
        )
    malformed = bool(service.faults.hits(request.method, request.path, REPLY_KINDS))
    text = await asyncio.to_thread(
        answers.reply, messages, examples=examples, response_format=response_format, seed=seed, malformed=malformed
    )
    usage = await asyncio.to_thread(_usage, messages, text, known.base.encoding)
    completion_id = new_id("chatcmpl-", 29)
    created = int(now)
    # The service names the snapshot that answered: "gpt-4o-mini" is answered by gpt-4o-mini-2024-07-18.
    answered_by = known.id if known.job is not None else known.base.name
    if not stream:
        return json_response({
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": answered_by,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        })
    return await _stream(request, service, completion_id, created, answered_by, text, usage if include_usage else None)


async def _stream(request: web.Request, service: Service, completion_id: str, created: int, model: str,
                  text: str, usage: dict | None) -> web.StreamResponse:
    pace = CHUNK_SECONDS / service.speed if isinstance(service.clock, SystemClock) else 0.0

    async def pieces():
        for piece in answers.chunks(text):
            if pace:
                await asyncio.sleep(pace)
            yield piece

    return await stream_chunks(request, completion_id, created, model, pieces(), (lambda: usage) if usage is not None else None)


async def stream_chunks(request: web.Request, completion_id: str, created: int, model: str,
                        pieces: AsyncIterator[str], usage: Callable[[], dict] | None = None,
                        finish_reason: Callable[[], str] = lambda: "stop") -> web.StreamResponse:
    """An SSE chat stream of `pieces` as the service frames it (role chunk, content chunks, finish,
    usage when asked for, [DONE]); the trainer streams real generated tokens through it too.
    `usage` and `finish_reason` are called once every piece is sent."""
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        **request.get(STANDARD_HEADERS, {}),
    })
    await response.prepare(request)
    sent: list[bytes] = []  # the whole stream, for the recorder

    def chunk(choices: list[dict], **extra) -> dict:
        return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "service_tier": "default", "system_fingerprint": FINGERPRINT, "choices": choices, **extra}

    async def send(payload: bytes) -> None:
        frame = b"data: " + payload + b"\n\n"
        sent.append(frame)
        await response.write(frame)

    try:
        await send(orjson.dumps(chunk([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None},
                                        "finish_reason": None}])))
        async for piece in pieces:
            await send(orjson.dumps(chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])))
        await send(orjson.dumps(chunk([{"index": 0, "delta": {}, "finish_reason": finish_reason()}])))
        if usage is not None:
            await send(orjson.dumps(chunk([], usage=usage())))
        await send(b"[DONE]")
        await response.write_eof()
    finally:
        request[STREAMED_BODY] = b"".join(sent)
    return response


def routes() -> list[web.RouteDef]:
    return [web.post("/v1/chat/completions", create_completion)]


