"""Batch evaluations over HTTP against the emulator: scores, results file, resume, failures."""

from __future__ import annotations

import asyncio
import json

import pytest

from core.evaluate.cases import read_cases
from core.evaluate.report import load_results, totals
from core.evaluate.results import ResultsError
from core.evaluate.run import NOT_ASKED, ResultsMismatch, evaluate
from tests.evaluate.conftest import BASE, TRAINED, chat_requests, settled

pytestmark = pytest.mark.asyncio


def lines_of(path) -> list[dict]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


def pairs(answers) -> list[tuple[int, str]]:
    return [(a.line, a.model) for a in answers]


async def test_on_its_training_file_the_tuned_model_beats_its_base_model(conn, emulator, tuned, train_file, tmp_path):
    cases, skipped = read_cases(train_file)
    assert len(cases) == TRAINED and skipped == []
    out = tmp_path / "train.eval.jsonl"
    seen = []
    answers = await evaluate(conn, cases, [BASE, tuned], out, on_answer=lambda a, p: seen.append(p), source=train_file)

    assert pairs(answers) == [(c.line, m) for c in cases for m in (BASE, tuned)]
    assert sorted(chat_requests(emulator)) == sorted([BASE, tuned] * TRAINED)  # each pair asked once
    base, trained = totals(answers, [BASE, tuned])
    # The emulator's tuned model answers with the reply trained for the nearest prompt: on its own
    # training data it is right every time; the base model writes generic prose (F1 ≈ 0.14).
    assert trained.exact >= 0.9 and trained.f1 >= 0.95 and trained.similarity >= 0.95
    assert base.exact < 0.2 and base.f1 < 0.3
    assert trained.failed == base.failed == 0 and trained.json_valid is None
    assert trained.prompt_tokens > 0 and trained.completion_tokens > 0 and trained.mean_latency > 0
    assert [p.done for p in seen] == list(range(1, 2 * TRAINED + 1))
    assert seen[-1].total == 2 * TRAINED and seen[-1].failed == seen[-1].resumed == 0

    header, *rows = lines_of(out)
    assert header == {"tunedeck_eval": 1, "source": str(train_file), "source_sha256": header["source_sha256"],
                      "models": [BASE, tuned], "params": {}}  # fmt: skip
    assert len(header["source_sha256"]) == 64
    assert len(rows) == 2 * TRAINED
    assert set(rows[0]) == {"line", "model", "answer", "gold", "latency_ms", "prompt_tokens", "completion_tokens",
                            "error", "error_type", "scores", "prompt_sha256"}  # fmt: skip
    assert set(rows[0]["scores"]) == {"exact", "f1", "similarity", "json_valid"}
    assert load_results(out) == (header, answers)


async def test_a_validation_split_runs_to_completion(conn, tuned, validation_file, tmp_path):
    cases, _ = read_cases(validation_file)
    out = tmp_path / "valid.eval.jsonl"
    answers = await evaluate(conn, cases, [tuned, BASE], out, concurrency=3, params={"temperature": 0.0, "max_tokens": 200, "seed": None})
    assert len(answers) == 2 * len(cases) == 2 * (48 - TRAINED)
    assert all(a.error is None and 0 <= a.score.f1 <= 1 and 0 <= a.score.similarity <= 1 for a in answers)
    header, loaded = load_results(out)
    assert header["params"] == {"temperature": 0.0, "max_tokens": 200}  # None means "not sent"
    assert header["source"] is None and loaded == answers
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


async def test_a_cancelled_run_resumes_asking_only_what_is_missing(conn, emulator, tuned, validation_file, tmp_path):
    cases, _ = read_cases(validation_file)
    models = [BASE, tuned]
    out = tmp_path / "valid.eval.jsonl"
    task = None

    def stop_after_five(answer, progress):
        if progress.done == 5:
            task.cancel()

    task = asyncio.create_task(evaluate(conn, cases, models, out, concurrency=2, on_answer=stop_after_five))
    with pytest.raises(asyncio.CancelledError):
        await task
    _, first = load_results(out)  # every line whole: the file is consistent
    assert len(first) >= 5 and all(a.error is None for a in first)
    await settled(emulator)
    asked_before = len(chat_requests(emulator))

    seen = []
    answers = await evaluate(conn, cases, models, out, concurrency=2, on_answer=lambda a, p: seen.append((a, p)))
    assert len(chat_requests(emulator)) - asked_before == 2 * len(cases) - len(first)  # only the missing pairs
    assert seen[0][1].resumed == len(first) and [a for a, _ in seen[: len(first)]] == first  # kept ones come first
    assert [p.done for _, p in seen] == list(range(1, 2 * len(cases) + 1))
    assert pairs(answers) == [(c.line, m) for c in cases for m in models]
    _, loaded = load_results(out)
    assert loaded == answers and len(lines_of(out)) == 1 + 2 * len(cases)  # each pair once


async def test_a_half_written_last_line_is_asked_again_and_overwritten(conn, emulator, validation_file, tmp_path):
    cases, _ = read_cases(validation_file)
    out = tmp_path / "valid.eval.jsonl"
    await evaluate(conn, cases, [BASE], out)
    lines = out.read_bytes().splitlines(keepends=True)
    assert len(lines) == 1 + len(cases)
    out.write_bytes(b"".join(lines[:-3]) + lines[-3][:30])  # killed while writing: 3 answers lost, one in half
    asked_before = len(chat_requests(emulator))

    answers = await evaluate(conn, cases, [BASE], out)
    assert len(chat_requests(emulator)) - asked_before == 3
    rows = lines_of(out)  # every line parses: the half line is gone
    assert len(rows) == 1 + len(cases) and sorted(r["line"] for r in rows[1:]) == [c.line for c in cases]
    assert load_results(out)[1] == answers


