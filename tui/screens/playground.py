"""The Playground, first slice: chat with one model — a base model, a tuned one, a checkpoint —
with the reply streamed as it comes; Escape stops it. A job's screen hands its tuned model or a
checkpoint over with `g`.

Side by side with the base model, replaying dataset examples and batch evaluation are not built
yet (issue 7); the screen says so.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from core.dataset.base_models import DEFAULT_MODEL
from core.service.errors import ServiceError
from tui.widgets.profile_bar import ProfileBar


class Turn(Static):
    """One message of the conversation, labelled with its role."""

    DEFAULT_CSS = """
    Turn { padding: 0 1; margin-bottom: 1; }
    Turn.-user { border-left: thick $primary; }
    Turn.-assistant { border-left: thick $success; }
    Turn.-error { border-left: thick $error; color: $text-error; }
    """

    def __init__(self, role: str, text: str = "") -> None:
        super().__init__(classes=f"-{role}", markup=False)
        self.role = role
        self.text = text
        self.note = ""  # shown dimmed after the text: tokens, "stopped"
        self._show()

    def append(self, piece: str) -> None:
        self.text += piece
        self._show()

    def finish(self, note: str) -> None:
        self.note = note
        self._show()

    def _show(self) -> None:
        shown = Text(f"{self.role}  ", style="bold")
        shown.append(self.text or ("…" if self.role == "assistant" else ""))
        if self.note:
            shown.append(f"\n{self.note}", style="dim")
        self.update(shown)


class PlaygroundScreen(Screen):
    DEFAULT_CSS = """
    PlaygroundScreen { layout: vertical; }
    #playground-model-row { height: 1; padding: 0 1; }
    #playground-model-row Static { width: 7; }
    #playground-model { border: none; height: 1; padding: 0; width: 1fr; }
    #playground-note { height: auto; padding: 0 1; color: $text-muted; }
    #playground-transcript { height: 1fr; padding: 1 0 0 0; }
    #playground-transcript:focus { background: $boost; }
    #playground-prompt { dock: bottom; margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("escape", "stop", "Stop / leave the box", tooltip="Stop the reply being written; else leave the message box (then 1 2 3 switch sections)", id="playground.stop"),
        Binding("ctrl+l", "clear", "New chat", tooltip="Forget the conversation and start again", id="playground.clear"),
        Binding("ctrl+o", "model", "Model", tooltip="Choose the model to talk to", id="playground.model"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict] = []  # the conversation as the API takes it
        self.replying = False

    def compose(self) -> ComposeResult:
        yield ProfileBar("playground")
        with Horizontal(id="playground-model-row"):
            yield Static("model", markup=False)
            yield Input(id="playground-model", placeholder="a base model, a tuned model (ft:…) or a checkpoint")
        yield Static(
            "Chat with one model, streamed. Side by side with the base model, replaying a dataset's "
            "examples and batch evaluation come with issue 7.",
            id="playground-note",
            markup=False,
        )
        yield VerticalScroll(id="playground-transcript")
        yield Input(id="playground-prompt", placeholder="message — Enter sends, Esc stops the reply")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#playground-model", Input).value = self.app.playground_model or DEFAULT_MODEL
        self.query_one("#playground-prompt", Input).focus()

    def on_screen_resume(self) -> None:
        chosen = self.app.playground_model
        model = self.query_one("#playground-model", Input)
        if chosen and chosen != model.value:  # handed over from a job since: a new conversation
            model.value = chosen
            self.action_clear()

    @property
    def model(self) -> str:
        return self.query_one("#playground-model", Input).value.strip()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "playground-model":
            self.app.playground_model = self.model
            self.query_one("#playground-prompt", Input).focus()
            return
        text = event.value.strip()
        if not text or self.replying:
            return
        if not self.model:
            self.notify("Choose a model first (ctrl+o).", severity="warning", markup=False)
            return
        event.input.value = ""
        self.messages.append({"role": "user", "content": text})
        transcript = self.query_one("#playground-transcript", VerticalScroll)
        transcript.mount(Turn("user", text))
        reply = Turn("assistant")
        transcript.mount(reply)
        transcript.scroll_end(animate=False)
        self.reply(self.model, list(self.messages), reply)

    @work(group="playground-reply", exclusive=True, exit_on_error=False)
    async def reply(self, model: str, messages: list[dict], turn: Turn) -> None:
        from core.service.chat import Delta, stream_chat

        self.replying = True
        transcript = self.query_one("#playground-transcript", VerticalScroll)
        try:
            conn = await self.app.jobs_feed.connection()
            async for piece in stream_chat(conn, model, messages):
                if isinstance(piece, Delta):
                    turn.append(piece.text)
                    transcript.scroll_end(animate=False)
                elif piece.usage is not None:
                    turn.finish(f"{model} · {piece.usage.prompt_tokens} + {piece.usage.completion_tokens} tokens")
            self.messages.append({"role": "assistant", "content": turn.text})
        except asyncio.CancelledError:
            turn.finish("stopped")
            if turn.text:  # what came before Escape is part of the conversation
                self.messages.append({"role": "assistant", "content": turn.text})
            else:  # nothing came: the question goes unanswered, as after an error
                self.messages.pop()
            raise
        except ServiceError as error:
            turn.remove_class("-assistant")
            turn.add_class("-error")
            turn.finish(f"{error.title}" + (f" — {error.hint}" if error.hint else ""))
            self.messages.pop()  # the question goes unanswered: ask again after fixing it
        finally:
            self.replying = False

    def action_stop(self) -> None:
        if self.replying:
            self.app.workers.cancel_group(self, "playground-reply")
        elif isinstance(self.focused, Input):
            # Out of the box, the section keys work again (typed in it, "1" is just a "1").
            self.query_one("#playground-transcript", VerticalScroll).focus()

    def action_clear(self) -> None:
        self.action_stop()
        self.messages.clear()
        self.query_one("#playground-transcript", VerticalScroll).remove_children()
        self.query_one("#playground-prompt", Input).focus()

    def action_model(self) -> None:
        self.query_one("#playground-model", Input).focus()
