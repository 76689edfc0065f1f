"""`tunedeck eval` as a subprocess against an emulator started here: exit codes, output, --json shape, resume."""

from __future__ import annotations

import json

from tests.evaluate.conftest import BASE, KEY, TRAINED, chat_requests
from tests.test_cli import FAILED, OK, USAGE, cli

MODEL_KEYS = {"model", "answered", "failed", "exact", "f1", "similarity", "json_valid", "mean_latency_ms", "prompt_tokens", "completion_tokens"}


def env_of(emulator) -> dict[str, str]:
    return {"OPENAI_BASE_URL": emulator.base_url, "OPENAI_API_KEY": KEY}


def test_eval_scores_base_and_tuned_on_the_training_file_then_resumes_with_nothing_to_ask(tmp_path, emulator, tuned, train_file):
    env = env_of(emulator)
    r = cli(tmp_path, "eval", train_file, "--model", BASE, "--model", tuned, "--json", "--concurrency", "8", env=env)
    assert r.returncode == OK, r.stderr
    summary = json.loads(r.stdout)
    out = tmp_path / "travel.train.eval.jsonl"  # the default: beside the examples
    assert set(summary) == {"file", "out", "cases", "skipped", "resumed", "models", "disagreements"}
    assert (summary["file"], summary["out"], summary["cases"], summary["skipped"], summary["resumed"]) == (
        str(train_file), str(out), TRAINED, [], 0
    )
    base, trained = summary["models"]
    assert set(base) == MODEL_KEYS and (base["model"], trained["model"]) == (BASE, tuned)
    assert trained["exact"] >= 0.9 and trained["f1"] >= 0.95 and base["exact"] < 0.2 and base["f1"] < 0.3
    assert base["answered"] == trained["answered"] == TRAINED and base["failed"] == trained["failed"] == 0
    assert base["json_valid"] is None and trained["mean_latency_ms"] > 0 and trained["completion_tokens"] > 0
    spread = summary["disagreements"]
    assert 1 <= len(spread) <= 10 and set(spread[0]) == {"line", "spread", "f1"} and set(spread[0]["f1"]) == {BASE, tuned}
    assert [d["spread"] for d in spread] == sorted((d["spread"] for d in spread), reverse=True)
    assert len(out.read_text().splitlines()) == 1 + 2 * TRAINED
    assert r.stderr == ""  # no progress line: stderr is not a terminal
    asked = len(chat_requests(emulator))
    assert asked == 2 * TRAINED

    again = cli(tmp_path, "eval", train_file, "--model", tuned, "--model", BASE, "--out", out, env=env)  # text, models swapped
    assert again.returncode == OK, again.stderr
    assert len(chat_requests(emulator)) == asked  # everything was there already
    text = again.stdout
    assert f"{train_file}: {TRAINED} examples × 2 models ({2 * TRAINED} answers from an earlier run)" in text
    header, first, second = text.splitlines()[1:4]
    assert header.split() == ["model", "exact", "F1", "similarity", "JSON", "valid", "failed", "latency", "tokens", "in/out"]
    assert first.startswith(tuned) and first.split()[1] == "100.0%" and second.startswith(BASE)
    assert "where the models disagree most (F1 per model):" in text and text.endswith(f"results: {out}\n")


def test_eval_usage_errors_exit_2(tmp_path, emulator, validation_file):
    env = env_of(emulator)
    missing = cli(tmp_path, "eval", tmp_path / "missing.jsonl", "--model", BASE, "--json", env=env)
    assert missing.returncode == USAGE and "no such file" in json.loads(missing.stdout)["error"]
    four = cli(tmp_path, "eval", validation_file, *[x for m in "abcd" for x in ("--model", m)], env=env)
    assert four.returncode == USAGE and "at most 3 models" in four.stderr and four.stdout == ""
    dpo = cli(tmp_path, "eval", "data/preferences.jsonl", "--model", BASE, "--out", tmp_path / "p.jsonl", env=env)
    assert dpo.returncode == USAGE and "no example to evaluate" in dpo.stderr and "preference (DPO) example" in dpo.stderr
    itself = cli(tmp_path, "eval", validation_file, "--model", BASE, "--out", validation_file, env=env)
    assert itself.returncode == USAGE and "is the examples file" in itself.stderr
    other = tmp_path / "other.eval.jsonl"
    other.write_text(json.dumps({"tunedeck_eval": 1, "source": None, "source_sha256": None, "models": ["x"], "params": {}}) + "\n")
    mismatch = cli(tmp_path, "eval", validation_file, "--model", BASE, "--out", other, env=env)
    assert mismatch.returncode == USAGE and "--fresh" in mismatch.stderr
    unknown = cli(tmp_path, "eval", validation_file, "--model", BASE, "--model", "ft:nope", "--out", tmp_path / "u.jsonl", env=env)
    assert unknown.returncode == USAGE and "model ft:nope is not available" in unknown.stderr
    assert chat_requests(emulator).count("ft:nope") <= 4  # once per worker at most, not once per example


def test_eval_exits_1_when_requests_fail_and_the_same_command_asks_only_those_again(tmp_path, emulator, validation_file):
    env = env_of(emulator)
    emulator.faults.add("POST /v1/chat/completions", "429", count=3, retry_after=0.01)  # a request and its 2 retries
    command = ("eval", validation_file, "--model", BASE, "--concurrency", "1", "--temperature", "0", "--json")
    r = cli(tmp_path, *command, env=env)
    assert r.returncode == FAILED, r.stderr
    assert json.loads(r.stdout)["models"][0]["failed"] == 1
    assert "1 of 10 requests failed; run the same command again to ask only those again" in r.stderr
    assert "slow down" in r.stderr
    asked = len(chat_requests(emulator))

    again = cli(tmp_path, *command, env=env)
    assert again.returncode == OK, again.stderr
    summary = json.loads(again.stdout)
    assert summary["resumed"] == 9 and summary["models"][0]["failed"] == 0
    assert len(chat_requests(emulator)) == asked + 1
