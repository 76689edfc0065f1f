"""Shared fixtures: every test runs with TuneDeck's folders under its own tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Never read or write the real user's config, data or state."""
    for name in ("CONFIG", "DATA", "STATE"):
        folder = tmp_path / f"tunedeck-{name.lower()}"
        monkeypatch.setenv(f"TUNEDECK_{name}_DIR", str(folder))
    return tmp_path


def write_lines(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
