"""The overfitting alarm: validation loss rising while training loss keeps falling.

The rule (the help screen quotes it):

- Per step: the median validation loss of the last WINDOW points (WINDOW = the larger of 20 points
  and 5% of the job's steps) is at least STEP_RISE (8%) above the lowest median of any earlier
  WINDOW points, while the median training loss over the last WINDOW points is below its
  median over the window where validation was lowest.
- At epoch ends: the full validation loss (the whole validation file, much steadier than the
  per-batch figure) is at least EPOCH_RISE (2%) above its lowest earlier epoch end, while the
  training loss at that epoch end is below the training loss at the lowest one.

Either one raises the alarm; it stays raised for the rest of the job (the model saved at the
lowest point is the one to keep, see its checkpoint). Medians of windows ignore the per-batch
noise and a stray spike, so a healthy run whose validation loss merely wobbles on a plateau does
not ring. Calibrated on the emulator (tests/bench/calibrate_overfit.py): no alarm in 100 seeds
each of 12–40 examples × 3–4 epochs; one in every run of 10–20 examples × 6–10 epochs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import median

from core.service.watch import MetricPoint

MIN_WINDOW = 20
WINDOW_SHARE = 0.05
STEP_RISE = 0.08
EPOCH_RISE = 0.02

RULE = (
    f"Validation loss rising while training loss falls: the median of the last {MIN_WINDOW} "
    f"validation points (or {WINDOW_SHARE:.0%} of the steps, if more) {STEP_RISE:.0%} above its lowest, "
    f"or the full validation loss at an epoch end {EPOCH_RISE:.0%} above its lowest epoch end."
)


@dataclass(frozen=True)
class Overfitting:
    step: int  # where the alarm fired
    best_step: int  # where validation loss was lowest: the checkpoint to keep
    best: float  # validation loss there
    now: float  # validation loss when the alarm fired
    full_validation: bool  # fired by the epoch-end rule

    @property
    def rise(self) -> float:
        return self.now / self.best - 1

    def describe(self) -> str:
        which = "Full validation loss" if self.full_validation else "Validation loss"
        return (
            f"{which} rose {self.rise:.0%} since step {self.best_step} ({self.best:.3f} → {self.now:.3f}) "
            "while training loss kept falling: the model is memorising its training examples."
        )


def window(total_steps: int | None) -> int:
    return max(MIN_WINDOW, round(WINDOW_SHARE * total_steps)) if total_steps else MIN_WINDOW


class Detector:
    """The rule applied point by point, as a job's metrics arrive (each point costs one window's
    sort, so a long run is never re-read from its start)."""

    def __init__(self) -> None:
        self.size: int | None = None
        self.recent: deque[tuple[float, float]] = deque()  # (validation, training) of the last window
        self.best: tuple[float, float, int] | None = None  # lowest window median: (validation, training, step)
        self.best_epoch: MetricPoint | None = None

    def add(self, point: MetricPoint) -> Overfitting | None:
        return self._epoch_end(point) or self._step(point)

    def _epoch_end(self, point: MetricPoint) -> Overfitting | None:
        if not point.epoch_end or "train_loss" not in point.values:
            return None
        loss, best = point.values["full_valid_loss"], self.best_epoch
        if best is not None and loss >= best.values["full_valid_loss"] * (1 + EPOCH_RISE) and point.values["train_loss"] < best.values["train_loss"]:
            return Overfitting(point.step, best.step, best.values["full_valid_loss"], loss, True)
        if best is None or loss < best.values["full_valid_loss"]:
            self.best_epoch = point
        return None

    def _step(self, point: MetricPoint) -> Overfitting | None:
        values = point.values
        if "valid_loss" not in values or "train_loss" not in values:
            return None
        if self.size is None:
            self.size = window(point.total_steps)
        self.recent.append((values["valid_loss"], values["train_loss"]))
        if len(self.recent) > self.size:
            self.recent.popleft()
        if len(self.recent) < self.size:
            return None
        valid = median(v for v, _ in self.recent)
        train = median(t for _, t in self.recent)
        if self.best is not None and valid >= self.best[0] * (1 + STEP_RISE) and train < self.best[1]:
            return Overfitting(point.step, self.best[2], self.best[0], valid, False)
        if self.best is None or valid < self.best[0]:
            self.best = (valid, train, point.step)
        return None


def check(points: Iterable[MetricPoint]) -> Overfitting | None:
    """The first moment the rule holds in these points (oldest first), or None."""
    detector = Detector()
    for point in points:
        if (alarm := detector.add(point)) is not None:
            return alarm
    return None
