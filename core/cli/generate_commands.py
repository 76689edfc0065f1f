"""`tunedeck generate`: new training examples written by a model, checked, and appended to a JSONL file.

The dataset browser's generation for scripts and SSH one-liners, on the active profile (as
`eval`). FILE must exist (an empty file is a fine start): a mistyped path should not quietly
become a new dataset. Its examples are the style references and what candidates are compared
with; every candidate is judged as core.synthetic.review says, and the ok ones are appended in
one atomic save (the file's other bytes stay as they are). Nothing is asked of the user on the
way: what was dropped, and why, is printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from core.dataset.store import DatasetError, open_dataset
from core.service.errors import ServiceError
from core.service.profiles import resolve
from core.synthetic.brief import MAX_PER_REQUEST, Brief, references_from
from core.synthetic.prices import PRICES_AS_OF
from core.synthetic.review import Judge, file_records

from core.cli.output import FAILED, OK, USAGE, emit_json, fail

if TYPE_CHECKING:  # core.synthetic.run loads the SDK: only a running command imports it
    from core.synthetic.review import Candidate
    from core.synthetic.run import Progress

# The generating model: stronger than gpt-4o-mini, the usual model to train, as a teacher should
# be, still cheap (USD 0.40 / 1.60 per 1M tokens), and with structured outputs. A dated snapshot,
# so a run means the same model next month.
DEFAULT_MODEL = "gpt-4.1-mini-2025-04-14"
DEFAULT_REFERENCES = 3
MAX_N = 5_000
SHOWN_DROPPED = 10
REFERENCE_SAMPLE = 200  # lines read to pick the references from, spread over the file
INTERRUPTED = 130
_CONTROL = dict.fromkeys([*range(32), 127], " ")


def _bounded(kind, low: float, high: float):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:  # nan fails too
            raise argparse.ArgumentTypeError(f"{text} is not in [{low:g}, {high:g}]")
        return value

    return parse


def _text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("it is empty")
    return text


def register(commands) -> None:
    p = commands.add_parser("generate", help="have a model write new examples, check them, and append the good ones to FILE")
    p.add_argument("file", type=Path, metavar="FILE", help="the JSONL dataset to add to (must exist; may be empty)")
    p.add_argument("--n", type=_bounded(int, 1, MAX_N), required=True, metavar="N", help="how many good examples to add")
    p.add_argument("--describe", type=_text, required=True, metavar="TEXT", help="what the assistant being trained does")
    p.add_argument("--system", default="", metavar="TEXT", help="the system prompt every new example carries (default: none)")
    p.add_argument("--topic", action="append", default=[], dest="topics", metavar="T",
                   help="a seed topic; repeat for several (spread over the requests)")  # fmt: skip
    p.add_argument("--references", type=_bounded(int, 0, 10), default=DEFAULT_REFERENCES, metavar="K",
                   help=f"examples of FILE shown to the model as style references (default {DEFAULT_REFERENCES})")  # fmt: skip
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="M", help=f"the model that writes them (default {DEFAULT_MODEL})")
    p.add_argument("--temperature", type=_bounded(float, 0, 2), metavar="T")
    p.add_argument("--per-request", type=_bounded(int, 1, MAX_PER_REQUEST), default=5, metavar="K",
                   help="examples asked for in one request (default 5)")  # fmt: skip
    p.add_argument("--concurrency", type=_bounded(int, 1, 16), default=3, metavar="C", help="requests at a time (default 3)")
    p.add_argument("--json", action="store_true", help="machine-readable summary (schema in the README)")
    p.set_defaults(run=run_generate)


def _printable(text: str) -> str:
    return text.translate(_CONTROL)


def _references(ds, k: int) -> tuple[dict, ...]:
    """k style references from a sample of the file's lines (reading all of a big file for 3 is waste)."""
    if k == 0 or len(ds) == 0:
        return ()
    rng = random.Random(0)
    picked = sorted(rng.sample(range(len(ds)), min(len(ds), REFERENCE_SAMPLE)))
    parsed = []
    for i in picked:
        try:
            parsed.append(orjson.loads(ds.raw(i)))
        except orjson.JSONDecodeError:
            continue
    return references_from(parsed, k=k)


def _progress_line():
    """A `\\r`-updated line on stderr, only when a person is watching."""
    if not sys.stderr.isatty():
        return None

    def show(progress: Progress) -> None:
        dropped = progress.invalid + progress.duplicates + progress.unreadable
        cost = f", ${progress.cost:,.4f}" if progress.cost is not None else ""
        sys.stderr.write(
            f"\r{progress.ok:,}/{progress.wanted:,} good, {dropped:,} dropped, "
            f"{progress.requests:,} request{'s' if progress.requests != 1 else ''}, "
            f"{progress.prompt_tokens + progress.completion_tokens:,} tokens{cost}\033[K"
        )
        sys.stderr.flush()

    return show


def run_generate(args) -> int:
    as_json = args.json
    try:
        ds = open_dataset(args.file)
    except DatasetError as error:
        return fail(str(error), as_json)
    try:
        return _generate(args, ds)
    finally:
        ds.close()


