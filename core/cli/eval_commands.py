"""`tunedeck eval`: every example of a JSONL file asked of up to three models, scored against its gold answer.

The playground's batch evaluation for scripts and SSH one-liners, on the active profile (as
`launch`). Answers are saved as they arrive in a results file; running the same command again
resumes it, asking only what is missing or failed (core.evaluate.run says exactly when a results
file is reused).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from core.dataset.store import DatasetError
from core.evaluate import MAX_MODELS
from core.evaluate.cases import Skipped, read_cases
from core.evaluate.results import ResultsError, ResultsMismatch, check_header, default_out, json_params
from core.evaluate.results import read as read_results
from core.service.errors import ServiceError
from core.service.profiles import resolve

from core.cli.output import FAILED, OK, emit_json, fail

if TYPE_CHECKING:  # for annotations; core.evaluate.run loads the SDK, so only a running command imports it
    from core.evaluate.report import Disagreement, ModelTotals
    from core.evaluate.run import Answer, Progress

DEFAULT_CONCURRENCY = 4
SHOWN_SKIPPED = 5
SHOWN_DISAGREEMENTS = 5  # in the text report; --json lists 10
SHOWN_ERRORS = 3
INTERRUPTED = 130
_CONTROL = dict.fromkeys([*range(32), 127], " ")  # model names and server messages, printed as they are


def _number(kind, low: float, high: float, *, low_open: bool = False):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (low < value if low_open else low <= value) or not value <= high:  # nan fails both
            raise argparse.ArgumentTypeError(f"{text} is not in {'(' if low_open else '['}{low:g}, {high:g}]")
        return value

    return parse


def register(commands) -> None:
    p = commands.add_parser("eval", help=f"ask 1 to {MAX_MODELS} models every example of a JSONL file and score the answers")
    p.add_argument("file", type=Path, metavar="FILE", help="examples (JSONL): each is asked up to its last assistant turn")
    p.add_argument("--model", action="append", required=True, dest="models", metavar="M",
                   help=f"a model to ask: base, tuned or checkpoint (repeat: up to {MAX_MODELS})")  # fmt: skip
    p.add_argument("--out", type=Path, metavar="RESULTS", help="results file (default: <stem>.eval.jsonl beside FILE)")
    p.add_argument("--concurrency", type=_number(int, 1, 64), default=DEFAULT_CONCURRENCY, metavar="N",
                   help=f"requests at a time (default {DEFAULT_CONCURRENCY})")  # fmt: skip
    p.add_argument("--temperature", type=_number(float, 0, 2), metavar="T")
    p.add_argument("--max-tokens", type=_number(int, 1, 1_000_000), metavar="N", help="sent as max_tokens")
    p.add_argument("--top-p", type=_number(float, 0, 1, low_open=True), metavar="P")
    p.add_argument("--seed", type=int, metavar="N", help="asks the server for reproducible answers")
    p.add_argument("--limit", type=_number(int, 1, float("inf")), metavar="N", help="only the first N examples that can be asked")
    p.add_argument("--fresh", action="store_true", help="start the results file over instead of resuming it")
    p.add_argument("--json", action="store_true", help="machine-readable summary (schema in the README)")
    p.set_defaults(run=run_eval)


def _printable(text: str) -> str:
    return text.translate(_CONTROL)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _progress_line():
    """A `\\r`-updated line on stderr, only when a person is watching."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int, failed: int) -> None:
        sys.stderr.write(f"\r{done:,}/{total:,} answered" + (f", {failed:,} failed" if failed else "") + "\033[K")
        sys.stderr.flush()

    return show


