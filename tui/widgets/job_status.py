"""How a job's state reads on screen: a status with a glyph and a colour, progress, durations.

Glyphs carry the meaning where colours are missing (16-colour terminals, NO_COLOR); a status the
service invents later is shown as it comes, plain.
"""

from __future__ import annotations

from rich.text import Text

from core.service.tracking import JobView

STATUS_LOOK = {
    "validating_files": ("…", "cyan"),
    "queued": ("…", "cyan"),
    "running": ("▶", "bold blue"),
    "pausing": ("‖", "magenta"),
    "paused": ("‖", "magenta"),
    "succeeded": ("✓", "bold green"),
    "failed": ("✗", "bold red"),
    "cancelled": ("⊘", "yellow"),
}
LEVEL_STYLE = {"info": "", "warn": "yellow", "warning": "yellow", "error": "bold red"}


def status_text(status: str) -> Text:
    glyph, style = STATUS_LOOK.get(status, ("?", ""))
    return Text.assemble((f"{glyph} {status}", style))  # a span, not the base style: what is appended stays plain


def progress_text(view: JobView) -> str:
    """'45/120 38%' while training, 'done' when succeeded, '' when nothing is known."""
    if view.status == "succeeded":
        return "done"
    step = view.step
    if step is None or not step[1]:
        return ""
    return f"{step[0]}/{step[1]} {step[0] / step[1]:.0%}"


def duration(seconds: float) -> str:
    """'42 s', '12:05', '3:04:10'."""
    seconds = int(round(max(0.0, seconds)))
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def until(then: float, now: float) -> str:
    """A short distance in the future: 'in 40 s', 'in 12 min', 'in 3 h'."""
    seconds = then - now
    if seconds <= 0:
        return "any moment"
    if seconds < 90:
        return f"in {int(seconds)} s"
    if seconds < 5400:
        return f"in {round(seconds / 60)} min"
    return f"in {seconds / 3600:.1f} h"


def tokens(n: int | None) -> str:
    if not n:
        return ""
    return f"{n / 1_000_000:.1f}M" if n >= 1_000_000 else f"{n / 1000:.1f}k" if n >= 1000 else str(n)
