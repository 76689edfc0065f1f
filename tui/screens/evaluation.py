"""Batch evaluation: run a split (or any JSONL of examples) through up to three models, then read
the results — totals per model, every example side by side with its gold answer, and the ones
where the models disagree most.

The run is core.evaluate's: bounded concurrency, answers saved as they come, resumable (the same
file and models again asks only what is missing). Stopping a run keeps every answer received.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, ProgressBar, Static

from core.evaluate.results import default_out
from core.service.conversation import ChatSettings
from tui.widgets.profile_bar import ProfileBar
from tui.widgets.tables import highlighted_key

REDRAW = 0.25  # seconds: answers arriving faster than this are drawn together
SLOTS = ("A", "B", "C")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


@dataclass
class Answered(Message):
    """An answer arrived (or was found in the results file); the table is redrawn soon."""

    answer: object
    progress: object


class EvaluationScreen(Screen):
    DEFAULT_CSS = """
    EvaluationScreen { layout: vertical; }
    #eval-form { height: auto; padding: 0 1; }
    #eval-form Horizontal { height: 1; }
    #eval-form .label { width: 13; color: $text-muted; }
    #eval-form Input, #eval-form Input:focus { border: none; height: 1; padding: 0 1; background: $boost; width: 1fr; }
    #eval-form #eval-concurrency { width: 6; }
    #eval-form .slot { width: 3; color: $text-muted; }
    #eval-summary { height: 1; padding: 0 1; color: $text-muted; }
    #eval-progress-row { height: auto; padding: 0 1; }
    #eval-progress-row ProgressBar { width: 24; }
    #eval-status { width: 1fr; height: auto; padding-left: 1; }
    #eval-totals { height: auto; max-height: 5; }
    #eval-body { height: 1fr; }
    #eval-examples { width: auto; max-width: 40; }
    #eval-detail { width: 1fr; }
    #eval-detail Horizontal { height: auto; }
    .eval-answer { width: 1fr; padding: 0 1; margin-right: 1; border-left: thick $success; }
    .eval-answer.-gold { border-left: thick $warning; }
    .eval-answer.-failed { border-left: thick $error; }
    """
    BINDINGS = [
        Binding("ctrl+r", "run", "Run / resume", tooltip="Run the evaluation; with the same results file and models, only what is missing is asked", id="eval.run"),
        Binding("escape", "stop", "Stop / back", tooltip="Stop the run (every answer so far is kept), else go back", id="eval.stop"),
        Binding("d", "order", "By disagreement", tooltip="Order the examples by how much the models disagree (F1 spread), or by line", id="eval.order"),
        Binding("o", "open_line", "Open line", tooltip="Open the highlighted example in the dataset editor", id="eval.open"),
        Binding("p", "replay", "Replay", tooltip="Replay the highlighted example in the Playground", id="eval.replay"),
        Binding("ctrl+e", "setup", "Setup", show=False, tooltip="Show the form: file, models, concurrency, results file", id="eval.setup"),
    ]

    def __init__(self, path: Path | None, models: list[str], settings: ChatSettings | None = None) -> None:
        super().__init__()
        self.path = path
        self.models = list(models)
        self.settings = settings or ChatSettings()
        self.answers: dict[tuple[int, str], object] = {}  # (line, model) -> Answer
        self.gold: dict[int, str] = {}
        self.skipped: list = []
        self.progress = None
        self.running = False
        self.by_disagreement = False
        self._redraw_due = False

    def compose(self) -> ComposeResult:
        yield ProfileBar("playground")
        with Vertical(id="eval-form"):
            with Horizontal():
                yield Static("examples", classes="label")
                yield Input(str(self.path or ""), id="eval-file", placeholder="JSONL file: a validation split, or any examples")
            with Horizontal():
                yield Static("models", classes="label")
                for index, slot in enumerate(SLOTS):
                    yield Static(slot, classes="slot")
                    yield Input(self.models[index] if index < len(self.models) else "", id=f"eval-model-{index}", placeholder="—")
            with Horizontal():
                yield Static("at once", classes="label")
                yield Input("4", id="eval-concurrency", type="integer")
                yield Static(" results", classes="label")
                yield Input(str(default_out(self.path)) if self.path else "", id="eval-out", placeholder="where the answers are saved (JSONL)")
        yield Static("", id="eval-summary", markup=False)
        with Horizontal(id="eval-progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="eval-progress")
            yield Static("ctrl+r runs (and resumes an earlier run on the same results file)", id="eval-status", markup=False)
        yield DataTable(id="eval-totals", cursor_type="none", zebra_stripes=True)
        with Horizontal(id="eval-body"):
            yield DataTable(id="eval-examples", cursor_type="row")
            yield VerticalScroll(id="eval-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#eval-summary").display = False
        self.query_one(ProgressBar).display = False  # until there is something to measure
        self.query_one("#eval-file" if not self.path else "#eval-model-0" if not self.models else "#eval-out", Input).focus()

    # ------------------------------------------------------------------ the form

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "eval-file":  # the results file follows the examples' name
            out = self.query_one("#eval-out", Input)
            path = Path(event.value.strip())
            if event.value.strip() and (not out.value or out.value.endswith(".eval.jsonl")):
                out.value = str(default_out(path))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_run()

    def _form(self) -> tuple[Path, list[str], Path, int] | str:
        path = Path(self.query_one("#eval-file", Input).value.strip()).expanduser()
        models = [box.value.strip() for box in (self.query_one(f"#eval-model-{i}", Input) for i in range(len(SLOTS))) if box.value.strip()]
        out = Path(self.query_one("#eval-out", Input).value.strip() or default_out(path)).expanduser()
        concurrency = self.query_one("#eval-concurrency", Input).value.strip()
        if not path.is_file():
            return f"{path} is not a file: name the JSONL examples to evaluate."
        if not models:
            return "Name at least one model (two or three to compare them)."
        if len(set(models)) != len(models):
            return "A model is named twice."
        if not concurrency.isdigit() or not 1 <= int(concurrency) <= 32:
            return "At once: how many requests run together, 1 to 32."
        if out.resolve() == path.resolve():
            return "The results file must not be the examples file."
        return path, models, out, int(concurrency)

    def action_setup(self) -> None:
        self.query_one("#eval-form").display = True
        self.query_one("#eval-summary").display = False
        self.query_one("#eval-file", Input).focus()

    # ------------------------------------------------------------------ running

    def action_run(self, fresh: bool = False) -> None:
        if self.running:
            return
        form = self._form()
        if isinstance(form, str):
            self._status(form, error=True)
            return
        path, models, out, concurrency = form
        self.path, self.models = path, models
        self.answers.clear()
        self.query_one("#eval-form").display = False
        summary = self.query_one("#eval-summary", Static)
        summary.update(f"{path.name} · {' vs '.join(models)} · {self.settings.describe()} · results {out}")
        summary.display = True
        self._setup_tables()
        self.query_one("#eval-examples", DataTable).focus()
        self.run_evaluation(path, models, out, concurrency, fresh)

    @work(exclusive=True, group="evaluation", exit_on_error=False)
    async def run_evaluation(self, path: Path, models: list[str], out: Path, concurrency: int, fresh: bool) -> None:
        from core.evaluate.cases import read_cases
        from core.evaluate.results import ResultsError
        from core.evaluate.run import ResultsMismatch, evaluate
        from core.service.errors import ServiceError

        self.running = True
        try:
            self._status(f"reading {path.name}…")
            cases, self.skipped = await asyncio.to_thread(read_cases, path)
            if not cases:
                self._status(f"{path.name} holds no example to evaluate ({len(self.skipped)} lines skipped).", error=True)
                return
            self.gold = {case.line: case.gold for case in cases}
            self.query_one(ProgressBar).update(total=len(cases) * len(models), progress=0)
            self.query_one(ProgressBar).display = True
            self._status("connecting…")
            conn = await self.app.jobs_feed.connection()
            self._status("asking…")
            await evaluate(
                conn, cases, models, out, concurrency=concurrency, params=self.settings.params(),
                on_answer=lambda answer, progress: self.post_message(Answered(answer, progress)), fresh=fresh, source=path,
            )  # fmt: skip
            self._status(self._outcome(out))
        except ResultsMismatch as error:
            self._status(f"{error.title} — {error.hint}", error=True)
            self._offer_fresh(out, error.title)
        except (ResultsError, ServiceError) as error:
            self._status(f"{error.title} — {error.hint}" if error.hint else error.title, error=True)
        except OSError as error:
            self._status(f"{out}: {error.strerror or error}", error=True)
        except asyncio.CancelledError:
            self._status(f"Stopped: {len(self.answers)} answers kept in {out}; ctrl+r resumes.")
            raise
        finally:
            self.running = False
            self._redraw()

    def _offer_fresh(self, out: Path, why: str) -> None:
        from tui.screens.confirm import ConfirmScreen

        def chosen(yes: bool | None) -> None:
            if yes:
                self.action_run(fresh=True)

        self.app.push_screen(
            ConfirmScreen("Start the results over?", f"{out} holds another run ({why}). Its answers are replaced once the new run has its first answer.", "Start over"),
            chosen,
        )

    def _outcome(self, out: Path) -> str:
        progress = self.progress
        failed = progress.failed if progress else 0
        said = f"Done: {progress.done if progress else 0} answers"
        if progress and progress.resumed:
            said += f" ({progress.resumed} from the earlier run)"
        if failed:
            said += f", {failed} failed — ctrl+r asks them again"
        if self.skipped:
            said += f"; {len(self.skipped)} lines skipped"
        return f"{said}. Saved in {out}."

    def on_answered(self, message: Answered) -> None:
        answer = message.answer
        self.answers[answer.line, answer.model] = answer
        self.progress = message.progress
        self.query_one(ProgressBar).update(progress=message.progress.done)
        if not self._redraw_due:  # many answers a second are drawn together
            self._redraw_due = True
            self.set_timer(REDRAW, self._redraw)

    def action_stop(self) -> None:
        if self.running:
            self.workers.cancel_group(self, "evaluation")
        else:
            self.app.pop_screen()

    def _status(self, text: str, *, error: bool = False) -> None:
        self.query_one("#eval-status", Static).update(Text(text, style="red" if error else ""))

    # ------------------------------------------------------------------ results

    def _setup_tables(self) -> None:
        totals = self.query_one("#eval-totals", DataTable)
        totals.clear(columns=True)
        totals.add_columns("model", "exact", "F1", "similar", "JSON ok", "failed", "latency", "tokens")
        examples = self.query_one("#eval-examples", DataTable)
        examples.clear(columns=True)
        examples.add_columns("line", *(slot for slot, _ in zip(SLOTS, self.models)), "spread")
        self.query_one("#eval-detail", VerticalScroll).remove_children()

    def _redraw(self) -> None:
        from core.evaluate.report import totals

        self._redraw_due = False
        answers = list(self.answers.values())
        table = self.query_one("#eval-totals", DataTable)
        table.clear()
        for slot, t in zip(SLOTS, totals(answers, self.models)):
            latency = "—" if t.mean_latency is None else f"{t.mean_latency:.2f} s"
            table.add_row(
                Text(f"{slot} {_tail(t.model)}"), _pct(t.exact), f"{t.f1:.2f}", f"{t.similarity:.2f}", _pct(t.json_valid),
                str(t.failed), latency, f"{t.prompt_tokens + t.completion_tokens:,}",
            )  # fmt: skip
        self._fill_examples()

    def _rows(self) -> list[tuple[int, dict[str, object], float]]:
        lines = sorted({line for line, _ in self.answers})
        rows = []
        for line in lines:
            scored = {m: self.answers.get((line, m)) for m in self.models}
            f1s = [a.score.f1 for a in scored.values() if a is not None and a.score is not None]
            rows.append((line, scored, max(f1s) - min(f1s) if len(f1s) > 1 else 0.0))
        if self.by_disagreement:
            rows.sort(key=lambda row: (-row[2], row[0]))
        return rows

    def _fill_examples(self) -> None:
        table = self.query_one("#eval-examples", DataTable)
        keep = highlighted_key(table)
        table.clear()
        for line, scored, spread in self._rows():
            cells = [_f1_cell(scored[m]) for m in self.models]
            table.add_row(str(line), *cells, f"{spread:.2f}" if len(self.models) > 1 else "", key=str(line))
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep))
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "eval-examples":
            self._show_detail()

    def _show_detail(self) -> None:
        key = highlighted_key(self.query_one("#eval-examples", DataTable))
        detail = self.query_one("#eval-detail", VerticalScroll)
        detail.remove_children()
        if key is None:
            return
        line = int(key)
        columns = [Static(Text.assemble(("gold", "bold"), (f" line {line}", "dim"), "\n", self.gold.get(line, "")), classes="eval-answer -gold")]
        for slot, model in zip(SLOTS, self.models):
            answer = self.answers.get((line, model))
            head = Text.assemble((f"{slot} {model}", "bold"))
            if answer is None:
                columns.append(Static(head + Text("\nnot answered yet", style="dim"), classes="eval-answer"))
            elif answer.error:
                columns.append(Static(head + Text(f"\n{answer.error}", style="red"), classes="eval-answer -failed"))
            else:
                s = answer.score
                figures = f"\nF1 {s.f1:.2f} · similar {s.similarity:.2f} · {'exact ✓' if s.exact else 'not exact'}"
                if s.json_valid is not None:
                    figures += " · JSON ✓" if s.json_valid else " · JSON ✗"
                columns.append(Static(head + Text(figures, style="dim") + Text("\n" + answer.text), classes="eval-answer"))
        detail.mount(Horizontal(*columns))

    def action_order(self) -> None:
        self.by_disagreement = not self.by_disagreement
        self.notify("Examples by disagreement (F1 spread), most first." if self.by_disagreement else "Examples by line.", timeout=2, markup=False)
        self._fill_examples()
        table = self.query_one("#eval-examples", DataTable)
        if table.row_count:  # a new order is read from its top
            table.move_cursor(row=0)

    def _highlighted_line(self) -> int | None:
        key = highlighted_key(self.query_one("#eval-examples", DataTable))
        return int(key) if key is not None else None

    def action_open_line(self) -> None:
        line = self._highlighted_line()
        if line is not None and self.path is not None:
            self.app.open_dataset_line(self.path, line)

    def action_replay(self) -> None:
        line = self._highlighted_line()
        if self.running:  # replaying leaves this screen, which would stop the run
            self.notify("The evaluation is running: Esc stops it first (its answers are kept).", severity="warning", markup=False)
            return
        if line is not None and self.path is not None:
            # On the app: this screen leaves the stack on the way.
            self.app.run_worker(self.app.replay_in_playground(self.path, line, self.models), group="replay", exit_on_error=False)


def _tail(model: str, width: int = 40) -> str:
    """A long model name by its end: tuned models differ in their suffix and id, not their base."""
    return model if len(model) <= width else "…" + model[-(width - 1):]


def _f1_cell(answer) -> Text:
    if answer is None:
        return Text("…", style="dim")
    if answer.error:
        return Text("✗", style="red")
    style = "green" if answer.score.exact else "yellow" if answer.score.f1 >= 0.5 else "red"
    return Text(f"{answer.score.f1:.2f}", style=style)
