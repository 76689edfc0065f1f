"""A conversation with one model, drawn as it streams: its turns, and a lane that holds them.

A playground shows one lane per model (side by side when comparing) and, when replaying a
dataset example, a lane with the gold answer. Replies are Markdown written through Textual's
MarkdownStream; the transcript follows the bottom only while the user is at the bottom
(Textual's anchor: scrolling up releases it, scrolling back down takes it again).
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static

ROLE_LABELS = {"assistant": "assistant", "user": "user", "system": "system", "developer": "system", "tool": "tool", "gold": "gold answer"}


class Turn(Vertical):
    """One message: its role, its text (Markdown for replies), and a dim note (tokens, timing)."""

    DEFAULT_CSS = """
    Turn { height: auto; padding: 0 1; margin-bottom: 1; border-left: thick $panel; }
    Turn.-user { border-left: thick $primary; }
    Turn.-assistant { border-left: thick $success; }
    Turn.-gold { border-left: thick $warning; }
    Turn.-error { border-left: thick $error; }
    Turn .turn-role { text-style: bold; height: 1; }
    Turn .turn-note { color: $text-muted; height: auto; }
    Turn.-error .turn-note { color: $text-error; }
    Turn Markdown { margin: 0; padding: 0; }
    Turn Markdown > * { margin: 0 0 1 0; }
    """

    def __init__(self, role: str, text: str = "", *, label: str | None = None) -> None:
        super().__init__(classes=f"-{role}")
        self.role = role
        self.text = text
        self.label = label or ROLE_LABELS.get(role, role)
        self.note = ""
        self._stream = None

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="turn-role", markup=False)
        if self.role in ("assistant", "gold"):
            yield Markdown(self.text or "", open_links=False)
        else:
            yield Static(self.text, markup=False, classes="turn-text")
        yield Static("", classes="turn-note", markup=False)

    async def write(self, piece: str) -> None:
        """Append streamed text (a reply being written)."""
        self.text += piece
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(Markdown))
        await self._stream.write(piece)

    async def finish(self, note: str, *, error: bool = False) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await asyncio.shield(stream.stop())  # flush what came: a cancel must not lose it
            # Drawn piece by piece, Markdown can lose a space where a piece ended after a closing
            # `**`; drawn whole once, the reply reads as it was written.
            await asyncio.shield(self.query_one(Markdown).update(self.text))
        self.note = note
        if error:
            self.set_class(True, "-error")
            self.set_class(False, "-assistant")
        self.query_one(".turn-note", Static).update(note)


class Lane(Vertical):
    """One model's side of the conversation (or the gold answer's): a header with the model and
    its figures, and the transcript. `messages` is this lane's conversation as the API takes it
    (without the settings' system prompt): lanes share the user's turns, not each other's replies."""

    DEFAULT_CSS = """
    Lane { width: 1fr; height: 1fr; }
    Lane .lane-head { height: 2; padding: 0 1; background: $boost; }
    Lane:focus-within .lane-head { background: $primary 30%; }
    Lane VerticalScroll { height: 1fr; padding-top: 1; }
    Lane .lane-hint { color: $text-muted; padding: 0 1; }
    """

    def __init__(self, model: str, *, gold: bool = False, hint: str = "", id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.gold = gold
        self.hint = hint  # what an empty lane says
        self.messages: list[dict] = []
        self.figures = ""  # "212 + 54 tokens · 0.41 s" after a reply

    def compose(self) -> ComposeResult:
        yield Static(self._head(), classes="lane-head", markup=False)
        with VerticalScroll(can_focus=True):
            if self.hint:
                yield Static(self.hint, classes="lane-hint", markup=False)

    def on_mount(self) -> None:
        self.watch(self.transcript, "virtual_size", self._follow, init=False)

    def _follow(self) -> None:
        """Once the transcript is taller than its lane, keep the newest text in view — until the
        user scrolls up (Textual's anchor; back at the bottom, it follows again). Anchored from the
        start, a short transcript would sit at the bottom of the lane instead of the top."""
        transcript = self.transcript
        # (A lane not laid out yet has no height: everything would seem to overflow.)
        if not transcript.is_anchored and transcript.container_size.height > 0 and transcript.max_scroll_y > 0:
            transcript.anchor()

    @property
    def transcript(self) -> VerticalScroll:
        return self.query_one(VerticalScroll)

    def _head(self) -> Text:
        head = Text(self.model, style="bold", no_wrap=True, overflow="ellipsis")
        head.append("\n" + (self.figures or ("the answer in the dataset" if self.gold else "")), style="dim")
        return head

    def show_figures(self, figures: str) -> None:
        self.figures = figures
        self.query_one(".lane-head", Static).update(self._head())

    async def add(self, turn: Turn) -> Turn:
        await self.transcript.query(".lane-hint").remove()
        await self.transcript.mount(turn)
        return turn
