"""The life of one emulated fine-tuning job: its plan, its timeline, and where it is at any moment.

`make_plan` does what the service's `validating_files` step does, with core.dataset's rules, and
fixes everything about the job when it is created: resolved hyperparameters, step count, billed
tokens, and the shape of its loss curves (from the data, the hyperparameters and the seed).
`progress(plan, elapsed)` then says what the job looks like `elapsed` emulated seconds after it
was created. A plan's whole timeline is computed once and cached, so the server can ask on every
request; everything here is pure and deterministic (same plan, same elapsed -> same answer).
"""

from __future__ import annotations

import math
import random
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache

import orjson

from core.dataset import base_models, lines, rules
from core.dataset.base_models import MIN_EXAMPLES, BaseModel, UnknownModel
from core.dataset.rules import CHAT, PREFERENCE, Checked
from core.dataset.stats import DEFAULT_BETA, DEFAULT_LR_MULTIPLIER, default_batch_size, default_epochs, training_bill
from core.dataset.tokens import Counter

# Emulated seconds. A 40-example file (3 epochs of batch 1 = 120 steps) takes
# 5 + 5 + 120 * 0.38 + 4 ≈ 60 s: long enough to watch, short enough to wait for.
VALIDATING_SECONDS = 5.0
QUEUED_SECONDS = 5.0
STEP_SECONDS = 0.38  # per example in the batch: a bigger batch is a slower step...
MAX_STEP_SECONDS = 3.0  # ...up to a point, as on real hardware that runs a batch in parallel
FINISHING_SECONDS = 4.0  # model created, usage-policy evaluation, success

KEPT_CHECKPOINTS = 3  # the service keeps the checkpoints of the last three epochs
AUTO_LEARNING_RATE = DEFAULT_LR_MULTIPLIER
AUTO_BETA = DEFAULT_BETA
METHODS = ("supervised", "dpo")


class InvalidParameter(ValueError):
    """A job the service refuses at creation (HTTP 400), before any file is validated."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class FileProblem:
    """Why the service's file validation fails a job."""

    code: str  # OpenAI-style code for job.error.code: invalid_training_file, invalid_n_examples, ...
    message: str  # a person's sentence naming the line and field
    param: str  # "training_file" or "validation_file"
    line: int | None  # 1-based physical line of the bad record; None for the file as a whole
    path: str = ""  # where inside the example, e.g. "messages[1].role"
    finding_code: str | None = None  # the core.dataset rule that fired, e.g. "unknown-role"


@dataclass(frozen=True)
class Curve:
    """The shape of a job's loss curves, fixed from its data and hyperparameters.

    In units of x = rate * epochs:
        train(x) = (start - floor) * e^-x + floor * e^(-memorize * x)
        valid(x) = (start' - floor') * e^-x + floor' + overfit * max(0, x - 2)^1.2
    The first term is what the model learns about the task; the second is memorising the few
    examples it sees again and again, which only the training loss enjoys. A small file seen for
    many epochs therefore drives validation loss back up.
    """

    start: float  # train loss before the first step
    floor: float  # where the loss settles on examples like these without memorising them
    rate: float  # how fast the loss falls, per epoch
    memorize: float  # how fast training loss sinks below the floor, per unit x
    overfit: float  # how fast validation loss climbs once memorising starts


@dataclass(frozen=True)
class Plan:
    """Everything fixed when the job is created. Hashable: `examples` is left out of eq/hash."""

    model: str
    method: str  # "supervised" | "dpo"
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    beta: float | None
    n_train: int
    n_valid: int
    total_steps: int
    trained_tokens: int  # billed tokens, as core.dataset.stats.training_bill computes them
    seed: int
    examples: tuple = field(compare=False, repr=False)  # parsed training examples, in file order
    steps_per_epoch: int = 1
    step_seconds: float = STEP_SECONDS
    started_offset: float = VALIDATING_SECONDS + QUEUED_SECONDS  # when running begins
    finish_offset: float = 0.0  # when the job succeeds if nothing goes wrong
    curve: Curve | None = None
    data_key: str = ""  # digest of both files: two plans with different data never share a cache entry
    fail_at_step: int | None = None
    # Names used in event messages; the server knows them, the simulation does not need them.
    job_id: str = ""
    training_file_id: str = ""
    validation_file_id: str = ""
    fine_tuned_model: str = ""