def _generate(args, ds) -> int:
    as_json = args.json
    try:
        references = _references(ds, args.references)
        judge = Judge(file_records(ds), system=args.system)
    except (DatasetError, OSError) as error:
        return fail(f"cannot read {args.file}: {error}", as_json)
    brief = Brief(task=args.describe, system=args.system, topics=tuple(args.topics), references=references)

    from core.service.client import connect  # here: it loads the SDK
    from core.synthetic.run import GIVE_UP_AFTER, generate

    show = _progress_line()
    received: list[Candidate] = []
    last: list[Progress] = []

    def on_candidate(candidate: Candidate, progress: Progress) -> None:
        received.append(candidate)
        last[:] = [progress]
        if show:
            show(progress)

    def on_progress(progress: Progress) -> None:
        last[:] = [progress]
        if show:
            show(progress)

    async def go():
        async with connect(resolve(args.profile).profile) as conn:
            return await generate(conn, brief, args.n, model=args.model, judge=judge, temperature=args.temperature,
                                  per_request=args.per_request, concurrency=args.concurrency,
                                  on_candidate=on_candidate, on_progress=on_progress)  # fmt: skip

    interrupted = False
    try:
        try:
            candidates = asyncio.run(go())
            progress = candidates.progress
        finally:
            if show and last:
                sys.stderr.write("\r\033[K")
    except KeyboardInterrupt:  # keep what was paid for: the good ones so far are appended
        interrupted, candidates = True, received
        progress = last[0] if last else None
    except ServiceError as error:
        if not as_json:
            raise  # main() says it, with its hint
        return fail(f"{error.title}: {error.hint}" if error.hint else error.title, as_json)
    good = [c for c in candidates if c.ok]
    lines = None
    if good:
        try:
            ds.extend([c.example for c in good])
            ds.save()
        except (DatasetError, OSError) as error:
            why = error.title if isinstance(error, DatasetError) else (error.strerror or str(error))
            return fail(f"cannot append to {args.file}: {why}; nothing was appended (the {len(good)} good examples are lost)", as_json)
        lines = [ds.lineno(len(ds) - len(good)), ds.lineno(len(ds) - 1)]
    _report(args, candidates, good, lines, progress)
    if interrupted:
        sys.stderr.write("interrupted" + (f": the {len(good)} good examples so far were appended\n" if good else "\n"))
        return INTERRUPTED
    if progress.gave_up:  # the server kept failing: the run stopped early
        sys.stderr.write(f"tunedeck: the run stopped early, the server failed {GIVE_UP_AFTER} times in a row: {_printable(progress.error)}\n")
        return OK if good else USAGE
    if len(good) < args.n:
        limit = 3 * math.ceil(args.n / args.per_request) + 2
        sys.stderr.write(
            f"tunedeck: {len(good)} of {args.n} wanted: too many candidates were dropped (see why above) and the run "
            f"stopped at its limit of {limit} requests; a more precise --describe, or some --topic, may help\n"
        )
    return OK if good else FAILED


def _report(args, candidates: list[Candidate], good: list[Candidate], lines: list[int] | None, progress: Progress | None) -> None:
    dropped = [c for c in candidates if not c.ok]
    requests = progress.requests if progress else 0
    prompt_tokens = progress.prompt_tokens if progress else 0
    completion_tokens = progress.completion_tokens if progress else 0
    cost = progress.cost if progress else None
    if args.json:
        emit_json({
            "file": str(args.file), "model": args.model, "wanted": args.n, "appended": len(good), "lines": lines,
            "dropped": [{"number": c.number, "verdict": c.verdict, "problems": list(c.problems)} for c in dropped],
            "requests": requests, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "cost_usd": None if cost is None else round(cost, 6),
        })  # fmt: skip
        return
    write = sys.stdout.write
    if good:
        where = f"line {lines[0]}" if lines[0] == lines[1] else f"lines {lines[0]}–{lines[1]}"
        write(f"{args.file}: appended {len(good):,} example{'s' if len(good) != 1 else ''} ({where})\n")
    else:
        write(f"{args.file}: nothing appended\n")
    if dropped:
        write(f"dropped {len(dropped):,} of {len(candidates):,} candidates:\n")
        for c in dropped[:SHOWN_DROPPED]:
            write(f"  #{c.number} {c.verdict}: {_printable(c.problems[0]) if c.problems else ''}\n")
        if len(dropped) > SHOWN_DROPPED:
            write(f"  … and {len(dropped) - SHOWN_DROPPED:,} more (--json lists every one)\n")
    if cost is not None:
        money = f"≈ ${cost:,.4f} at {_printable(args.model)} prices of {PRICES_AS_OF}"
    else:
        money = f"unknown (no price known for {_printable(args.model)})"
    write(f"{requests:,} request{'s' if requests != 1 else ''}, {prompt_tokens:,} tokens in, {completion_tokens:,} out; cost {money}\n")
