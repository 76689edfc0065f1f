"""`tunedeck jobs`, `watch`, `cancel`, `pause`, `resume` and `results` as subprocesses, against an
emulator started here on a clock the test moves: each status is held until the watch has seen it,
then the job is moved on, so a slow machine misses no status."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import openai
import pytest
from openai.types.fine_tuning import FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from core.cli.job_commands import _as_text
from core.clock import ManualClock
from core.emulator import Emulator
from core.emulator.training import QUEUED_SECONDS, VALIDATING_SECONDS
from core.service.local_state import JobRecord, LocalState
from core.service.profiles import resolve
from core.service.watch import MetricPoint, NewCheckpoint, NewEvent
from tests.conftest import DATA, REPO
from tests.test_cli import FAILED, OK, USAGE, cli

MODEL = "gpt-4o-mini-2024-07-18"
KEY = "sk-test-jobs-0000000000"
FAST = ("--interval", "0.05")
TYPES = {"status", "event", "metric", "checkpoint"}
JOB_KEYS = {
    "id", "status", "model", "suffix", "created_at", "finished_at", "estimated_finish", "trained_tokens",
    "fine_tuned_model", "training_file", "validation_file", "dataset", "error",
}  # fmt: skip
DONE = 3600.0  # emulated seconds after which any test job has ended


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())  # "now", so ages read "just now"


@pytest.fixture
def emulator(clock, tmp_path):
    with Emulator(state_dir=tmp_path / "emu", clock=clock, record=True) as emu:
        yield emu


@pytest.fixture
def env(emulator) -> dict[str, str]:
    return {"OPENAI_BASE_URL": emulator.base_url, "OPENAI_API_KEY": KEY}


@pytest.fixture
def identity(env) -> str:
    """Whose jobs these are in local state: the profile the environment makes."""
    return resolve(environ=env).profile.identity


def local_state(tmp_path) -> LocalState:
    """The local state of the commands that `cli(tmp_path, ...)` runs."""
    folder = tmp_path / "tunedeck" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    return LocalState(folder / "tunedeck.sqlite3")


@pytest.fixture
def sdk(emulator):
    with openai.OpenAI(base_url=emulator.base_url, api_key=KEY, max_retries=0) as client:
        yield client


def upload(sdk, clock, path) -> str:
    with open(path, "rb") as f:
        file = sdk.files.create(file=f, purpose="fine-tune")
    while sdk.files.retrieve(file.id).status != "processed":
        clock.advance(1)
    return file.id


def start_job(sdk, clock, path=DATA / "travel.jsonl", validation=None, epochs=None) -> str:
    """A job created now (validating its files until the clock moves)."""
    extra = {"validation_file": upload(sdk, clock, validation)} if validation else {}
    if epochs:
        extra["method"] = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}}
    return sdk.fine_tuning.jobs.create(model=MODEL, training_file=upload(sdk, clock, path), suffix="trips", **extra).id


def in_background(*args, **kw) -> Future:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(cli, *args, **kw)
    pool.shutdown(wait=False)
    return future


def polls(emulator, job_id: str) -> int:
    """Polls of the job by a watcher so far: each reads the first page of events once (other
    commands never ask for events)."""
    path = f"/v1/fine_tuning/jobs/{job_id}/events"
    return sum(x.method == "GET" and x.path == path and "after" not in x.query and x.status == 200 for x in list(emulator.exchanges))


def seen_now(emulator, job_id: str, watching: Future, more: int = 2) -> None:
    """Wait until the watch has polled the job `more` times again. Two polls are sure to include
    one that began after anything the test changed before calling this; one is enough while the
    clock has not moved since the job was created."""
    wanted = polls(emulator, job_id) + more
    deadline = time.monotonic() + 20
    while polls(emulator, job_id) < wanted:
        assert not watching.done(), watching.result().stderr
        assert time.monotonic() < deadline, "the watch stopped polling"
        time.sleep(0.02)


@contextmanager
def ticking(clock: ManualClock, speed: float):
    """The emulator's clock running `speed` times faster than the wall clock."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.01):
            clock.advance(0.01 * speed)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def json_lines(out) -> list[dict]:
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert {line["type"] for line in lines} <= TYPES
    return lines


def of_type(lines: list[dict], kind: str) -> list[dict]:
    return [line for line in lines if line["type"] == kind]


