"""`tunedeck upload` and `tunedeck launch`: the launch screen's work for scripts and SSH one-liners.

Both use the active profile (the built-in emulator when nothing is set up) and the same core
calls as the app. `launch` checks the files locally first, shows exactly what it will send,
and sends nothing until confirmed (`--yes`, or "y" typed on a terminal).
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from core.dataset import DatasetError, open_dataset, validate
from core.dataset import stats as statistics
from core.dataset.base_models import UnknownModel, lookup
from core.service import files, jobs
from core.service.client import connect
from core.service.files import UploadProgress
from core.service.jobs import JobRequest
from core.service.local_state import LocalState
from core.service.errors import ServiceError
from core.service.profiles import Active, resolve

OK, FAILED, USAGE = 0, 1, 2
SUFFIX_LIMIT = 64
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512
TRACE_KEYS = ("tunedeck_dataset_sha256", "tunedeck_split_seed", "tunedeck_request")  # what TuneDeck adds


def register(commands) -> None:
    p = commands.add_parser("upload", help="upload a training file to the active profile's server (reused if already there)")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the uploaded file as JSON")
    p.set_defaults(run=run_upload)

    p = commands.add_parser("launch", help="upload and start a fine-tuning job (asks first unless --yes)")
    p.add_argument("--train", type=Path, required=True, metavar="FILE", help="training file (JSONL)")
    p.add_argument("--validation", type=Path, metavar="FILE", help="validation file (JSONL)")
    p.add_argument("--model", required=True, metavar="M", help="base model, or a tuned model to continue training")
    p.add_argument("--method", choices=("supervised", "dpo"), default="supervised")
    p.add_argument("--epochs", type=int, metavar="N", help="default: the service's auto rule")
    p.add_argument("--batch-size", type=int, metavar="N", help="default: auto")
    p.add_argument("--lr-multiplier", type=float, metavar="X", help="learning-rate multiplier (default: auto)")
    p.add_argument("--beta", type=float, metavar="X", help="DPO beta (default: auto)")
    p.add_argument("--suffix", metavar="S", help=f"up to {SUFFIX_LIMIT} characters in the tuned model's name")
    p.add_argument("--seed", type=int, metavar="N")
    p.add_argument("--metadata", nargs="+", default=[], metavar="K=V", help="key=value pairs stored with the job")
    p.add_argument("--yes", action="store_true", help="send without asking")
    p.add_argument("--json", action="store_true", help="print the created job as JSON (its id at top level)")
    p.set_defaults(run=run_launch)


def _emit_json(value) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _fail(message: str, as_json: bool, code: int = USAGE) -> int:
    if as_json:
        _emit_json({"error": message})
    sys.stderr.write(f"tunedeck: {message}\n")
    return code


def _show_progress(label: str):
    """Upload progress on stderr, only when a person is watching."""
    if not sys.stderr.isatty():
        return None

    def show(p: UploadProgress) -> None:
        percent = 100 * p.done / p.total if p.total else 100
        sys.stderr.write(f"\r{label}: {p.stage} {percent:5.1f}%\033[K")
        if p.stage in ("done", "reused"):
            sys.stderr.write("\r\033[K")
        sys.stderr.flush()

    return show


async def _upload(conn, path: Path, state: LocalState) -> tuple[dict, bool]:
    """(the processed file, whether it was reused) — reuse is visible in the progress stages."""
    stages: list[str] = []
    show = _show_progress(path.name)

    def progress(p: UploadProgress) -> None:
        stages.append(p.stage)
        if show:
            show(p)

    file = await files.upload(conn, path, progress=progress, state=state)
    file = await files.wait_processed(conn, file.id)
    return file.model_dump(mode="json"), "reused" in stages


def run_upload(args) -> int:
    if not args.file.is_file():
        return _fail(f"{args.file}: no such file", args.json)
    active = resolve(args.profile)

    async def go():
        async with connect(active.profile) as conn:
            with LocalState() as state:
                return await _upload(conn, args.file, state)

    file, reused = asyncio.run(go())
    if args.json:
        _emit_json({**file, "reused": reused})
    else:
        sys.stdout.write(f"{file['id']}  {args.file}  {file['bytes']:,} bytes  {file['status']}{'  (already uploaded: reused)' if reused else ''}\n")
    return OK


@dataclass(frozen=True)
class Refused:
    """Why `launch` will not send anything; `code` is the exit code."""

    message: str
    code: int = USAGE


@dataclass
class LaunchPlan:
    """Everything `launch` will send, checked locally, shown before anything leaves."""

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
            *(f"  {name:<11} {value}" if len(name) <= 11 else f"  {name}: {value}" for name, value in hyper.items()),
            f"  suffix      {r.suffix or '(none)'}",
            f"  seed        {r.seed if r.seed is not None else '(the service picks one)'}",
            f"  metadata    {', '.join(f'{k}={v}' for k, v in r.metadata.items()) or '(none)'}",
            f"  estimate    {self.billed_tokens:,} billed tokens ({self.epochs} epochs), about ${self.cost_usd:,.2f}"
            f" (prices as of {statistics.PRICES_AS_OF})",
            *(f"  note: {note}" for note in self.notes),
        ]
        return "\n".join(lines) + "\n"


def _metadata(pairs: list[str]) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--metadata {pair!r}: write key=value")
        if len(key) > METADATA_KEY or len(value) > METADATA_VALUE:
            raise ValueError(f"--metadata {key[:20]!r}: keys hold at most {METADATA_KEY} characters, values {METADATA_VALUE}")
        metadata[key] = value
    if len(metadata) > METADATA_PAIRS - len(TRACE_KEYS):
        raise ValueError(f"at most {METADATA_PAIRS - len(TRACE_KEYS)} --metadata pairs ({len(TRACE_KEYS)} of the {METADATA_PAIRS} are TuneDeck's own)")
    return metadata


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def plan_launch(args, active: Active, state: LocalState) -> LaunchPlan | Refused:
    """The launch as it will be sent, or why it will not be (nothing is sent either way)."""
    try:
        model = lookup(args.model)
    except UnknownModel as exc:
        return Refused(str(exc))
    if args.suffix is not None and len(args.suffix) > SUFFIX_LIMIT:
        return Refused(f"--suffix is {len(args.suffix)} characters; the service takes at most {SUFFIX_LIMIT}")
    if args.method == "dpo" and not model.dpo:
        return Refused(f"{model.name} cannot be trained with DPO; use --method supervised or a model that supports DPO")
    if args.beta is not None and args.method != "dpo":
        return Refused("--beta applies only to --method dpo")
    try:
        metadata = _metadata(args.metadata)
    except ValueError as exc:
        return Refused(str(exc))
    for path in filter(None, (args.train, args.validation)):
        if not path.is_file():
            return Refused(f"{path}: no such file")
    try:
        with open_dataset(args.train) as ds:
            report = validate(ds, model)
    except DatasetError as exc:
        return Refused(str(exc))
    wanted = "preference" if args.method == "dpo" else "chat"
    if report.format not in (wanted, "empty"):
        return Refused(f"{args.train} holds {report.format} examples; --method {args.method} needs {wanted} examples", FAILED)
    if report.errors:
        first = report.errors[0]
        where = f" (first: line {first.line}, {first.code}: {first.message})" if first.line else f" ({first.message})"
        return Refused(f"{args.train} has {len(report.errors)} errors the service would reject{where}; nothing was sent — see `tunedeck validate`", FAILED)
    result = statistics.compute(report, args.epochs)
    dataset_sha = _sha256(args.train)
    split = state.split_of(dataset_sha)
    notes = []
    if split is not None:
        metadata |= {"tunedeck_dataset_sha256": split.dataset_sha256[:16], "tunedeck_split_seed": str(split.seed)}
        notes.append(f"split from {split.dataset_path} (ratio {split.ratio}, seed {split.seed}), recorded in the job's metadata")
        if args.validation is None and Path(split.validation_path).is_file():
            args.validation = Path(split.validation_path)
            notes.append(f"validation file taken from that split: {split.validation_path}")
    else:
        metadata |= {"tunedeck_dataset_sha256": dataset_sha[:16]}
    request = JobRequest(
        model=model.name if not args.model.startswith("ft:") else args.model,
        training_file="",  # filled in after the upload
        method=args.method,
        n_epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate_multiplier=args.lr_multiplier,
        beta=args.beta,
        suffix=args.suffix,
        seed=args.seed,
        metadata=metadata,
    )
    return LaunchPlan(
        active=active,
        request=request,
        train=args.train,
        validation=args.validation,
        examples=result.examples,
        epochs=result.epochs,
        epochs_is_default=result.epochs_is_default,
        billed_tokens=result.billed_tokens,
        cost_usd=result.cost_usd,
        notes=notes,
    )


def _confirmed(text: str, as_json: bool) -> bool | None:
    """True/False for the user's answer; None when there is no terminal to ask on."""
    (sys.stderr if as_json else sys.stdout).write(text)
    if not sys.stdin.isatty():
        return None
    answer = input("Upload and start this job? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def run_launch(args) -> int:
    active = resolve(args.profile)
    with LocalState() as state:
        plan = plan_launch(args, active, state)
        if isinstance(plan, Refused):
            return _fail(plan.message, args.json, plan.code)
        if not args.yes:
            answer = _confirmed(plan.confirmation(), args.json)
            if answer is None:
                return _fail("not launching: confirm with --yes (standard input is not a terminal to ask on)", args.json)
            if not answer:
                sys.stderr.write("tunedeck: not launched; nothing was sent\n")
                return FAILED
        elif not args.json:
            sys.stdout.write(plan.confirmation())
        try:
            job = asyncio.run(_launch(plan, state))
        except ServiceError as error:
            # Nothing half-done left unexplained: say which uploads are kept for the next try.
            kept = [f"{fid} ({path})" for fid, path in ((plan.request.training_file, plan.train), (plan.request.validation_file, plan.validation)) if fid]
            detail = f"; uploaded and kept for the next launch: {', '.join(kept)}" if kept else "; nothing was uploaded"
            return _fail(f"{error.title}: {error.hint}{detail}" if error.hint else f"{error.title}{detail}", args.json)
    if args.json:
        _emit_json(job)
    else:
        sys.stdout.write(f"{job['id']}  {job['status']}  {job['model']}\n")
    return OK


async def _launch(plan: LaunchPlan, state: LocalState) -> dict:
    async with connect(plan.active.profile) as conn:
        train, _ = await _upload(conn, plan.train, state)
        plan.request.training_file = train["id"]
        if plan.validation is not None:
            valid, _ = await _upload(conn, plan.validation, state)
            plan.request.validation_file = valid["id"]
        split = state.split_of(_sha256(plan.train))
        provenance = {"dataset_path": str(plan.train)}
        if split is not None:
            provenance = {"dataset_path": split.dataset_path, "dataset_sha256": split.dataset_sha256, "split_ratio": split.ratio, "split_seed": split.seed}
        job = await jobs.create(conn, plan.request, state=state, provenance=provenance)
        return job.model_dump(mode="json")
