"""Editing one profile as a person fills a form: blanks mean "not set", a blank key keeps the old one.

Edits start from the profile as written in config.toml alone (`stored`), never from the
environment's version of it, so saving a form never writes a key that came from the environment.
"""

from __future__ import annotations

import re

from pydantic import SecretStr, ValidationError

from core.service import profiles
from core.service.errors import ProfileError
from core.service.profiles import Profile

NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
FIELDS = ("base_url", "azure_endpoint", "api_version", "organization", "project")

# Which fields a kind uses (the others are kept but ignored by the client).
USED = {
    "openai": ("base_url", "organization", "project", "api_key"),
    "azure": ("azure_endpoint", "api_version", "api_key"),
    "compatible": ("base_url", "api_key"),
    "emulator": ("base_url", "api_key"),
}
REQUIRED = {"azure": ("azure_endpoint", "api_version"), "compatible": ("base_url",)}


def stored(name: str) -> Profile | None:
    """The profile `name` as config.toml has it (no environment on top), or None."""
    table = profiles._read_file().get("profiles", {}).get(name)
    if table is None:
        return None
    try:
        return Profile(**table, name=name)
    except ValidationError as exc:
        raise ProfileError(f"profiles.{name} in {profiles.config_path()} is not valid", exc.errors()[0]["msg"]) from None


def edited(base: Profile | None, *, kind: str, name: str, key: str = "", **fields: str) -> Profile:
    """The profile the form describes. `base` is the stored one being edited (None: a new one);
    an empty `key` keeps its key. Raises ProfileError saying which field is wrong."""
    name = name.strip()
    if not NAME.match(name) or name in ("environment", profiles.EMULATOR):
        raise ProfileError(f"{name!r} cannot be a profile name" if name else "A profile needs a name", "letters, digits, - and _ (not 'emulator' or 'environment')")
    if base is None and stored(name) is not None:
        raise ProfileError(f"A profile named {name!r} already exists", "choose another name, or edit that one")
    values = {f: (fields.get(f) or "").strip() or None for f in FIELDS}
    missing = [f for f in REQUIRED.get(kind, ()) if not values[f]]
    if missing:
        raise ProfileError(f"A {kind} profile needs {' and '.join(missing)}", "for example https://NAME.openai.azure.com and 2024-10-21" if kind == "azure" else "for example http://localhost:8000/v1")
    secret = SecretStr(key.strip()) if key.strip() else base.api_key if base is not None else None
    extra = {"azure_ad_token": base.azure_ad_token, "speed": base.speed} if base is not None else {}
    try:
        return Profile(kind=kind, name=name, api_key=secret, **values, **extra)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ProfileError(f"`{'.'.join(map(str, first['loc']))}` is not valid", first["msg"]) from None
