"""Totals per model and the examples where the models disagree most; results files read back (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.evaluate import results
from core.evaluate.results import Answer


@dataclass(frozen=True)
class ModelTotals:
    model: str
    answered: int
    failed: int
    exact: float  # means over the answered cases, 0..1
    f1: float
    similarity: float
    json_valid: float | None  # share valid among the answered cases whose gold answer is JSON; None when none is
    mean_latency: float | None  # seconds
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Disagreement:
    line: int
    spread: float  # max F1 − min F1 among the models for this line
    f1: dict[str, float]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def totals(answers: list[Answer], models: list[str]) -> list[ModelTotals]:
    """One row per model, in `models` order (a model with no answer gets zeros)."""
    rows = []
    for model in models:
        mine = [a for a in answers if a.model == model]
        ok = [a for a in mine if a.error is None and a.score is not None]
        json_cases = [a.score.json_valid for a in ok if a.score.json_valid is not None]
        rows.append(ModelTotals(
            model=model, answered=len(ok), failed=len(mine) - len(ok),
            exact=_mean([float(a.score.exact) for a in ok]), f1=_mean([a.score.f1 for a in ok]),
            similarity=_mean([a.score.similarity for a in ok]),
            json_valid=_mean([float(v) for v in json_cases]) if json_cases else None,
            mean_latency=_mean([a.latency for a in ok]) if ok else None,
            prompt_tokens=sum(a.prompt_tokens or 0 for a in ok), completion_tokens=sum(a.completion_tokens or 0 for a in ok),
        ))  # fmt: skip
    return rows


def disagreements(answers: list[Answer], models: list[str], *, most: int = 10) -> list[Disagreement]:
    """The `most` lines where the models' F1 differ most (largest spread first, then by line).

    Only lines every model answered count, and only where they differ at all; with one model
    there is nothing to compare.
    """
    if len(models) < 2:
        return []
    by_line: dict[int, dict[str, float]] = {}
    for a in answers:
        if a.model in models and a.error is None and a.score is not None:
            by_line.setdefault(a.line, {})[a.model] = a.score.f1
    found = []
    for line, f1 in by_line.items():
        if len(f1) == len(models):
            spread = max(f1.values()) - min(f1.values())
            if spread > 0:
                found.append(Disagreement(line, spread, {m: f1[m] for m in models}))
    found.sort(key=lambda d: (-d.spread, d.line))
    return found[:most]


def load_results(path: Path) -> tuple[dict, list[Answer]]:
    """A results file's header and its answers in line order, then the header's model order (for a
    results view). Raises ResultsError when it is missing, empty or not a results file; a
    half-written last line is left out."""
    stored = results.read(path)
    if stored.header is None:
        raise results.ResultsError(f"{path} is empty", "run an evaluation into it first")
    models = stored.header.get("models")
    rank = {m: k for k, m in enumerate(models)} if isinstance(models, list) and all(isinstance(m, str) for m in models) else {}
    answers = [answer for answer, _ in stored.answers]
    answers.sort(key=lambda a: (a.line, rank.get(a.model, len(rank)), a.model))
    return stored.header, answers
