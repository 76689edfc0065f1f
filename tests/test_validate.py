"""Whole-file validation: progress, cancel, worker processes, and re-checking only edited lines."""

import random
import threading

import orjson
import pytest

from core.dataset import Cancelled, Validator, open_dataset, rules, tokens, validate
from core.dataset.base_models import lookup
from tests.conftest import DATA
import importlib

validate_module = importlib.import_module("core.dataset.validate")  # the package exports a function of the same name


def write(tmp_path, n, name="d.jsonl"):
    path = tmp_path / name
    lines = []
    for i in range(n):
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Question {i} about café prices?"}, {"role": "assistant", "content": f"Answer {i}."}]
        if i % 97 == 5:
            messages[2]["role"] = "bot"
        lines.append(orjson.dumps({"messages": messages}))
        if i % 50 == 0:
            lines.append(b"")  # blank lines shift line numbers
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def summary(report):
    return [(f.code, f.line, f.path) for f in report.findings], list(report.columns.tokens)


def test_worker_processes_give_the_same_report(tmp_path, monkeypatch):
    path = write(tmp_path, 900)
    monkeypatch.setattr(validate_module, "CHUNK", 200)
    monkeypatch.setattr(validate_module, "PROCESS_THRESHOLD", 100)
    in_process = validate(open_dataset(path), workers=1)
    with_workers = validate(open_dataset(path), workers=2)
    assert summary(in_process) == summary(with_workers)
    assert [f.line for f in in_process.findings if f.code == "unknown-role"][:2] == [7, 106]  # records 5 and 102, after 1 and 3 blank lines


def test_progress_reaches_the_total_and_cancel_stops(tmp_path, monkeypatch):
    path = write(tmp_path, 300)
    monkeypatch.setattr(validate_module, "CHUNK", 50)
    seen = []
    validate(open_dataset(path), progress=lambda done, total: seen.append((done, total)), workers=1)
    assert seen[-1] == (300, 300) and len(seen) >= 6
    cancel = threading.Event()

    def stop_early(done, total):
        cancel.set()

    with pytest.raises(Cancelled):
        validate(open_dataset(path), progress=stop_early, cancel=cancel, workers=1)


def test_an_edit_rechecks_only_that_record(tmp_path, monkeypatch):
    path = write(tmp_path, 120)
    ds = open_dataset(path)
    validator = Validator(ds)
    first = validator.run()
    assert any(f.code == "unknown-role" and f.line == 7 for f in first.findings)
    calls = []
    real = rules.check_line
    monkeypatch.setattr(rules, "check_line", lambda raw, c, m: calls.append(raw) or real(raw, c, m))
    fixed = dict(ds[5])
    fixed["messages"] = [dict(m, role="assistant") if m["role"] == "bot" else m for m in fixed["messages"]]
    ds.replace(5, fixed)
    second = validator.run()
    assert len(calls) == 1
    assert not any(f.line == 7 for f in second.findings)
    ds.insert(0, {"messages": []})
    third = validator.run()
    assert [(f.code, f.line) for f in third.findings if f.code == "empty-messages"] == [("empty-messages", 1)]


def test_bulk_counts_are_those_of_each_record_counted_alone_without_caches(tmp_path, monkeypatch):
    """The bulk path remembers counts (roles, system prompts, words of one-line texts): none of
    it may change a number or a finding."""
    rng = random.Random(3)
    words = "the a to of Kyoto café 東京 😀 don't U.S.A. 3.14 x=1; (paren) CamelCase Hello, world!".split()
    raws = [line for line in write(tmp_path, 400).read_bytes().splitlines() if line]
    for i in range(300):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 80)))
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Question {i}: {text}"}, {"role": "assistant", "content": text + rng.choice(["", "\n\nMore.", " "])}]
        raws.append(orjson.dumps({"messages": messages}))
    for name in ("travel.jsonl", "tools.jsonl", "broken.jsonl", "preferences.jsonl"):
        raws += [line for line in (DATA / name).read_bytes().splitlines() if line]
    model = lookup(None)
    bulk = validate_module.check_records(raws, model)
    monkeypatch.setattr(tokens.Counter, "once", lambda self, value: len(self.encode(value)))
    monkeypatch.setattr(tokens.Counter, "count", lambda self, text: len(self.encode(text)))
    monkeypatch.setattr(rules, "_plain_overhead", lambda name: {role: 3 + tokens.count_text(role, name) for role in ("system", "user", "assistant")})
    alone = validate_module.Columns()
    for raw in raws:
        alone.add(rules.check_line(raw, tokens.Counter(model.encoding), model))
    for name in validate_module.Columns.NUMBERS:
        assert list(getattr(bulk, name)) == list(getattr(alone, name)), name
    assert bulk.problems == alone.problems
    assert sum(alone.tokens) > 0 and alone.problems
