"""The models config: which local Hugging Face model folders the trainer serves, by name.

    # models.toml
    [models.tiny-chat]
    path = "/models/tiny-chat"      # a folder with config.json, weights, tokenizer.json, a chat template
    max_length = 2048               # optional: tokens per training example (longer ones are cut)

    [models]
    qwen-small = "/models/qwen2.5-0.5b-instruct"   # short form: name = path

A relative path is read from the config file's folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_LENGTH = 2048


class ConfigError(ValueError):
    """The models config cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class LocalModel:
    name: str
    path: Path
    max_length: int = DEFAULT_MAX_LENGTH


def load(path: Path) -> dict[str, LocalModel]:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the models config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the models config {path} is not valid TOML: {exc}") from None
    entries = raw.get("models")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"the models config {path} lists no models (expected a [models] table)")
    models = {}
    for name, entry in entries.items():
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ConfigError(f"{path}: model {name!r} needs a path (a local Hugging Face model folder)")
        if name.startswith("ft:") or ":" in name:
            raise ConfigError(f"{path}: model name {name!r} may not contain ':' (it is kept for tuned model names)")
        folder = Path(entry["path"]).expanduser()
        if not folder.is_absolute():
            folder = Path(path).resolve().parent / folder
        if not (folder / "config.json").is_file():
            raise ConfigError(f"{path}: model {name!r}: {folder} is not a Hugging Face model folder (no config.json)")
        max_length = entry.get("max_length", DEFAULT_MAX_LENGTH)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 8:
            raise ConfigError(f"{path}: model {name!r}: max_length must be an integer of at least 8")
        models[name] = LocalModel(name, folder, max_length)
    return models
