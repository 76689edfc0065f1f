"""The `tunedeck` command: argument parsing, exit codes, and dispatch to the subcommands.

Exit codes, for every subcommand (a contract; scripts depend on it):
0 success; 1 the thing checked failed (errors found, a split with an empty side);
2 usage or I/O error (bad flags, unreadable file, unknown model).
Nothing here ever reads standard input, so no command can hang waiting for it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from core import __version__, logs

OK, FAILED, USAGE = 0, 1, 2

log = logging.getLogger("tunedeck")


def build_parser() -> argparse.ArgumentParser:
    from core.cli import dataset_commands

    parser = argparse.ArgumentParser(
        prog="tunedeck",
        description="A keyboard-driven terminal studio for fine-tuning chat models.",
        epilog="Exit codes: 0 success, 1 the check failed, 2 usage or I/O error.",
    )
    parser.add_argument("--version", action="version", version=f"tunedeck {__version__}")
    parser.add_argument("--debug", action="store_true", help="log debug detail and show tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    dataset_commands.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log_path = logs.setup(debug=args.debug)
    log.debug("command line: %s (log %s)", sys.argv[1:] if argv is None else argv, log_path)
    if not args.command:
        parser.print_help()
        return OK
    try:
        return args.run(args)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:  # `tunedeck validate big.jsonl | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return USAGE
    except Exception as exc:
        log.exception("unexpected error")
        if args.debug:
            raise
        sys.stderr.write(f"tunedeck: unexpected error: {exc}\n(details in {log_path}; --debug shows the traceback)\n")
        return USAGE
