"""The `tunedeck` command: argument parsing, exit codes, and dispatch to the subcommands.

Exit codes, for every subcommand (a contract; scripts depend on it):
0 success; 1 the thing checked failed (errors found, a split with an empty side);
2 usage or I/O error (bad flags, unreadable file, unknown model, a profile or server problem).
Nothing here ever reads standard input, so no command can hang waiting for it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from core import __version__, logs
from core.service.errors import ServiceError

from core.cli.output import OK, USAGE

log = logging.getLogger("tunedeck")


def build_parser() -> argparse.ArgumentParser:
    from core.cli import (
        dataset_commands, eval_commands, generate_commands, job_commands, remote_commands, service_commands, trainer_commands,
    )

    parser = argparse.ArgumentParser(
        prog="tunedeck",
        description="A keyboard-driven terminal studio for fine-tuning chat models.",
        epilog="Exit codes: 0 success, 1 the check failed, 2 usage or I/O error.",
    )
    parser.add_argument("--version", action="version", version=f"tunedeck {__version__}")
    parser.add_argument("--debug", action="store_true", help="log debug detail and show tracebacks")
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="connection profile to use (else TUNEDECK_PROFILE, the SDK's OPENAI_* variables, the config's default, the built-in emulator)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    dataset_commands.register(commands)
    remote_commands.register(commands)
    job_commands.register(commands)
    eval_commands.register(commands)
    generate_commands.register(commands)
    service_commands.register(commands)
    trainer_commands.register(commands)
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
    except ServiceError as error:  # remote or profile trouble: say what and what to do, no traceback
        log.warning("%s: %s", error.title, error.hint)
        sys.stderr.write(f"tunedeck: {error.title}\n  {error.hint}\n" if error.hint else f"tunedeck: {error.title}\n")
        return USAGE
    except BrokenPipeError:  # `tunedeck validate big.jsonl | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return USAGE
    except Exception as exc:
        log.exception("unexpected error")
        if args.debug:
            raise
        sys.stderr.write(f"tunedeck: unexpected error: {exc}\n(details in {log_path}; --debug shows the traceback)\n")
        return USAGE
