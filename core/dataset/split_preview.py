"""What a split would produce, before it is written: both sides' numbers and what to worry about.

`preview()` runs `split.plan()` and judges the result: a validation side too small to say
anything, a system prompt seen on one side only, duplicates, records left out, examples over the
token limit, a side too small to train on. The split screen renders this; it decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from core.dataset import split as splitting
from core.dataset.base_models import MIN_EXAMPLES
from core.dataset.stats import Distribution
from core.dataset.store import Dataset
from core.dataset.validate import Report

# Validation loss is a mean over the validation examples; below this many it moves with every
# single example and says little about over-fitting.
MIN_VALIDATION_EXAMPLES = 10
SHOWN_LINES = 8

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Note:
    severity: Severity  # an "error" means the split cannot be written (or would be refused)
    code: str
    message: str


@dataclass(frozen=True)
class SideNumbers:
    examples: int
    tokens: Distribution  # tokens per example
    over_limit: int  # examples the service would truncate


@dataclass(frozen=True)
class SplitPreview:
    plan: splitting.SplitPlan
    train: SideNumbers
    validation: SideNumbers
    token_limit: int
    model: str
    notes: list[Note] = field(default_factory=list)

    @property
    def writable(self) -> bool:
        return not any(n.severity == "error" for n in self.notes)


def _lines(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:SHOWN_LINES]))
    return shown + (" …" if len(lines) > SHOWN_LINES else "")


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def preview(
    ds: Dataset,
    report: Report,
    *,
    ratio: float = splitting.DEFAULT_RATIO,
    seed: int = splitting.DEFAULT_SEED,
    shuffle: bool = True,
    dedupe: bool = False,
    max_validation: int | None = None,
) -> SplitPreview:
    """The split these options give, with its numbers and notes (raises `SplitError` on bad options)."""
    plan = splitting.plan(ds, report, ratio=ratio, seed=seed, shuffle=shuffle, dedupe=dedupe, max_validation=max_validation)
    columns, model = report.columns, report.model
    limit = model.token_limit

    def numbers(side: splitting.Side) -> SideNumbers:
        tokens = [columns.tokens[k] for k in side.records]
        return SideNumbers(len(tokens), Distribution.of(tokens), sum(1 for t in tokens if t > limit))

    train, validation = numbers(plan.train), numbers(plan.validation)
    notes: list[Note] = []
    total = train.examples + validation.examples
    if not train.examples or not validation.examples:
        notes.append(Note("error", "empty-side", f"{_plural(total, 'valid example')} cannot be split into two non-empty sides"))
    if 0 < train.examples < MIN_EXAMPLES:
        notes.append(
            Note("error", "train-too-small", f"training has {_plural(train.examples, 'example')}; the service refuses fewer than {MIN_EXAMPLES}")
        )
    if 0 < validation.examples < MIN_VALIDATION_EXAMPLES:
        notes.append(
            Note(
                "warning",
                "validation-too-small",
                f"validation has {_plural(validation.examples, 'example')}, under {MIN_VALIDATION_EXAMPLES}: a loss averaged over "
                f"so few moves with each one and cannot show over-fitting",
            )
        )
    notes.extend(_system_prompt_notes(columns, plan))
    if plan.dropped_duplicate_lines:
        notes.append(
            Note(
                "info",
                "duplicates-dropped",
                f"{_plural(plan.duplicate_groups, 'group')} of exact duplicates: {_plural(len(plan.dropped_duplicate_lines), 'extra copy')} "
                f"dropped (lines {_lines(plan.dropped_duplicate_lines)})",
            )
        )
    elif plan.duplicate_groups:
        notes.append(
            Note(
                "info",
                "duplicates-together",
                f"{_plural(plan.duplicate_groups, 'group')} of exact duplicates, each kept whole on one side "
                f"(none on both)",
            )
        )
    if plan.invalid_lines:
        notes.append(
            Note("warning", "errors-left-out", f"{_plural(len(plan.invalid_lines), 'record')} with errors left out (lines {_lines(plan.invalid_lines)})")
        )
    for name, side in (("training", train), ("validation", validation)):
        if side.over_limit:
            notes.append(
                Note("warning", "over-limit", f"{_plural(side.over_limit, name + ' example')} over the {limit:,}-token limit will be truncated")
            )
    return SplitPreview(plan, train, validation, limit, model.name, notes)


def _system_prompt_notes(columns, plan: splitting.SplitPlan) -> list[Note]:
    """A system prompt (or its absence) that only one side has: the model is judged on something
    it never trained on, or trained on something it is never judged on."""

    def prompts(side: splitting.Side) -> dict[int, int]:
        found: dict[int, int] = {}
        for k in side.records:
            found[columns.system_key[k]] = found.get(columns.system_key[k], 0) + 1
        return found

    train, validation = prompts(plan.train), prompts(plan.validation)
    if not train or not validation:
        return []
    notes = []
    for here, there, side, other in ((validation, train, "validation", "training"), (train, validation, "training", "validation")):
        only = {key: n for key, n in here.items() if key not in there}
        if not only:
            continue
        examples = sum(only.values())
        if set(only) == {0}:
            what = f"{_plural(examples, side + ' example')} without a system prompt, but every {other} example has one"
        else:
            prompts_only = len(only) - (0 in only)
            what = f"{_plural(examples, side + ' example')} with {_plural(prompts_only, 'system prompt')} no {other} example has"
        notes.append(Note("warning", "system-prompt-one-side", what))
    return notes
