"""The pydantic models (one example) and the bulk rules (whole files) reach the same verdict."""

from pathlib import Path

import orjson
import pytest

from core.dataset import open_dataset
from core.dataset.base_models import lookup
from core.dataset.rules import CODES, SHAPE_CODES, check_value
from core.dataset.schema import ValidationError, parse_example
from core.dataset.tokens import Counter
from tests.conftest import DATA
from tests.test_rules import CASES, VALID

MODEL = lookup("gpt-4o-2024-08-06")  # a model that trains on images: images are not a shape error
COUNTER = Counter(MODEL.encoding)


def verdicts(example):
    problems = check_value(example, COUNTER, MODEL).problems or []
    bulk_rejects = any(p[0] in SHAPE_CODES for p in problems)
    try:
        parse_example(example)
        model_rejects = False
    except ValidationError:
        model_rejects = True
    return bulk_rejects, model_rejects, problems


def examples_from_files():
    for path in sorted(Path(DATA).glob("*.jsonl")):
        ds = open_dataset(path)
        for i in range(len(ds)):
            value = ds[i]
            if isinstance(value, dict):
                yield pytest.param(value, id=f"{path.name}:{ds.lineno(i)}")


@pytest.mark.parametrize("example", list(examples_from_files()) + [c[0] for c in CASES] + VALID)
def test_same_verdict(example):
    bulk, model, problems = verdicts(example)
    assert bulk == model, f"rules say {'reject' if bulk else 'accept'} ({problems}), pydantic says {'reject' if model else 'accept'}"


def test_shape_codes_are_errors():
    assert SHAPE_CODES and all(CODES[c][0] == "error" for c in SHAPE_CODES)


def test_models_round_trip_an_example():
    line = (DATA / "tools.jsonl").read_bytes().splitlines()[1]
    value = orjson.loads(line)
    model = parse_example(value)
    assert model.model_dump(mode="json", exclude_unset=True) == value
