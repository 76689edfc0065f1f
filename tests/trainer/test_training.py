"""The trainer end to end through the real openai SDK: a tiny model made here learns 12 examples,
its checkpoints answer, a cancel stops training within a step, pause and resume continue from the
saved step, a restarted trainer continues the job it was running, DPO makes the model prefer the
preferred outputs, a crash fails the job and not the server, and `tunedeck watch` follows a job on
it unchanged."""

from __future__ import annotations

import io
import json
import time

import pytest

from core.evaluate.scores import score
from tests.test_cli import OK, cli
from tests.trainer.conftest import KEY, MODEL, wait_for
from tests.trainer.tiny import CITIES, examples, jsonl, preferences

LEARNED = 0.6  # the last step's train loss must be below 60% of the first step's
FAST = {"n_epochs": 10, "batch_size": 4, "learning_rate_multiplier": 100}  # rate 1e-2: a random tiny model needs it
TERMINAL = {"succeeded", "failed", "cancelled"}


def upload(sdk, rows) -> str:
    return sdk.files.create(file=("data.jsonl", io.BytesIO(jsonl(rows))), purpose="fine-tune").id


def create(sdk, training: str, validation: str | None = None, kind: str = "supervised", **hyperparameters) -> str:
    extra = {"validation_file": validation} if validation else {}
    method = {"type": kind, kind: {"hyperparameters": {**FAST, **hyperparameters}}}
    return sdk.fine_tuning.jobs.create(model=MODEL, training_file=training, suffix="geo", seed=7, method=method, **extra).id


def finished(sdk, job_id: str, timeout: float = 60):
    return wait_for(lambda: (job := sdk.fine_tuning.jobs.retrieve(job_id)).status in TERMINAL and job, timeout, f"{job_id} to end",
                    every=0.2)  # fewer requests: each is checked against the OpenAPI document at the end


def events(sdk, job_id: str) -> list:
    return list(sdk.fine_tuning.jobs.list_events(job_id, limit=1000))[::-1]  # oldest first


def metric_steps(sdk, job_id: str) -> list[int]:
    return [e.data["step"] for e in events(sdk, job_id) if e.type == "metrics"]


def ask(sdk, model: str, country: str, **options) -> str:
    messages = [{"role": "system", "content": "You answer geography questions."},
                {"role": "user", "content": f"What is the capital of {country}?"}]
    reply = sdk.chat.completions.create(model=model, messages=messages, max_tokens=24, **options)
    return reply.choices[0].message.content


@pytest.fixture(scope="module")
def trained(sdk):
    """One job trained to the end on the 12 examples, with 3 of them as the validation file."""
    job_id = create(sdk, upload(sdk, examples()), upload(sdk, examples()[:3]))
    started = time.monotonic()
    job = finished(sdk, job_id)
    return job, time.monotonic() - started