async def test_failed_requests_are_recorded_then_asked_again(conn, emulator, validation_file, tmp_path):
    cases, _ = read_cases(validation_file)
    out = tmp_path / "valid.eval.jsonl"
    emulator.faults.add("POST /v1/chat/completions", "429", count=3, retry_after=0.01)  # the first request and its 2 retries
    seen = []
    answers = await evaluate(conn, cases, [BASE], out, concurrency=1, on_answer=lambda a, p: seen.append(p))
    failed = [a for a in answers if a.error is not None]
    assert pairs(failed) == [(cases[0].line, BASE)]
    assert failed[0].error_type == "RateLimited" and failed[0].score is None and "slow down" in failed[0].error
    assert seen[-1].failed == 1 and totals(answers, [BASE])[0].failed == 1
    assert lines_of(out)[1]["error"] == failed[0].error and lines_of(out)[1]["scores"] is None

    asked_before = len(chat_requests(emulator))
    again = await evaluate(conn, cases, [BASE], out)
    assert len(chat_requests(emulator)) - asked_before == 1
    assert all(a.error is None for a in again) and len(again) == len(cases)
    assert len(lines_of(out)) == 1 + len(cases)  # the failure is replaced, not kept beside the answer


async def test_an_unknown_model_is_asked_once_not_once_per_example(conn, emulator, validation_file, tmp_path):
    cases, _ = read_cases(validation_file)
    answers = await evaluate(conn, cases, [BASE, "ft:nope"], tmp_path / "r.jsonl", concurrency=1)
    assert chat_requests(emulator).count("ft:nope") == 1
    unknown = [a for a in answers if a.model == "ft:nope"]
    assert len(unknown) == len(cases) and all(a.error_type == "NotFound" for a in unknown)
    assert "Unknown model" in unknown[0].error and all(a.error.startswith(NOT_ASKED) for a in unknown[1:])
    assert all(a.error is None for a in answers if a.model == BASE)


async def test_an_edited_example_is_asked_again_and_a_corrected_gold_answer_only_rescored(conn, emulator, validation_file, tmp_path):
    out = tmp_path / "valid.eval.jsonl"
    cases, _ = read_cases(validation_file)
    await evaluate(conn, cases, [BASE], out)
    examples = [json.loads(line) for line in validation_file.read_text().splitlines()]
    examples[0]["messages"][1]["content"] = "Something else entirely?"
    examples[1]["messages"][-1]["content"] = "A corrected gold answer."
    validation_file.write_text("".join(json.dumps(e) + "\n" for e in examples))
    asked_before = len(chat_requests(emulator))

    cases, _ = read_cases(validation_file)
    answers = await evaluate(conn, cases, [BASE], out)
    assert chat_requests(emulator)[asked_before:] == [BASE]  # only the example whose prompt changed
    assert answers[1].score.f1 < 0.5
    assert {row["line"]: row["gold"] for row in lines_of(out)[1:]}[cases[1].line] == "A corrected gold answer."


async def test_results_for_other_models_or_params_are_refused_unless_fresh(conn, emulator, validation_file, tmp_path):
    cases, _ = read_cases(validation_file, limit=3)
    out = tmp_path / "r.eval.jsonl"
    await evaluate(conn, cases, [BASE], out, params={"temperature": 0.5})
    before = out.read_bytes()
    with pytest.raises(ResultsMismatch, match="other models or parameters") as refused:
        await evaluate(conn, cases, [BASE, "gpt-4.1-mini"], out, params={"temperature": 0.5})
    assert "fresh" in str(refused.value)
    with pytest.raises(ResultsMismatch):
        await evaluate(conn, cases, [BASE], out, params={"temperature": 1.0})
    assert out.read_bytes() == before
    out.write_bytes(b'{"messages": []}\n')
    with pytest.raises(ResultsError, match="not a TuneDeck results file"):
        await evaluate(conn, cases, [BASE], out)

    answers = await evaluate(conn, cases, ["gpt-4.1-mini", BASE], out, fresh=True)
    assert lines_of(out)[0]["models"] == ["gpt-4.1-mini", BASE] and load_results(out)[1] == answers
    again = await evaluate(conn, cases, [BASE, "gpt-4.1-mini"], out)  # the same models in another order: resumed
    assert {a.model for a in again} == {BASE, "gpt-4.1-mini"}


async def test_a_fresh_run_that_gets_no_answer_keeps_the_old_results(conn, emulator, validation_file, tmp_path):
    cases, _ = read_cases(validation_file, limit=3)
    out = tmp_path / "r.eval.jsonl"
    await evaluate(conn, cases, [BASE], out)
    before = out.read_bytes()
    answers = await evaluate(conn, cases, ["ft:nope"], out, fresh=True)
    assert all(a.error for a in answers)
    assert out.read_bytes() == before  # nothing came back: the old results are not thrown away for nothing

    task = asyncio.create_task(evaluate(conn, cases, [BASE], out, fresh=True, params={"seed": 1}))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp file left


async def test_bad_calls_are_refused_before_anything_is_sent(conn, emulator, validation_file, tmp_path):
    cases, _ = read_cases(validation_file, limit=1)
    for models in ([], ["a", "b", "c", "d"], [BASE, BASE]):
        with pytest.raises(ValueError):
            await evaluate(conn, cases, models, tmp_path / "r.jsonl")
    with pytest.raises(ValueError):
        await evaluate(conn, cases, [BASE], tmp_path / "r.jsonl", concurrency=0)
    with pytest.raises(OSError):
        await evaluate(conn, cases, [BASE], tmp_path / "no" / "such" / "folder.jsonl")
    assert chat_requests(emulator) == [] and not (tmp_path / "r.jsonl").exists()
