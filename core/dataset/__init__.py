"""The dataset engine: open, validate, count, split and save JSONL training files.

    from core.dataset import open_dataset, validate
    ds = open_dataset("data/travel.jsonl")
    report = validate(ds, model="gpt-4o-mini-2024-07-18")
"""

from core.dataset.rules import CODES, Finding
from core.dataset.store import ChangedOnDisk, Dataset, DatasetError, RawLine, open_dataset
from core.dataset.validate import Cancelled, Report, Validator, validate

__all__ = [
    "CODES",
    "Cancelled",
    "ChangedOnDisk",
    "Dataset",
    "DatasetError",
    "Finding",
    "RawLine",
    "Report",
    "Validator",
    "open_dataset",
    "validate",
]
