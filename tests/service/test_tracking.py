"""The job board over a real emulator: a whole run watched into one JobView, the overfitting alarm
on emulated runs, failures traced back to a local line, and what each state allows."""

from __future__ import annotations

import pytest

from core.service import files, jobs, overfit
from core.service.jobs import JobRequest
from core.service.local_state import JobRecord, LocalState
from core.service.tracking import JobBoard, JobView
from core.service.watch import MetricPoint, Watcher
from tests.conftest import DATA

MODEL = "gpt-4o-mini-2024-07-18"
TRAVEL = (DATA / "travel.jsonl").read_bytes().splitlines(keepends=True)


async def uploaded(conn, sleep, path):
    file = await files.upload(conn, path)
    return (await files.wait_processed(conn, file.id, sleep=sleep)).id


async def launched(conn, sleep, tmp_path, *, train_lines, valid_lines=None, epochs=None, state=None, name="train.jsonl"):
    train = tmp_path / name
    train.write_bytes(b"".join(train_lines))
    valid = None
    if valid_lines:
        valid = tmp_path / f"valid-{name}"
        valid.write_bytes(b"".join(valid_lines))
    request = JobRequest(
        model=MODEL,
        training_file=await uploaded(conn, sleep, train),
        validation_file=await uploaded(conn, sleep, valid) if valid else None,
        n_epochs=epochs,
        suffix="trips",
    )
    provenance = {"dataset_path": str(train), "train_path": str(train), "validation_path": str(valid) if valid else None}
    return await jobs.create(conn, request, state=state, provenance=provenance)


async def watched(conn, clock, sleep, job_id) -> JobView:
    board = JobBoard()
    async for update in Watcher(conn, [job_id], clock=clock, sleep=sleep).updates():
        board.apply(update)
    return board.views[job_id]


@pytest.mark.asyncio
async def test_a_run_watched_to_the_end_fills_one_view(conn, clock, sleep, tmp_path):
    job = await launched(conn, sleep, tmp_path, train_lines=TRAVEL[:40], valid_lines=TRAVEL[40:], epochs=3)
    board = JobBoard()
    seen_statuses, estimates = [], []
    async for update in Watcher(conn, [job.id], clock=clock, sleep=sleep).updates():
        view = board.apply(update)
        if view is not None and view.status not in seen_statuses:
            seen_statuses.append(view.status)
        if view is not None and view.status == "running" and view.estimated_finish():
            estimates.append(view.estimated_finish())
    view = board.views[job.id]
    assert seen_statuses == ["validating_files", "queued", "running", "succeeded"]
    assert [p.step for p in view.points] == list(range(1, 121))  # 40 examples × 3 epochs, batch 1
    assert [c.step_number for c in view.checkpoints] == [40, 80, 120]
    assert view.progress() == 1.0 and view.step == (120, 120)
    assert view.fine_tuned_model and ":trips:" in view.fine_tuned_model and view.suffix == "trips"
    assert view.trained_tokens and view.epochs == 3
    assert view.alarm is None  # a healthy run: validation keeps falling
    assert estimates and all(when > job.created_at for when, _ in estimates)
    assert view.elapsed(clock.now()) == pytest.approx(120 * 0.38 + 4, abs=1.5)  # 120 steps, then the model is made
    assert view.estimated_finish() is None  # ended
    assert view.refusal("copy") is None and view.refusal("results") is None
    assert "cannot be cancelled" in view.refusal("cancel")


@pytest.mark.asyncio
async def test_the_alarm_rings_on_an_overfitting_run(conn, clock, sleep, tmp_path):
    # 10 examples seen 10 times: training loss keeps falling, validation climbs from epoch 4.
    job = await launched(conn, sleep, tmp_path, train_lines=TRAVEL[:10], valid_lines=TRAVEL[40:], epochs=10)
    view = await watched(conn, clock, sleep, job.id)
    alarm = view.alarm
    assert alarm is not None and alarm.full_validation
    assert alarm.best_step == 30 and alarm.step == 40  # end of epoch 3 was best; epoch 4 rose
    assert alarm.rise >= overfit.EPOCH_RISE
    assert "rose" in alarm.describe() and "step 30" in alarm.describe()


@pytest.mark.asyncio
async def test_no_alarm_without_validation_data(conn, clock, sleep, tmp_path):
    job = await launched(conn, sleep, tmp_path, train_lines=TRAVEL[:10], epochs=10)
    view = await watched(conn, clock, sleep, job.id)
    assert view.points and view.alarm is None


def point(step, train, valid, full=None, total=100):
    values = {"train_loss": train, "valid_loss": valid} | ({"full_valid_loss": full} if full is not None else {})
    return MetricPoint("job", step, total, step, values)


