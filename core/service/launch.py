"""Launching a job: check the form locally, show exactly what will be sent, then upload and create.

The launch screen and `tunedeck launch` both go through `plan()` and `launch()`, so what a
person confirms in either is what is sent.

    plan = launch.plan(LaunchForm(train=Path("t.jsonl"), model="gpt-4o-mini"), active, state)
    if isinstance(plan, launch.Refused): ...         # nothing was sent; plan.message says why
    show(plan.confirmation())                       # the CLI writes it; the app puts it in a modal
    job = await launch.launch(conn, plan, state)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from openai.types.fine_tuning import FineTuningJob

from core.dataset import DatasetError, open_dataset, validate
from core.dataset import stats as statistics
from core.dataset.base_models import UnknownModel, lookup, unlisted
from core.service import files, jobs
from core.service.client import Connection
from core.service.files import ProgressCallback
from core.service.jobs import JobRequest
from core.service.limits import SUFFIX_LIMIT  # noqa: F401  (launching.SUFFIX_LIMIT for the screen)
from core.service.local_state import LocalState
from core.service.profiles import Active

METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512
TRACE_KEYS = ("tunedeck_dataset_sha256", "tunedeck_split_seed", "tunedeck_request")  # TuneDeck's own


@dataclass
class LaunchForm:
    """What the user asked for; `None` means the service's `auto`."""

    train: Path
    model: str
    validation: Path | None = None
    method: Literal["supervised", "dpo"] = "supervised"
    epochs: int | None = None
    batch_size: int | None = None
    lr_multiplier: float | None = None
    beta: float | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    """Why nothing will be sent. `dataset` is True when the files are at fault (not the form)."""

    message: str
    dataset: bool = False


@dataclass
class LaunchPlan:
    """Everything that will be sent, checked locally, shown before anything leaves."""

    active: Active
    request: JobRequest
    train: Path
    validation: Path | None
    examples: int
    epochs: int
    epochs_is_default: bool
    billed_tokens: int
    cost_usd: float
    notes: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)  # dataset path, hash and split, for local state
    priced: bool = True  # False for a model TuneDeck's price table does not know

    def confirmation(self) -> str:
        r = self.request
        profile = self.active.profile
        hyper = {
            "epochs": r.n_epochs if r.n_epochs is not None else f"auto (the service picks {self.epochs} for {self.examples} examples)",
            "batch size": r.batch_size if r.batch_size is not None else "auto",
            "lr mult.": r.learning_rate_multiplier if r.learning_rate_multiplier is not None else "auto",
        }
        if r.method == "dpo":
            hyper["beta"] = r.beta if r.beta is not None else "auto"
        lines = [
            "About to send:",
            f"  profile     {profile.name} — {profile.describe()}",
            f"  training    {self.train} ({self.examples:,} valid examples)",
            f"  validation  {self.validation or '(none)'}",
            f"  model       {r.model}",
            f"  method      {r.method}",
            *(f"  {name:<11} {value}" for name, value in hyper.items()),
            f"  suffix      {r.suffix or '(none)'}",
            f"  seed        {r.seed if r.seed is not None else '(the service picks one)'}",
            f"  metadata    {', '.join(f'{k}={v}' for k, v in r.metadata.items()) or '(none)'}",
            f"  estimate    {self.billed_tokens:,} billed tokens ({self.epochs} epochs), "
            + (f"about ${self.cost_usd:,.2f} (prices as of {statistics.PRICES_AS_OF})" if self.priced else "no price known for this model"),
            *(f"  note: {note}" for note in self.notes),
        ]
        return "\n".join(lines) + "\n"


