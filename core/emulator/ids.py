"""Identifiers shaped like the service's: random ones for new objects, derived ones for stable children."""

from __future__ import annotations

import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """A fresh id such as `file-3kQ…` or `ftjob-Zr8…`; the prefix carries its own separator."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def derived_id(prefix: str, *parts: object, length: int = 24) -> str:
    """The same id every time for the same parts, in every process.

    Events, checkpoints and result files are recomputed from a job on each request; deriving their
    ids from the job id keeps a watcher's de-duplication by id working across polls and restarts.
    """
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return prefix + "".join(chars)


def mask_key(key: str) -> str:
    """`sk-…abcd`: enough for a person to recognise their key, never the key itself."""
    prefix = "sk-" if key.startswith("sk-") else ""
    if len(key) < 12:  # too short to show any of it without showing most of it
        return f"{prefix}…"
    return f"{prefix}…{key[-4:]}"
