"""The Playground: talk to one model, or to two or three side by side on the same conversation;
replay a dataset example against them next to its gold answer; save a conversation into a
dataset as a training example.

Every reply streams into its lane; Escape stops them all (what came stays; when nothing came,
the message goes back into the box). A job's screen hands a tuned model or a checkpoint over
with `g`; the browser hands an example over with `r`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from core.dataset.base_models import DEFAULT_MODEL, base_of
from core.dataset.messages import content_text
from core.service.conversation import ChatSettings
from core.service.errors import ServiceError
from tui.widgets.chat import Lane, Turn
from tui.widgets.profile_bar import ProfileBar

MAX_LANES = 3
HINT = (
    "Type a message below; Enter sends it to every model shown.\n\n"
    "ctrl+o  compare two or three models side by side\n"
    "ctrl+t  system prompt, temperature, max tokens, top-p\n"
    "ctrl+r  replay a dataset example next to its gold answer\n"
    "ctrl+b  evaluate a split through these models\n"
    "ctrl+s  save the conversation as a training example"
)
EMULATOR_NOTE = "Emulator: templated replies; a tuned model gives its nearest training answer."
AZURE_NOTE = "Azure: a tuned model answers only once deployed — pick its deployment's name as the model (ctrl+o)."


class PlaygroundScreen(Screen):
    DEFAULT_CSS = """
    PlaygroundScreen { layout: vertical; }
    #playground-setup { height: 1; padding: 0 1; color: $text-muted; }
    #playground-note { height: auto; padding: 0 1; color: $text-muted; }
    #playground-lanes { height: 1fr; }
    #playground-prompt { dock: bottom; margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("escape", "stop", "Stop / leave the box", tooltip="Stop the replies being written; else leave the message box (then 1 2 3 switch sections)", id="playground.stop"),
        Binding("ctrl+o", "models", "Models", tooltip="Choose the model — or two or three to compare side by side", id="playground.models"),
        Binding("ctrl+t", "settings", "Settings", tooltip="System prompt, temperature, max tokens, top-p", id="playground.settings"),
        Binding("ctrl+r", "replay", "Replay", tooltip="Replay a dataset example: its prompt to each model, next to its gold answer", id="playground.replay"),
        Binding("ctrl+s", "save_example", "Save example", tooltip="Save this conversation into a dataset as a training example (after editing the reply)", id="playground.save"),
        Binding("ctrl+b", "evaluate", "Evaluate", tooltip="Batch evaluation: a split (or any examples) through these models, scored against the gold answers", id="playground.evaluate"),
        Binding("ctrl+l", "clear", "New chat", tooltip="Forget the conversation and start again", id="playground.clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.models: list[str] = []
        self.settings = ChatSettings()
        self.replying = 0  # lanes still writing
        self.stream = None  # the chat stream (core.service.chat.stream_chat); a test may give its own
        self._asked = ""  # the last message sent, given back to the box when no lane answered it
        self._heard: set[Lane] = set()  # lanes that received some of the current reply
        self._replayed: dict = {}  # the replayed example's tools, kept when it is saved as an example
        self._system_from: Path | None = None  # the dataset the system prompt was taken from

    def compose(self) -> ComposeResult:
        yield ProfileBar("playground")
        yield Static("", id="playground-setup", markup=False)
        yield Static("", id="playground-note", markup=False)
        yield Horizontal(id="playground-lanes")
        yield Input(id="playground-prompt", placeholder="message — Enter sends to every model, Esc stops the replies")
        yield Footer()

    async def on_mount(self) -> None:
        self.models = [self.app.playground_model or DEFAULT_MODEL]
        await self._set_lanes()
        self._show_note()
        self.query_one("#playground-prompt", Input).focus()
        self.prefill_system_prompt()

    async def on_screen_resume(self) -> None:
        self._show_note()  # the profile may have changed meanwhile
        chosen = self.app.playground_model
        if chosen and chosen not in self.models:  # handed over from a job since: a new conversation
            self.models = [chosen]
            await self.action_clear()

    # ------------------------------------------------------------------ what is shown

    @property
    def lanes(self) -> list[Lane]:
        return [lane for lane in self.query(Lane) if not lane.gold]

    async def _set_lanes(self, gold: str | None = None, gold_label: str = "") -> None:
        """One lane per model (and one for a gold answer): the conversation starts over."""
        await self._stop_replies()
        box = self.query_one("#playground-lanes", Horizontal)
        await box.remove_children()
        await box.mount_all([Lane(model, hint=HINT if n == 0 and gold is None else "") for n, model in enumerate(self.models)])
        if gold is not None:
            lane = Lane(gold_label, gold=True)
            await box.mount(lane)
            await lane.add(Turn("gold", gold))
        self._show_setup()

    def _show_setup(self) -> None:
        models = " vs ".join(self.models)
        system = self.settings.system.strip().replace("\n", " ")
        system = f'system "{system[:40]}…"' if len(system) > 40 else f'system "{system}"' if system else "no system prompt"
        self.query_one("#playground-setup", Static).update(f"{models}  ·  {system}  ·  {self.settings.describe()}")

    def _show_note(self) -> None:
        kind = self.app.active.profile.kind
        note = self.query_one("#playground-note", Static)
        note.update(EMULATOR_NOTE if kind == "emulator" else AZURE_NOTE if kind == "azure" else "")
        note.display = kind in ("emulator", "azure")

    # ------------------------------------------------------------------ talking

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text or self.replying:
            return
        event.input.value = ""
        self._asked = text
        for lane in self.lanes:
            lane.messages.append({"role": "user", "content": text})
            await lane.add(Turn("user", text))
        self._answer_all()

    def _answer_all(self, extra: dict | None = None) -> None:
        lanes = self.lanes
        self._heard = set()
        self.replying += len(lanes)
        for lane in lanes:
            self.run_worker(self._answer(lane, extra or {}), group="playground-reply", exit_on_error=False)

    async def _answer(self, lane: Lane, extra: dict) -> None:
        """Stream one lane's reply; the lanes run at once, each with its own figures."""
        turn: Turn | None = None
        clock = self.app.clock
        first: float | None = None
        usage = None
        try:  # everything, so a cancel anywhere still counts this lane as done
            turn = await lane.add(Turn("assistant"))
            lane.show_figures("writing…")
            stream = self.stream
            if stream is None:
                from core.service.chat import stream_chat as stream
            from core.service.chat import Delta

            conn = await self.app.jobs_feed.connection()
            started = clock.now()  # latency is the server's: the first connection is not counted
            async for piece in stream(conn, lane.model, self.settings.sent(lane.messages), **self.settings.params(), **extra):
                if isinstance(piece, Delta):
                    first = clock.now() if first is None else first
                    self._heard.add(lane)
                    await turn.write(piece.text)
                else:
                    usage = piece.usage
            lane.messages.append({"role": "assistant", "content": turn.text})
            self._heard.add(lane)
            figures = _figures(usage, first, started, clock.now())
            await turn.finish(figures)
            lane.show_figures(figures)
        except asyncio.CancelledError:
            if turn is not None:
                await turn.finish("stopped")
                lane.show_figures("stopped")
                if turn.text:  # what came before Escape is part of this lane's conversation
                    lane.messages.append({"role": "assistant", "content": turn.text})
            raise
        except ServiceError as error:
            await turn.finish(error.title + (f" — {error.hint}" if error.hint else ""), error=True)
            lane.show_figures(error.title)
        finally:
            self.replying -= 1
            if not self.replying:
                self._all_answered()

    def _all_answered(self) -> None:
        """A lane that received nothing (stopped at once, or its request failed) forgets the
        question, so it is not sent again with the next one; when no lane received a word, the
        message goes back into the box, as if it had not been sent."""
        asked = {"role": "user", "content": self._asked}
        for lane in self.lanes:
            if lane not in self._heard and lane.messages and lane.messages[-1] == asked:
                lane.messages.pop()
        if not self._asked or self._heard:
            return
        prompt = self.query_one("#playground-prompt", Input)
        if not prompt.value:
            prompt.value = self._asked
            prompt.cursor_position = len(self._asked)

    def action_stop(self) -> None:
        if self.replying:
            self.app.workers.cancel_group(self, "playground-reply")
        elif isinstance(self.focused, Input) and self.lanes:
            # Out of the box, the section keys work again (typed in it, "1" is just a "1").
            self.lanes[0].transcript.focus()

    async def _stop_replies(self) -> None:
        """Stop the replies and wait for them to say so, before their lanes go."""
        from textual.worker import WorkerCancelled, WorkerFailed

        for worker in [w for w in self.app.workers if w.node is self and w.group == "playground-reply"]:
            worker.cancel()
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass

    async def action_clear(self) -> None:
        self._asked = ""
        self._replayed = {}
        await self._set_lanes()
        self.query_one("#playground-prompt", Input).focus()

    # ------------------------------------------------------------------ models and settings

    def action_models(self) -> None:
        from tui.screens.chat_models import ModelsScreen

        def chosen(models: list[str] | None) -> None:
            if models and models != self.models:
                self.models = models[:MAX_LANES]
                self.app.playground_model = self.models[0]
                self.run_worker(self.action_clear(), group="playground-lanes", exit_on_error=False)

        self.app.push_screen(ModelsScreen(self.models, azure=self.app.active.profile.kind == "azure"), chosen)

    def action_settings(self) -> None:
        from tui.screens.chat_settings import SettingsScreen

        def chosen(settings: ChatSettings | None) -> None:
            if settings is not None:
                self.settings = settings
                self._show_setup()

        self.app.push_screen(SettingsScreen(self.settings, self._system_from), chosen)

    @work(thread=True, group="playground-system", exit_on_error=False)
    def prefill_system_prompt(self) -> None:
        """The system prompt most of the open dataset's examples use (read from a sample)."""
        from core.evaluate.cases import most_common_system_prompt, sample_examples

        path = self.app.current_dataset()
        if path is None or self.settings.system:
            return
        examples = sample_examples(self.app.document(path))
        system = most_common_system_prompt(examples)
        if system:
            self.app.call_from_thread(self._prefilled, system, path)

    def _prefilled(self, system: str, path: Path) -> None:
        if not self.settings.system:
            self.settings = ChatSettings(system, self.settings.temperature, self.settings.max_tokens, self.settings.top_p)
            self._system_from = path
            self._show_setup()

    # ------------------------------------------------------------------ replay

    def action_replay(self) -> None:
        from tui.screens.chat_replay import ReplayAskScreen

        def chosen(answer: tuple[Path, int] | None) -> None:
            if answer is not None:
                self.run_worker(self.replay(*answer), group="playground-lanes", exit_on_error=False)

        self.app.push_screen(ReplayAskScreen(self.app.current_dataset()), chosen)

    async def replay(self, path: Path, line: int) -> None:
        """Cut the example on `line` at its last assistant turn, send what comes before to every
        model, and show the gold answer beside them. One model alone is compared with its base."""
        from core.evaluate.cases import case_of

        try:
            example = await asyncio.to_thread(_example_at, self.app, path, line)
        except LookupError as error:
            self.notify(str(error), title="Cannot replay", severity="warning", markup=False)
            return
        case = case_of(example, line) if isinstance(example, dict) else None
        if case is None:
            self.notify(f"{path.name} line {line} has no assistant turn to replay.", title="Cannot replay", severity="warning", markup=False)
            return
        if len(self.models) == 1 and base_of(self.models[0]):
            self.models = [base_of(self.models[0]), self.models[0]]
        self._asked = ""
        self._replayed = case.params
        await self._set_lanes(gold=case.gold, gold_label=f"gold · {path.name} line {line}")
        for lane in self.lanes:
            lane.messages = list(case.prompt)
            for message in case.prompt:
                await lane.add(Turn(message.get("role", "?"), _shown_content(message)))
        self._answer_all(case.params)

    # ------------------------------------------------------------------ batch evaluation

    def action_evaluate(self) -> None:
        from tui.screens.evaluation import EvaluationScreen

        self.app.push_screen(EvaluationScreen(self._validation_split() or self.app.current_dataset(), self.models, self.settings))

    def _validation_split(self) -> Path | None:
        """The validation file a chosen tuned model was launched with from here, when still there."""
        feed = self.app.jobs_feed_if_started
        if feed is None:
            return None
        for view in feed.board.views.values():
            tuned = view.fine_tuned_model
            if view.record and view.record.validation_path and any(m == tuned or (tuned and m.startswith(tuned)) for m in self.models):
                path = Path(view.record.validation_path)
                if path.is_file():
                    return path
        return None

    # ------------------------------------------------------------------ save as an example

    def action_save_example(self) -> None:
        from tui.screens.chat_save import SaveExampleScreen

        lane = self._focused_lane()
        if lane is None or not any(m["role"] == "assistant" for m in lane.messages):
            self.notify("Nothing to save yet: a conversation needs a reply first.", severity="warning", markup=False)
            return
        if self.replying:
            self.notify("Wait for the replies (or stop them with Esc) first.", severity="warning", markup=False)
            return
        target = self.app.current_dataset() or Path("playground.jsonl")

        def chosen(answer: tuple[Path, dict] | None) -> None:
            if answer is not None:
                self.save_example(*answer)

        self.app.push_screen(SaveExampleScreen(lane.model, self.settings.system, list(lane.messages), target, self._replayed), chosen)

    def _focused_lane(self) -> Lane | None:
        focused = self.focused
        for lane in self.lanes:
            if focused is not None and lane in focused.ancestors_with_self:
                return lane
        return self.lanes[0] if self.lanes else None

    @work(thread=True, group="playground-save", exit_on_error=False)
    def save_example(self, path: Path, example: dict) -> None:
        try:
            said = self.app.add_example(path, example)
        except Exception as exc:  # a failed save loses nothing: the conversation is still here
            self.app.call_from_thread(self.notify, f"{path}: {getattr(exc, 'title', exc)}", title="Not saved", severity="error", markup=False)
            return
        self.app.call_from_thread(self.notify, said, title="Saved as an example", markup=False)


def _figures(usage, first: float | None, started: float, ended: float) -> str:
    shown = []
    if usage is not None:
        shown.append(f"{usage.prompt_tokens} + {usage.completion_tokens} tokens")
    if first is not None:
        shown.append(f"first token {first - started:.2f} s")
    shown.append(f"{ended - started:.2f} s")
    return " · ".join(shown)


def _shown_content(message: dict) -> str:
    shown = content_text(message.get("content"), " ")
    if message.get("tool_calls"):
        calls = ", ".join(c.get("function", {}).get("name", "?") for c in message["tool_calls"] if isinstance(c, dict))
        shown = f"{shown}\n→ calls {calls}".strip()
    return shown


def _example_at(app, path: Path, line: int):
    """The parsed example on `line` of `path` (the open document's version of it)."""
    if not path.is_file():
        raise LookupError(f"{path} is not a file.")
    ds = app.document(path)
    record = ds.record_at_line(line)
    if record is None:
        raise LookupError(f"{path.name} has no example on line {line}.")
    try:
        return orjson.loads(ds.raw(record))
    except orjson.JSONDecodeError as exc:
        raise LookupError(f"{path.name} line {line} is not valid JSON ({exc}).") from exc
