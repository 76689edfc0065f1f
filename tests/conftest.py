"""Shared fixtures: every test runs with TuneDeck's folders under its own tmp_path."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

# Times on screen (a job's events) are local times: one zone for every machine the tests run on.
os.environ["TZ"] = "UTC"
time.tzset()

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


# Credentials and choices a developer's shell may hold; tests start without any of them.
SDK_ENVIRONMENT = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "AZURE_OPENAI_ENDPOINT",
    "TUNEDECK_PROFILE",
    "TUNEDECK_DEFAULT_PROFILE",
)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Never read or write the real user's config, data or state, nor use their credentials."""
    for name in ("CONFIG", "DATA", "STATE"):
        folder = tmp_path / f"tunedeck-{name.lower()}"
        monkeypatch.setenv(f"TUNEDECK_{name}_DIR", str(folder))
    for name in SDK_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def write_lines(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
