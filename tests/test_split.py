"""Seeded, reproducible split; duplicates kept together; invalid lines left out."""

import orjson
import pytest

from core.dataset import open_dataset, validate
from core.dataset import split as splitting
from core.dataset.split import SplitError, validation_size


def example(i):
    return {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}


def make(tmp_path, n=40, extra=b""):
    path = tmp_path / "chats.jsonl"
    path.write_bytes(b"".join(orjson.dumps(example(i)) + b"\n" for i in range(n)) + extra)
    ds = open_dataset(path)
    return ds, validate(ds)


@pytest.mark.parametrize("n,ratio,cap,size", [(10, 0.8, None, 2), (2, 0.8, None, 1), (3, 0.9, None, 1), (1, 0.8, None, 0), (25, 0.8, None, 5), (1000, 0.8, 50, 50), (7, 0.5, None, 4)])
def test_validation_size(n, ratio, cap, size):
    assert validation_size(n, ratio, cap) == size


def test_same_seed_same_bytes_other_seed_other_split(tmp_path):
    ds, report = make(tmp_path)
    first = splitting.write(ds, splitting.plan(ds, report, seed=7), tmp_path / "a")
    again = splitting.write(ds, splitting.plan(ds, report, seed=7), tmp_path / "b")
    other = splitting.plan(ds, report, seed=8)
    assert first.train.path.read_bytes() == again.train.path.read_bytes()
    assert first.validation.path.read_bytes() == again.validation.path.read_bytes()
    assert first.train.sha256 == again.train.sha256
    assert set(other.validation.records) != set(first.validation.records)
    assert first.train.path.name == "chats.train.jsonl" and first.validation.path.name == "chats.validation.jsonl"


def test_every_example_lands_on_exactly_one_side(tmp_path):
    ds, report = make(tmp_path)
    result = splitting.write(ds, splitting.plan(ds, report), tmp_path / "out")
    train = result.train.path.read_bytes().splitlines()
    validation = result.validation.path.read_bytes().splitlines()
    assert len(train) == 32 and len(validation) == 8
    assert sorted(train + validation) == sorted(ds.raw(i) for i in range(len(ds)))


def test_duplicates_stay_together_or_are_dropped(tmp_path):
    dupes = b"".join(orjson.dumps(example(3)) + b"\n" for _ in range(3))
    ds, report = make(tmp_path, extra=dupes)
    for seed in range(10):
        result = splitting.plan(ds, report, seed=seed)
        copies = [k for k in range(len(ds)) if ds.raw(k) == ds.raw(3)]
        assert all(k in result.train.records for k in copies) or all(k in result.validation.records for k in copies)
        assert result.duplicate_groups == 1
    deduped = splitting.plan(ds, report, dedupe=True)
    assert deduped.dropped_duplicate_lines == [41, 42, 43]
    assert len(deduped.train.records) + len(deduped.validation.records) == 40


def test_invalid_lines_go_nowhere_and_are_reported(tmp_path):
    ds, report = make(tmp_path, extra=b"not json\n[1]\n")
    result = splitting.plan(ds, report)
    assert result.invalid_lines == [41, 42]
    assert 40 not in result.train.records + result.validation.records


def test_no_shuffle_takes_validation_from_the_end(tmp_path):
    ds, report = make(tmp_path, n=10)
    result = splitting.plan(ds, report, shuffle=False)
    assert result.validation.records == [8, 9] and result.train.records == list(range(8))


def test_refuses_to_overwrite_and_bad_ratio(tmp_path):
    ds, report = make(tmp_path)
    plan = splitting.plan(ds, report)
    splitting.write(ds, plan)
    before = (tmp_path / "chats.train.jsonl").read_bytes()
    with pytest.raises(SplitError, match="already exists"):
        splitting.write(ds, splitting.plan(ds, report, seed=1))
    assert (tmp_path / "chats.train.jsonl").read_bytes() == before
    with pytest.raises(SplitError):
        splitting.plan(ds, report, ratio=1.0)
