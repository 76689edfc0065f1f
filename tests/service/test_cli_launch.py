"""`tunedeck upload` and `tunedeck launch` as subprocesses, against the built-in emulator (no
credentials) or an emulator started here: confirmation contents, reuse, refusals."""

from __future__ import annotations

import json
import shutil
import socket

import pytest

from core.emulator import Emulator
from tests.conftest import DATA
from tests.test_cli import FAILED, OK, USAGE, cli

TRAVEL = "data/travel.jsonl"


def test_upload_twice_sends_the_bytes_once(tmp_path):
    first = cli(tmp_path, "upload", TRAVEL, "--json")
    assert first.returncode == OK, first.stderr
    again = cli(tmp_path, "upload", TRAVEL, "--json")
    a, b = json.loads(first.stdout), json.loads(again.stdout)
    assert (a["reused"], b["reused"], b["id"], b["status"]) == (False, True, a["id"], "processed")


def test_launch_without_yes_shows_everything_and_sends_nothing(tmp_path):
    out = cli(tmp_path, "launch", "--train", TRAVEL, "--model", "gpt-4o-mini", "--suffix", "trips", "--lr-multiplier", "0.5", "--metadata", "team=travel")
    assert out.returncode == USAGE
    assert "--yes" in out.stderr and "not a terminal" in out.stderr
    shown = out.stdout
    for expected in (
        "emulator",
        "data/travel.jsonl (48 valid examples)",
        "gpt-4o-mini-2024-07-18",
        "supervised",
        "auto (the service picks 3 for 48 examples)",
        "lr mult.    0.5",
        "trips",
        "team=travel",
        "billed tokens",
    ):
        assert expected in shown, expected
    # nothing went up: the first real upload is not a reuse
    assert json.loads(cli(tmp_path, "upload", TRAVEL, "--json").stdout)["reused"] is False


def test_launch_on_a_split_links_the_job_to_its_dataset_and_seed(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(DATA / "travel.jsonl", work / "travel.jsonl")
    assert cli(tmp_path, "split", work / "travel.jsonl", "--seed", "7").returncode == OK
    out = cli(tmp_path, "launch", "--train", work / "travel.train.jsonl", "--model", "gpt-4o-mini", "--yes", "--json")
    assert out.returncode == OK, out.stderr
    job = json.loads(out.stdout)
    assert job["id"].startswith("ftjob-") and job["validation_file"]  # the split's validation side went too
    assert job["metadata"]["tunedeck_split_seed"] == "7"
    assert len(job["metadata"]["tunedeck_dataset_sha256"]) == 16


@pytest.mark.parametrize(
    "args,code,words",
    [
        (["--train", "data/preferences.jsonl", "--model", "gpt-4o-mini"], FAILED, "needs chat examples"),
        (["--train", TRAVEL, "--model", "gpt-4o-mini", "--method", "dpo"], FAILED, "needs preference examples"),
        (["--train", TRAVEL, "--model", "gpt-3.5-turbo-0125", "--method", "dpo"], USAGE, "cannot be trained with DPO"),
        (["--train", TRAVEL, "--model", "gpt-4o-mini", "--suffix", "x" * 65], USAGE, "at most 64"),
        (["--train", TRAVEL, "--model", "gpt-4o-mini", "--metadata", "k=" + "v" * 513], USAGE, "values at most 512"),
        (["--train", TRAVEL, "--model", "gpt-9"], USAGE, "unknown model"),
        (["--train", "data/broken.jsonl", "--model", "gpt-4o-mini"], FAILED, "mixed"),
    ],
)
def test_refusals_send_nothing_and_say_why(tmp_path, args, code, words):
    out = cli(tmp_path, "launch", *args, "--yes")
    assert out.returncode == code, out.stderr
    assert words in out.stderr
    assert not (tmp_path / "tunedeck" / "data" / "emulator").exists()  # no server was even started


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_cannot_be_reached_is_named(tmp_path):
    env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1", "OPENAI_API_KEY": "sk-local-0000000000"}
    out = cli(tmp_path, "upload", TRAVEL, env=env)
    assert out.returncode == USAGE
    assert "Cannot reach the server" in out.stderr and "127.0.0.1" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_refused_key_is_named_and_never_printed(tmp_path):
    wrong = "sk-wrong-key-0123456789ABCD"
    with Emulator(api_keys={"sk-right-key-0000000000"}) as emulator:
        out = cli(tmp_path, "launch", "--train", TRAVEL, "--model", "gpt-4o-mini", "--yes", env={"OPENAI_BASE_URL": emulator.base_url, "OPENAI_API_KEY": wrong})
    assert out.returncode == USAGE
    assert "API key was refused" in out.stderr and "nothing was uploaded" in out.stderr
    assert wrong not in out.stdout + out.stderr