def check_metadata(metadata: dict[str, str]) -> str | None:
    """Why these pairs break the service's limits (leaving room for TuneDeck's own), or None."""
    for key, value in metadata.items():
        if not key or len(key) > METADATA_KEY or len(value) > METADATA_VALUE:
            return f"metadata {key[:20]!r}: keys hold 1–{METADATA_KEY} characters, values at most {METADATA_VALUE}"
    room = METADATA_PAIRS - len(TRACE_KEYS)
    if len(metadata) > room:
        return f"at most {room} metadata pairs ({len(TRACE_KEYS)} of the service's {METADATA_PAIRS} are TuneDeck's own)"
    return None


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def plan(form: LaunchForm, active: Active, state: LocalState) -> LaunchPlan | Refused:
    """The launch as it will be sent, or why it will not be (nothing is sent either way)."""
    notes = []
    try:
        model = lookup(form.model)
    except UnknownModel as exc:
        # A compatible server (a self-hosted trainer, say) serves models of its own: launched
        # as named, checked with the rules that do not depend on the model.
        if active.profile.kind != "compatible":
            return Refused(str(exc))
        model = unlisted(form.model)
        notes.append(f"TuneDeck does not know {form.model}: tokens counted with o200k_base; its limits and price are the server's")
    if form.suffix is not None and len(form.suffix) > SUFFIX_LIMIT:
        return Refused(f"the suffix is {len(form.suffix)} characters; the service takes at most {SUFFIX_LIMIT}")
    if form.method == "dpo" and not model.dpo:
        return Refused(f"{model.name} cannot be trained with DPO; use supervised or a model that supports DPO")
    if form.beta is not None and form.method != "dpo":
        return Refused("beta applies only to the DPO method")
    problem = check_metadata(form.metadata)
    if problem:
        return Refused(problem)
    for path in filter(None, (form.train, form.validation)):
        if not path.is_file():
            return Refused(f"{path}: no such file")
    try:
        with open_dataset(form.train) as ds:
            report = validate(ds, model)
    except DatasetError as exc:
        return Refused(str(exc))
    wanted = "preference" if form.method == "dpo" else "chat"
    if report.format not in (wanted, "empty"):
        return Refused(f"{form.train} holds {report.format} examples; the {form.method} method needs {wanted} examples", dataset=True)
    if report.errors:
        first = report.errors[0]
        where = f" (first: line {first.line}, {first.code}: {first.message})" if first.line else f" ({first.message})"
        return Refused(f"{form.train} has {len(report.errors)} errors the service would reject{where}; nothing was sent", dataset=True)
    result = statistics.compute(report, form.epochs)
    metadata = dict(form.metadata)
    validation = form.validation
    dataset_sha = sha256_of(form.train)
    split = state.split_of(dataset_sha)
    if split is not None:
        metadata |= {"tunedeck_dataset_sha256": split.dataset_sha256[:16], "tunedeck_split_seed": str(split.seed)}
        notes.append(f"split from {split.dataset_path} (ratio {split.ratio}, seed {split.seed}), recorded in the job's metadata")
        if validation is None and Path(split.validation_path).is_file():
            validation = Path(split.validation_path)
            notes.append(f"validation file taken from that split: {split.validation_path}")
        provenance = {"dataset_path": split.dataset_path, "dataset_sha256": split.dataset_sha256, "split_ratio": split.ratio, "split_seed": split.seed}
    else:
        metadata |= {"tunedeck_dataset_sha256": dataset_sha[:16]}
        provenance = {"dataset_path": str(form.train.resolve()), "dataset_sha256": dataset_sha}
    provenance |= {"train_path": str(form.train.resolve()), "validation_path": str(validation.resolve()) if validation else None}
    request = JobRequest(
        model=form.model if form.model.startswith("ft:") else model.name,  # a tuned model continues training
        training_file="",  # known after the upload
        method=form.method,
        n_epochs=form.epochs,
        batch_size=form.batch_size,
        learning_rate_multiplier=form.lr_multiplier,
        beta=form.beta,
        suffix=form.suffix,
        seed=form.seed,
        metadata=metadata,
    )
    return LaunchPlan(
        active, request, form.train, validation, result.examples, result.epochs, result.epochs_is_default, result.billed_tokens, result.cost_usd, notes, provenance,
        priced=model.training_price_per_million > 0,
    )


async def upload_processed(conn: Connection, path: Path, state: LocalState, progress: ProgressCallback | None = None):
    """Upload (or reuse) and wait until the service has processed the file."""
    file = await files.upload(conn, path, progress=progress, state=state)
    return await files.wait_processed(conn, file.id, progress=progress)


async def launch(conn: Connection, plan: LaunchPlan, state: LocalState, progress: ProgressCallback | None = None) -> FineTuningJob:
    """Upload what is needed and create the job. The uploads' ids are left on `plan.request`, so
    a failure after them can say which files are kept for the next try."""
    train = await upload_processed(conn, plan.train, state, progress)
    plan.request.training_file = train.id
    if plan.validation is not None:
        plan.request.validation_file = (await upload_processed(conn, plan.validation, state, progress)).id
    return await jobs.create(conn, plan.request, state=state, provenance=plan.provenance)


def kept_uploads(plan: LaunchPlan) -> str:
    """After a failed launch: which uploaded files are kept (and reused by the next try)."""
    kept = [f"{fid} ({path})" for fid, path in ((plan.request.training_file, plan.train), (plan.request.validation_file, plan.validation)) if fid]
    return f"uploaded and kept for the next launch: {', '.join(kept)}" if kept else "nothing was uploaded"