# ------------------------------------------------------------------ watch


def test_watch_json_follows_a_job_from_validation_to_success_then_results_has_its_metrics(tmp_path, emulator, clock, env, sdk):
    job_id = start_job(sdk, clock)
    watching = in_background(tmp_path, "watch", job_id, "--json", *FAST, env=env)
    early = cli(tmp_path, "results", job_id, env=env)
    for seconds, more in ((VALIDATING_SECONDS + 1, 1), (QUEUED_SECONDS + 1, 2), (DONE, 2)):
        seen_now(emulator, job_id, watching, more)
        clock.advance(seconds)
    # The job has ended: its results can be fetched while the watch reads the last of it.
    target = tmp_path / "metrics.csv"
    target.write_text("old\n")
    with ThreadPoolExecutor() as pool:
        printed = pool.submit(cli, tmp_path, "results", job_id, env=env)
        written = pool.submit(cli, tmp_path, "results", job_id, "--out", target, env=env)
        out = watching.result()
    printed, written = printed.result(), written.result()

    assert out.returncode == OK, out.stderr
    lines = json_lines(out)
    statuses = of_type(lines, "status")
    assert [(s["previous"], s["status"]) for s in statuses] == [
        (None, "validating_files"), ("validating_files", "queued"), ("queued", "running"), ("running", "succeeded")
    ]  # fmt: skip
    assert statuses[-1]["fine_tuned_model"].startswith(f"ft:{MODEL}:") and statuses[-1]["error"] is None
    metrics = of_type(lines, "metric")
    total = metrics[0]["total_steps"]
    assert [m["step"] for m in metrics] == list(range(1, total + 1))
    assert all(m["job_id"] == job_id and isinstance(m["train_loss"], float) for m in metrics)
    checkpoints = of_type(lines, "checkpoint")
    assert [c["step"] for c in checkpoints] == [total // 3, 2 * total // 3, total]  # the last three epochs
    assert all(c["fine_tuned_model_checkpoint"].endswith(f":ckpt-step-{c['step']}") and c["metrics"] for c in checkpoints)
    events = of_type(lines, "event")
    assert len({e["id"] for e in events}) == len(events)
    assert sum(e["event_type"] == "metrics" for e in events) == total
    assert set(events[0]) == {"type", "job_id", "id", "created_at", "level", "message", "event_type", "data"}
    assert out.stderr == ""

    # results: none while validating; then the CSV, to stdout or atomically to a file
    assert early.returncode == FAILED
    assert "no result file yet" in early.stderr and "validating_files" in early.stderr and early.stdout == ""
    assert printed.returncode == OK, printed.stderr
    rows = list(csv.reader(io.StringIO(printed.stdout)))
    assert rows[0][:2] == ["step", "train_loss"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, total + 1))
    assert written.returncode == OK, written.stderr
    assert target.read_text() == printed.stdout and written.stdout == ""
    assert str(target) in written.stderr and f"({total} steps)" in written.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_watch_says_on_stderr_why_a_job_failed_that_a_job_is_unknown_and_that_one_overfits(tmp_path, clock, env, identity, sdk):
    travel = (DATA / "travel.jsonl").read_text().splitlines(keepends=True)
    bad, tiny, held_out = tmp_path / "roles.jsonl", tmp_path / "tiny.jsonl", tmp_path / "held-out.jsonl"
    bad.write_text("".join(travel[:4]) + travel[4].replace('"role": "user"', '"role": "bot"', 1) + "".join(travel[5:12]))
    tiny.write_text("".join(travel[:10]))  # 10 examples trained 10 epochs: the emulator overfits them
    held_out.write_text("".join(travel[40:]))
    failing, overfitting = start_job(sdk, clock, bad), start_job(sdk, clock, tiny, validation=held_out, epochs=10)
    with local_state(tmp_path) as state:  # launched "from here": the failure can name the local file
        state.record_job(JobRecord(identity, failing, MODEL, "file-x", train_path=str(bad), status="validating_files"))
    clock.advance(DONE)
    with ThreadPoolExecutor() as pool:
        failed = pool.submit(cli, tmp_path, "watch", failing, *FAST, env=env)
        unknown = pool.submit(cli, tmp_path, "watch", "ftjob-doesnotexist", "--json", env=env)
        overfit = pool.submit(cli, tmp_path, "watch", overfitting, "--json", *FAST, env=env)
    failed, unknown, overfit = failed.result(), unknown.result(), overfit.result()

    assert failed.returncode == FAILED
    assert "status  failed" in failed.stdout
    assert re.search(r"^\d\d:\d\d:\d\d  (info|warn|error)  \S", failed.stdout, re.MULTILINE)
    assert f"{failing} failed: invalid_training_file" in failed.stderr
    assert "line 5" in failed.stderr.lower() and "bot" in failed.stderr and f"line 5 of {bad}" in failed.stderr
    with local_state(tmp_path) as state:
        assert state.job(identity, failing).status == "failed"

    assert unknown.returncode == USAGE
    assert "ftjob-doesnotexist" in unknown.stderr and "Traceback" not in unknown.stderr
    assert unknown.stdout == ""  # the JSON stream holds its four types only

    assert overfit.returncode == OK, overfit.stderr
    assert overfit.stderr.count("warning: overfitting at step") == 1
    assert "training loss kept falling" in overfit.stderr
    json_lines(overfit)  # the warning stays out of the stream


