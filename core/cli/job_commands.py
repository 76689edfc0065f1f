"""`tunedeck jobs`, `watch`, `cancel`, `pause`, `resume` and `results`: the jobs screen for scripts and SSH one-liners.

Each uses the active profile as `launch` does (the built-in emulator when nothing is set up) and
records the statuses it sees in local state, so the list after an SSH drop is current. `watch
--json` writes one JSON object per line and nothing else on stdout; connection trouble, the
overfitting alarm and errors go to stderr in both modes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from core.clock import SYSTEM, ago
from core.dataset.writing import atomic_write, write_all
from core.service.errors import NotFound, ServiceError
from core.service.limits import ACTIVE, POLL_INTERVAL, TERMINAL
from core.service.local_state import LocalState
from core.service.profiles import resolve

from core.cli.output import FAILED, OK, emit_json, fail

if TYPE_CHECKING:  # for annotations; the module loads when a command runs
    from core.service.tracking import JobView

# The SDK-backed modules (core.service.jobs, watch, tracking, client) are imported inside the
# commands: loading the SDK takes a second that `tunedeck validate` and `--help` must not pay.
STATUSES = sorted(ACTIVE | TERMINAL)
ACTIONS = ("cancel", "pause", "resume")
TABLE_WIDTH = 80  # when stdout is not a terminal
GAP = "  "
# (header, narrowest it may be cut to or None if never cut, which end of a cut value is kept)
COLUMNS = (
    ("id", None, ""),
    ("status", None, ""),
    ("model", 12, "start"),  # gpt-4o-mini…
    ("suffix", 6, "start"),
    ("age", None, ""),
    ("tokens", None, ""),
    ("tuned model", 12, "end"),  # …trips:sga2cyw2
    ("dataset", 12, "end"),  # …travel.jsonl
)
METRIC_LABELS = (("train_loss", "train"), ("valid_loss", "valid"), ("full_valid_loss", "full valid"))
# Server text goes to a terminal as it is, minus anything that could drive the terminal.
_CONTROL = dict.fromkeys([*range(32), 127], " ")


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0 or value == float("inf"):  # nan and inf would stall the watch for ever
            raise argparse.ArgumentTypeError(f"{text} is not a positive number")
        return value

    return parse


def register(commands) -> None:
    p = commands.add_parser("jobs", help="list the active profile's jobs, newest first, with the ones started from here")
    p.add_argument("--status", choices=STATUSES, help="only jobs with this status")
    p.add_argument("--limit", type=_positive(int), metavar="N", help="at most N jobs")
    p.add_argument("--json", action="store_true", help="machine-readable output (schema in the README)")
    p.set_defaults(run=run_jobs)

    p = commands.add_parser("watch", help="follow one job until it ends (exit 0 succeeded, 1 failed or cancelled)")
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--interval", type=_positive(float), default=POLL_INTERVAL, metavar="SECONDS", help=f"seconds between polls (default {POLL_INTERVAL:g})")
    p.add_argument("--json", action="store_true", help="one JSON object per line: status, event, metric, checkpoint")
    p.set_defaults(run=run_watch)

    for verb in ACTIONS:
        p = commands.add_parser(verb, help=f"{verb} a job")
        p.add_argument("job_id", metavar="JOB_ID")
        p.add_argument("--json", action="store_true", help="print the job as the service returns it")
        p.set_defaults(run=run_action, verb=verb)

    p = commands.add_parser("results", help="a job's result file (CSV of the metrics per step)")
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--out", type=Path, metavar="FILE", help="write it to FILE (atomically) instead of stdout")
    p.set_defaults(run=run_results)


def _run(args, work, *, json_errors: bool) -> int:
    """`await work(conn, state)` on the active profile; an unknown job is named, not just "not found"."""
    from core.service.client import connect

    active = resolve(args.profile)

    async def go() -> int:
        async with connect(active.profile) as conn:
            with LocalState() as state:
                return await work(conn, state)

    try:
        return asyncio.run(go())
    except NotFound as error:
        if not getattr(args, "job_id", None):
            raise
        said = error.hint or error.title
        return fail(f"no job {args.job_id} for profile {active.profile.name!r} (the server said: {said}); `tunedeck jobs` lists them", json_errors)
    except ServiceError as error:  # under --json, scripts read {"error": ...} on stdout
        if not json_errors:
            raise
        return fail(f"{error.title}: {error.hint}" if error.hint else error.title, json_errors)


def _error(job) -> dict | None:
    error = job.error if job is not None else None
    fields = {k: getattr(error, k, None) for k in ("code", "message", "param")}
    return fields if any(fields.values()) else None


def _printable(text: str) -> str:
    return text.translate(_CONTROL)


# ------------------------------------------------------------------ jobs


def run_jobs(args) -> int:
    from core.service import jobs
    from core.service.tracking import JobBoard

    async def work(conn, state: LocalState) -> int:
        identity = conn.profile.identity
        most = args.limit if args.limit and not args.status else 1000
        board = JobBoard()
        board.merge(await jobs.list_all(conn, most=most), state.jobs(identity))
        for view in board.views.values():
            if view.job is not None and view.record is not None and view.record.status != view.job.status:
                state.set_status(identity, view.job_id, view.job.status)
        rows = board.rows(args.status)[: args.limit]
        if args.json:
            emit_json([_job_json(view) for view in rows])
        elif rows:
            width = shutil.get_terminal_size((TABLE_WIDTH, 24)).columns if sys.stdout.isatty() else TABLE_WIDTH
            now, cwd = SYSTEM.now(), Path.cwd()
            sys.stdout.writelines(line + "\n" for line in _table([_row(view, now, cwd) for view in rows], width))
        else:
            sys.stderr.write(f"no jobs{f' with status {args.status}' if args.status else ''} for profile {conn.profile.name!r}\n")
        return OK

    return _run(args, work, json_errors=args.json)


def _job_json(view: JobView) -> dict:
    job, record = view.job, view.record
    eta = view.estimated_finish()
    return {
        "id": view.job_id,
        "status": view.status,
        "model": view.model,
        "suffix": view.suffix,
        "created_at": int(view.created_at),
        "finished_at": int(view.finished_at) if view.finished_at else None,
        "estimated_finish": int(eta[0]) if eta else None,
        "trained_tokens": view.trained_tokens,
        "fine_tuned_model": view.fine_tuned_model,
        "training_file": job.training_file if job else record.training_file,
        "validation_file": job.validation_file if job else record.validation_file,
        "dataset": record.dataset_path if record else None,
        "error": _error(job),
    }


def _row(view: JobView, now: float, cwd: Path) -> list[str]:
    tokens = view.trained_tokens
    cells = [
        view.job_id, view.status, view.model or "-", view.suffix or "-", ago(view.created_at, now),
        f"{tokens:,}" if tokens else "-", view.fine_tuned_model or "-", _shown_path(view.dataset, cwd) or "-",
    ]  # fmt: skip
    return [_printable(cell) for cell in cells]  # the server's words, minus anything that drives the terminal


def _shown_path(name: str | None, cwd: Path) -> str | None:
    if name and os.path.isabs(name):
        try:
            return str(Path(name).relative_to(cwd))
        except ValueError:
            pass
    return name


def _table(rows: list[list[str]], width: int) -> list[str]:
    """Aligned columns that fit `width` when they can: a column empty in every row is left out,
    then the free-text ones give up characters, widest first, down to their narrowest. Ids,
    statuses, ages and token counts are never cut."""
    shown = [c for c in range(len(COLUMNS)) if any(row[c] != "-" for row in rows)]
    lines = [[COLUMNS[c][0] for c in shown]] + [[row[c] for c in shown] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(shown))]
    floors = [max(COLUMNS[c][1] or w, len(COLUMNS[c][0])) for c, w in zip(shown, widths)]
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
    while excess > 0:
        i = max(range(len(widths)), key=lambda i: widths[i] - floors[i])
        if widths[i] <= floors[i]:
            break
        widths[i] -= 1
        excess -= 1
    keep = [COLUMNS[c][2] for c in shown]
    return [GAP.join(map(_fit, line, widths, keep)).rstrip() for line in lines]


def _fit(text: str, width: int, keep: str) -> str:
    if len(text) <= width:
        return text.ljust(width)
    return text[: width - 1] + "…" if keep == "start" else "…" + text[len(text) - width + 1 :]


# ------------------------------------------------------------------ watch


def run_watch(args) -> int:
    from core.service import watch
    from core.service.tracking import JobView

    show = _as_json_line if args.json else _as_text

    async def work(conn, state: LocalState) -> int:
        identity = conn.profile.identity
        view = JobView(args.job_id, record=state.job(identity, args.job_id))
        warned = False
        async for update in watch.watch(conn, args.job_id, interval=args.interval):
            if isinstance(update, watch.Reconnecting):
                sys.stderr.write(f"connection lost ({update.error.title}); retrying in {_seconds(update.retry_in)}\n")
                continue
            if isinstance(update, watch.Reconnected):
                n = update.after_attempts
                sys.stderr.write(f"reconnected after {n} attempt{'s' if n != 1 else ''}\n")
                continue
            view.apply(update)
            if isinstance(update, watch.StatusChanged):
                state.set_status(identity, args.job_id, update.job.status)
            line = show(update)
            if line is not None:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            if view.alarm is not None and not warned:
                warned = True
                sys.stderr.write(f"warning: overfitting at step {view.alarm.step}: {view.alarm.describe()}\n")
        return _outcome(view)

    return _run(args, work, json_errors=False)  # the JSON stream holds the four types only


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 1 else f"{value:.1f} s"


def _as_json_line(update) -> str | None:
    from core.service import watch

    value = None
    if isinstance(update, watch.StatusChanged):
        job = update.job
        value = {"type": "status", "job_id": job.id, "status": job.status, "previous": update.previous,
                 "fine_tuned_model": job.fine_tuned_model, "error": _error(job)}  # fmt: skip
    elif isinstance(update, watch.NewEvent):
        e = update.event
        value = {"type": "event", "job_id": update.job_id, "id": e.id, "created_at": e.created_at, "level": e.level,
                 "message": e.message, "event_type": e.type, "data": e.data}  # fmt: skip
    elif isinstance(update, watch.MetricPoint):
        value = {"type": "metric", "job_id": update.job_id, "step": update.step, "total_steps": update.total_steps,
                 "created_at": update.created_at, **update.values}  # fmt: skip
    elif isinstance(update, watch.NewCheckpoint):
        c = update.checkpoint
        value = {"type": "checkpoint", "job_id": update.job_id, "id": c.id, "step": c.step_number,
                 "fine_tuned_model_checkpoint": c.fine_tuned_model_checkpoint, "created_at": c.created_at,
                 "metrics": c.metrics.model_dump(mode="json", exclude_none=True) if c.metrics else {}}  # fmt: skip
    return orjson.dumps(value).decode() if value is not None else None


def _as_text(update) -> str | None:
    from core.service import watch

    if isinstance(update, watch.StatusChanged):
        tuned = update.job.fine_tuned_model
        return _printable(f"status  {update.job.status}" + (f"  {tuned}" if tuned else ""))
    if isinstance(update, watch.NewEvent):
        e = update.event
        if e.type == "metrics":
            return None  # its metric line says it better
        return f"{time.strftime('%H:%M:%S', time.localtime(e.created_at))}  {_printable(e.level)}  {_printable(e.message)}"
    if isinstance(update, watch.MetricPoint):
        step = f"step {update.step}/{update.total_steps}" if update.total_steps else f"step {update.step}"
        return "  ".join([step] + [f"{label} {update.values[key]:.3f}" for key, label in METRIC_LABELS if key in update.values])
    if isinstance(update, watch.NewCheckpoint):
        c = update.checkpoint
        losses = [f"{label} loss {getattr(c.metrics, key):.2f}" for key, label in METRIC_LABELS[1:] if getattr(c.metrics, key, None) is not None]
        return "  ".join([f"checkpoint step {c.step_number}", _printable(c.fine_tuned_model_checkpoint), *losses])
    return None


def _outcome(view: JobView) -> int:
    if view.status == "succeeded":
        return OK
    failure = view.failure()
    if failure is None:
        sys.stderr.write(f"tunedeck: {view.job_id} was {view.status}\n")
        return FAILED
    code = f"{failure.code}: " if failure.code else ""
    sys.stderr.write(f"tunedeck: {view.job_id} failed: {code}{_printable(failure.message)}\n  {failure.hint}\n")
    if failure.line is not None and failure.path is not None:
        sys.stderr.write(f"  line {failure.line} of {failure.path}\n")
    return FAILED


# ------------------------------------------------------------------ cancel, pause, resume


def run_action(args) -> int:
    from core.service import jobs

    async def work(conn, state: LocalState) -> int:
        try:
            job = await getattr(jobs, args.verb)(conn, args.job_id)
        except NotFound:
            raise
        except ServiceError as error:  # the service refused: its message says why
            return fail(f"cannot {args.verb} {args.job_id}: {error.hint or error.title}", args.json)
        state.set_status(conn.profile.identity, job.id, job.status)
        if args.json:
            emit_json(job.model_dump(mode="json"))
        else:
            sys.stdout.write(f"{job.id} {job.status}\n")
        return OK

    return _run(args, work, json_errors=args.json)


# ------------------------------------------------------------------ results


def run_results(args) -> int:
    from core.service import jobs

    async def work(conn, state: LocalState) -> int:
        job = await jobs.retrieve(conn, args.job_id)
        state.set_status(conn.profile.identity, job.id, job.status)
        if not job.result_files:
            return fail(f"{args.job_id} has no result file yet: it is {job.status} (the service writes one when a job succeeds)", False, FAILED)
        try:
            text = await jobs.result_csv(conn, job.result_files[0])
        except NotFound as error:  # not "no job": the job is there, its file is not
            return fail(f"{args.job_id}'s result file {job.result_files[0]} is not on the server: {error.hint or error.title}", False)
        return _deliver(text if text.endswith("\n") else text + "\n", args.out, args.job_id)

    return _run(args, work, json_errors=False)


def _deliver(text: str, out: Path | None, job_id: str) -> int:
    if out is None:
        sys.stdout.write(text)
        return OK
    try:
        fd, _ = atomic_write(out, lambda fd: write_all(fd, text.encode("utf-8")))
        os.close(fd)
    except OSError as error:  # the old file, if any, is left as it was
        return fail(f"cannot write {out}: {error.strerror or error}", False)
    sys.stderr.write(f"{job_id}: results written to {out} ({text.count(chr(10)) - 1} steps)\n")
    return OK
