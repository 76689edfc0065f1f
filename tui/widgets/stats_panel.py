"""The stats panel: counts, the token distribution and the training bill for the chosen base model."""

from __future__ import annotations

from collections import Counter as Tally

from rich.text import Text
from textual.widgets import Static

from core.dataset import base_models, stats
from core.dataset.validate import Report

SPARK = "▁▂▃▄▅▆▇█"


def histogram(values, bins: int = 20) -> list[int]:
    """Counts of `values` in `bins` equal-width bins from the smallest to the largest."""
    # Each distinct value counted once (in C), then binned: a file has a few thousand distinct
    # values, so this stays quick at a million examples.
    by_value = Tally(values)
    if not by_value:
        return []
    lo, hi = min(by_value), max(by_value)
    if lo == hi:
        return [by_value[lo]]
    counts = [0] * bins
    scale = bins / (hi - lo + 1)
    for v, n in by_value.items():
        counts[int((v - lo) * scale)] += n
    return counts


def sparkline(counts: list[int]) -> str:
    top = max(counts, default=0)
    if not top:
        return ""
    return "".join(" " if c == 0 else SPARK[min(len(SPARK) - 1, (c * len(SPARK) - 1) // top)] for c in counts)


def money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


class StatsPanel(Static):
    """Counts, the token distribution, the training bill for the chosen base model."""

    DEFAULT_CSS = """
    StatsPanel { height: auto; padding: 0 1; background: $surface; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show_waiting(self, model: str, note: str) -> None:
        text = Text()
        text.append("Stats", style="bold")
        text.append(f" · {model}\n", style="dim")
        text.append(note, style="dim")
        self.update(text)

    def show_stats(self, report: Report, numbers: stats.Stats, counts: list[int]) -> None:
        t = numbers.tokens
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("Stats", style="bold")
        text.append(f" · {numbers.model.name}\n", style="dim")
        rows = [
            ("examples", f"{numbers.records:,} · {numbers.examples:,} valid · {report.format}"),
            ("tokens", f"mean {t.mean:,.0f} · p50 {t.p50:,} · p90 {t.p90:,}"),
            ("", f"{t.min:,} {sparkline(counts)} {t.max:,}" if counts else ""),
            ("over limit", f"{numbers.over_limit:,} (limit {numbers.model.token_limit:,})"),
            ("epochs", f"{numbers.epochs}" + (" (service default)" if numbers.epochs_is_default else "")),
            ("billed", f"{numbers.billed_tokens:,} tokens"),
            ("cost", f"≈ {money(numbers.cost_usd)} ({base_models.PRICES_AS_OF} prices)"),
        ]
        for name, value in rows:
            text.append(f"{name:<11}", style="bold" if name else "")
            text.append(f"{value}\n")
        text.rstrip()
        self.update(text)
