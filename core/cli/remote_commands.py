"""`tunedeck upload` and `tunedeck launch`: the launch screen's work for scripts and SSH one-liners.

Both use the active profile (the built-in emulator when nothing is set up) and the same core
calls as the app. `launch` checks the files locally first, shows exactly what it will send,
and sends nothing until confirmed (`--yes`, or "y" typed on a terminal).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.service.errors import ServiceError
from core.service.limits import SUFFIX_LIMIT
from core.service.local_state import LocalState
from core.service.profiles import resolve

from core.cli.output import FAILED, OK, USAGE, emit_json, fail

if TYPE_CHECKING:  # names for annotations; the modules load when a command runs
    from core.service import launch as launching
    from core.service.files import UploadProgress


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

    from core.service import launch as launching  # the SDK loads only when a command needs it

    file = await launching.upload_processed(conn, path, state, progress)
    return file.model_dump(mode="json"), "reused" in stages


def run_upload(args) -> int:
    if not args.file.is_file():
        return fail(f"{args.file}: no such file", args.json)
    active = resolve(args.profile)

    async def go():
        from core.service.client import connect

        async with connect(active.profile) as conn:
            with LocalState() as state:
                return await _upload(conn, args.file, state)

    file, reused = asyncio.run(go())
    if args.json:
        emit_json({**file, "reused": reused})
    else:
        sys.stdout.write(f"{file['id']}  {args.file}  {file['bytes']:,} bytes  {file['status']}{'  (already uploaded: reused)' if reused else ''}\n")
    return OK


def _confirmed(text: str, as_json: bool) -> bool | None:
    """True/False for the user's answer; None when there is no terminal to ask on."""
    (sys.stderr if as_json else sys.stdout).write(text)
    if not sys.stdin.isatty():
        return None
    answer = input("Upload and start this job? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _form(args) -> launching.LaunchForm | launching.Refused:
    from core.service import launch as launching

    metadata = {}
    for pair in args.metadata:
        key, sep, value = pair.partition("=")
        if not sep:
            return launching.Refused(f"--metadata {pair!r}: write key=value")
        metadata[key] = value
    return launching.LaunchForm(
        train=args.train, model=args.model, validation=args.validation, method=args.method, epochs=args.epochs,
        batch_size=args.batch_size, lr_multiplier=args.lr_multiplier, beta=args.beta, suffix=args.suffix,
        seed=args.seed, metadata=metadata,
    )


def run_launch(args) -> int:
    from core.service import launch as launching

    active = resolve(args.profile)
    with LocalState() as state:
        form = _form(args)
        plan = form if isinstance(form, launching.Refused) else launching.plan(form, active, state)
        if isinstance(plan, launching.Refused):
            return fail(plan.message, args.json, FAILED if plan.dataset else USAGE)
        if not args.yes:
            answer = _confirmed(plan.confirmation(), args.json)
            if answer is None:
                return fail("not launching: confirm with --yes (standard input is not a terminal to ask on)", args.json)
            if not answer:
                sys.stderr.write("tunedeck: not launched; nothing was sent\n")
                return FAILED
        elif not args.json:
            sys.stdout.write(plan.confirmation())
        try:
            job = asyncio.run(_launch(plan, state))
        except ServiceError as error:
            # Nothing half-done left unexplained: say which uploads are kept for the next try.
            detail = launching.kept_uploads(plan)
            return fail(f"{error.title}: {error.hint}; {detail}" if error.hint else f"{error.title}; {detail}", args.json)
    if args.json:
        emit_json(job)
    else:
        sys.stdout.write(f"{job['id']}  {job['status']}  {job['model']}\n")
    return OK


async def _launch(plan: launching.LaunchPlan, state: LocalState) -> dict:
    from core.service import launch as launching
    from core.service.client import connect

    show = _show_progress(plan.train.name)
    async with connect(plan.active.profile) as conn:
        job = await launching.launch(conn, plan, state, show)
        return job.model_dump(mode="json")
