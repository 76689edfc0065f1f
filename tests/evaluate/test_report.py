"""Totals, disagreements and results files read back: pure, no server."""

from __future__ import annotations

import json

import pytest

from core.evaluate.cases import Case
from core.evaluate.report import Disagreement, disagreements, load_results, totals
from core.evaluate.results import Answer, ResultsError, answer_line, header_line, prompt_digest
from core.evaluate.scores import score

A, B, C = "base", "tuned", "other"


def answered(line: int, model: str, text: str, gold: str, *, latency=0.5, tokens=(10, 5)) -> Answer:
    return Answer(line, model, text, latency, tokens[0], tokens[1], None, score(text, gold))


def failed(line: int, model: str) -> Answer:
    return Answer(line, model, "", 0.1, None, None, "The server failed (500)", None, "ServerError")


def test_totals_are_means_over_the_answered_cases():
    answers = [
        answered(1, A, "spring", "spring", latency=1.0),
        answered(2, A, "red blue", "red green", latency=3.0),
        answered(3, A, '{"a": 1}', '{"a": 1}', tokens=(7, None)),
        answered(4, A, "not json", '{"a": 1}'),
        failed(5, A),
        answered(1, B, "spring", "spring"),
    ]
    base, tuned, other = totals(answers, [A, B, C])
    assert (base.model, base.answered, base.failed) == (A, 4, 1)
    assert base.exact == pytest.approx(2 / 4)
    assert base.f1 == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    assert base.json_valid == pytest.approx(1 / 2)  # of the two cases whose gold answer is JSON
    assert base.mean_latency == pytest.approx((1.0 + 3.0 + 0.5 + 0.5) / 4)  # the failed one is left out
    assert (base.prompt_tokens, base.completion_tokens) == (37, 15)
    assert tuned.json_valid is None and tuned.exact == 1.0
    assert (other.answered, other.failed, other.exact, other.mean_latency, other.json_valid) == (0, 0, 0.0, None, None)


def test_disagreements_largest_spread_first_then_by_line():
    gold = "one two three four"
    answers = [
        answered(1, A, "one two", gold), answered(1, B, gold, gold),  # spread 1 - 2/3
        answered(2, A, "x", gold), answered(2, B, gold, gold),  # spread 1
        answered(3, A, gold, gold), answered(3, B, gold, gold),  # agree: not listed
        answered(4, A, "x", gold), failed(4, B),  # not every model answered: not listed
        answered(5, A, gold, gold), answered(5, B, "x", gold),  # spread 1, after line 2
    ]  # fmt: skip
    found = disagreements(answers, [A, B])
    assert [(d.line, round(d.spread, 3)) for d in found] == [(2, 1.0), (5, 1.0), (1, 0.333)]
    assert found[0] == Disagreement(2, 1.0, {A: 0.0, B: 1.0})
    assert [d.line for d in disagreements(answers, [A, B], most=2)] == [2, 5]
    assert disagreements(answers, [A]) == []


def test_load_results_leaves_out_a_half_written_last_line(tmp_path):
    case = Case(3, [{"role": "user", "content": "Hi"}], "Hello", {})
    header = header_line({"source": None, "source_sha256": None, "models": [A, B], "params": {"temperature": 0}})
    good_b, good_a = answered(3, B, "Hello", "Hello"), answered(3, A, "Hi there", "Hello")
    whole = answer_line(good_b, "Hello", prompt_digest(case)) + answer_line(good_a, "Hello", None)
    half = answer_line(failed(4, A), "x", None)[:40]
    path = tmp_path / "r.eval.jsonl"
    path.write_bytes(header + whole + half)
    got_header, answers = load_results(path)
    assert got_header == {"tunedeck_eval": 1, "source": None, "source_sha256": None, "models": [A, B], "params": {"temperature": 0}}
    assert [(a.line, a.model) for a in answers] == [(3, A), (3, B)]  # line order, then the header's model order
    assert answers[1] == good_b and answers[0].score == good_a.score
    assert answers[0].latency == pytest.approx(0.5)
    assert json.loads(whole.splitlines()[0])["prompt_sha256"] == prompt_digest(case)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b'{"messages": []}\n', "not a TuneDeck results file"), (b'{"tunedeck_eval": 99}\n', "newer")],
)
def test_load_results_refuses_what_is_not_a_results_file(tmp_path, content, message):
    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    with pytest.raises(ResultsError, match=message):
        load_results(path)
    with pytest.raises(ResultsError, match="no such file"):
        load_results(tmp_path / "missing.jsonl")