@dataclass(frozen=True)
class Event:
    offset: float  # emulated seconds after job creation, nondecreasing in list order
    level: str  # "info" | "warn" | "error"
    message: str
    type: str  # "message" | "metrics"
    data: dict | None  # shared with the cache: read it, do not change it


@dataclass(frozen=True)
class Checkpoint:
    step: int
    epoch: int  # 1-based epoch this checkpoint ends
    offset: float
    metrics: dict  # FineTuningJobCheckpoint.metrics keys


@dataclass(frozen=True)
class Progress:
    status: str  # "validating_files" | "queued" | "running" | "succeeded" | "failed"
    step: int  # steps done
    events: list[Event]  # every event up to `elapsed`, oldest first; always a prefix of later calls'
    checkpoints: list[Checkpoint]
    started_offset: float | None
    finished_offset: float | None
    estimated_finish_offset: float | None
    error: dict | None  # {"code", "message", "param"} when failed
    result_csv: str | None  # when succeeded


# ---------------------------------------------------------------------------------------------
# Creating a plan


def make_plan(
    training: bytes,
    validation: bytes | None,
    *,
    model: str,
    method: str = "supervised",
    hyperparameters: dict | None = None,
    seed: int = 0,
    fail_at_step: int | None = None,
    job_id: str = "",
    training_file_id: str = "",
    validation_file_id: str = "",
    fine_tuned_model: str = "",
    base: BaseModel | None = None,
) -> Plan | FileProblem:
    """Validate the files as the service does and fix the job's course.

    Raises `InvalidParameter` for what the service refuses at creation (unknown model, a method the
    model does not offer, hyperparameters out of range); returns a `FileProblem` for what only
    file validation finds, which fails the job a few seconds later (see `failed_validation`).
    """
    # `base` lets a server with its own models (the trainer) validate files by the same rules.
    base = _base_model(model, method) if base is None else base
    given = _checked_hyperparameters(hyperparameters or {}, method)
    train = _read(training, base, method, "training_file")
    if isinstance(train, FileProblem):
        return train
    n_train = len(train.examples)
    if n_train < MIN_EXAMPLES:
        return FileProblem(
            "invalid_n_examples",
            f"Training file has {n_train} example{'s' if n_train != 1 else ''}, fewer than the minimum of {MIN_EXAMPLES}",
            "training_file",
            None,
            finding_code="too-few-examples",
        )
    valid = None
    if validation is not None:
        valid = _read(validation, base, method, "validation_file")
        if isinstance(valid, FileProblem):
            return valid
        if not valid.examples:
            return FileProblem("invalid_validation_file", "Validation file has no examples", "validation_file", None)

    n_epochs = given.get("n_epochs") or default_epochs(n_train)
    batch_size = given.get("batch_size") or default_batch_size(n_train)
    learning_rate = given.get("learning_rate_multiplier") or AUTO_LEARNING_RATE
    beta = (given.get("beta") or AUTO_BETA) if method == "dpo" else None
    steps_per_epoch = math.ceil(n_train / batch_size)
    total_steps = n_epochs * steps_per_epoch
    step_seconds = min(MAX_STEP_SECONDS, STEP_SECONDS * batch_size)
    started = VALIDATING_SECONDS + QUEUED_SECONDS
    data_key = f"{rules.digest(training):016x}{rules.digest(validation or b''):016x}"
    if fail_at_step is not None:
        if fail_at_step < 1:
            raise ValueError("fail_at_step counts from 1")
        fail_at_step = min(fail_at_step, total_steps)
    return Plan(
        model=base.name,
        method=method,
        n_epochs=n_epochs,
        batch_size=batch_size,
        learning_rate_multiplier=float(learning_rate),
        beta=None if beta is None else float(beta),
        n_train=n_train,
        n_valid=len(valid.examples) if valid else 0,
        total_steps=total_steps,
        trained_tokens=training_bill(train.tokens, base, n_epochs)[0],
        seed=seed,
        examples=tuple(train.examples),
        steps_per_epoch=steps_per_epoch,
        step_seconds=step_seconds,
        started_offset=started,
        finish_offset=started + total_steps * step_seconds + FINISHING_SECONDS,
        curve=_curve(train, method, n_epochs, batch_size, learning_rate, beta, seed, data_key),
        data_key=data_key,
        fail_at_step=fail_at_step,
        job_id=job_id,
        training_file_id=training_file_id,
        validation_file_id=validation_file_id,
        fine_tuned_model=fine_tuned_model,
    )


