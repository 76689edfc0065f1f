"""Where TuneDeck keeps its config, data and state on this machine."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "tunedeck"

# Each folder can be moved by an environment variable, which is how tests and CI keep a
# machine's real config out of the way (and how a user points TuneDeck at a shared disk).
_ENV = {
    "config": "TUNEDECK_CONFIG_DIR",
    "data": "TUNEDECK_DATA_DIR",
    "state": "TUNEDECK_STATE_DIR",
}


def _dir(kind: str, default: str) -> Path:
    path = Path(os.environ.get(_ENV[kind]) or default)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def config_dir() -> Path:
    """Profiles and settings (a TOML file written 0600)."""
    return _dir("config", platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    """Local state that must survive: the provenance database, the emulator's state."""
    return _dir("data", platformdirs.user_data_dir(APP))


def state_dir() -> Path:
    """Logs and the journals of unsaved edits."""
    return _dir("state", platformdirs.user_state_dir(APP))
