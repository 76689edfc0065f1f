"""The CLI contract (README "The CLI"), run as a real subprocess: exit codes, output, --json shapes.

Every run is `python -m core ...` from the repo root with stdin closed and TuneDeck's folders
under the test's tmp_path, never the real user's.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from core import __version__

REPO = Path(__file__).resolve().parent.parent
TRAVEL = "data/travel.jsonl"  # relative to REPO, the cwd of every run
BROKEN = "data/broken.jsonl"
OK, FAILED, USAGE = 0, 1, 2

DISTRIBUTION_KEYS = {"min", "mean", "p50", "p90", "max", "total"}


def cli(tmp_path: Path, *args, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {})}
    for name in ("STATE", "CONFIG", "DATA"):
        env[f"TUNEDECK_{name}_DIR"] = str(tmp_path / "tunedeck" / name.lower())
    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "tunedeck" / "state"


def read_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), f"{path} does not end in a newline"
    return data[:-1].split(b"\n")


# ------------------------------------------------------------------ global flags


def test_version(tmp_path):
    r = cli(tmp_path, "--version")
    assert r.returncode == OK, r.stderr
    assert r.stdout.strip() == f"tunedeck {__version__}"


def test_no_arguments_prints_help(tmp_path):
    r = cli(tmp_path)
    assert r.returncode == OK, r.stderr
    assert r.stdout.startswith("usage: tunedeck")
    for command in ("validate", "stats", "split"):
        assert command in r.stdout


def test_debug_writes_the_log_file_into_the_state_dir(tmp_path):
    r = cli(tmp_path, "--debug", "validate", TRAVEL)
    assert r.returncode == OK, r.stderr
    log = state_dir(tmp_path) / "tunedeck.log"
    assert log.is_file()
    text = log.read_text(encoding="utf-8")
    assert "DEBUG" in text and "validate" in text


# ------------------------------------------------------------------ validate


def test_validate_clean_file(tmp_path):
    r = cli(tmp_path, "validate", TRAVEL)
    assert r.returncode == OK, r.stderr
    assert TRAVEL in r.stdout and "OK" in r.stdout


def test_validate_broken_file_fails_and_names_the_line(tmp_path):
    r = cli(tmp_path, "validate", BROKEN)
    assert r.returncode == FAILED, r.stderr
    assert "invalid-json" in r.stdout
    assert "line 3" in r.stdout
    # the invalid-json finding is listed on line 3 (not just any "line 3x")
    assert any(line.strip().startswith("line 3:") for line in r.stdout.splitlines())


def test_validate_missing_file_is_an_io_error(tmp_path):
    missing = tmp_path / "no-such-file.jsonl"
    r = cli(tmp_path, "validate", missing)
    assert r.returncode == USAGE
    assert str(missing) in r.stderr


def test_a_failed_check_beats_an_io_error(tmp_path):
    missing = tmp_path / "no-such-file.jsonl"
    assert cli(tmp_path, "validate", missing, BROKEN).returncode == FAILED


def test_an_io_error_beats_a_clean_file(tmp_path):
    missing = tmp_path / "no-such-file.jsonl"
    r = cli(tmp_path, "validate", "--json", missing, TRAVEL)
    assert r.returncode == USAGE
    out = json.loads(r.stdout)
    assert out["ok"] is False
    missing_entry, travel_entry = out["files"]
    assert missing_entry["path"] == str(missing) and str(missing) in missing_entry["error"]
    assert travel_entry["path"] == TRAVEL and travel_entry["errors"] == 0


def test_unknown_model_is_a_usage_error(tmp_path):
    r = cli(tmp_path, "validate", "--model", "no-such-model-1", "--json", TRAVEL)
    assert r.returncode == USAGE
    assert "no-such-model-1" in r.stderr
    assert set(json.loads(r.stdout)) == {"error"}


def test_validate_json_shape(tmp_path):
    r = cli(tmp_path, "validate", "--json", TRAVEL, BROKEN)
    assert r.returncode == FAILED, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"ok", "files"}
    assert out["ok"] is False
    assert [f["path"] for f in out["files"]] == [TRAVEL, BROKEN]

    file_keys = {"path", "model", "format", "records", "valid_examples", "errors", "warnings", "by_code", "findings"}
    finding_keys = {"code", "severity", "line", "path", "message", "fix", "related_line"}
    for f in out["files"]:
        assert set(f) == file_keys
        assert f["model"] == "gpt-4o-mini-2024-07-18"
        assert f["format"] in {"chat", "preference", "mixed", "unknown", "empty"}
        for finding in f["findings"]:
            assert set(finding) == finding_keys
            assert finding["severity"] in {"error", "warning"}
            assert finding["line"] is None or isinstance(finding["line"], int)
            assert finding["related_line"] is None or isinstance(finding["related_line"], int)
            assert isinstance(finding["message"], str) and finding["message"]
            assert finding["fix"] is None or isinstance(finding["fix"], str)
        # by_code summarises findings
        for code, group in f["by_code"].items():
            assert set(group) == {"severity", "count", "lines"}
            mine = [x for x in f["findings"] if x["code"] == code]
            assert group["count"] == len(mine)
            assert {x["severity"] for x in mine} == {group["severity"]}
        assert f["errors"] == sum(1 for x in f["findings"] if x["severity"] == "error")
        assert f["warnings"] == sum(1 for x in f["findings"] if x["severity"] == "warning")

    travel, broken = out["files"]
    assert (travel["format"], travel["records"], travel["valid_examples"], travel["errors"]) == ("chat", 48, 48, 0)

    assert broken["format"] == "mixed"
    assert broken["records"] == 29  # 30 physical lines, line 7 blank
    assert broken["by_code"]["invalid-json"]["lines"] == [3]
    assert broken["by_code"]["invalid-json"]["severity"] == "error"
    assert broken["by_code"]["duplicate-example"]["lines"] == [30]
    assert broken["by_code"]["duplicate-example"]["severity"] == "warning"
    (dup,) = [x for x in broken["findings"] if x["code"] == "duplicate-example"]
    assert dup["related_line"] == 2
    (bad_json,) = [x for x in broken["findings"] if x["code"] == "invalid-json"]
    assert bad_json["line"] == 3 and bad_json["path"] == ""


# ------------------------------------------------------------------ stats


def test_stats_json(tmp_path):
    r = cli(tmp_path, "stats", "--json", TRAVEL)
    assert r.returncode == OK, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {
        "path", "format", "errors", "warnings", "model", "records", "examples",
        "messages_per_example", "tokens_per_example", "tokens_per_role", "over_token_limit",
        "token_limit", "epochs", "epochs_is_default", "billed_tokens", "price_per_million_usd",
        "prices_as_of", "estimated_cost_usd",
    }  # fmt: skip
    assert set(out["messages_per_example"]) == DISTRIBUTION_KEYS
    assert set(out["tokens_per_example"]) == DISTRIBUTION_KEYS
    assert set(out["tokens_per_role"]) == {"system", "user", "assistant"}
    for d in out["tokens_per_role"].values():
        assert set(d) == DISTRIBUTION_KEYS

    assert (out["path"], out["format"], out["errors"]) == (TRAVEL, "chat", 0)
    assert out["records"] == out["examples"] == 48
    assert out["over_token_limit"] == 0
    assert out["epochs"] == 3 and out["epochs_is_default"] is True
    tokens = out["tokens_per_example"]
    assert tokens["min"] <= tokens["p50"] <= tokens["p90"] <= tokens["max"]
    assert out["billed_tokens"] == out["epochs"] * tokens["total"]
    assert out["estimated_cost_usd"] == pytest.approx(out["billed_tokens"] * out["price_per_million_usd"] / 1e6, abs=1e-4)


# ------------------------------------------------------------------ split


def test_split(tmp_path):
    out = tmp_path / "out"
    train, validation = out / "travel.train.jsonl", out / "travel.validation.jsonl"

    r = cli(tmp_path, "split", TRAVEL, "--out", out, "--json")
    assert r.returncode == OK, r.stderr
    result = json.loads(r.stdout)
    assert set(result) == {
        "path", "ratio", "seed", "shuffle", "train", "validation", "invalid_lines",
        "duplicate_groups", "dropped_duplicate_lines", "epochs", "billed_tokens", "estimated_cost_usd",
    }  # fmt: skip
    assert (result["path"], result["ratio"], result["seed"], result["shuffle"]) == (TRAVEL, 0.8, 42, True)
    assert result["invalid_lines"] == [] and result["dropped_duplicate_lines"] == []
    assert result["duplicate_groups"] == 0
    for name, path, count in (("train", train, 38), ("validation", validation, 10)):
        side = result[name]
        assert set(side) == {"path", "examples", "tokens", "sha256"}
        assert Path(side["path"]) == path
        assert side["examples"] == count
        assert side["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert isinstance(side["tokens"], int) and side["tokens"] > 0
    assert result["epochs"] == 3  # 38 training examples
    assert result["billed_tokens"] == 3 * result["train"]["tokens"]

    # every input line lands in exactly one output, byte for byte, lines ending in \n
    source = read_lines(REPO / TRAVEL)
    train_lines, validation_lines = read_lines(train), read_lines(validation)
    assert (len(train_lines), len(validation_lines)) == (38, 10)
    assert Counter(train_lines) + Counter(validation_lines) == Counter(source)
    assert not set(train_lines) & set(validation_lines)
    first = (train.read_bytes(), validation.read_bytes())

    # without --force nothing is overwritten: usage error, files untouched
    before = [(p.stat().st_mtime_ns, p.stat().st_ino) for p in (train, validation)]
    r = cli(tmp_path, "split", TRAVEL, "--out", out, "--seed", "7")
    assert r.returncode == USAGE
    assert "--force" in r.stderr
    assert (train.read_bytes(), validation.read_bytes()) == first
    assert [(p.stat().st_mtime_ns, p.stat().st_ino) for p in (train, validation)] == before

    # same input, ratio and seed: the same bytes
    r = cli(tmp_path, "split", TRAVEL, "--out", out, "--force")
    assert r.returncode == OK, r.stderr
    assert (train.read_bytes(), validation.read_bytes()) == first

    # another seed: another assignment (same sizes)
    r = cli(tmp_path, "split", TRAVEL, "--out", out, "--force", "--seed", "7")
    assert r.returncode == OK, r.stderr
    other_train, other_validation = read_lines(train), read_lines(validation)
    assert (len(other_train), len(other_validation)) == (38, 10)
    assert Counter(other_train) + Counter(other_validation) == Counter(source)
    assert set(other_validation) != set(validation_lines)


def test_split_ratio_out_of_range_is_a_usage_error(tmp_path):
    out = tmp_path / "out"
    r = cli(tmp_path, "split", TRAVEL, "--ratio", "1.5", "--out", out)
    assert r.returncode == USAGE
    assert "1.5" in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_split_with_one_valid_example_fails(tmp_path):
    one = tmp_path / "one.jsonl"
    first_line = (REPO / TRAVEL).read_bytes().split(b"\n", 1)[0]
    one.write_bytes(first_line + b"\n" + b'{"messages": [\n')  # 1 valid example, 1 invalid record
    out = tmp_path / "out"
    r = cli(tmp_path, "split", one, "--out", out, "--json")
    assert r.returncode == FAILED, r.stderr
    result = json.loads(r.stdout)
    assert "error" in result
    assert result["train"]["examples"] + result["validation"]["examples"] == 1
    assert result["invalid_lines"] == [2]
    assert not out.exists() or not any(out.iterdir())