def _base_model(name: str, method: str) -> BaseModel:
    if method not in METHODS:
        raise InvalidParameter(f"method {method!r} is not supported; use one of {', '.join(METHODS)}", "method")
    try:
        base = base_models.lookup(name)
    except UnknownModel as exc:
        raise InvalidParameter(str(exc), "model") from exc
    if not base.fine_tunable:
        raise InvalidParameter(f"model {name!r} is not available for fine-tuning", "model")
    if method == "dpo" and not base.dpo:
        raise InvalidParameter(f"model {name!r} does not support the dpo method", "model")
    return base


# name -> (type accepted, lowest, highest, lowest is excluded); ranges from the OpenAPI document
_HYPERPARAMETERS = {
    "n_epochs": (int, 1, 50, False),
    "batch_size": (int, 1, 256, False),
    "learning_rate_multiplier": (float, 0, math.inf, True),
    "beta": (float, 0, 2, True),
}


def _checked_hyperparameters(hyperparameters: dict, method: str) -> dict:
    """The numbers given (None or "auto" mean: let the service choose); out of range raises."""
    given = {}
    for name, value in hyperparameters.items():
        param = f"hyperparameters.{name}"
        if name not in _HYPERPARAMETERS or (name == "beta" and method != "dpo"):
            raise InvalidParameter(f"unknown hyperparameter {name!r} for the {method} method", param)
        if value is None or value == "auto":
            continue
        kind, low, high, open_low = _HYPERPARAMETERS[name]
        number_types = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, number_types):
            raise InvalidParameter(f"{name} must be 'auto' or {'an integer' if kind is int else 'a number'}, not {value!r}", param)
        if value < low or (open_low and value == low) or value > high:
            bound = f"greater than {low}" if open_low else f"at least {low}"
            raise InvalidParameter(f"{name} is {value}; it must be {bound}" + (f" and at most {high}" if high != math.inf else ""), param)
        given[name] = value
    return given


@dataclass
class _File:
    examples: list[dict]
    tokens: list[int]  # per example, as core.dataset counts them
    assistant_tokens: list[int]


_LABELS = {"training_file": "training file", "validation_file": "validation file"}
_EXPECTED_KIND = {"supervised": CHAT, "dpo": PREFERENCE}


