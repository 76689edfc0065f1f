"""`tunedeck generate` as a subprocess against an emulator started here: exit codes, output, --json shape, the file's bytes."""

from __future__ import annotations

import json

import orjson

from tests.conftest import DATA
from tests.synthetic.conftest import GENERATOR, KEY, chat_bodies
from tests.test_cli import FAILED, OK, USAGE, cli

SUMMARY_KEYS = {"file", "model", "wanted", "appended", "lines", "dropped", "requests", "prompt_tokens", "completion_tokens", "cost_usd"}
SYSTEM = "You are a helpful travel assistant."


def env_of(emulator) -> dict[str, str]:
    return {"OPENAI_BASE_URL": emulator.base_url, "OPENAI_API_KEY": KEY}


def travel_copy(tmp_path):
    path = tmp_path / "travel.jsonl"
    path.write_bytes((DATA / "travel.jsonl").read_bytes())
    return path


def test_generate_appends_the_good_examples_and_leaves_every_earlier_byte(tmp_path, emulator):
    path = travel_copy(tmp_path)
    before = path.read_bytes()
    emulator.faults.add("POST /v1/chat/completions", "malformed", count=1)  # one reply cut short
    r = cli(tmp_path, "generate", path, "--n", "12", "--describe", "a travel assistant that plans short city trips",
            "--system", SYSTEM, "--topic", "visas", "--topic", "packing", "--concurrency", "1", "--json", env=env_of(emulator))  # fmt: skip
    assert r.returncode == OK, r.stderr
    assert r.stderr == ""  # no progress line: stderr is not a terminal
    summary = json.loads(r.stdout)
    assert set(summary) == SUMMARY_KEYS
    assert (summary["file"], summary["model"], summary["wanted"], summary["appended"], summary["lines"]) == (str(path), GENERATOR, 12, 12, [49, 60])
    assert summary["requests"] == len(chat_bodies(emulator)) and summary["prompt_tokens"] > 0 and summary["completion_tokens"] > 0
    assert summary["cost_usd"] > 0
    cut = [d for d in summary["dropped"] if d["verdict"] == "unreadable"]
    assert cut == [{"number": cut[0]["number"], "verdict": "unreadable", "problems": ["reply cut short after 4 examples"]}]
    assert all(set(d) == {"number", "verdict", "problems"} and d["problems"] for d in summary["dropped"])
    after = path.read_bytes()
    assert after.startswith(before)
    added = [orjson.loads(line) for line in after[len(before) :].splitlines()]
    assert len(added) == 12 and all(e["messages"][0] == {"role": "system", "content": SYSTEM} for e in added)
    # the file's own examples were shown as style references
    assert "Existing examples, for their style and length only" in chat_bodies(emulator)[0]["messages"][0]["content"]


def test_generate_prints_what_it_appended_dropped_and_spent(tmp_path, emulator):
    path = tmp_path / "new.jsonl"
    path.write_bytes(b"")  # an empty file is a fine start
    emulator.faults.add("POST /v1/chat/completions", "malformed", count=1)
    r = cli(tmp_path, "generate", path, "--n", "3", "--describe", "a sourdough baking assistant", "--per-request", "4",
            "--concurrency", "1", env=env_of(emulator))  # fmt: skip
    assert r.returncode == OK, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{path}: appended 3 examples (lines 1–3)"
    assert lines[1].startswith("dropped 1 of ") and lines[2] == "  #3 unreadable: reply cut short after 2 examples"  # 3 asked, the third cut
    assert lines[-1].endswith(f"cost ≈ $0.0{lines[-1].split('$0.0')[1].split()[0]} at {GENERATOR} prices of 2025-08-07")
    assert len(path.read_bytes().splitlines()) == 3


def test_generate_exits_1_when_every_candidate_is_dropped_and_the_file_is_untouched(tmp_path, emulator):
    path = travel_copy(tmp_path)
    before = path.read_bytes()
    # a system prompt with a special token: every example carries it, and the service refuses such text
    r = cli(tmp_path, "generate", path, "--n", "2", "--describe", "a travel assistant", "--system", "You are <|endoftext|>.",
            "--references", "0", "--json", env=env_of(emulator))  # fmt: skip
    assert r.returncode == FAILED, r.stderr
    summary = json.loads(r.stdout)
    assert summary["appended"] == 0 and summary["lines"] is None and summary["dropped"]
    assert all(d["verdict"] == "invalid" and "special token <|endoftext|>" in d["problems"][0] for d in summary["dropped"])
    assert summary["requests"] == 3 * 1 + 2  # the run's limit: it does not spend without end
    assert "0 of 2 wanted" in r.stderr
    assert path.read_bytes() == before


def test_generate_usage_errors_exit_2(tmp_path, emulator):
    env = env_of(emulator)
    missing = cli(tmp_path, "generate", tmp_path / "missing.jsonl", "--n", "3", "--describe", "x", "--json", env=env)
    assert missing.returncode == USAGE and "no such file" in json.loads(missing.stdout)["error"]
    path = travel_copy(tmp_path)
    for flags, said in [
        (["--n", "0", "--describe", "x"], "--n: 0 is not in [1, 5000]"),
        (["--describe", "x"], "the following arguments are required: --n"),
        (["--n", "3"], "the following arguments are required: --describe"),
        (["--n", "3", "--describe", " "], "--describe: it is empty"),
        (["--n", "3", "--describe", "x", "--per-request", "21"], "--per-request: 21 is not in [1, 20]"),
        (["--n", "3", "--describe", "x", "--temperature", "hot"], "--temperature: 'hot' is not a number"),
    ]:
        r = cli(tmp_path, "generate", path, *flags, env=env)
        assert r.returncode == USAGE and said in r.stderr, (flags, r.stderr)
    unknown = cli(tmp_path, "generate", path, "--n", "3", "--describe", "x", "--model", "gpt-nope", env=env)
    assert unknown.returncode == USAGE and "Unknown model" in unknown.stderr
    assert path.read_bytes() == (DATA / "travel.jsonl").read_bytes()
    assert len(chat_bodies(emulator)) <= 3  # only the unknown model's requests were sent
