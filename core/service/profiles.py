"""Connection profiles: which server to talk to and with which credentials, and which one is active.

Profiles live in `config.toml` in the config dir, written 0600 in a 0700 folder:

    default_profile = "work"

    [profiles.work]
    kind = "openai"            # openai | azure | compatible | emulator
    api_key = "sk-..."         # optional: OPENAI_API_KEY is used when absent

    [profiles.lab]
    kind = "compatible"
    base_url = "http://gpu-box:8000/v1"

The environment overrides the file: `TUNEDECK_DEFAULT_PROFILE`, `TUNEDECK_PROFILES__WORK__API_KEY`
(pydantic-settings' nested names), and the SDK's own variables for profiles of the SDK's kind
(`OPENAI_API_KEY`, `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID` for openai; `AZURE_OPENAI_API_KEY`,
`AZURE_OPENAI_AD_TOKEN`, `AZURE_OPENAI_ENDPOINT`, `OPENAI_API_VERSION` for azure).

Keys are `SecretStr`: they print as `**********`, and `mask()` shows at most `sk-…abcd`.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from core import paths
from core.service.errors import ProfileError

Kind = Literal["openai", "azure", "compatible", "emulator"]
EMULATOR = "emulator"  # the built-in profile: always there, used when nothing else is set up


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    name: str = ""  # the key of its table in config.toml
    base_url: str | None = None  # compatible: required; openai: optional; emulator: an external one
    api_key: SecretStr | None = None
    organization: str | None = None
    project: str | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None
    azure_ad_token: SecretStr | None = None
    speed: float = 1.0  # the embedded emulator's clock factor

    @property
    def embedded(self) -> bool:
        """Is this the emulator TuneDeck starts by itself (rather than one at a base URL)?"""
        return self.kind == "emulator" and not self.base_url

    def describe(self) -> str:
        """One line for a header: which server, never a secret."""
        if self.kind == "emulator":
            if self.embedded:
                return "Emulator (built in, offline) — an imitation of the service; no real training"
            return f"Emulator at {self.base_url} — an imitation of the service; no real training"
        if self.kind == "azure":
            return f"Azure OpenAI {self.azure_endpoint or '(no endpoint)'} api {self.api_version or '?'}"
        if self.kind == "compatible":
            return f"Compatible server {self.base_url}"
        return f"OpenAI {self.base_url or 'https://api.openai.com/v1'}"

    @property
    def identity(self) -> str:
        """Which account on which server, without the secret: what local state is keyed by.

        Files and jobs belong to an account, so two profiles with the same server and key share
        uploads; the key enters only as a short one-way hash."""
        if self.embedded:
            return "emulator:embedded"
        secret = self.api_key or self.azure_ad_token
        account = hashlib.sha256(secret.get_secret_value().encode()).hexdigest()[:12] if secret else "-"
        where = self.azure_endpoint if self.kind == "azure" else self.base_url or "https://api.openai.com/v1"
        return f"{self.kind}:{where}:{self.organization or ''}:{self.project or ''}:{account}"

    def masked_key(self) -> str:
        secret = self.api_key or self.azure_ad_token
        return mask(secret.get_secret_value()) if secret else "(no key)"


def mask(secret: str) -> str:
    """At most the first three and last four characters: `sk-…abcd`."""
    if len(secret) < 12:
        return "…" if secret else ""
    return f"{secret[:3]}…{secret[-4:]}"


def config_path() -> Path:
    return paths.config_dir() / "config.toml"


class Settings(BaseSettings):
    """config.toml with the environment on top (TUNEDECK_ prefix, `__` for nesting)."""

    model_config = SettingsConfigDict(env_prefix="TUNEDECK_", env_nested_delimiter="__", extra="ignore")

    default_profile: str | None = None
    profiles: dict[str, Profile] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_path())


def load() -> Settings:
    """The profiles as configured (file + environment), each knowing its own name."""
    path = config_path()
    try:
        settings = Settings()
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path} is not valid TOML", str(exc)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProfileError(f"{path}: `{where}` is not valid", first["msg"]) from None
    for name, profile in settings.profiles.items():
        profile.name = name
    return settings


@dataclass(frozen=True)
class Active:
    """The profile in use and why it was chosen (shown to the user, so no guessing)."""

    profile: Profile
    source: str


def resolve(flag: str | None = None, *, environ: Mapping[str, str] | None = None, settings: Settings | None = None) -> Active:
    """Pick the profile: --profile, then TUNEDECK_PROFILE, then the SDK's environment
    (OPENAI_BASE_URL + OPENAI_API_KEY, or OPENAI_API_KEY, or Azure's), then the config's default,
    then the embedded emulator."""
    env = os.environ if environ is None else environ
    settings = settings if settings is not None else load()
    for name, source in ((flag, "--profile"), (env.get("TUNEDECK_PROFILE"), "TUNEDECK_PROFILE")):
        if name:
            return Active(with_environment(named(name, settings), env), source)
    on_the_fly = _from_sdk_environment(env)
    if on_the_fly is not None:
        return on_the_fly
    if settings.default_profile:
        return Active(with_environment(named(settings.default_profile, settings), env), "default_profile in config.toml")
    return Active(Profile(kind="emulator", name=EMULATOR), "no credentials configured: the built-in emulator")


def named(name: str, settings: Settings) -> Profile:
    if name in settings.profiles:
        return settings.profiles[name]
    if name == EMULATOR:
        return Profile(kind="emulator", name=EMULATOR)
    known = ", ".join(sorted({*settings.profiles, EMULATOR}))
    raise ProfileError(f"No profile named {name!r}", f"known profiles: {known}; add one under [profiles.{name}] in {config_path()}")


def _from_sdk_environment(env: Mapping[str, str]) -> Active | None:
    key = env.get("OPENAI_API_KEY")
    if env.get("OPENAI_BASE_URL") and key:
        profile = Profile(kind="compatible", name="environment", base_url=env["OPENAI_BASE_URL"], api_key=SecretStr(key))
        return Active(with_environment(profile, env), "OPENAI_BASE_URL and OPENAI_API_KEY")
    if key:
        return Active(with_environment(Profile(kind="openai", name="environment"), env), "OPENAI_API_KEY")
    if env.get("AZURE_OPENAI_ENDPOINT") and (env.get("AZURE_OPENAI_API_KEY") or env.get("AZURE_OPENAI_AD_TOKEN")):
        return Active(with_environment(Profile(kind="azure", name="environment"), env), "AZURE_OPENAI_ENDPOINT")
    return None


def with_environment(profile: Profile, env: Mapping[str, str]) -> Profile:
    """The profile with the SDK's variables of its kind applied: the environment wins."""
    update: dict = {}
    if profile.kind == "openai":
        update = {"api_key": env.get("OPENAI_API_KEY"), "organization": env.get("OPENAI_ORG_ID"), "project": env.get("OPENAI_PROJECT_ID")}
    elif profile.kind == "azure":
        update = {
            "api_key": env.get("AZURE_OPENAI_API_KEY"),
            "azure_ad_token": env.get("AZURE_OPENAI_AD_TOKEN"),
            "azure_endpoint": env.get("AZURE_OPENAI_ENDPOINT"),
            "api_version": env.get("OPENAI_API_VERSION"),
        }
    update = {k: (SecretStr(v) if k in ("api_key", "azure_ad_token") else v) for k, v in update.items() if v}
    return profile.model_copy(update=update) if update else profile


# Editing the file. These read and write the file alone, never the environment, so a key that
# came from the environment is not written to disk by saving an unrelated change.


def _read_file() -> dict:
    path = config_path()
    if not path.exists():
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path} is not valid TOML", str(exc)) from None


def _write_file(data: dict) -> None:
    path = config_path()
    path.parent.chmod(0o700)
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(tomli_w.dumps(data).encode())
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


def save_profile(profile: Profile) -> None:
    """Add or replace `profile` (by its name) in config.toml."""
    if not profile.name or profile.name == "environment":
        raise ProfileError("A profile needs a name", "letters, digits, - and _")
    data = _read_file()
    table = profile.model_dump(exclude={"name"}, exclude_none=True, exclude_defaults=True)
    table["kind"] = profile.kind
    for key in ("api_key", "azure_ad_token"):
        if key in table:
            table[key] = getattr(profile, key).get_secret_value()
    data.setdefault("profiles", {})[profile.name] = table
    _write_file(data)


def delete_profile(name: str) -> None:
    data = _read_file()
    if name not in data.get("profiles", {}):
        raise ProfileError(f"No profile named {name!r}", f"see {config_path()}")
    del data["profiles"][name]
    if data.get("default_profile") == name:
        del data["default_profile"]
    _write_file(data)


def set_default(name: str | None) -> None:
    data = _read_file()
    if name is None:
        data.pop("default_profile", None)
    else:
        named(name, load())  # refuse a name that does not exist
        data["default_profile"] = name
    _write_file(data)