def _read(data: bytes, model: BaseModel, method: str, param: str) -> _File | FileProblem:
    """Every record checked with core.dataset's rules; the first with an error fails the file."""
    label = _LABELS[param]
    code = f"invalid_{param}"
    counter = Counter(model.encoding)
    index = lines.scan(data)
    read = _File([], [], [])
    for k, start in enumerate(index.starts):
        raw = lines.content(data, start)
        line = index.lineno(k)
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        checked: Checked = rules.check_line(raw, counter, model) if value is None else rules.check_value(value, counter, model)
        if checked.has_error():
            code_, path, message, fix = next(p for p in checked.problems if rules.CODES[p[0]][0] == "error")
            where = f"at {path}; " if path else ""
            tail = f" ({where}{fix})" if fix else (f" (at {path})" if path else "")
            return FileProblem(code, f"Line {line} of the {label}: {message}{tail}", param, line, path, code_)
        if checked.kind != _EXPECTED_KIND[method]:
            return FileProblem(code, f"Line {line} of the {label}: {_wrong_kind(method)}", param, line, "", "mixed-formats")
        read.examples.append(value)
        read.tokens.append(checked.tokens)
        read.assistant_tokens.append(checked.assistant_tokens)
    return read


def _wrong_kind(method: str) -> str:
    if method == "dpo":
        return 'a chat example, but the dpo method trains on preference examples {"input", "preferred_output", "non_preferred_output"}'
    return 'a preference (DPO) example, but supervised fine-tuning trains on chat examples {"messages": [...]}'


# ---------------------------------------------------------------------------------------------
# The shape of the curves


_WORD = re.compile(r"\w+")


def _assistant_texts(example: dict):
    """The text the model is trained to produce: trained assistant messages, or the preferred output."""
    if "messages" in example:
        messages = [m for m in example["messages"] if m.get("role") == "assistant" and m.get("weight", 1) != 0]
    else:
        messages = example.get("preferred_output") or []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            yield from (p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))


def _variety(examples: list[dict]) -> float:
    """0 for replies that repeat themselves, about 1 for ordinary varied prose.

    Moving type-token ratio over 50-word windows: unlike a plain ratio it does not depend on how
    much text there is, so a big file is not mistaken for a varied one.
    """
    words = [w.lower() for e in examples for text in _assistant_texts(e) for w in _WORD.findall(text)]
    if not words:
        return 0.0
    window = 50
    ratios = [len(set(words[i : i + window])) / len(words[i : i + window]) for i in range(0, len(words), window)]
    if len(ratios) > 1 and len(words) % window and len(words) % window < window // 2:
        ratios.pop()  # a short tail would look more varied than it is
    return _clamp((sum(ratios) / len(ratios) - 0.3) / 0.5)


def _clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def _curve(train: _File, method: str, n_epochs, batch_size, learning_rate, beta, seed, data_key) -> Curve:
    mean_reply = sum(train.assistant_tokens) / len(train.assistant_tokens)
    length = _clamp(math.log(max(mean_reply, 1) / 8) / math.log(64))  # 8 tokens -> 0, 512 -> 1
    variety = _variety(train.examples)
    hardness = 0.6 * length + 0.4 * variety
    jitter = random.Random(f"{seed}:{data_key}:curve").uniform(-0.04, 0.04)
    rate = 1.1 * math.sqrt(learning_rate / AUTO_LEARNING_RATE) * batch_size**-0.1
    if method == "dpo":
        # DPO's loss is -log sigmoid(beta * margin): it starts at ln 2 whatever the data, and a
        # larger beta widens the margin faster.
        start, floor = math.log(2), 0.08 + 0.3 * hardness
        rate *= _clamp((beta / AUTO_BETA) ** 0.25, 0.5, 2.0)
    else:
        start, floor = 1.5 + 1.5 * hardness, 0.1 + 0.5 * (0.5 * length + 0.5 * variety)
    n = len(train.examples)
    return Curve(
        start=start * (1 + jitter),
        floor=floor,
        rate=rate,
        memorize=0.6 / math.sqrt(n),
        overfit=0.6 / n,
    )


def train_loss(curve: Curve, epochs: float) -> float:
    """The noise-free training loss after `epochs` (fractional) epochs."""
    x = curve.rate * epochs
    return (curve.start - curve.floor) * math.exp(-x) + curve.floor * math.exp(-curve.memorize * x)


