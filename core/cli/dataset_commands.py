"""`tunedeck validate`, `stats` and `split`: the dataset engine for scripts, CI and SSH one-liners."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from core.dataset import DatasetError, open_dataset, validate
from core.dataset import split as splitting
from core.dataset import stats as statistics
from core.dataset.base_models import DEFAULT_MODEL, UnknownModel, load_price_overrides, lookup
from core.dataset.rules import CODES

from core.cli.output import FAILED, OK, USAGE, emit_json, fail
SHOWN_PER_CODE = 10


def register(commands) -> None:
    def model_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=DEFAULT_MODEL, help=f"base model whose limits and tokenizer apply (default {DEFAULT_MODEL})")
        p.add_argument("--json", action="store_true", help="machine-readable output (schema in the README)")

    p = commands.add_parser("validate", help="check files the way the fine-tuning service will")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    model_flags(p)
    p.add_argument("--all", action="store_true", help=f"list every finding (default: {SHOWN_PER_CODE} per code)")
    p.set_defaults(run=run_validate)

    p = commands.add_parser("stats", help="token counts, distributions, default epochs and cost")
    p.add_argument("file", type=Path, metavar="FILE")
    model_flags(p)
    p.add_argument("--epochs", type=int, help="epochs to price (default: the service's auto rule)")
    p.add_argument("--prices", type=Path, help="TOML file overriding training prices ([prices] model = USD per 1M tokens)")
    p.set_defaults(run=run_stats)

    p = commands.add_parser("split", help="write <stem>.train.jsonl and <stem>.validation.jsonl")
    p.add_argument("file", type=Path, metavar="FILE")
    model_flags(p)
    p.add_argument("--ratio", type=float, default=splitting.DEFAULT_RATIO, help="share of examples for training (default 0.8)")
    p.add_argument("--seed", type=int, default=splitting.DEFAULT_SEED, help="shuffle seed (default 42)")
    p.add_argument("--no-shuffle", action="store_true", help="keep file order; validation is taken from the end")
    p.add_argument("--dedupe", action="store_true", help="drop extra copies of exact duplicates instead of keeping them together")
    p.add_argument("--max-validation", type=int, metavar="N", help="cap the validation side at N examples")
    p.add_argument("--out", type=Path, metavar="DIR", help="folder for the two files (default: the input's folder)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(run=run_split)




def _progress(label: str):
    """A one-line progress meter on stderr, only when a person is watching."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        sys.stderr.write(f"\r{label}: {done:,}/{total:,} examples")
        if done >= total:
            sys.stderr.write("\r\033[K")
        sys.stderr.flush()

    return show


def _open_and_validate(path: Path, model: str):
    ds = open_dataset(path)
    return ds, validate(ds, model, progress=_progress(f"checking {path}"))


def run_validate(args) -> int:
    try:
        lookup(args.model)
    except UnknownModel as exc:
        return fail(str(exc), args.json)
    results, worst = [], OK
    for path in args.files:
        try:
            ds, report = _open_and_validate(path, args.model)
        except (DatasetError, OSError) as exc:
            results.append({"path": str(path), "error": str(exc)})
            if not args.json:
                sys.stderr.write(f"tunedeck: {exc}\n")
            worst = max(worst, USAGE) if worst != FAILED else worst
            continue
        with ds:
            if not report.ok:
                worst = FAILED
            results.append(report.to_json())
            if not args.json:
                _print_report(report, show_all=args.all)
    if args.json:
        emit_json({"ok": worst == OK, "files": results})
    return worst


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _print_report(report, show_all: bool) -> None:
    out = sys.stdout.write
    verdict = "OK" if report.ok else "FAILED"
    out(
        f"{report.path}: {verdict} — {report.records:,} records ({report.format}), {report.valid_examples:,} valid; "
        f"{_count(len(report.errors), 'error')}, {_count(len(report.warnings), 'warning')} [{report.model.name}]\n"
    )
    for code, group in sorted(report.by_code().items(), key=lambda item: (CODES[item[0]][0] != "error", item[0])):
        severity, meaning = CODES[code]
        out(f"  {severity:<7} {code} ({len(group)}): {meaning}\n")
        shown = group if show_all else group[:SHOWN_PER_CODE]
        for f in shown:
            out(f"          {f.where()}: {f.message}\n")
            if f.fix:
                out(f"            fix: {f.fix}\n")
        if len(shown) < len(group):
            out(f"          … and {len(group) - len(shown)} more (--all lists them)\n")


