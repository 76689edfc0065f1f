"""An emulated job validates like the service, runs on a believable clock and learns believably."""

import time

import orjson
import pytest

from core.dataset import open_dataset, validate
from core.dataset.stats import compute
from core.emulator import training
from core.emulator.training import (
    FileProblem,
    InvalidParameter,
    Plan,
    failed_validation,
    make_plan,
    progress,
)
from tests.conftest import DATA

MODEL = "gpt-4o-mini-2024-07-18"
TRAVEL = (DATA / "travel.jsonl").read_bytes()
TRAVEL_LINES = TRAVEL.splitlines()
PREFERENCES = (DATA / "preferences.jsonl").read_bytes()
CHECKPOINT_KEYS = {"step", "train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy", "full_valid_loss", "full_valid_mean_token_accuracy"}


def travel(lo: int, hi: int) -> bytes:
    return b"\n".join(TRAVEL_LINES[lo:hi]) + b"\n"


def plan(training: bytes = TRAVEL, validation: bytes | None = None, **options) -> Plan:
    result = make_plan(training, validation, model=options.pop("model", MODEL), **options)
    assert isinstance(result, Plan), result
    return result


def done(p: Plan):
    return progress(p, p.finish_offset + 1)


def metrics(p: Plan) -> list[dict]:
    return [e.data for e in done(p).events if e.type == "metrics"]


def chat_line(user: str, assistant: str, *, role: str = "assistant") -> bytes:
    example = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": user}, {"role": role, "content": assistant}]}
    return orjson.dumps(example)


# --- what the job is told at creation -------------------------------------------------------


def test_travel_plan_bills_exactly_what_core_dataset_bills():
    p = plan()
    stats = compute(validate(open_dataset(DATA / "travel.jsonl"), MODEL))
    assert (p.n_train, p.n_epochs, p.batch_size) == (48, 3, 1)
    assert p.total_steps == 144
    assert p.trained_tokens == stats.billed_tokens
    assert len(p.examples) == 48 and p.examples[0]["messages"][1]["content"] == "Best time to visit Japan?"