def test_the_step_rule_needs_a_sustained_rise_with_training_still_falling():
    falling = [point(s, 2 - s / 100, 1.5 - s / 200) for s in range(1, 101)]
    assert overfit.check(falling) is None
    rising_valid = [point(s, 2 - s / 100, 1.0 + max(0, s - 40) / 100) for s in range(1, 101)]
    alarm = overfit.check(rising_valid)
    assert alarm is not None and not alarm.full_validation and 40 < alarm.step < 100
    both_rising = [point(s, 1 + s / 100, 1.0 + max(0, s - 40) / 100) for s in range(1, 101)]
    assert overfit.check(both_rising) is None  # training is diverging, not overfitting
    one_spike = [point(s, 2 - s / 100, 3.0 if s == 70 else 1.0) for s in range(1, 101)]
    assert overfit.check(one_spike) is None  # one noisy batch is not a trend


@pytest.mark.asyncio
async def test_a_failure_names_the_line_of_the_local_file(conn, clock, sleep, tmp_path):
    lines = [line.decode() for line in TRAVEL[:12]]
    lines[4] = lines[4].replace('"role":"user"', '"role":"bot"', 1).replace('"role": "user"', '"role": "bot"', 1)
    with LocalState(tmp_path / "state.sqlite3") as state:
        job = await launched(conn, sleep, tmp_path, train_lines=[line.encode() for line in lines], state=state)
        record = state.job(conn.profile.identity, job.id)
    board = JobBoard()
    board.merge([], [record])
    async for update in Watcher(conn, [job.id], clock=clock, sleep=sleep).updates():
        board.apply(update)
    failure = board.views[job.id].failure()
    assert failure is not None and failure.code == "invalid_training_file"
    assert failure.line == 5 and failure.param == "training_file"
    assert failure.path == tmp_path / "train.jsonl" and failure.openable
    assert "editor" in failure.hint


def test_each_action_says_why_it_is_refused():
    record = JobRecord(profile="p", job_id="ftjob-1", model=MODEL, training_file="file-1", status="running")
    view = JobView("ftjob-1", record=record)
    assert view.refusal("pause") is None and view.refusal("cancel") is None
    assert "paused job" in view.refusal("resume")
    assert "succeeds" in view.refusal("results") and "succeeds" in view.refusal("copy")
    view.record = JobRecord(profile="p", job_id="ftjob-1", model=MODEL, training_file="file-1", status="paused")
    assert view.refusal("resume") is None and "running job" in view.refusal("pause")


@pytest.mark.asyncio
async def test_the_list_merges_local_records_and_reports_jobs_that_ended_meanwhile(conn, clock, sleep, tmp_path):
    job = await launched(conn, sleep, tmp_path, train_lines=TRAVEL[:12], epochs=1)
    record = JobRecord(profile="p", job_id=job.id, model=MODEL, training_file=job.training_file, dataset_path="/data/trips.jsonl", status="running")
    gone = JobRecord(profile="p", job_id="ftjob-gone", model=MODEL, training_file="file-x", status="succeeded", created_at=1.0)
    await sleep(3600)
    board = JobBoard()
    ended = board.merge(await jobs.list_all(conn), [record, gone])
    assert [v.job_id for v in ended] == [job.id]  # it was running when TuneDeck last looked
    assert [v.job_id for v in board.rows()] == [job.id, "ftjob-gone"]  # newest first, local-only kept
    assert board.views[job.id].dataset == "/data/trips.jsonl"
    assert board.announce(ended[0]) and not board.announce(ended[0])  # told once
    assert board.rows("succeeded")[0].status == "succeeded" and board.active() == []


def test_a_list_read_does_not_put_back_an_older_status_of_a_watched_job():
    from openai.types.fine_tuning import FineTuningJob

    def job(status):
        # Built as the SDK builds answers, unvalidated: its model has no "paused" status.
        return FineTuningJob.model_construct(
            **{"id": "ftjob-1", "created_at": 1, "model": MODEL, "object": "fine_tuning.job", "organization_id": "org",
             "result_files": [], "seed": 1, "status": status, "training_file": "file-1", "validation_file": None,
             "fine_tuned_model": None, "finished_at": None, "hyperparameters": {"n_epochs": 3}, "trained_tokens": None, "error": None}
        )  # fmt: skip

    board = JobBoard()
    board.merge([job("running")], [])
    board.views["ftjob-1"].job = job("paused")  # what the watcher saw after the user paused it
    board.merge([job("running")], [], watched={"ftjob-1"})  # a list read sent before the pause
    assert board.views["ftjob-1"].status == "paused"
    board.merge([job("running")], [])  # not watched: the list is all there is
    assert board.views["ftjob-1"].status == "running"
