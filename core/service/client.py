"""A live connection for one profile: the SDK client, and the embedded emulator when that is the server.

    async with connect(resolve().profile) as conn:
        await conn.client.models.list()

`conn.client` retries idempotent calls (the SDK's own back-off, honouring retry-after);
`conn.once` never retries, for calls that must not be repeated blindly (creating a paid job) and
for loops that retry by themselves and report it (the watcher).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import openai

from core import paths
from core.service.errors import ProfileError
from core.service.profiles import Profile

RETRIES = 2
TIMEOUT = 60.0
EMULATOR_KEY = "tunedeck-emulator"  # the embedded emulator accepts any key; this one says what it is


@dataclass
class Connection:
    profile: Profile
    client: openai.AsyncOpenAI
    emulator: object | None = None  # core.emulator.Emulator when embedded
    once: openai.AsyncOpenAI = field(init=False)

    def __post_init__(self) -> None:
        self.once = self.client.with_options(max_retries=0)

    @property
    def base_url(self) -> str:
        return str(self.client.base_url).rstrip("/")

    @property
    def offline(self) -> bool:
        """True when the server is the emulator: say so on every screen."""
        return self.profile.kind == "emulator"


def make_client(profile: Profile, *, base_url: str | None = None, max_retries: int = RETRIES) -> openai.AsyncOpenAI:
    """The SDK client for a profile (an emulator profile needs `base_url` of a running one)."""
    secret = profile.api_key.get_secret_value() if profile.api_key else None
    if profile.kind == "azure":
        if not profile.azure_endpoint or not profile.api_version:
            raise ProfileError(
                f"Profile {profile.name!r} needs azure_endpoint and api_version",
                "set them in config.toml or AZURE_OPENAI_ENDPOINT / OPENAI_API_VERSION",
            )
        token = profile.azure_ad_token.get_secret_value() if profile.azure_ad_token else None
        if not secret and not token:
            raise ProfileError(f"Profile {profile.name!r} has no key", "set api_key, azure_ad_token, or AZURE_OPENAI_API_KEY")
        return openai.AsyncAzureOpenAI(
            azure_endpoint=profile.azure_endpoint,
            api_version=profile.api_version,
            api_key=None if token else secret,
            azure_ad_token=token,
            max_retries=max_retries,
            timeout=TIMEOUT,
        )
    if profile.kind == "emulator":
        url = base_url or profile.base_url
        return openai.AsyncOpenAI(base_url=url, api_key=secret or EMULATOR_KEY, max_retries=max_retries, timeout=TIMEOUT)
    if profile.kind == "compatible":
        if not profile.base_url:
            raise ProfileError(f"Profile {profile.name!r} needs a base_url", "for example http://localhost:8000/v1")
        # Many self-hosted servers need no key, but the SDK insists on one.
        return openai.AsyncOpenAI(base_url=profile.base_url, api_key=secret or "no-key", max_retries=max_retries, timeout=TIMEOUT)
    if not secret:
        raise ProfileError(f"Profile {profile.name!r} has no API key", "set OPENAI_API_KEY or api_key in config.toml")
    return openai.AsyncOpenAI(
        api_key=secret,
        organization=profile.organization,
        project=profile.project,
        base_url=profile.base_url,
        max_retries=max_retries,
        timeout=TIMEOUT,
    )


def start_embedded_emulator(profile: Profile, state_dir: Path | None = None):
    """Start the built-in emulator for this process; its jobs persist in the data dir."""
    from core.emulator import Emulator  # only when used: the remote profiles never need it

    folder = state_dir if state_dir is not None else paths.data_dir() / "emulator"
    return Emulator(state_dir=folder, speed=profile.speed).start()


@asynccontextmanager
async def connect(profile: Profile, *, emulator_state: Path | None = None):
    """A Connection for `profile`, closed (and its embedded emulator stopped) on exit."""
    emulator = start_embedded_emulator(profile, emulator_state) if profile.embedded else None
    try:
        client = make_client(profile, base_url=emulator.base_url if emulator else None)
        conn = Connection(profile, client, emulator)
        try:
            yield conn
        finally:
            await client.close()
    finally:
        if emulator is not None:
            emulator.stop()
