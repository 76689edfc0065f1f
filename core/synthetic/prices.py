"""Inference prices per model (USD per 1M input and output tokens), dated, for cost estimates.

Source: OpenAI's pricing page, standard tier (not batch, not cached input), as last read on the
date below; prices change, and other servers (Azure, self-hosted) price differently or not at
all. This table is for estimates shown while generating, never for billing.

Tuned models (`ft:BASE:…`) are priced here as their base model. The service actually charges
more for a tuned model's inference (for gpt-4o-mini about twice the base price), so an estimate
for a tuned generator is low.
"""

from __future__ import annotations

PRICES_AS_OF = "2025-08-07"

# Families, longest name first where one is the prefix of another; a dated snapshot
# ("gpt-4.1-mini-2025-04-14") is priced as its family unless listed on its own.
_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5": (1.25, 10.00),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "gpt-3.5-turbo-1106": (1.00, 2.00),
    "gpt-3.5-turbo-0613": (1.50, 2.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}
_BY_LENGTH = sorted(_PRICES, key=len, reverse=True)


def inference_price(model: str) -> tuple[float, float] | None:
    """USD per 1M (input, output) tokens for `model`, or None when the table does not know it."""
    name = model.strip()
    if name.startswith("ft:"):  # ft:BASE:org:suffix:id, or a checkpoint of one
        name = name.split(":")[1]
    for family in _BY_LENGTH:
        if name == family or name.startswith(family + "-"):
            return _PRICES[family]
    return None


def cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The estimated USD cost of these tokens on `model`; None when its price is unknown."""
    price = inference_price(model)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