def test_given_hyperparameters_are_kept_and_auto_ones_resolved():
    p = plan(hyperparameters={"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5})
    assert (p.n_epochs, p.batch_size, p.learning_rate_multiplier, p.beta) == (2, 4, 0.5, None)
    assert p.total_steps == 2 * 12  # 48 examples in batches of 4
    assert p.trained_tokens == 2 * plan().trained_tokens // 3  # billed per epoch
    dpo = plan(PREFERENCES, method="dpo", hyperparameters={"n_epochs": "auto", "beta": "auto"})
    assert dpo.method == "dpo" and dpo.beta == 0.1 and dpo.n_epochs == 6  # 16 examples -> 100 // 16


@pytest.mark.parametrize(
    "options,param",
    [
        ({"model": "gpt-5-nano"}, "model"),
        ({"model": "gpt-3.5-turbo-0125", "method": "dpo"}, "model"),
        ({"method": "reinforcement"}, "method"),
        ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
        ({"hyperparameters": {"n_epochs": 2.5}}, "hyperparameters.n_epochs"),
        ({"hyperparameters": {"batch_size": "big"}}, "hyperparameters.batch_size"),
        ({"hyperparameters": {"learning_rate_multiplier": 0}}, "hyperparameters.learning_rate_multiplier"),
        ({"hyperparameters": {"beta": 0.2}}, "hyperparameters.beta"),  # beta is for dpo only
        ({"hyperparameters": {"epochs": 3}}, "hyperparameters.epochs"),
    ],
)
def test_requests_the_service_refuses_at_creation(options, param):
    with pytest.raises(InvalidParameter) as caught:
        make_plan(TRAVEL, None, **{"model": MODEL, **options})
    assert caught.value.param == param


# --- file validation ----------------------------------------------------------------------


def test_the_first_bad_line_fails_the_file_with_its_line_and_field():
    good = [chat_line(f"question {i}", f"answer {i}") for i in range(12)]
    bad = chat_line("hello", "hi", role="bot")
    data = b"\n".join(good[:2] + [b""] + [bad] + good[2:]) + b"\n"  # a blank line before it: physical line 4
    problem = make_plan(data, None, model=MODEL)
    assert isinstance(problem, FileProblem)
    assert (problem.code, problem.param, problem.line, problem.path) == ("invalid_training_file", "training_file", 4, "messages[2].role")
    assert problem.message.startswith("Line 4 of the training file: role 'bot' is not accepted")
    assert "messages[2].role" in problem.message


def test_the_broken_sample_fails_at_its_first_broken_line():
    problem = make_plan((DATA / "broken.jsonl").read_bytes(), None, model=MODEL)
    assert isinstance(problem, FileProblem) and problem.line == 3 and problem.finding_code == "invalid-json"


def test_too_few_examples_and_a_bad_validation_file():
    few = make_plan(travel(0, 3), None, model=MODEL)
    assert few == FileProblem("invalid_n_examples", "Training file has 3 examples, fewer than the minimum of 10", "training_file", None, finding_code="too-few-examples")
    bad_validation = make_plan(travel(0, 20), travel(20, 22) + b"[1, 2]\n", model=MODEL)
    assert isinstance(bad_validation, FileProblem)
    assert (bad_validation.code, bad_validation.param, bad_validation.line) == ("invalid_validation_file", "validation_file", 3)


def test_each_method_needs_its_own_kind_of_example():
    as_supervised = make_plan(PREFERENCES, None, model=MODEL)
    as_dpo = make_plan(TRAVEL, None, model=MODEL, method="dpo")
    assert isinstance(as_supervised, FileProblem) and as_supervised.line == 1 and "supervised" in as_supervised.message
    assert isinstance(as_dpo, FileProblem) and as_dpo.line == 1 and "preference" in as_dpo.message
    mixed = TRAVEL_LINES[:11] + PREFERENCES.splitlines()[:1]
    problem = make_plan(b"\n".join(mixed), None, model=MODEL)
    assert isinstance(problem, FileProblem) and problem.line == 12


def test_a_job_whose_file_failed_validation():
    problem = make_plan(travel(0, 3), None, model=MODEL)
    early = failed_validation(problem, 2.0, training_file_id="file-abc")
    assert early.status == "validating_files" and early.error is None
    assert [e.message for e in early.events] == ["Created fine-tuning job", "Validating training file: file-abc"]
    late = failed_validation(problem, 6.0)
    assert late.status == "failed" and late.finished_offset == 5.0
    assert late.error == {"code": "invalid_n_examples", "message": problem.message, "param": "training_file"}
    assert late.events[-1].level == "error" and late.events[-1].message == problem.message


# --- the job's course ---------------------------------------------------------------------


def test_a_forty_example_job_runs_through_the_real_statuses_in_about_a_minute():
    p = plan(travel(0, 40), job_id="ftjob-1", training_file_id="file-t", fine_tuned_model="ft:x")
    assert p.total_steps == 120
    statuses = {t: progress(p, t).status for t in (0, 4.9, 5, 9.9, 10.5, 59)}
    assert statuses == {0: "validating_files", 4.9: "validating_files", 5: "queued", 9.9: "queued", 10.5: "running", 59: "running"}
    assert 55 <= p.finish_offset <= 65
    end = done(p)
    assert end.status == "succeeded" and end.step == 120 and end.finished_offset == p.finish_offset
    messages = [e.message for e in end.events if e.type == "message"]
    assert messages[:4] == ["Created fine-tuning job: ftjob-1", "Validating training file: file-t", "Files validated, moving job to queued state", "Fine-tuning job started"]
    assert "New fine-tuned model created: ft:x" in messages and messages[-1] == "The job has successfully completed"
    running = progress(p, 30)
    assert running.started_offset == 10 and running.finished_offset is None and running.estimated_finish_offset == p.finish_offset
    assert progress(p, 7).estimated_finish_offset is None


def test_events_only_grow_and_every_step_has_its_metrics_event():
    p = plan(travel(0, 20), travel(20, 26))
    earlier = progress(p, 20)
    later = done(p)
    assert later.events[: len(earlier.events)] == earlier.events  # the server can number events by position
    offsets = [e.offset for e in later.events]
    assert offsets == sorted(offsets)
    steps = [e for e in later.events if e.type == "metrics"]
    assert [e.data["step"] for e in steps] == list(range(1, p.total_steps + 1))
    assert earlier.step == sum(1 for e in earlier.events if e.type == "metrics") > 0
    first = steps[0]
    assert first.message.startswith(f"Step 1/{p.total_steps}: training loss=") and ", validation loss=" in first.message
    assert set(first.data) == {"step", "total_steps", "train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy"}


def test_the_same_inputs_give_the_same_job_and_the_seed_changes_the_noise():
    a = done(plan(travel(0, 20), travel(20, 26), seed=7))
    training._timeline.cache_clear()  # computed afresh, not served from the cache
    b = done(plan(travel(0, 20), travel(20, 26), seed=7))
    c = done(plan(travel(0, 20), travel(20, 26), seed=8))
    assert a == b
    assert [e.data for e in a.events if e.data] != [e.data for e in c.events if e.data]


def test_without_a_validation_file_there_are_no_validation_metrics():
    p = plan(travel(0, 12))
    assert all(not any(k.startswith(("valid", "full_valid")) for k in m) for m in metrics(p))
    assert all("validation" not in e.message for e in done(p).events)
    header, first, *_ = done(p).result_csv.splitlines()
    assert first.endswith(",,")


def test_checkpoints_are_the_last_three_epoch_ends_as_they_are_reached():
    p = plan(travel(0, 10), travel(10, 14), hyperparameters={"n_epochs": 5, "batch_size": 2})
    assert p.steps_per_epoch == 5
    end = done(p)
    assert [(c.epoch, c.step) for c in end.checkpoints] == [(3, 15), (4, 20), (5, 25)]
    assert set(end.checkpoints[-1].metrics) == CHECKPOINT_KEYS
    assert end.checkpoints[-1].metrics["full_valid_loss"] > 0
    by_step = {m["step"]: m for m in metrics(p)}
    assert end.checkpoints[0].metrics == {k: v for k, v in by_step[15].items() if k != "total_steps"}
    midway = progress(p, end.checkpoints[1].offset)
    assert [c.step for c in midway.checkpoints] == [15, 20]
    assert "Checkpoint created at step 20" in [e.message for e in midway.events]


def test_the_result_file_has_a_row_per_step_matching_the_events():
    p = plan(travel(0, 12), travel(12, 15))
    assert progress(p, p.finish_offset - 0.5).result_csv is None
    header, *rows = done(p).result_csv.splitlines()
    assert header == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert len(rows) == p.total_steps
    last = metrics(p)[-1]
    expected = [last["step"], last["train_loss"], last["train_mean_token_accuracy"], last["valid_loss"], last["valid_mean_token_accuracy"]]
    assert rows[-1] == ",".join(map(str, expected))


def test_an_injected_failure_stops_the_job_at_that_step():
    p = plan(travel(0, 12), hyperparameters={"n_epochs": 5}, fail_at_step=40)  # 60 steps planned
    before = progress(p, p.started_offset + 39.5 * p.step_seconds)
    assert before.status == "running" and before.step == 39
    after = done(p)
    assert after.status == "failed" and after.step == 39 and after.result_csv is None
    assert after.error["code"] == "internal_error" and "step 40/60" in after.error["message"]
    assert after.events[-1].level == "error" and after.finished_offset < p.finish_offset
    assert [c.step for c in after.checkpoints] == [36]  # epoch 3 ended; epochs 4 and 5 never did


def test_progress_is_cheap_enough_for_every_request():
    rows = [chat_line(f"Question number {i} about trains?", f"Answer {i}: take the {i % 7 + 1} o'clock train.") for i in range(1000)]
    p = plan(b"\n".join(rows), hyperparameters={"batch_size": 1})
    assert p.total_steps == 3000
    progress(p, 0)  # builds and caches the timeline
    started = time.perf_counter()
    for k in range(300):
        progress(p, p.started_offset + k * 4.0)
    assert time.perf_counter() - started < 1.0


# --- the curves ---------------------------------------------------------------------------


def test_training_loss_starts_high_falls_and_accuracy_rises_with_it():
    steps = metrics(plan())
    first, last = steps[0], steps[-1]
    assert 1.5 <= first["train_loss"] <= 3.2
    assert last["train_loss"] < first["train_loss"] / 3
    assert last["train_mean_token_accuracy"] > first["train_mean_token_accuracy"]
    ordered = sorted(steps, key=lambda m: m["train_loss"])
    accuracies = [m["train_mean_token_accuracy"] for m in ordered]
    assert accuracies == sorted(accuracies, reverse=True)


def test_longer_more_varied_replies_start_from_a_higher_loss():
    terse = b"\n".join(chat_line(f"Is {city} nice?", "Yes.") for city in "abcdefghijkl")
    rich = travel(0, 12)
    assert plan(terse).curve.start < plan(rich).curve.start
    assert metrics(plan(terse))[0]["train_loss"] < metrics(plan(rich))[0]["train_loss"]


def test_more_epochs_and_a_higher_learning_rate_reach_a_lower_training_loss():
    def final(**hyperparameters):
        return metrics(plan(travel(0, 30), hyperparameters=hyperparameters))[-1]["train_loss"]

    assert final(n_epochs=3) < final(n_epochs=1)
    assert final(n_epochs=2, learning_rate_multiplier=4) < final(n_epochs=2, learning_rate_multiplier=0.2)


def test_a_tiny_file_trained_for_many_epochs_overfits():
    p = plan(travel(0, 12), travel(12, 20), hyperparameters={"n_epochs": 10})
    full = [m["full_valid_loss"] for m in metrics(p) if "full_valid_loss" in m]
    train = [m["train_loss"] for m in metrics(p) if "full_valid_loss" in m]
    assert len(full) == 10  # one full validation per epoch
    best = full.index(min(full))
    assert best < 9 and full[-1] > min(full) * 1.3  # validation turns back up...
    assert train[-1] < train[best]  # ...while training loss keeps falling


def test_a_default_job_on_a_decent_file_does_not_overfit():
    p = plan(TRAVEL, travel(0, 8))
    full = [m["full_valid_loss"] for m in metrics(p) if "full_valid_loss" in m]
    assert full == sorted(full, reverse=True)


def test_dpo_loss_starts_near_log_two_and_falls():
    steps = metrics(plan(PREFERENCES, method="dpo"))
    assert 0.6 < steps[0]["train_loss"] < 0.8
    assert steps[-1]["train_loss"] < steps[0]["train_loss"] / 2