def valid_loss(curve: Curve, epochs: float) -> float:
    """The noise-free validation loss: learns like training, never memorises, overfits late."""
    x = curve.rate * epochs
    start, floor = curve.start * 1.03, curve.floor * 1.15 + 0.05
    return (start - floor) * math.exp(-x) + floor + curve.overfit * max(0.0, x - 2.0) ** 1.2


def _accuracy(loss: float) -> float:
    # Mean token accuracy moves opposite to the loss: about 0.66 at loss 1.5, 0.97 at 0.1.
    return math.exp(-0.28 * loss)


# ---------------------------------------------------------------------------------------------
# The timeline


@dataclass(frozen=True)
class _Timeline:
    events: tuple[Event, ...]
    offsets: tuple[float, ...]  # of events
    step_offsets: tuple[float, ...]  # of each step reached
    checkpoints: tuple[Checkpoint, ...]
    checkpoint_offsets: tuple[float, ...]
    finished_offset: float
    error: dict | None
    result_csv: str | None


def _fmt(value: float) -> str:
    return f"{value:.2f}" if value >= 0.01 else f"{value:.4f}"


def _created_events(job_id: str, training_file_id: str, validation_file_id: str, has_validation: bool) -> list[Event]:
    validating = "Validating training file" + (f": {training_file_id}" if training_file_id else "")
    if has_validation:
        validating += " and validation file" + (f": {validation_file_id}" if validation_file_id else "")
    return [
        Event(0.0, "info", "Created fine-tuning job" + (f": {job_id}" if job_id else ""), "message", None),
        Event(0.0, "info", validating, "message", None),
    ]


@lru_cache(maxsize=32)
def _timeline(plan: Plan) -> _Timeline:
    curve = plan.curve
    has_valid = plan.n_valid > 0
    events = _created_events(plan.job_id, plan.training_file_id, plan.validation_file_id, has_valid)
    events.append(Event(VALIDATING_SECONDS, "info", "Files validated, moving job to queued state", "message", None))
    events.append(Event(plan.started_offset, "info", "Fine-tuning job started", "message", None))
    rng = random.Random(f"{plan.seed}:{plan.data_key}:steps")
    last = plan.fail_at_step - 1 if plan.fail_at_step else plan.total_steps
    first_kept_epoch = max(1, plan.n_epochs - KEPT_CHECKPOINTS + 1)
    rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
    step_offsets, checkpoints = [], []
    for step in range(1, last + 1):
        offset = plan.started_offset + step * plan.step_seconds
        epochs = step / plan.steps_per_epoch
        # Each step sees a different batch: small seeded noise around the curve.
        loss = round(max(1e-4, train_loss(curve, epochs) * (1 + rng.gauss(0, 0.04))), 4)
        data = {"step": step, "total_steps": plan.total_steps, "train_loss": loss, "train_mean_token_accuracy": round(_accuracy(loss), 4)}
        message = f"Step {step}/{plan.total_steps}: training loss={_fmt(loss)}"
        if has_valid:
            v = round(max(1e-4, valid_loss(curve, epochs) * (1 + rng.gauss(0, 0.06))), 4)
            data["valid_loss"], data["valid_mean_token_accuracy"] = v, round(_accuracy(v), 4)
            message += f", validation loss={_fmt(v)}"
        epoch_end = step % plan.steps_per_epoch == 0
        if has_valid and epoch_end:
            # The whole validation file, not one batch of it: much steadier than valid_loss.
            full = round(valid_loss(curve, epochs) * (1 + rng.gauss(0, 0.005)), 4)
            data["full_valid_loss"], data["full_valid_mean_token_accuracy"] = full, round(_accuracy(full), 4)
            message += f", full validation loss={_fmt(full)}"
        events.append(Event(offset, "info", message, "metrics", data))
        step_offsets.append(offset)
        rows.append(
            f"{step},{loss},{data['train_mean_token_accuracy']},{data.get('valid_loss', '')},{data.get('valid_mean_token_accuracy', '')}"
        )
        epoch = step // plan.steps_per_epoch
        if epoch_end and epoch >= first_kept_epoch:
            metrics = {k: v for k, v in data.items() if k != "total_steps"}
            checkpoints.append(Checkpoint(step, epoch, offset, metrics))
            events.append(Event(offset, "info", f"Checkpoint created at step {step}", "message", None))
    if plan.fail_at_step:
        finished = plan.started_offset + plan.fail_at_step * plan.step_seconds
        message = f"The job failed due to an internal error at step {plan.fail_at_step}/{plan.total_steps}. Please try again."
        error = {"code": "internal_error", "message": message, "param": None}
        events.append(Event(finished, "error", message, "message", None))
        result_csv = None
    else:
        end = plan.started_offset + plan.total_steps * plan.step_seconds
        model = f": {plan.fine_tuned_model}" if plan.fine_tuned_model else ""
        events += [
            Event(end + 1.0, "info", f"New fine-tuned model created{model}", "message", None),
            Event(end + 1.0, "info", "Evaluating model against our usage policies", "message", None),
            Event(end + 3.0, "info", "Usage policy evaluations completed, model is now enabled for sampling", "message", None),
            Event(plan.finish_offset, "info", "The job has successfully completed", "message", None),
        ]
        finished, error, result_csv = plan.finish_offset, None, "\n".join(rows) + "\n"
    return _Timeline(
        events=tuple(events),
        offsets=tuple(e.offset for e in events),
        step_offsets=tuple(step_offsets),
        checkpoints=tuple(checkpoints),
        checkpoint_offsets=tuple(c.offset for c in checkpoints),
        finished_offset=finished,
        error=error,
        result_csv=result_csv,
    )


