"""Train/validation split: seeded, reproducible to the byte, no example on both sides.

Exact duplicates travel together (one side gets every copy) unless `dedupe` drops the extra
copies; records with errors go to neither side and are reported. The same input, ratio and seed
always write the same bytes.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from core.dataset.stats import default_epochs, training_bill
from core.dataset.store import Dataset, DatasetError
from core.dataset.validate import Report
from core.dataset.writing import atomic_write, write_all

DEFAULT_SEED = 42
DEFAULT_RATIO = 0.8


class SplitError(DatasetError):
    pass


@dataclass(frozen=True)
class Side:
    name: str  # "train" or "validation"
    records: list[int]  # record indexes in the document, in output order
    tokens: int
    path: Path | None = None
    sha256: str | None = None

    def to_json(self) -> dict:
        return {"path": str(self.path) if self.path else None, "examples": len(self.records), "tokens": self.tokens, "sha256": self.sha256}


@dataclass(frozen=True)
class SplitPlan:
    ratio: float
    seed: int
    shuffle: bool
    train: Side
    validation: Side
    invalid_lines: list[int]  # records with errors, left out
    duplicate_groups: int  # groups of identical examples kept on one side
    dropped_duplicate_lines: list[int] = field(default_factory=list)  # with dedupe
    epochs: int = 0
    billed_tokens: int = 0
    cost_usd: float = 0.0

    def to_json(self) -> dict:
        return {
            "ratio": self.ratio,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "train": self.train.to_json(),
            "validation": self.validation.to_json(),
            "invalid_lines": self.invalid_lines,
            "duplicate_groups": self.duplicate_groups,
            "dropped_duplicate_lines": self.dropped_duplicate_lines,
            "epochs": self.epochs,
            "billed_tokens": self.billed_tokens,
            "estimated_cost_usd": round(self.cost_usd, 4),
        }


def validation_size(n: int, ratio: float, cap: int | None = None) -> int:
    """round(n·(1−ratio)), at least 1 when n ≥ 2, at most `cap`."""
    size = math.floor(round(n * (1 - ratio), 9) + 0.5)
    if n >= 2:
        size = max(1, size)
    size = min(size, n - 1) if n >= 2 else 0
    return min(size, cap) if cap is not None else size


def plan(
    ds: Dataset,
    report: Report,
    *,
    ratio: float = DEFAULT_RATIO,
    seed: int = DEFAULT_SEED,
    shuffle: bool = True,
    dedupe: bool = False,
    max_validation: int | None = None,
) -> SplitPlan:
    """Decide which record goes where (nothing is written)."""
    if not 0 < ratio < 1:
        raise SplitError(f"ratio {ratio} is not between 0 and 1", "use e.g. 0.8 for 80% train, 20% validation")
    if max_validation is not None and max_validation < 0:
        raise SplitError("--max-validation must be 0 or more")
    columns = report.columns
    invalid = columns.invalid()
    groups: dict[int, list[int]] = {}
    for k in range(len(columns)):
        if k not in invalid:
            groups.setdefault(columns.duplicate_key[k], []).append(k)
    units = list(groups.values())
    dropped: list[int] = []
    if dedupe:
        for unit in units:
            dropped.extend(unit[1:])
        units = [unit[:1] for unit in units]
    if shuffle:
        random.Random(seed).shuffle(units)
    n = sum(len(u) for u in units)
    want = validation_size(n, ratio, max_validation)
    validation: list[int] = []
    train: list[int] = []
    # Without shuffling, validation is taken from the end of the file.
    for unit in units if shuffle else reversed(units):
        (validation if len(validation) + len(unit) <= want else train).extend(unit)
    if not shuffle:
        train.sort()
        validation.sort()
    epochs = default_epochs(len(train))
    billed, cost = training_bill((columns.tokens[k] for k in train), report.model, epochs)
    return SplitPlan(
        ratio=ratio,
        seed=seed,
        shuffle=shuffle,
        train=Side("train", train, sum(columns.tokens[k] for k in train)),
        validation=Side("validation", validation, sum(columns.tokens[k] for k in validation)),
        invalid_lines=[ds.lineno(k) for k in sorted(invalid)],
        duplicate_groups=sum(1 for unit in groups.values() if len(unit) > 1),
        dropped_duplicate_lines=[ds.lineno(k) for k in sorted(dropped)],
        epochs=epochs,
        billed_tokens=billed,
        cost_usd=cost,
    )


def output_paths(source: Path, out_dir: Path | None = None) -> tuple[Path, Path]:
    """`<stem>.train.jsonl` and `<stem>.validation.jsonl` beside the input (or in `out_dir`)."""
    stem = source.name[: -len(".jsonl")] if source.name.endswith(".jsonl") else source.stem
    folder = out_dir if out_dir is not None else source.parent
    return folder / f"{stem}.train.jsonl", folder / f"{stem}.validation.jsonl"


def write(ds: Dataset, split: SplitPlan, out_dir: Path | None = None, *, overwrite: bool = False) -> SplitPlan:
    """Write both sides atomically; returns the plan with paths and content hashes filled in."""
    train_path, validation_path = output_paths(ds.path, out_dir)
    train_path.parent.mkdir(parents=True, exist_ok=True)
    for path in (train_path, validation_path):
        if path.resolve() == ds.path.resolve():
            raise SplitError(f"{path} is the input file", "choose another --out folder")
        if path.exists() and not overwrite:
            raise SplitError(f"{path} already exists", "pass --force to overwrite it, or choose another --out folder")
    sides = []
    for side, path in ((split.train, train_path), (split.validation, validation_path)):
        digest = hashlib.sha256()

        def write_side(fd: int, records=side.records, digest=digest) -> None:
            for lo in range(0, len(records), 4096):  # in batches: never the whole file as one string
                data = b"".join(ds.raw(k) + b"\n" for k in records[lo : lo + 4096])
                digest.update(data)
                write_all(fd, data)

        fd, _ = atomic_write(path, write_side)
        os.close(fd)
        sides.append(Side(side.name, side.records, side.tokens, path, digest.hexdigest()))
    return SplitPlan(**{**split.__dict__, "train": sides[0], "validation": sides[1]})
