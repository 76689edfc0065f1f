"""Is a profile usable? One connection check that says, for a person, what is wrong when it is not.

`check(profile)` connects, lists the models, then lists fine-tuning jobs (the call a key without
fine-tuning rights is refused), without retries and with a short timeout, so a wrong URL fails in
seconds. A failure is sorted into what the user can fix: the key, the URL, the permission, the
Azure api version, or the server itself. The key never appears in the answer, even when the
server quotes it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal

import openai

from core.service.client import connect
from core.service.errors import ProfileError, ServiceError, translate
from core.service.profiles import Profile, mask

TIMEOUT = 10.0

Problem = Literal["ok", "profile", "bad-key", "unreachable", "wrong-url", "no-permission", "no-fine-tuning", "api-version", "server"]


@dataclass(frozen=True)
class Health:
    problem: Problem
    title: str
    hint: str = ""
    server: str = ""  # the URL asked, never a key
    models: int = 0
    status: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem == "ok"


def _scrub(text: str, profile: Profile) -> str:
    """Servers sometimes echo the key they were given; show it masked at most."""
    for secret in (profile.api_key, profile.azure_ad_token):
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), mask(secret.get_secret_value()))
    return text


def _mentions_api_version(text: str) -> bool:
    lowered = text.lower()
    return "api-version" in lowered or "api version" in lowered or "apiversion" in lowered


def explain(exc: BaseException, profile: Profile, *, server: str, step: str) -> Health:
    """The Health for a failure of `step` ("models" or "fine-tuning") against `server`."""
    error = translate(exc, base_url=server)
    status = error.status
    message = error.hint or error.title
    if isinstance(exc, openai.APIStatusError):
        message = str(exc.message)
    azure = profile.kind == "azure"
    if isinstance(error, ProfileError):
        return Health("profile", error.title, error.hint, server)
    if isinstance(exc, openai.APIConnectionError):  # refused, DNS, TLS, timeout
        what = "did not answer in time" if isinstance(exc, openai.APITimeoutError) else "could not be reached"
        return Health(
            "unreachable",
            f"{server} {what}",
            "check the URL (host, port, http/https) and that the server is running; "
            + ("the Azure endpoint looks like https://NAME.openai.azure.com" if azure else "an OpenAI-compatible base URL usually ends in /v1"),
            server,
        )
    if status == 401:
        return Health("bad-key", "The API key was refused", f"the server said: {message} — paste the key again or create a new one", server, status=status)
    if status == 403:
        if step == "fine-tuning":
            return Health(
                "no-fine-tuning",
                "This key may not use fine-tuning",
                f"the server said: {message} — give the key (or its project) fine-tuning rights, or use another key",
                server,
                status=status,
            )
        return Health("no-permission", "The key is not allowed to list models", f"the server said: {message} — check the key's permissions", server, status=status)
    if status in (400, 404) and (azure and status == 404 or _mentions_api_version(message)):
        return Health(
            "api-version",
            "The Azure api version is not accepted here",
            f"the server said: {message} — use a newer api_version (fine-tuning needs e.g. 2024-10-21 or later), "
            "and check the endpoint is the resource's own",
            server,
            status=status,
        )
    if status == 404 or status == 405:
        where = "/models" if step == "models" else "/fine_tuning/jobs"
        return Health(
            "wrong-url",
            f"{server}{where} does not exist",
            f"the server said: {message} — the base URL is probably wrong; an OpenAI-compatible one usually ends in /v1",
            server,
            status=status,
        )
    if isinstance(error, ServiceError) and error.transient:
        return Health("server", error.title, error.hint, server, status=status)
    return Health("server", error.title, error.hint, server, status=status)


async def check(profile: Profile, *, timeout: float = TIMEOUT) -> Health:
    """Connect with `profile` and try the two calls a fine-tuning session needs first."""
    started = time.monotonic()
    server = profile.base_url or profile.azure_endpoint or ""
    step = "models"
    try:
        async with connect(profile) as conn:
            server = conn.base_url
            client = conn.once.with_options(timeout=timeout)
            page = await client.models.list()
            models = len(page.data)
            step = "fine-tuning"
            await client.fine_tuning.jobs.list(limit=1)
    except (openai.OpenAIError, ServiceError, asyncio.TimeoutError) as exc:
        health = explain(exc, profile, server=server, step=step)
        return Health(
            health.problem, _scrub(health.title, profile), _scrub(health.hint, profile), health.server, status=health.status,
            seconds=time.monotonic() - started,
        )  # fmt: skip
    offline = " (the emulator: an imitation, no real training)" if profile.kind == "emulator" else ""
    return Health(
        "ok",
        f"Connected to {server}{offline}",
        f"{models} model{'s' if models != 1 else ''} listed; fine-tuning jobs can be listed",
        server,
        models=models,
        seconds=time.monotonic() - started,
    )
