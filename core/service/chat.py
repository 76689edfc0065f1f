"""Streaming chat completions, cancellable, with usage when the server reports it.

    async for piece in stream_chat(conn, model, messages):
        if isinstance(piece, Delta): reply.append(piece.text)
        else: usage = piece.usage         # Done: finish reason and usage

Cancelling the consuming task (Escape in the playground) closes the HTTP stream at once; the
text received so far stays with the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.service.client import Connection
from core.service.errors import translate


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Done:
    finish_reason: str | None
    usage: Usage | None  # None when the server does not say


async def stream_chat(conn: Connection, model: str, messages: list[dict], **params) -> AsyncIterator[Delta | Done]:
    """Stream the reply to `messages`; `params` go to the API (temperature, response_format…)."""
    try:
        stream = await conn.client.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}, **params
        )
    except Exception as exc:
        raise translate(exc, base_url=conn.base_url) from exc
    finish_reason = None
    usage = None
    try:
        async for chunk in stream:
            if chunk.usage is not None:
                usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    yield Delta(choice.delta.content)
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
    except Exception as exc:
        raise translate(exc, base_url=conn.base_url) from exc
    finally:
        await stream.close()  # on cancel too: stop the server generating for nobody
    yield Done(finish_reason, usage)


async def complete(conn: Connection, model: str, messages: list[dict], **params) -> tuple[str, Done]:
    """The whole reply at once (evaluation, synthetic data)."""
    try:
        response = await conn.client.chat.completions.create(model=model, messages=messages, **params)
    except Exception as exc:
        raise translate(exc, base_url=conn.base_url) from exc
    choice = response.choices[0] if response.choices else None
    usage = Usage(response.usage.prompt_tokens, response.usage.completion_tokens) if response.usage else None
    return (choice.message.content or "" if choice else ""), Done(choice.finish_reason if choice else None, usage)
