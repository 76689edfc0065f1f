"""What TuneDeck knows about each fine-tunable base model: limits, tokenizer, training price.

Dated table. Sources (checked 2026-11-25 against the last published versions):
- OpenAI fine-tuning guide, "Which models can be fine-tuned?" and "Token limits"
  (platform.openai.com/docs/guides/fine-tuning): 65,536 training tokens per example for the
  gpt-4o / gpt-4.1 families, 16,385 for gpt-3.5-turbo-0125/1106, 4,096 for gpt-3.5-turbo-0613.
- OpenAI pricing page, "Fine-tuning" (openai.com/api/pricing): training price per 1M tokens.
- DPO guide (platform.openai.com/docs/guides/direct-preference-optimization): DPO is offered on
  gpt-4o-2024-08-06, gpt-4o-mini-2024-07-18 and the gpt-4.1 family.
- Vision fine-tuning guide: images in training examples for gpt-4o-2024-08-06 and gpt-4.1;
  at most 64 images per example.
Prices change; a user overrides them with a TOML file (see `load_price_overrides`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

PRICES_AS_OF = "2026-11-25"
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
MAX_IMAGES_PER_EXAMPLE = 64
MIN_EXAMPLES = 10


@dataclass(frozen=True)
class BaseModel:
    name: str
    token_limit: int  # training tokens per example
    encoding: str  # tiktoken encoding name
    training_price_per_million: float  # USD per 1M training tokens
    fine_tunable: bool = True
    dpo: bool = False
    images: bool = False


MODELS: dict[str, BaseModel] = {
    m.name: m
    for m in (
        BaseModel("gpt-4.1-2025-04-14", 65_536, "o200k_base", 25.00, dpo=True, images=True),
        BaseModel("gpt-4.1-mini-2025-04-14", 65_536, "o200k_base", 5.00, dpo=True),
        BaseModel("gpt-4.1-nano-2025-04-14", 65_536, "o200k_base", 1.50, dpo=True),
        BaseModel("gpt-4o-2024-08-06", 65_536, "o200k_base", 25.00, dpo=True, images=True),
        BaseModel("gpt-4o-mini-2024-07-18", 65_536, "o200k_base", 3.00, dpo=True),
        BaseModel("gpt-3.5-turbo-0125", 16_385, "cl100k_base", 8.00),
        BaseModel("gpt-3.5-turbo-1106", 16_385, "cl100k_base", 8.00),
        BaseModel("gpt-3.5-turbo-0613", 4_096, "cl100k_base", 8.00),
    )
}

# Aliases the service resolves to a dated snapshot.
ALIASES = {
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}


def base_of(model: str) -> str | None:
    """The base model of a tuned model or checkpoint (`ft:BASE:org:suffix:id[:ckpt-step-N]`);
    None for a model that is not a tuned one."""
    parts = model.split(":")
    return parts[1] if model.startswith("ft:") and len(parts) > 1 and parts[1] else None


def unlisted(name: str) -> BaseModel:
    """A model this table does not know — a self-hosted trainer's or another compatible server's:
    tokens counted with o200k_base; its token limit, price and DPO support are the server's to
    enforce (the limit here is the largest the service knows, so nothing is flagged wrongly)."""
    return BaseModel(name, 65_536, "o200k_base", 0.0, dpo=True)


class UnknownModel(ValueError):
    pass


def lookup(name: str | None, overrides: dict[str, float] | None = None) -> BaseModel:
    """The table entry for `name` (an alias, a snapshot, or a tuned model `ft:BASE:...`).

    Unknown models raise `UnknownModel` naming the known ones, so a typo is caught before any
    counts are shown with the wrong tokenizer.
    """
    name = base_of(name or DEFAULT_MODEL) or name or DEFAULT_MODEL  # a tuned model: its base decides
    model = MODELS.get(ALIASES.get(name, name))
    if model is None:
        known = ", ".join(sorted(MODELS))
        raise UnknownModel(f"unknown model {name!r}; known models: {known}")
    if overrides and model.name in overrides:
        model = replace(model, training_price_per_million=overrides[model.name])
    return model


def load_price_overrides(path: Path) -> dict[str, float]:
    """Read `[prices]` from a TOML file: `"gpt-4o-mini-2024-07-18" = 3.0` (USD per 1M tokens)."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    prices = data.get("prices", {})
    return {str(k): float(v) for k, v in prices.items()}