def run_stats(args) -> int:
    try:
        overrides = load_price_overrides(args.prices) if args.prices else None
        model = lookup(args.model, overrides)
    except (UnknownModel, OSError, ValueError) as exc:
        return fail(str(exc), args.json)
    try:
        ds, report = _open_and_validate(args.file, model)
    except (DatasetError, OSError) as exc:
        return fail(str(exc), args.json)
    with ds:
        result = statistics.compute(report, epochs=args.epochs)
    if args.json:
        emit_json({"path": str(args.file), "format": report.format, "errors": len(report.errors), "warnings": len(report.warnings), **result.to_json()})
        return OK
    out = sys.stdout.write
    out(f"{args.file}: {result.records:,} records, {result.examples:,} valid {report.format} examples [{model.name}]\n")
    if result.records != result.examples:
        out(f"  ({result.records - result.examples} records with errors are left out of these numbers; `tunedeck validate` lists them)\n")
    out(f"  {'':<22}{'min':>8}{'mean':>10}{'p50':>8}{'p90':>8}{'max':>8}{'total':>12}\n")
    rows = [("messages / example", result.messages), ("tokens / example", result.tokens)]
    rows += [(f"  {role} tokens", d) for role, d in result.tokens_by_role.items()]
    for label, d in rows:
        out(f"  {label:<22}{d.min:>8,}{d.mean:>10,.1f}{d.p50:>8,}{d.p90:>8,}{d.max:>8,}{d.total:>12,}\n")
    out(f"  over the {model.token_limit:,}-token limit: {result.over_limit}\n")
    rule = "the service's default for this many examples" if result.epochs_is_default else "as given"
    out(f"  epochs: {result.epochs} ({rule})\n")
    out(f"  billed tokens: {result.billed_tokens:,} = {result.epochs} epochs × Σ min(tokens, limit)\n")
    out(
        f"  estimated training cost: ${result.cost_usd:,.2f} at ${model.training_price_per_million:g} per 1M tokens "
        f"(prices as of {statistics.PRICES_AS_OF})\n"
    )
    return OK


def run_split(args) -> int:
    try:
        lookup(args.model)
        ds, report = _open_and_validate(args.file, args.model)
    except (UnknownModel, DatasetError, OSError) as exc:
        return fail(str(exc), args.json)
    with ds:
        try:
            split = splitting.plan(
                ds, report, ratio=args.ratio, seed=args.seed, shuffle=not args.no_shuffle, dedupe=args.dedupe, max_validation=args.max_validation
            )
            if not split.train.records or not split.validation.records:
                message = f"{len(split.train.records) + len(split.validation.records)} valid examples cannot be split into two non-empty sides"
                if args.json:
                    emit_json({"path": str(args.file), "error": message, **split.to_json()})
                sys.stderr.write(f"tunedeck: {message}\n")
                return FAILED
            split = splitting.write(ds, split, args.out, overwrite=args.force)
        except DatasetError as exc:
            return fail(str(exc), args.json)
    from core.service.local_state import remember_split  # sqlite only for the command that needs it

    remember_split(args.file, split)
    if args.json:
        emit_json({"path": str(args.file), **split.to_json()})
        return OK
    out = sys.stdout.write
    for side in (split.train, split.validation):
        out(f"{side.path}: {len(side.records):,} examples, {side.tokens:,} tokens\n")
    out(f"  ratio {split.ratio}, seed {split.seed}{'' if split.shuffle else ', not shuffled'}\n")
    if split.duplicate_groups:
        action = "extra copies dropped" if split.dropped_duplicate_lines else "each kept on one side"
        out(f"  {split.duplicate_groups} groups of exact duplicates ({action})\n")
    if split.invalid_lines:
        lines = ", ".join(map(str, split.invalid_lines[:20])) + (" …" if len(split.invalid_lines) > 20 else "")
        out(f"  left out {len(split.invalid_lines)} records with errors (lines {lines})\n")
    out(f"  training: {split.epochs} epochs, {split.billed_tokens:,} billed tokens, about ${split.cost_usd:,.2f}\n")
    return OK