def test_watch_survives_a_flaky_server_and_misses_no_event(tmp_path, emulator, clock, env, sdk):
    job_id = start_job(sdk, clock)
    route = f"GET /v1/fine_tuning/jobs/{job_id}*"
    # 30% odds, seeded so that the 2nd request to the job fails with a 500 and the 7th is
    # dropped, with a good poll between them (so each back-off is the first, and short).
    errors = emulator.faults.add(route, "500", rate=0.3, count=1, seed=7)
    drops = emulator.faults.add(route, "drop", rate=0.3, count=1, seed=5)
    watching = in_background(tmp_path, "watch", job_id, "--json", *FAST, env=env)
    seen_now(emulator, job_id, watching, 1)  # the job is still validating when the watch starts
    with ticking(clock, speed=60):
        out = watching.result()
    emulator.faults.clear()
    assert out.returncode == OK, out.stderr
    assert (errors.fired, drops.fired) == (1, 1)
    assert out.stderr.count("connection lost (") == 2 and "retrying in" in out.stderr
    assert out.stderr.count("reconnected after 1 attempt\n") == 2
    seen = [e["id"] for e in of_type(json_lines(out), "event")]
    listed = [e.id for e in sdk.fine_tuning.jobs.list_events(job_id, limit=100)][::-1]  # pages through all
    assert seen == listed


# ------------------------------------------------------------------ jobs


def test_jobs_merges_the_service_and_the_local_records_and_keeps_local_state_current(tmp_path, clock, env, identity, sdk):
    job_id = start_job(sdk, clock)
    clock.advance(DONE)
    dataset = str(REPO / "data" / "travel.jsonl")  # below the folder the commands run in
    with local_state(tmp_path) as state:
        state.record_job(JobRecord(identity, job_id, MODEL, "file-x", dataset_path=dataset, suffix="trips", status="running"))
        for n, status in enumerate(("running", "validating_files", "running")):  # known only here
            state.record_job(JobRecord(identity, f"ftjob-{n}", MODEL, "file-gone", dataset_path=dataset, suffix="trips",
                                       status=status, created_at=time.time() - 600 - 3600 * n))  # fmt: skip
    with ThreadPoolExecutor() as pool:
        listed = pool.submit(cli, tmp_path, "jobs", "--json", env=env)
        table = pool.submit(cli, tmp_path, "jobs", "--status", "running", "--limit", "2", env=env)
    listed, table = listed.result(), table.result()

    assert listed.returncode == OK, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["id"] for r in rows] == [job_id, "ftjob-0", "ftjob-1", "ftjob-2"]  # newest first
    assert all(set(r) == JOB_KEYS for r in rows)
    remote, local = rows[0], rows[1]
    assert (local["status"], local["fine_tuned_model"], local["trained_tokens"], local["dataset"]) == ("running", None, None, dataset)
    assert (remote["status"], remote["suffix"], remote["dataset"], remote["error"]) == ("succeeded", "trips", dataset, None)
    assert remote["fine_tuned_model"].startswith(f"ft:{MODEL}:") and remote["trained_tokens"] > 0
    assert remote["finished_at"] >= remote["created_at"] and remote["training_file"].startswith("file-")
    with local_state(tmp_path) as state:  # what the service said is now recorded
        assert state.job(identity, job_id).status == "succeeded"

    assert table.returncode == OK, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split()[:3] == ["id", "status", "model"]
    assert [line.split()[0] for line in lines] == ["ftjob-0", "ftjob-2"]  # running only, at most 2
    assert all(len(line) <= 80 for line in [header, *lines])  # short ids: it fits
    assert all(line[header.index("status") :].startswith("running ") for line in lines)
    assert all(line[header.index("dataset") :] == "data/travel.jsonl" for line in lines)  # relative to the folder
    assert "10 min ago" in lines[0] and "2 h ago" in lines[1]


