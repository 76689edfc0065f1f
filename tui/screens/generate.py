"""Grow a dataset with a model, under the user's control: describe the task, generate candidates,
and review each one — accept, edit, reject, regenerate. Only accepted examples enter the
dataset, as edits of its document (undoable; saved from the browser like any edit).

The rules are core.synthetic's: the request (varied phrasings and topics, JSON asked for), the
parsing of whatever comes back, the same validation as the rest of the file, exact and near
duplicates of the file and of each other, tokens and cost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, ProgressBar, Static, TextArea

from core.dataset.base_models import DEFAULT_MODEL
from core.service.conversation import parse_settings
from core.synthetic.review import first_user_text
from tui.app import shown
from tui.widgets.profile_bar import ProfileBar
from tui.widgets.tables import highlighted_key

VERDICT_STYLE = {
    "ok": "green", "accepted": "bold green", "rejected": "dim", "invalid": "red",
    "duplicate": "yellow", "near-duplicate": "yellow", "unreadable": "red", "regenerating": "italic",
}  # fmt: skip
REFERENCES = 3  # existing examples sent as style references
SAMPLE = 2000  # examples read for the references and the usual system prompt


@dataclass
class Arrived(Message):
    """A candidate came back (or replaced one: regenerated, edited)."""

    candidate: object
    progress: object | None = None


class GenerateScreen(Screen):
    DEFAULT_CSS = """
    GenerateScreen { layout: vertical; }
    #gen-title { padding: 0 1; text-style: bold; height: 1; }
    #gen-form { height: auto; padding: 0 1; }
    #gen-form Horizontal { height: 1; }
    #gen-form .label { width: 12; color: $text-muted; }
    #gen-form .label2 { width: 13; color: $text-muted; padding-left: 1; }
    #gen-form Input, #gen-form Input:focus { border: none; height: 1; padding: 0 1; background: $boost; width: 1fr; }
    #gen-form .short, #gen-form .short:focus { width: 8; }
    #gen-summary { height: 1; padding: 0 1; color: $text-muted; }
    #gen-progress-row { height: auto; padding: 0 1; }
    #gen-progress-row ProgressBar { width: 24; }
    #gen-status { width: 1fr; height: auto; padding-left: 1; }
    #gen-body { height: 1fr; }
    #gen-candidates { width: 3fr; }
    #gen-detail { width: 2fr; padding: 0 1; border-left: solid $panel; }
    """
    BINDINGS = [
        Binding("ctrl+r", "start", "Generate", tooltip="Ask the model for the examples described above", id="generate.start"),
        Binding("a", "accept", "Accept", tooltip="Add the highlighted candidate to the dataset (undoable)", id="generate.accept"),
        Binding("e", "edit", "Edit", tooltip="Edit the highlighted candidate's JSON; it is checked again", id="generate.edit"),
        Binding("x", "reject", "Reject", tooltip="Reject the highlighted candidate", id="generate.reject"),
        Binding("g", "regenerate", "Regenerate", tooltip="Ask for a new example in place of the highlighted one", id="generate.regenerate"),
        Binding("A", "accept_all", "Accept all ok", tooltip="Add every candidate that passed the rules and is no duplicate", id="generate.accept_all"),
        Binding("escape", "stop", "Stop / back", tooltip="Stop generating (candidates so far stay for review), else back to the dataset", id="generate.stop"),
        Binding("ctrl+e", "setup", "Setup", show=False, tooltip="Show the form again", id="generate.setup"),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.candidates: dict[int, object] = {}  # number -> Candidate (its verdict may become accepted/rejected)
        self.progress = None
        self.judge = None
        self.references: tuple[dict, ...] = ()
        self.brief = None
        self.model = DEFAULT_MODEL
        self.temperature: float | None = None
        self.running = False
        # How the last run ended, for the status line: "Done: " or "Stopped: " ("" while it runs);
        # candidates it sent arrive after it ended, and their tally must still say so.
        self._outcome = ""
        self._failed = False  # a server error ended it: its message stays on the status line
        self._added = 0

    @property
    def dataset(self):
        return self.app.document(self.path)

    def compose(self) -> ComposeResult:
        yield ProfileBar("datasets")
        yield Static(f"Generate examples for {shown(self.path)}", id="gen-title", markup=False)
        with Vertical(id="gen-form"):
            with Horizontal():
                yield Static("the task", classes="label")
                yield Input(id="gen-task", placeholder="what the examples teach, e.g. 'a travel assistant that answers visa questions briefly'")
            with Horizontal():
                yield Static("system", classes="label")
                yield Input(id="gen-system", placeholder="the system prompt every example carries (blank: none)")
            with Horizontal():
                yield Static("topics", classes="label")
                yield Input(id="gen-topics", placeholder="optional seed topics, comma-separated")
            with Horizontal():
                yield Static("model", classes="label")
                yield Input(DEFAULT_MODEL, id="gen-model")
                yield Static("temperature", classes="label2")
                yield Input("1.0", id="gen-temperature", classes="short")
                yield Static("how many", classes="label2")
                yield Input("20", id="gen-count", type="integer", classes="short")
        yield Static("", id="gen-summary", markup=False)
        with Horizontal(id="gen-progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="gen-progress")
            yield Static("ctrl+r generates; each candidate is checked like the rest of the file", id="gen-status", markup=False)
        with Horizontal(id="gen-body"):
            yield DataTable(id="gen-candidates", cursor_type="row")
            yield VerticalScroll(Static("", id="gen-detail-text", markup=False), id="gen-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#gen-summary").display = False
        self.query_one(ProgressBar).display = False  # until there is something to measure
        table = self.query_one("#gen-candidates", DataTable)
        table.add_column("#", key="number")
        table.add_column("verdict", key="verdict")
        table.add_column("user asks", key="asks")
        self.query_one("#gen-task", Input).focus()
        self.read_dataset()

    @work(thread=True, group="generate-read", exit_on_error=False)
    def read_dataset(self) -> None:
        """The file's examples: the duplicate index over all of them (from raw lines: a parsed
        copy of a big file would not fit), and from a sample the style references and the
        system prompt most of them use."""
        from core.evaluate.cases import most_common_system_prompt, sample_examples
        from core.synthetic.brief import references_from
        from core.synthetic.review import Judge, file_records

        ds = self.dataset
        judge = Judge(file_records(ds))
        sample = sample_examples(ds, SAMPLE)
        references = references_from(sample, k=REFERENCES)
        system = most_common_system_prompt(sample) or ""
        self.app.call_from_thread(self._read, judge, references, system, len(ds))

    def _read(self, judge, references, system: str, count: int) -> None:
        self.judge = judge
        self.references = references
        box = self.query_one("#gen-system", Input)
        if not box.value:
            box.value = system
        self._status(f"{count} examples in the file: {len(references)} go along as style references, all are checked for duplicates.")

    # ------------------------------------------------------------------ generating

    def action_setup(self) -> None:
        self.query_one("#gen-form").display = True
        self.query_one("#gen-summary").display = False
        self.query_one("#gen-task", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    def _form(self):
        from core.synthetic.brief import Brief

        value = lambda name: self.query_one(f"#gen-{name}", Input).value.strip()  # noqa: E731
        if not value("task"):
            return "Describe the task first: what should the examples teach?"
        if not value("model"):
            return "Name the model that writes the examples."
        sampling = parse_settings("", value("temperature"), "", "")  # the playground's rule for it
        if isinstance(sampling, str):
            return sampling
        temperature = sampling.temperature
        if not value("count").isdigit() or not 1 <= int(value("count")) <= 500:
            return "How many: 1 to 500 examples."
        topics = tuple(t.strip() for t in value("topics").split(",") if t.strip())
        brief = Brief(task=value("task"), system=value("system"), topics=topics, references=tuple(self.references))
        return brief, value("model"), temperature, int(value("count"))

    def action_start(self) -> None:
        if self.running:
            return
        if self.judge is None:
            self._status("Still reading the file…")
            return
        form = self._form()
        if isinstance(form, str):
            self._status(form, error=True)
            return
        self.brief, self.model, self.temperature, count = form
        self.query_one("#gen-form").display = False
        summary = self.query_one("#gen-summary", Static)
        summary.update(f"{count} examples of: {self.brief.task} · {self.model} · temperature {self.temperature if self.temperature is not None else 'default'}")
        summary.display = True
        self.query_one(ProgressBar).update(total=count, progress=0)
        self.query_one(ProgressBar).display = True
        self.query_one("#gen-candidates", DataTable).focus()
        self.run_generation(count)

    @work(exclusive=True, group="generate", exit_on_error=False)
    async def run_generation(self, count: int) -> None:
        from core.service.errors import ServiceError
        from core.synthetic.run import generate

        self.running = True
        self._outcome, self._failed = "", False
        try:
            self._status("connecting…")
            conn = await self.app.jobs_feed.connection()
            self._status("asking…")
            await generate(
                conn, self.brief, count, model=self.model, judge=self.judge, temperature=self.temperature,
                on_candidate=lambda candidate, progress: self.post_message(Arrived(candidate, progress)),
            )  # fmt: skip
            self._outcome = "Done: "
            self._status(self._tally())
        except ServiceError as error:
            self._failed = True
            self._status(f"{error.title} — {error.hint}" if error.hint else error.title, error=True)
        except asyncio.CancelledError:
            self._outcome = "Stopped: "
            self._status(self._tally())
            raise
        finally:
            self.running = False

    def _tally(self) -> str:
        start, p = self._outcome, self.progress
        if p is None:
            return start + "nothing received yet."
        said = f"{start}{p.ok} ok of {p.received} received · dropped {p.invalid} invalid, {p.duplicates} duplicates, {p.unreadable} unreadable"
        said += f" · {p.requests} requests, {p.prompt_tokens + p.completion_tokens:,} tokens"
        said += f", ${p.cost:.4f}" if p.cost is not None else ", cost unknown for this model"
        if self._added:
            said += f" · {self._added} added to the dataset"
        return said

    def on_arrived(self, message: Arrived) -> None:
        candidate = message.candidate
        if message.progress is not None:
            self.progress = message.progress
            self.query_one(ProgressBar).update(progress=min(message.progress.ok, self.query_one(ProgressBar).total or 0))
            if not self._failed:
                self._status(self._tally())
        self.candidates[candidate.number] = candidate
        table = self.query_one("#gen-candidates", DataTable)
        key = str(candidate.number)
        # Model-written text: never read as markup (a "[/INST]" in it would stop the app).
        asks = " ".join((first_user_text(candidate.example) or candidate.raw[:80]).split())
        cells = (str(candidate.number), _verdict(candidate.verdict), Text(asks))
        if key in table.rows:
            for column, cell in zip(("number", "verdict", "asks"), cells):
                table.update_cell(key, column, cell)
        else:
            table.add_row(*cells, key=key)
        if highlighted_key(table) == key or table.row_count == 1:
            self._show_detail()

    def action_stop(self) -> None:
        if self.running:
            self.workers.cancel_group(self, "generate")
            return
        waiting = sum(1 for c in self.candidates.values() if c.verdict == "ok")
        if not waiting:
            self.app.pop_screen()
            return
        from tui.screens.confirm import ConfirmScreen

        def chosen(leave: bool | None) -> None:
            if leave:
                self.app.pop_screen()

        self.app.push_screen(
            ConfirmScreen("Leave without them?", f"{waiting} ok candidates were not accepted; leaving drops them (they were paid for).", "Leave", no="Stay"),
            chosen,
        )

    def _status(self, text: str, *, error: bool = False) -> None:
        self.query_one("#gen-status", Static).update(Text(text, style="red" if error else ""))

    # ------------------------------------------------------------------ review

    def _highlighted(self):
        key = highlighted_key(self.query_one("#gen-candidates", DataTable))
        return self.candidates.get(int(key)) if key is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        candidate = self._highlighted()
        text = Text()
        if candidate is not None:
            text.append(f"candidate {candidate.number} · ", style="bold").append(candidate.verdict, style=VERDICT_STYLE.get(candidate.verdict, ""))
            text.append("\n")
            for problem in candidate.problems:
                text.append(problem + "\n", style="red" if problem.startswith("error") else "yellow")
            text.append("\n")
            if candidate.example is not None:
                for m in candidate.example.get("messages", []) if isinstance(candidate.example, dict) else []:
                    if isinstance(m, dict):
                        text.append(f"{m.get('role', '?')}  ", style="bold").append(f"{m.get('content') or ''}\n\n")
            else:
                text.append(candidate.raw)
        self.query_one("#gen-detail-text", Static).update(text)

    def _refused(self, candidate, action: str) -> bool:
        if candidate is None:
            return True
        if candidate.verdict == "accepted":
            self.notify("Already in the dataset (undo it from the browser: ctrl+z).", severity="warning", timeout=3, markup=False)
            return True
        if candidate.verdict == "regenerating":
            self.notify("A new one is on its way.", timeout=2, markup=False)
            return True
        if action == "accept" and candidate.verdict != "ok":
            why = candidate.problems[0] if candidate.problems else candidate.verdict
            self.notify(f"Candidate {candidate.number} is {candidate.verdict}: {why}. Edit it (e) or regenerate it (g).", severity="warning", markup=False)
            return True
        return False

    def _mark(self, candidate, verdict: str) -> None:
        self.post_message(Arrived(replace(candidate, verdict=verdict)))

    def action_accept(self) -> None:
        candidate = self._highlighted()
        if self._refused(candidate, "accept"):
            return
        self.dataset.append(candidate.example)
        self._added += 1
        self._mark(candidate, "accepted")
        self._status(self._tally())
        self._next_row()

    def action_accept_all(self) -> None:
        ready = [c for c in self.candidates.values() if c.verdict == "ok"]
        if not ready:
            self.notify("No candidate is ok and waiting.", severity="warning", timeout=3, markup=False)
            return
        self.dataset.extend([c.example for c in ready])  # one edit: one undo takes them all back
        self._added += len(ready)
        for candidate in ready:
            self._mark(candidate, "accepted")
        self.notify(f"{len(ready)} examples added to {self.path.name} (unsaved: save from the browser).", markup=False)

    def action_reject(self) -> None:
        candidate = self._highlighted()
        if self._refused(candidate, "reject"):
            return
        if self.judge is not None:
            self.judge.forget(candidate.number)  # no longer blocks its near-duplicates
        self._mark(candidate, "rejected")
        self._next_row()

    def _next_row(self) -> None:
        table = self.query_one("#gen-candidates", DataTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_regenerate(self) -> None:
        candidate = self._highlighted()
        if self._refused(candidate, "regenerate") or self.brief is None:
            return
        if candidate.verdict == "regenerating":
            return
        self._mark(candidate, "regenerating")
        self.regenerate(candidate)

    @work(group="generate-again", exit_on_error=False)
    async def regenerate(self, original) -> None:
        """A new example in place of `original`; on any failure the original comes back as it was."""
        from core.service.errors import ServiceError
        from core.synthetic.run import regenerate

        fresh = original
        try:
            conn = await self.app.jobs_feed.connection()
            asked = [first_user_text(c.example) for c in self.candidates.values() if c.example]
            fresh = await regenerate(conn, self.brief, model=self.model, judge=self.judge, number=original.number, temperature=self.temperature, avoid=[a for a in asked if a][-20:])
        except ServiceError as error:
            self.notify(f"{error.title}" + (f" — {error.hint}" if error.hint else ""), title="Not regenerated", severity="error", markup=False)
        finally:
            self.post_message(Arrived(fresh))

    def action_edit(self) -> None:
        candidate = self._highlighted()
        if self._refused(candidate, "edit"):
            return
        text = orjson.dumps(candidate.example, option=orjson.OPT_INDENT_2).decode() if candidate.example is not None else candidate.raw

        def edited(raw: str | None) -> None:
            if raw is None or self.judge is None:
                return
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                self.notify(f"Not valid JSON: {exc}", severity="error", markup=False)
                return
            self.judge.forget(candidate.number)
            self.post_message(Arrived(self.judge.judge(value, orjson.dumps(value).decode(), candidate.number)))

        self.app.push_screen(EditCandidateScreen(candidate.number, text), edited)


def _verdict(verdict: str) -> Text:
    return Text(verdict, style=VERDICT_STYLE.get(verdict, ""))


class EditCandidateScreen(ModalScreen[str | None]):
    """A candidate's JSON, edited by hand; checked again when it comes back."""

    DEFAULT_CSS = """
    EditCandidateScreen { align: center middle; }
    EditCandidateScreen > Vertical { width: 100; max-width: 100%; height: 90%; border: thick $primary; background: $surface; padding: 0 1; }
    EditCandidateScreen TextArea { height: 1fr; }
    EditCandidateScreen .hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("ctrl+s", "done", "Check", id="edit-candidate.done"),
        Binding("escape", "dismiss(None)", "Cancel", id="edit-candidate.cancel"),
    ]

    def __init__(self, number: int, text: str) -> None:
        super().__init__()
        self.number = number
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Candidate {self.number}: edit its JSON", classes="hint")
            yield TextArea(self.text, soft_wrap=True, id="edit-candidate-text")
            yield Static("ctrl+s checks it again with the dataset rules and duplicates · Esc cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_done(self) -> None:
        self.dismiss(self.query_one(TextArea).text)
