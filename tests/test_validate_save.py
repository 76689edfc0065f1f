"""Validation results carried over a save, a reload and undo: only new bytes are checked again,
and the report is the one a fresh validation of the same file gives."""

import importlib
import random
from array import array

import orjson
import pytest

from core.dataset import Validator, open_dataset, rules, stats, validate

validate_module = importlib.import_module("core.dataset.validate")  # the package exports a function of the same name


def chat(i, role="assistant", system="Be brief."):
    messages = [{"role": "system", "content": system}, {"role": "user", "content": f"Question {i}?"}, {"role": role, "content": f"Answer {i}."}]
    return orjson.dumps({"messages": messages})


def write(path, *, newline=b"\n", bom=False, n=60):
    """Records with blank lines between, an invalid line, bad roles and an exact copy."""
    lines = [b""]  # a leading blank line
    for i in range(n):
        lines.append(chat(i, role="bot" if i % 11 == 4 else "assistant"))
        if i % 9 == 0:
            lines.append(b"")
        if i == 20:
            lines.append(b"{not json")
        if i == 30:
            lines.append(chat(4, role="bot"))  # a copy of record 4
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + newline.join(lines) + newline)
    return path


@pytest.fixture
def checked(monkeypatch):
    """The records rules.check_line is asked about (the bulk path and new records both use it)."""
    calls = []
    real = rules.check_line
    monkeypatch.setattr(rules, "check_line", lambda raw, counter, model: calls.append(raw) or real(raw, counter, model))
    return calls


def assert_same(report, expected):
    assert [f.to_json() for f in report.findings] == [f.to_json() for f in expected.findings]
    for name in validate_module.Columns.NUMBERS:
        assert list(getattr(report.columns, name)) == list(getattr(expected.columns, name)), name
    assert report.columns.problems == expected.columns.problems
    assert (report.records, report.format, report.valid_examples) == (expected.records, expected.format, expected.valid_examples)
    assert stats.compute(report).to_json() == stats.compute(expected).to_json()


def fresh(path):
    with open_dataset(path) as ds:
        return validate(ds, workers=1)


EDITS = {
    "replace a bad record": lambda ds: ds.replace(4, orjson.loads(chat(4))),
    "delete above problem lines": lambda ds: (ds.delete(0), ds.delete(2)),
    "insert above problem lines": lambda ds: (ds.insert(0, {"messages": []}), ds.insert(3, orjson.loads(chat(999)))),
    "move a problem record down": lambda ds: ds.move(4, 40),
    "move the invalid line up": lambda ds: ds.move(21, 0),
    "duplicate a record": lambda ds: ds.duplicate(7),
    "append and delete the last": lambda ds: (ds.append(orjson.loads(chat(1000, role="bot"))), ds.delete(len(ds) - 2)),
}


@pytest.mark.parametrize("layout", ["lf", "crlf", "bom"])
@pytest.mark.parametrize("edit", list(EDITS))
def test_after_a_save_only_new_records_are_checked_and_the_report_is_a_fresh_one(tmp_path, checked, edit, layout):
    path = write(tmp_path / "d.jsonl", newline=b"\r\n" if layout == "crlf" else b"\n", bom=layout == "bom")
    ds = open_dataset(path)
    validator = Validator(ds)
    validator.run(workers=1)
    EDITS[edit](ds)
    new = {p.raw for p in ds.pieces() if not isinstance(p, validate_module.Run)}
    ds.save()
    checked.clear()
    report = validator.run(workers=1)
    assert sorted(checked) == sorted(new)  # the new records, read back from the saved file
    assert_same(report, fresh(path))
    checked.clear()
    assert validator.run(workers=1).findings == report.findings and not checked  # and now all is cached
    ds.close()


def test_a_validated_edit_then_a_save_checks_nothing(tmp_path, checked):
    path = write(tmp_path / "d.jsonl")
    ds = open_dataset(path)
    validator = Validator(ds)
    validator.run(workers=1)
    ds.delete(2)
    ds.replace(2, orjson.loads(chat(3, role="bot")))  # a new problem
    validator.run(workers=1)
    checked.clear()
    ds.save()
    report = validator.run(workers=1)
    assert checked == []
    assert_same(report, fresh(path))
    assert [f.line for f in report.findings if f.code == "unknown-role"][:2] == [5, 6]  # records 2 and 3 (4 in the file), after two blank lines
    ds.close()


def test_only_the_versions_in_use_keep_columns(tmp_path):
    path = write(tmp_path / "d.jsonl")
    ds = open_dataset(path)
    validator = Validator(ds)
    validator.run(workers=1)
    first = ds.source
    ds.delete(0)
    ds.save()
    validator.run(workers=1)
    assert list(validator._runs) == [ds.source] and ds.source is not first  # the old file's results were carried, then let go
    ds.close()