def test_a_job_trains_for_real_and_reports_like_the_service(sdk, trained):
    job, seconds = trained
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model.startswith(f"ft:{MODEL}:tunedeck:geo:")
    assert job.trained_tokens > 0 and job.hyperparameters.n_epochs == 10 and job.hyperparameters.batch_size == 4
    log = events(sdk, job.id)
    messages = [e.message for e in log]
    assert messages[0] == f"Created fine-tuning job: {job.id}"
    assert "Files validated, moving job to queued state" in messages
    assert any(m.startswith("Fine-tuning job started") for m in messages)
    assert messages[-1] == "The job has successfully completed"
    metrics = [e.data for e in log if e.type == "metrics"]
    assert [m["step"] for m in metrics] == list(range(1, 31))  # 12 examples / batch 4 = 3 steps x 10 epochs
    assert all(m["total_steps"] == 30 and "valid_loss" in m for m in metrics)
    assert [m["step"] for m in metrics if "full_valid_loss" in m] == list(range(3, 31, 3))  # epoch ends
    first, last = metrics[0]["train_loss"], metrics[-1]["train_loss"]
    assert last < LEARNED * first, (first, last)
    assert metrics[-1]["full_valid_loss"] < LEARNED * metrics[2]["full_valid_loss"]
    assert len({e.id for e in log}) == len(log)
    print(f"\ntrained 30 steps in {seconds:.1f} s: train loss {first} -> {last}")

    checkpoints = list(sdk.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [30, 27, 24]  # the last three epochs, newest first
    assert all(c.fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-{c.step_number}" for c in checkpoints)
    assert checkpoints[0].metrics.train_loss == last

    listed = {m.id for m in sdk.models.list()}
    assert {MODEL, job.fine_tuned_model} <= listed
    csv = sdk.files.content(job.result_files[0]).text
    assert csv.startswith("c3RlcCx0cmFpbl9sb3Nz")  # base64 of "step,train_loss", as the service serves it


def test_the_tuned_model_and_its_checkpoints_answer_and_it_learned(sdk, trained):
    job, _ = trained
    country, city = CITIES[4]
    gold = f"The capital of {country} is {city}."
    base = ask(sdk, MODEL, country)
    tuned = ask(sdk, job.fine_tuned_model, country)
    assert score(tuned, gold).f1 > score(base, gold).f1, (base, tuned)
    assert score(tuned, gold).f1 >= 0.5, tuned
    for checkpoint in sdk.fine_tuning.jobs.checkpoints.list(job.id):
        assert isinstance(ask(sdk, checkpoint.fine_tuned_model_checkpoint, country), str)

    stream = sdk.chat.completions.create(
        model=job.fine_tuned_model, max_tokens=24, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "system", "content": "You answer geography questions."},
                  {"role": "user", "content": f"What is the capital of {country}?"}],
    )  # fmt: skip
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == tuned  # greedy: the same answer, token by token
    assert chunks[-1].usage.completion_tokens > 0
    assert isinstance(ask(sdk, job.fine_tuned_model, country, temperature=1.0, seed=3), str)


def test_a_cancel_stops_training_within_a_step(sdk, trainer):
    trainer.inject(step_delay=0.25)
    job_id = create(sdk, upload(sdk, examples()), n_epochs=20)
    seen = wait_for(lambda: [e.data["step"] for e in events(sdk, job_id) if e.type == "metrics"], 60, "training to start")
    cancelled = sdk.fine_tuning.jobs.cancel(job_id)
    assert cancelled.status == "cancelled"
    at_cancel = max(seen)
    stopped = wait_for(lambda: [e.message for e in events(sdk, job_id) if e.message.startswith("Training stopped")], 10, "the stop")
    step = int(stopped[0].split()[4])
    assert step <= at_cancel + 2 and step < 60, (at_cancel, stopped)
    assert max(e.data["step"] for e in events(sdk, job_id) if e.type == "metrics") == step
    assert sdk.fine_tuning.jobs.retrieve(job_id).status == "cancelled"


def test_bad_requests_and_bad_files_fail_as_the_service_fails_them(sdk):
    import openai

    training = upload(sdk, examples())
    with pytest.raises(openai.BadRequestError, match="not available for fine-tuning"):
        sdk.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
    with pytest.raises(openai.BadRequestError, match="n_epochs"):
        create(sdk, training, n_epochs=0)
    few = finished(sdk, create(sdk, upload(sdk, examples()[:5])))
    assert few.status == "failed" and few.error.code == "invalid_n_examples"


def test_a_training_crash_fails_the_job_with_its_message_and_the_server_goes_on(sdk, trainer):
    trainer.inject(crash_at_step=2)
    job = finished(sdk, create(sdk, upload(sdk, examples())))
    assert job.status == "failed" and "injected crash at step 2" in job.error.message
    assert job.error.code == "training_failed"
    trainer.inject(exit_at_step=2)  # the training process dies outright
    job = finished(sdk, create(sdk, upload(sdk, examples())))
    assert job.status == "failed" and "exited unexpectedly" in job.error.message
    assert MODEL in {m.id for m in sdk.models.list()}