def run_eval(args) -> int:
    as_json = args.json
    models: list[str] = args.models
    if len(models) > MAX_MODELS:
        return fail(f"at most {MAX_MODELS} models at once, not {len(models)}", as_json)
    if len(set(models)) != len(models):
        return fail("a model is named twice", as_json)
    out: Path = args.out or default_out(args.file)
    if _same_file(out, args.file):
        return fail(f"the results file {out} is the examples file; choose another --out", as_json)
    try:
        cases, skipped = read_cases(args.file, limit=args.limit)
    except (DatasetError, OSError) as error:
        return fail(str(error), as_json)
    if not cases:
        why = f" ({_skipped_text(skipped)})" if skipped else ""
        return fail(f"{args.file}: no example to evaluate: none has an assistant turn to predict{why}", as_json)
    params = {"temperature": args.temperature, "max_tokens": args.max_tokens, "top_p": args.top_p, "seed": args.seed}
    params = {k: v for k, v in params.items() if v is not None}
    refused = _refused(out, models, params, as_json, args.fresh)  # now, before the SDK loads or a server starts
    if refused is not None:
        return refused

    from core.evaluate.run import evaluate  # here: it loads the SDK
    from core.service.client import connect

    show = _progress_line()
    seen: list[Progress] = []

    def on_answer(answer: Answer, progress: Progress) -> None:
        seen[:] = [progress]
        if show:
            show(progress.done, progress.total, progress.failed)

    async def go() -> list[Answer]:
        async with connect(resolve(args.profile).profile) as conn:
            return await evaluate(conn, cases, models, out, concurrency=args.concurrency, params=params,
                                  on_answer=on_answer, fresh=args.fresh, source=args.file)  # fmt: skip

    try:
        try:
            answers = asyncio.run(go())
        finally:
            if show and seen:
                sys.stderr.write("\r\033[K")
    except KeyboardInterrupt:
        sys.stderr.write(f"interrupted: the answers so far are in {out}; run the same command again to go on\n")
        return INTERRUPTED
    except ResultsError as error:  # the results file changed since _refused looked
        return _results_error(error, as_json)
    except OSError as error:  # the results file (or its folder) cannot be written
        return fail(f"cannot write the results to {error.filename or out}: {error.strerror or error}", as_json)
    except ServiceError as error:
        if not as_json:
            raise  # main() says it, with its hint
        return fail(f"{error.title}: {error.hint}" if error.hint else error.title, as_json)
    return _report(args, out, cases, skipped, models, answers, resumed=seen[0].resumed if seen else 0)


def _refused(out: Path, models: list[str], params: dict, as_json: bool, fresh: bool) -> int | None:
    """The exit code when `out` cannot take this run's results (without --fresh: when the results
    already there cannot be resumed by it), else None."""
    if out.is_dir():
        return fail(f"{out} is a folder; choose a results file with --out", as_json)
    if fresh or not out.exists():
        return None
    try:
        stored = read_results(out)
        if stored.header is not None:
            check_header(stored.header, models, json_params(params), out)
    except ResultsError as error:
        return _results_error(error, as_json)
    except OSError as error:
        return fail(f"cannot read {out}: {error.strerror or error}", as_json)
    return None


def _results_error(error: ResultsError, as_json: bool) -> int:
    if isinstance(error, ResultsMismatch):
        return fail(f"{error.title}; add --fresh to start it over, or choose another --out", as_json)
    return fail(f"{error.title}; choose another --out, or add --fresh to replace it", as_json)  # not results, or newer


def _report(args, out: Path, cases, skipped: list[Skipped], models: list[str], answers: list[Answer], resumed: int) -> int:
    from core.evaluate.report import disagreements, totals

    rows = totals(answers, models)
    unavailable = _unavailable(answers)
    failures = Counter((a.model, a.error) for a in answers if a.error is not None)
    failed = sum(failures.values())
    if args.json:
        if unavailable:
            return fail(_unavailable_text(unavailable), True)
        emit_json({
            "file": str(args.file), "out": str(out), "cases": len(cases),
            "skipped": [{"line": s.line, "reason": s.reason} for s in skipped], "resumed": resumed,
            "models": [_totals_json(row) for row in rows],
            "disagreements": [_disagreement_json(d) for d in disagreements(answers, models, most=10)],
        })  # fmt: skip
    else:
        _print_report(args.file, out, len(cases), skipped, resumed, rows, disagreements(answers, models, most=SHOWN_DISAGREEMENTS))
    if unavailable:
        return fail(_unavailable_text(unavailable), False)
    if failed:
        sys.stderr.write(f"tunedeck: {failed:,} of {len(answers):,} requests failed; run the same command again to ask only those again\n")
        for (model, error), count in failures.most_common(SHOWN_ERRORS):
            sys.stderr.write(f"  {_printable(model)} ({count}×): {_printable(error)}\n")
        if len(failures) > SHOWN_ERRORS:
            sys.stderr.write(f"  … and {len(failures) - SHOWN_ERRORS} other errors (each answer's error is in {out})\n")
        return FAILED
    return OK