def progress(plan: Plan, elapsed: float) -> Progress:
    """The job `elapsed` emulated seconds after creation (the server subtracts paused time)."""
    line = _timeline(plan)
    finished = elapsed >= line.finished_offset
    if finished:
        status = "failed" if line.error else "succeeded"
    elif elapsed >= plan.started_offset:
        status = "running"
    elif elapsed >= VALIDATING_SECONDS:
        status = "queued"
    else:
        status = "validating_files"
    return Progress(
        status=status,
        step=bisect_right(line.step_offsets, elapsed),
        events=list(line.events[: bisect_right(line.offsets, elapsed)]),
        checkpoints=list(line.checkpoints[: bisect_right(line.checkpoint_offsets, elapsed)]),
        started_offset=plan.started_offset if elapsed >= plan.started_offset else None,
        finished_offset=line.finished_offset if finished else None,
        # Known from the start of running; a job that will fail does not know it yet.
        estimated_finish_offset=plan.finish_offset if elapsed >= plan.started_offset else None,
        error=dict(line.error) if finished and line.error else None,
        result_csv=line.result_csv if finished else None,
    )


def failed_validation(
    problem: FileProblem,
    elapsed: float,
    *,
    job_id: str = "",
    training_file_id: str = "",
    validation_file_id: str = "",
) -> Progress:
    """A job whose file failed validation: validating_files for a few seconds, then failed."""
    has_validation = bool(validation_file_id) or problem.param == "validation_file"
    events = _created_events(job_id, training_file_id, validation_file_id, has_validation)
    failed = elapsed >= VALIDATING_SECONDS
    if failed:
        events.append(Event(VALIDATING_SECONDS, "error", problem.message, "message", None))
    return Progress(
        status="failed" if failed else "validating_files",
        step=0,
        events=[e for e in events if e.offset <= elapsed],
        checkpoints=[],
        started_offset=None,
        finished_offset=VALIDATING_SECONDS if failed else None,
        estimated_finish_offset=None,
        error={"code": problem.code, "message": problem.message, "param": problem.param} if failed else None,
        result_csv=None,
    )