# ------------------------------------------------------------------ cancel, pause, resume


def test_cancel_pause_and_resume_say_the_new_status_and_a_refusal_says_why(tmp_path, clock, env, sdk):
    first, second = start_job(sdk, clock), start_job(sdk, clock)
    clock.advance(VALIDATING_SECONDS + QUEUED_SECONDS + 2)  # both running

    def cancel_twice():
        return cli(tmp_path, "cancel", first, "--json", env=env), cli(tmp_path, "cancel", first, env=env)

    def pause_then_resume():
        paused = cli(tmp_path, "pause", second, env=env)
        clock.advance(5)
        status = sdk.fine_tuning.jobs.retrieve(second).status
        return paused, status, cli(tmp_path, "resume", second, "--json", env=env)

    with ThreadPoolExecutor() as pool:
        cancels, pausing = pool.submit(cancel_twice), pool.submit(pause_then_resume)
    (cancelled, again), (paused, status, resumed) = cancels.result(), pausing.result()

    assert cancelled.returncode == OK, cancelled.stderr
    job = json.loads(cancelled.stdout)
    assert (job["id"], job["status"]) == (first, "cancelled")
    assert again.returncode == USAGE
    assert f"cannot cancel {first}" in again.stderr and "already cancelled" in again.stderr

    assert paused.returncode == OK, paused.stderr
    assert paused.stdout == f"{second} pausing\n"
    assert status == "paused"
    assert resumed.returncode == OK, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "running"


def test_human_watch_lines_show_only_the_values_present():
    at = 1_790_000_000
    point = MetricPoint("ftjob-1", 12, 120, at, {"train_loss": 0.8121, "valid_loss": 0.9009, "full_valid_loss": 0.877})
    assert _as_text(point) == "step 12/120  train 0.812  valid 0.901  full valid 0.877"
    assert _as_text(MetricPoint("ftjob-1", 3, None, at, {"train_loss": 1.5})) == "step 3  train 1.500"
    checkpoint = FineTuningJobCheckpoint(
        id="ftckpt-1", created_at=at, fine_tuned_model_checkpoint="ft:m:org:s:abc:ckpt-step-40", fine_tuning_job_id="ftjob-1",
        metrics={"step": 40, "train_loss": 0.5, "valid_loss": 0.8812}, object="fine_tuning.job.checkpoint", step_number=40,
    )  # fmt: skip
    assert _as_text(NewCheckpoint("ftjob-1", checkpoint)) == "checkpoint step 40  ft:m:org:s:abc:ckpt-step-40  valid loss 0.88"
    event = FineTuningJobEvent(id="ftevent-1", created_at=at, level="warn", message="odd\x1b[31m text", object="fine_tuning.job.event", type="message")
    assert _as_text(NewEvent("ftjob-1", event)) == f"{time.strftime('%H:%M:%S', time.localtime(at))}  warn  odd [31m text"
    metrics_event = event.model_copy(update={"type": "metrics"})
    assert _as_text(NewEvent("ftjob-1", metrics_event)) is None  # its metric line says it


def test_a_watch_that_would_never_wake_is_refused_and_json_errors_stay_json(tmp_path):
    for bad in ("nan", "inf", "0", "-1"):
        out = cli(tmp_path, "watch", "ftjob-x", "--interval", bad)
        assert out.returncode == USAGE and "positive number" in out.stderr, (bad, out.stderr)
    # No server at all: a script reading --json still gets JSON, and the reason.
    unreachable = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-test-unreachable"}
    out = cli(tmp_path, "jobs", "--json", env=unreachable)
    assert out.returncode == USAGE
    assert "Cannot reach the server" in json.loads(out.stdout)["error"]
    assert "sk-test-unreachable" not in out.stdout + out.stderr
