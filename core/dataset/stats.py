"""Numbers about a dataset: distributions, the default-epochs rule, billed tokens and cost."""

from __future__ import annotations

from array import array
from collections import Counter as Tally
from dataclasses import dataclass

from core.dataset.base_models import PRICES_AS_OF, BaseModel
from core.dataset.validate import Columns, Report

# The service's default epochs (OpenAI cookbook, "Data preparation and analysis for chat model
# fine-tuning"): 3 epochs, raised so that small files see at least 100 examples in training
# (at most 25 epochs), lowered so that big files see at most 25,000.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25

# The other defaults are not published; these are what jobs report when left on auto (batch 1
# for small files, about 0.2 % of the examples for large ones, at most 256; learning-rate
# multiplier 1.8; DPO beta 0.1). The emulator uses them too; the launch screen shows them as
# what the service is likely to pick, never as a promise.
DEFAULT_LR_MULTIPLIER = 1.8
DEFAULT_BETA = 0.1


def default_batch_size(n_examples: int) -> int:
    return max(1, min(256, n_examples // 500))


def default_epochs(n_examples: int) -> int:
    """Epochs the service picks for `n_epochs: auto` on a file of `n_examples` examples."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    epochs = TARGET_EPOCHS
    if n_examples * epochs < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    elif n_examples * epochs > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return epochs


@dataclass(frozen=True)
class Distribution:
    min: int
    mean: float
    p50: int
    p90: int
    max: int
    total: int

    @classmethod
    def of(cls, values) -> Distribution:
        # Counted, not sorted: a file repeats a few thousand distinct values however many
        # examples it has, and a sorted list of a million ints would cost some 36 MB.
        counts = sorted(Tally(values).items())
        if not counts:
            return cls(0, 0.0, 0, 0, 0, 0)
        n = sum(c for _, c in counts)
        total = sum(v * c for v, c in counts)
        return cls(counts[0][0], total / n, _nth(counts, (n - 1) // 2), _nth(counts, min(n - 1, (9 * n) // 10)), counts[-1][0], total)

    def to_json(self) -> dict:
        return {"min": self.min, "mean": round(self.mean, 2), "p50": self.p50, "p90": self.p90, "max": self.max, "total": self.total}


def _nth(counts: list[tuple[int, int]], rank: int) -> int:
    """The value at 0-based `rank` in sorted order, from sorted (value, count) pairs."""
    seen = 0
    for value, count in counts:
        seen += count
        if rank < seen:
            return value
    raise IndexError(rank)


@dataclass(frozen=True)
class Stats:
    model: BaseModel
    examples: int  # valid examples (what the service trains on)
    records: int
    messages: Distribution
    tokens: Distribution
    tokens_by_role: dict[str, Distribution]
    over_limit: int
    epochs: int
    epochs_is_default: bool
    billed_tokens: int  # tokens charged for training: epochs × Σ min(tokens, limit)
    cost_usd: float

    def to_json(self) -> dict:
        return {
            "model": self.model.name,
            "records": self.records,
            "examples": self.examples,
            "messages_per_example": self.messages.to_json(),
            "tokens_per_example": self.tokens.to_json(),
            "tokens_per_role": {role: d.to_json() for role, d in self.tokens_by_role.items()},
            "over_token_limit": self.over_limit,
            "token_limit": self.model.token_limit,
            "epochs": self.epochs,
            "epochs_is_default": self.epochs_is_default,
            "billed_tokens": self.billed_tokens,
            "price_per_million_usd": self.model.training_price_per_million,
            "prices_as_of": PRICES_AS_OF,
            "estimated_cost_usd": round(self.cost_usd, 4),
        }


def valid_records(columns: Columns) -> list[int]:
    """Indexes of the records with no error (warnings do not stop the service training on them)."""
    bad = columns.invalid()
    return [k for k in range(len(columns)) if k not in bad]


def training_bill(tokens, model: BaseModel, epochs: int) -> tuple[int, float]:
    """(billed tokens, USD) for training on examples of these token counts for `epochs`.

    Billed tokens = epochs × Σ min(tokens, limit): the service truncates longer examples.
    """
    limit = model.token_limit
    if isinstance(tokens, array | list) and max(tokens, default=0) <= limit:
        billed = epochs * sum(tokens)  # nothing to truncate: summed in C, not one `min` per example
    else:
        billed = epochs * sum(min(t, limit) for t in tokens)
    return billed, billed * model.training_price_per_million / 1_000_000


def valid_numbers(columns: Columns, numbers: array, bad: set[int] | None = None) -> array:
    """One column's numbers for the records with no error (the column itself when all are valid).

    An array, not a list: a list of a million ints costs ten times as much memory."""
    bad = columns.invalid() if bad is None else bad
    if not bad:
        return numbers
    return array(numbers.typecode, (v for k, v in enumerate(numbers) if k not in bad))


def compute(report: Report, epochs: int | None = None) -> Stats:
    """Stats over the valid examples of a validated dataset."""
    columns, model = report.columns, report.model
    bad = columns.invalid()
    examples = len(columns) - len(bad)
    tokens = valid_numbers(columns, columns.tokens, bad)
    n_epochs = epochs if epochs is not None else default_epochs(examples)
    billed, cost = training_bill(tokens, model, n_epochs)
    return Stats(
        model=model,
        examples=examples,
        records=report.records,
        messages=Distribution.of(valid_numbers(columns, columns.messages, bad)),
        tokens=Distribution.of(tokens),
        tokens_by_role={
            "system": Distribution.of(valid_numbers(columns, columns.system_tokens, bad)),
            "user": Distribution.of(valid_numbers(columns, columns.user_tokens, bad)),
            "assistant": Distribution.of(valid_numbers(columns, columns.assistant_tokens, bad)),
        },
        over_limit=sum(1 for t in columns.tokens if t > model.token_limit),
        epochs=n_epochs,
        epochs_is_default=epochs is None,
        billed_tokens=billed,
        cost_usd=cost,
    )
