"""The rotating log file in the user's state dir, with secrets scrubbed before they are written."""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

from core import paths

# API keys of every provider we speak to look like one of these; they never reach the log.
_SECRET = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}|(?i:api[-_]?key)[\"']?\s*[:=]\s*[\"']?[^\s\"',}]{6,})"
)


def scrub(text: str) -> str:
    """Replace anything that looks like a credential with a fixed marker."""
    return _SECRET.sub("[secret removed]", text)


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def log_file() -> Path:
    return paths.state_dir() / "tunedeck.log"


def setup(debug: bool = False) -> Path:
    """Send the `tunedeck`/`core`/`tui` loggers to a rotating file (1 MB × 3). Returns its path."""
    path = log_file()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_ScrubFilter())
    for name in ("tunedeck", "core", "tui"):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not isinstance(h, logging.handlers.RotatingFileHandler)]
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if debug else logging.INFO)
        logger.propagate = False
    return path
