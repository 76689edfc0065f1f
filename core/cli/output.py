"""What every subcommand prints the same way: exit codes, --json output, error lines."""

from __future__ import annotations

import sys

import orjson

OK, FAILED, USAGE = 0, 1, 2


def emit_json(value) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def fail(message: str, as_json: bool, code: int = USAGE) -> int:
    """Say what went wrong on stderr (and as {"error": ...} under --json); return the exit code."""
    if as_json:
        emit_json({"error": message})
    sys.stderr.write(f"tunedeck: {message}\n")
    return code