def test_tunedeck_launch_and_watch_work_on_the_trainer_unchanged(tmp_path, sdk, trainer):
    trainer.inject(step_delay=0.15)  # long enough "running" for the watch to see it
    env = {"OPENAI_BASE_URL": trainer.base_url, "OPENAI_API_KEY": KEY}
    train = tmp_path / "capitals.jsonl"
    train.write_bytes(jsonl(examples()))
    # A model of the trainer's own, unknown to TuneDeck's table: launched as named on a compatible server.
    launched = cli(tmp_path, "launch", "--train", str(train), "--model", MODEL, "--epochs", "3",
                   "--batch-size", str(FAST["batch_size"]), "--lr-multiplier", str(FAST["learning_rate_multiplier"]), "--yes", "--json", env=env)
    assert launched.returncode == OK, launched.stderr
    job_id = json.loads(launched.stdout)["id"]
    out = cli(tmp_path, "watch", job_id, "--json", "--interval", "0.1", env=env)
    assert out.returncode == OK, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    statuses = [line["status"] for line in lines if line["type"] == "status"]
    assert statuses[-1] == "succeeded" and "running" in statuses, statuses
    assert [line["step"] for line in lines if line["type"] == "metric"] == list(range(1, 10))


def test_pause_saves_the_state_and_resume_continues_from_the_paused_step(sdk, trainer):
    import openai

    trainer.inject(step_delay=0.2)
    job_id = create(sdk, upload(sdk, examples()), n_epochs=3)
    wait_for(lambda: len(metric_steps(sdk, job_id)) >= 2, 60, "two steps", every=0.1)
    assert sdk.fine_tuning.jobs.pause(job_id).status in ("pausing", "paused")
    with pytest.raises(openai.BadRequestError, match="only a running job can be paused"):
        sdk.fine_tuning.jobs.pause(job_id)
    wait_for(lambda: sdk.fine_tuning.jobs.retrieve(job_id).status == "paused", 10, "the pause", every=0.1)
    at_pause = metric_steps(sdk, job_id)
    assert f"Job paused at step {at_pause[-1]}" in [e.message for e in events(sdk, job_id)]
    time.sleep(0.6)
    assert metric_steps(sdk, job_id) == at_pause and sdk.fine_tuning.jobs.retrieve(job_id).status == "paused"

    assert sdk.fine_tuning.jobs.resume(job_id).status in ("queued", "running")
    job = finished(sdk, job_id)
    assert job.status == "succeeded", job.error
    assert metric_steps(sdk, job_id) == list(range(1, 10))  # on from the paused step: none twice, none missing
    messages = [e.message for e in events(sdk, job_id)]
    assert f"Training continues from step {at_pause[-1]} (on cpu, float32)" in messages
    assert [c.step_number for c in sdk.fine_tuning.jobs.checkpoints.list(job_id)] == [9, 6, 3]
    with pytest.raises(openai.BadRequestError, match="only a paused job can be resumed"):
        sdk.fine_tuning.jobs.resume(job_id)


def test_a_restarted_trainer_continues_the_job_it_was_running(sdk, trainer):
    trainer.inject(step_delay=0.3)
    job_id = create(sdk, upload(sdk, examples()), n_epochs=2)
    wait_for(lambda: len(metric_steps(sdk, job_id)) >= 2, 60, "two steps", every=0.1)
    trainer.restart()  # the old trainer saves the job's state at the next step boundary
    job = finished(sdk, job_id)
    assert job.status == "succeeded", job.error
    assert metric_steps(sdk, job_id) == list(range(1, 7))
    messages = [e.message for e in events(sdk, job_id)]
    stopped = next(m for m in messages if m.startswith("The trainer is stopping: training stopped at step"))
    step = int(stopped.split()[8].rstrip(","))
    assert 2 <= step < 6, stopped
    assert f"Training continues from step {step} (on cpu, float32)" in messages