def _unavailable(answers: list[Answer]) -> dict[str, str]:
    """{model: what the server said} for the models it would not answer for (unknown, shut down…)."""
    from core.evaluate.run import NOT_ASKED, UNAVAILABLE

    kinds = {kind.__name__ for kind in UNAVAILABLE}
    found: dict[str, str] = {}
    for a in answers:
        if a.error_type in kinds and (a.model not in found or found[a.model].startswith(NOT_ASKED)):
            found[a.model] = a.error  # the server's own words rather than a "not asked" note
    return found


def _unavailable_text(unavailable: dict[str, str]) -> str:
    said = "; ".join(f"model {model} is not available: {_printable(error)}" for model, error in unavailable.items())
    return f"{said} (`tunedeck jobs` lists the tuned models; for other models, add --fresh or choose another --out)"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _totals_json(row: ModelTotals) -> dict:
    some = row.answered > 0  # a mean over no answer is no score, not 0
    return {
        "model": row.model, "answered": row.answered, "failed": row.failed, "exact": _round(row.exact) if some else None,
        "f1": _round(row.f1) if some else None, "similarity": _round(row.similarity) if some else None,
        "json_valid": _round(row.json_valid),
        "mean_latency_ms": None if row.mean_latency is None else round(row.mean_latency * 1000, 1),
        "prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens,
    }  # fmt: skip


def _disagreement_json(d: Disagreement) -> dict:
    return {"line": d.line, "spread": _round(d.spread), "f1": {m: _round(v) for m, v in d.f1.items()}}


def _skipped_text(skipped: list[Skipped]) -> str:
    shown = ", ".join(f"line {s.line} {s.reason}" for s in skipped[:SHOWN_SKIPPED])
    more = f", … and {len(skipped) - SHOWN_SKIPPED} more" if len(skipped) > SHOWN_SKIPPED else ""
    return f"skipped {len(skipped)} line{'s' if len(skipped) != 1 else ''}: {shown}{more}"


def _latency(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _print_report(file: Path, out: Path, cases: int, skipped: list[Skipped], resumed: int, rows: list[ModelTotals], spread: list[Disagreement]) -> None:
    write = sys.stdout.write
    earlier = f" ({resumed:,} answers from an earlier run)" if resumed else ""
    write(f"{file}: {cases:,} example{'s' if cases != 1 else ''} × {len(rows)} model{'s' if len(rows) != 1 else ''}{earlier}\n")
    table = [("model", "exact", "F1", "similarity", "JSON valid", "failed", "latency", "tokens in/out")]
    for row in rows:
        json_valid = "—" if row.json_valid is None else f"{row.json_valid:.0%}"
        some = row.answered > 0
        table.append((
            _printable(row.model), f"{row.exact:.1%}" if some else "—", f"{row.f1:.2f}" if some else "—",
            f"{row.similarity:.2f}" if some else "—", json_valid,
            f"{row.failed:,}", _latency(row.mean_latency), f"{row.prompt_tokens:,}/{row.completion_tokens:,}",
        ))  # fmt: skip
    widths = [max(len(line[c]) for line in table) for c in range(len(table[0]))]
    for line in table:  # the model left-aligned, the numbers right-aligned
        cells = [line[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(line[1:], widths[1:])]
        write("  ".join(cells).rstrip() + "\n")
    if skipped:
        write(_skipped_text(skipped) + "\n")
    if spread:
        write("where the models disagree most (F1 per model):\n")
        for d in spread:
            scores = "  ".join(f"{_printable(model)} {value:.2f}" for model, value in d.f1.items())
            write(f"  line {d.line}  spread {d.spread:.2f}  {scores}\n")
    write(f"results: {out}\n")
