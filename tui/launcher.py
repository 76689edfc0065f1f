"""The `tunedeck` command: the app for a path (or none), the CLI for a subcommand.

    tunedeck                 the app on the current folder
    tunedeck data/           the app on a folder of JSONL files
    tunedeck train.jsonl     the app on one file
    tunedeck open validate   the app on a file or folder named like a subcommand
    tunedeck validate F ...  any subcommand: the CLI (core/cli), which never imports textual

This lives in tui/ because core must not know the app exists.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core import cli

# Global flags that take a value, so the value is not mistaken for the path.
_VALUE_FLAGS = {"--profile"}


def _subcommands() -> set[str]:
    parser = cli.build_parser()
    for action in parser._subparsers._group_actions:  # argparse keeps them only here
        return set(action.choices)
    return set()


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(global flags, positionals) of a command line."""
    flags, positionals = [], []
    it = iter(argv)
    for arg in it:
        if arg in _VALUE_FLAGS:
            flags += [arg, next(it, "")]
        elif arg.startswith("-"):
            flags.append(arg)
        else:
            positionals.append(arg)
    return flags, positionals


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    flags, positionals = split_args(argv)
    wants_cli = any(f in ("-h", "--help", "--version") for f in flags)
    if wants_cli or (positionals and positionals[0] != "open" and positionals[0] in _subcommands()):
        return cli.main(argv)
    if positionals[:1] == ["open"]:
        positionals = positionals[1:]
    if len(positionals) > 1:
        sys.stderr.write(f"tunedeck: open one path at a time (got {len(positionals)})\n")
        return cli.USAGE
    return run_app(Path(positionals[0]) if positionals else Path.cwd(), flags)


def run_app(path: Path, flags: list[str]) -> int:
    from core import logs
    from core.service.errors import ServiceError
    from core.service.profiles import resolve

    if not path.exists():
        sys.stderr.write(f"tunedeck: {path}: no such file or folder\n")
        return cli.USAGE
    logs.setup(debug="--debug" in flags)
    profile = flags[flags.index("--profile") + 1] if "--profile" in flags else None
    try:
        active = resolve(profile)
    except ServiceError as error:
        sys.stderr.write(f"tunedeck: {error.title}\n  {error.hint}\n")
        return cli.USAGE
    from tui.app import make_app

    make_app(path, active=active).run()
    return cli.OK