def test_undo_after_a_save_checks_only_the_records_the_save_dropped(tmp_path, checked):
    path = write(tmp_path / "d.jsonl", newline=b"\r\n")
    original = path.read_bytes()
    ds = open_dataset(path)
    validator = Validator(ds)
    validator.run(workers=1)
    gone = [ds.raw(3), ds.raw(4)]
    ds.delete(3)
    ds.delete(3)
    ds.save()
    validator.run(workers=1)
    ds.undo()
    ds.undo()  # back to the file as opened: records of the replaced version
    checked.clear()
    report = validator.run(workers=1)
    assert checked == gone
    (tmp_path / "original.jsonl").write_bytes(original)
    assert_same(report, fresh(tmp_path / "original.jsonl"))
    ds.redo()
    ds.redo()
    checked.clear()
    report = validator.run(workers=1)
    assert checked == []
    assert_same(report, fresh(path))
    ds.close()


def test_a_reload_reuses_results_only_for_an_unchanged_file(tmp_path, checked):
    path = write(tmp_path / "d.jsonl")
    ds = open_dataset(path)
    validator = Validator(ds)
    validator.run(workers=1)
    ds.replace(0, {"messages": []})
    ds.reload()  # the file is as it was: the edit is dropped, the results stay
    checked.clear()
    report = validator.run(workers=1)
    assert checked == []
    assert_same(report, fresh(path))
    # Someone else rewrites the file with the same lines in another order: nothing is reused.
    records = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([records[2], records[1]] + records[3:]))
    ds.reload()
    checked.clear()
    report = validator.run(workers=1)
    assert len(checked) == len(ds)
    assert_same(report, fresh(path))
    ds.close()


def test_save_as_carries_results_too(tmp_path, checked):
    path = write(tmp_path / "d.jsonl")
    ds = open_dataset(path)
    validator = Validator(ds)
    validator.run(workers=1)
    ds.move(0, 10)
    ds.save(tmp_path / "elsewhere.jsonl")
    checked.clear()
    report = validator.run(workers=1)
    assert checked == []
    assert_same(report, fresh(tmp_path / "elsewhere.jsonl"))
    ds.close()


def test_duplicates_are_found_whatever_their_keys_share(tmp_path):
    # Keys that agree in every bit the first pass looks at: all are candidates, the second pass decides.
    keys = array("Q", [7 + (i % 5 << 40) for i in range(40)] + [0, 0, 3])
    pairs = list(validate_module._repeated_keys(keys))
    first_seen, expected = {}, []
    for k, key in enumerate(keys):
        if key and first_seen.setdefault(key, k) != k:
            expected.append((first_seen[key], k))
    assert pairs == expected and len(pairs) == 35
    rng = random.Random(3)
    keys = array("Q", (rng.getrandbits(64) for _ in range(5000)))
    keys[4000], keys[4500] = keys[10], keys[10]
    assert list(validate_module._repeated_keys(keys)) == [(10, 4000), (10, 4500)]


def test_distributions_counted_are_the_sorted_ones():
    rng = random.Random(5)
    for n in (1, 2, 3, 10, 11, 999):
        values = [rng.randrange(0, 40) for _ in range(n)]
        ordered = sorted(values)
        d = stats.Distribution.of(array("i", values))
        assert (d.min, d.p50, d.p90, d.max, d.total) == (ordered[0], ordered[(n - 1) // 2], ordered[min(n - 1, 9 * n // 10)], ordered[-1], sum(values))
    assert stats.Distribution.of([]) == stats.Distribution(0, 0.0, 0, 0, 0, 0)


def test_records_left_to_check_after_a_save_go_to_worker_processes(tmp_path, monkeypatch):
    monkeypatch.setattr(validate_module, "CHUNK", 2)
    monkeypatch.setattr(validate_module, "PROCESS_THRESHOLD", 1)
    path = write(tmp_path / "d.jsonl")
    ds = open_dataset(path)
    validator = Validator(ds)
    validator.run(workers=1)
    for i in range(5):
        ds.insert(10 * i, orjson.loads(chat(500 + i, role="bot" if i % 2 else "assistant")))
    ds.save()
    report = validator.run(workers=2)  # the five new records, read by the workers from the saved file
    assert_same(report, fresh(path))
    ds.close()


def test_system_prompts_of_records_that_are_not_examples_are_not_counted(tmp_path, monkeypatch):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"".join(chat(i) + b"\n" for i in range(12)) + chat(12, system="Other.") + b"\n")
    real = rules.check_line

    def not_an_example(raw, counter, model):  # as if the last record could not be read as an example
        checked = real(raw, counter, model)
        if b"Other." in raw:
            checked.kind, checked.problems = rules.INVALID, [("invalid-json", "", "made up", None)]
        return checked

    assert any(f.code == "several-system-prompts" for f in fresh(path).findings)
    monkeypatch.setattr(rules, "check_line", not_an_example)
    assert not any(f.code == "several-system-prompts" for f in fresh(path).findings)


def test_a_save_right_after_a_run_shares_that_reports_columns(tmp_path, checked):
    path = write(tmp_path / "d.jsonl")
    ds = open_dataset(path)
    validator = Validator(ds)
    validator.run(workers=1)
    ds.delete(5)
    edited = validator.run(workers=1)
    ds.save()
    checked.clear()
    saved = validator.run(workers=1)
    assert saved.columns is edited.columns and checked == []  # nothing assembled again, nothing checked
    assert_same(saved, fresh(path))
    ds.close()
