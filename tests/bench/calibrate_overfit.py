"""How often the overfitting alarm rings on emulated runs: healthy ones should never, overfitting
ones always. Prints, for each (examples, epochs), how many of 100 seeds fired and where.

    .venv/bin/python tests/bench/calibrate_overfit.py

The figures are quoted in core/service/overfit.py; rerun this when the rule or its constants change.
"""

from __future__ import annotations

from pathlib import Path

from core.emulator import training
from core.service import overfit
from core.service.watch import METRIC_KEYS, MetricPoint

LINES = (Path(__file__).resolve().parents[2] / "data" / "travel.jsonl").read_bytes().splitlines(keepends=True)
RUNS = [(40, 3), (30, 3), (20, 3), (12, 3), (40, 4), (10, 10), (20, 8), (30, 5), (12, 6), (40, 10)]
SEEDS = 100


def points(n_train: int, epochs: int, seed: int) -> list[MetricPoint]:
    plan = training.make_plan(b"".join(LINES[:n_train]), b"".join(LINES[40:]), model="gpt-4o-mini", hyperparameters={"n_epochs": epochs}, seed=seed)
    return [
        MetricPoint("job", e.data["step"], e.data["total_steps"], 0, {k: float(e.data[k]) for k in METRIC_KEYS if k in e.data})
        for e in training._timeline(plan).events
        if e.type == "metrics"
    ]


def main() -> None:
    print(f"{'examples':>8} {'epochs':>6}  fired   first steps (f = full-validation rule)")
    for n_train, epochs in RUNS:
        alarms = [overfit.check(points(n_train, epochs, seed)) for seed in range(SEEDS)]
        fired = [a for a in alarms if a]
        where = " ".join(f"{a.step}{'f' if a.full_validation else ''}" for a in fired[:6])
        print(f"{n_train:>8} {epochs:>6}  {len(fired):>3}/{SEEDS}  {where}")


if __name__ == "__main__":
    main()