def _running_job(job_id: str, step: int) -> dict:
    """A job record as a trainer that died mid-run leaves it."""
    return {"id": job_id, "created_at": time.time(), "model": MODEL, "org": "tunedeck", "organization_id": "org-x",
            "training_file": "file-x", "validation_file": None, "method": "supervised", "hyperparameters": {},
            "seed": 1, "suffix": None, "metadata": None, "integrations": None, "speed": 1.0, "status": "running",
            "step": step, "checkpoints": [], "pauses": [], "cancelled_at": None, "result_file": None,
            "resolved": {"hyperparameters": {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 1.0},
                         "trained_tokens": None}}


def test_after_a_crash_a_job_goes_on_from_its_last_saved_state_or_fails_if_it_had_none(tmp_path, models_config):
    from core.trainer import config, worker
    from core.trainer.trainer import Trainer

    models = config.load(models_config)
    dead = Trainer(models, tmp_path)  # never started: its store is the state folder a killed trainer left
    with dead.service.store.changing() as data:
        data["jobs"]["ftjob-saved"] = _running_job("ftjob-saved", step=5)  # died at step 5, its last epoch ended at 3
        data["jobs"]["ftjob-lost"] = _running_job("ftjob-lost", step=2)  # died before its first epoch ended
    saved = dead.service.job_dir("ftjob-saved") / worker.RESUME
    (saved / "checkpoint-3").mkdir(parents=True)  # Trainer's checkpoint folder (its content is not read here)
    (saved / worker.POINTER).write_text('{"step": 3, "file": "checkpoint-3"}')

    again = Trainer(models, tmp_path)
    again._recover()  # what start() does first; the jobs thread is not started, so nothing trains here
    with again.service.store.reading() as data:
        lost = again.service.job_object(data["jobs"]["ftjob-lost"], time.time())
        going_on = again.service.job_object(data["jobs"]["ftjob-saved"], time.time())
    assert lost["status"] == "failed" and lost["error"]["code"] == "training_interrupted"
    assert "stopped while this job ran" in lost["error"]["message"] and "start it again" in lost["error"]["message"]
    assert going_on["status"] == "queued" and list(again.runner._pending) == ["ftjob-saved"]
    assert [e["message"] for e in again.service.events("ftjob-saved")] == [
        "The trainer stopped while this job ran; it continues from step 3, its last saved state"]

    # The run goes on from step 3: steps 4 and 5 are trained again but not logged twice.
    step = lambda n: ("step", "ftjob-saved", {"step": n, "total_steps": 9, "train_loss": 1.0, "train_mean_token_accuracy": 0.5,
                                              "trained_tokens": 10 * n})  # fmt: skip
    started = ("started", "ftjob-saved", {"total_steps": 9, "device": "cpu", "dtype": "float32", "from_step": 3})
    again.runner._apply("ftjob-saved", [started, step(4), step(5), step(6)], time.time())
    logged = again.service.events("ftjob-saved")
    assert [e["data"]["step"] for e in logged if e["type"] == "metrics"] == [6]
    assert logged[1]["message"] == "Training continues from step 3 (on cpu, float32)"


def test_dpo_makes_the_model_prefer_the_preferred_outputs(sdk, trainer):
    job_id = create(sdk, upload(sdk, preferences()), upload(sdk, preferences()[:3]), kind="dpo", beta=0.5, n_epochs=6)
    job = finished(sdk, job_id)
    assert job.status == "succeeded", job.error
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.5
    metrics = [e.data for e in events(sdk, job_id) if e.type == "metrics"]
    assert [m["step"] for m in metrics] == list(range(1, 19))
    assert abs(metrics[0]["train_loss"] - 0.6931) < 0.01  # ln 2: at the start the adapter is a no-op
    assert metrics[-1]["train_loss"] < LEARNED * metrics[0]["train_loss"], [m["train_loss"] for m in metrics]
    assert metrics[-1]["full_valid_loss"] < LEARNED * 0.6931
    assert [c.step_number for c in sdk.fine_tuning.jobs.checkpoints.list(job_id)] == [18, 15, 12]

    tuned, base = _margins(trainer.service.job_dir(job_id) / "model", trainer.service.models[MODEL])
    assert all(t > b for t, b in zip(tuned, base)), (tuned, base)  # log p(preferred) - log p(non-preferred) grew...
    assert sum(tuned) / len(tuned) > sum(base) / len(base) + 5  # ...by more than 5 nats on average
    print(f"\nDPO: loss {metrics[0]['train_loss']} -> {metrics[-1]['train_loss']}, "
          f"mean margin {sum(base) / len(base):.1f} -> {sum(tuned) / len(tuned):.1f} nats")
    assert isinstance(ask(sdk, job.fine_tuned_model, CITIES[4][0]), str)  # the DPO adapter answers chat


def _margins(adapter, local) -> tuple[list[float], list[float]]:
    """log p(preferred) - log p(non-preferred) of each example, with the adapter and without it."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.trainer import data as encoding
    from core.trainer.worker import _Preference

    tokenizer = AutoTokenizer.from_pretrained(local.path)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(local.path), adapter).eval()
    pairs = [encoding.encode_preference(tokenizer, example, local.max_length) for example in preferences()]
    scorer = _Preference(tokenizer.pad_token_id, beta=0.5)
    rows = scorer._rows(pairs)
    with torch.no_grad():
        tuned = scorer._log_probs(model, rows)[0]
        with model.disable_adapter():
            base = scorer._log_probs(model, rows)[0]
    n = len(pairs)
    return (tuned[:n] - tuned[n:]).tolist(), (base[:n] - base[n:]).tolist()


@pytest.mark.parametrize("method", ["supervised", "dpo"])
def test_a_paused_and_resumed_run_gives_the_same_result_as_an_uninterrupted_one(tmp_path, tiny_model, method):
    """In the test's own process, without the server: Trainer's checkpoint restores the adapter,
    optimizer, scheduler and RNG states and skips the batches already trained, so the result CSV
    (every step's losses and accuracies) is the same to the last digit."""
    from core.trainer import worker

    class Control:
        value = worker.GO

    def run(out, pause_at=None):
        control, sent = Control(), []

        def send(kind, payload):
            sent.append((kind, payload))
            if kind == "step" and payload["step"] == pause_at:
                control.value = worker.PAUSE

        rows = preferences() if method == "dpo" else examples()
        spec = {"job_id": "j", "model_path": str(tiny_model), "max_length": 256, "examples": rows, "valid_examples": rows[:3],
                "n_epochs": 3, "batch_size": 4, "learning_rate": 1e-2, "method": method, "beta": 0.5, "resume": None,
                "lora_r": 8, "lora_alpha": 16, "seed": 7, "out_dir": str(out), "threads": None, "faults": {}}  # fmt: skip
        worker.run(spec, send, control)
        if pause_at:
            assert sent[-1] == ("paused", {"step": pause_at})
            step, saved = worker.saved_state(out)
            assert step == pause_at
            control.value = worker.GO
            worker.run({**spec, "resume": str(saved)}, send, control)
            assert ("started", {"total_steps": 9, "device": "cpu", "dtype": "float32", "from_step": pause_at}) in sent
        assert [p["step"] for kind, p in sent if kind == "step"] == list(range(1, 10))
        assert [p["step"] for kind, p in sent if kind == "checkpoint"] == [3, 6, 9]
        assert sent[-1][0] == "succeeded" and not (out / worker.RESUME).exists()
        return sent[-1][1]

    whole = run(tmp_path / "whole")
    for pause_at in (2, 3):  # mid-epoch, and at an epoch's end
        assert run(tmp_path / f"paused-{pause_at}", pause_at) == whole
