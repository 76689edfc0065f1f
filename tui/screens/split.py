"""Split a dataset into training and validation: options, a live preview of both sides, and writing."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, Footer, Input, Label, Static

from core.dataset import Dataset, DatasetError, validate
from core.dataset import split as splitting
from core.dataset.split_preview import SplitPreview, preview
from core.dataset.validate import Report
from core.service.local_state import remember_split
from tui.screens.confirm import ConfirmScreen
from tui.widgets.profile_bar import ProfileBar

DEBOUNCE = 0.25  # seconds of quiet typing before the preview is recomputed
STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
MARK = {"error": "✗", "warning": "!", "info": "·"}


@dataclass
class Options:
    ratio: float
    seed: int
    shuffle: bool
    dedupe: bool
    max_validation: int | None


@dataclass
class ReportReady(Message):
    report: Report


@dataclass
class PreviewReady(Message):
    preview: SplitPreview
    options: Options


@dataclass
class PreviewFailed(Message):
    title: str
    hint: str = ""


@dataclass
class SplitWritten(Message):
    plan: splitting.SplitPlan


@dataclass
class WriteFailed(Message):
    title: str
    hint: str = ""


class NumberInput(Input):
    """A compact input for a number; it claims only the characters it accepts, so the footer
    keeps showing the screen's letter keys while the cursor is in a field."""

    def __init__(self, value: str, *, chars: str, **kw) -> None:
        super().__init__(value, compact=True, restrict=f"[{chars}]*", **kw)
        self.chars = chars

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character in self.chars


def _parse(ratio: str, seed: str, cap: str, shuffle: bool, dedupe: bool) -> Options:
    """The typed options as numbers; ValueError says which field is not one."""
    try:
        value = float(ratio.strip().rstrip("%"))
    except ValueError:
        raise ValueError("ratio must be a number, e.g. 0.8 for 80% training") from None
    if ratio.strip().endswith("%") or (value > 1 and value.is_integer()):  # "80" or "80%": a percentage
        value /= 100
    try:
        number = int(seed.strip() or splitting.DEFAULT_SEED)
    except ValueError:
        raise ValueError("seed must be a whole number") from None
    try:
        limit = int(cap.strip()) if cap.strip() else None
    except ValueError:
        raise ValueError("validation cap must be a whole number, or empty for none") from None
    return Options(value, number, shuffle, dedupe, limit)


def render_preview(result: SplitPreview) -> Table:
    """Both sides side by side: examples, token totals and the spread of tokens per example."""
    table = Table(box=None, padding=(0, 2), show_edge=False, header_style="bold")
    table.add_column("", no_wrap=True)
    table.add_column("training", justify="right")
    table.add_column("validation", justify="right")
    t, v = result.train, result.validation
    table.add_row("examples", f"{t.examples:,}", f"{v.examples:,}")
    table.add_row("tokens", f"{t.tokens.total:,}", f"{v.tokens.total:,}")
    table.add_row("tokens/example min·p50·max", f"{t.tokens.min:,}·{t.tokens.p50:,}·{t.tokens.max:,}", f"{v.tokens.min:,}·{v.tokens.p50:,}·{v.tokens.max:,}")
    table.add_row(f"over {result.token_limit:,} tokens", f"{t.over_limit:,}", f"{v.over_limit:,}")
    return table


class SplitScreen(Screen):
    DEFAULT_CSS = """
    SplitScreen #split-title { height: 1; padding: 0 1; text-style: bold; }
    SplitScreen #split-options { height: 1; margin: 0 1; }
    SplitScreen #split-options Label { width: auto; margin: 0 1 0 0; }
    SplitScreen #split-options Input { width: 8; margin-right: 2; }
    SplitScreen #split-toggles { height: 1; margin: 0 1 1 1; }
    SplitScreen #split-toggles Checkbox { width: auto; margin-right: 2; }
    SplitScreen #split-body { height: 1fr; padding: 0 1; }
    SplitScreen #split-table { height: auto; }
    SplitScreen #split-bill, SplitScreen #split-notes, SplitScreen #split-written { height: auto; margin-top: 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "write", "Write split", id="split.write-ctrl-s", show=False),
        # priority: a focused Input takes every printable key before the screen sees it
        Binding("w", "write", "Write split", id="split.write", priority=True),
        Binding("L", "launch", "Launch…", id="split.launch", priority=True),
        Binding("escape", "back", "Back", id="split.back"),
    ]

    def __init__(self, dataset: Dataset, report: Report | None = None) -> None:
        super().__init__()
        self.dataset = dataset
        self.report = report
        self.preview: SplitPreview | None = None
        self.options: Options | None = None  # the options the shown preview was computed with
        self.written: splitting.SplitPlan | None = None
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        yield ProfileBar("datasets")
        yield Static(f"Split {self.dataset.path.name}", id="split-title", markup=False)
        with Horizontal(id="split-options"):
            yield Label("ratio")
            yield NumberInput(str(splitting.DEFAULT_RATIO), chars="0123456789.%", id="ratio")
            yield Label("seed")
            yield NumberInput(str(splitting.DEFAULT_SEED), chars="0123456789", id="seed")
            yield Label("validation cap")
            yield NumberInput("", chars="0123456789", placeholder="none", id="cap")
        with Horizontal(id="split-toggles"):
            yield Checkbox("shuffle", True, id="shuffle", compact=True)
            yield Checkbox("drop duplicate copies", False, id="dedupe", compact=True)
        with VerticalScroll(id="split-body"):
            yield Static("Checking the dataset…", id="split-table")
            yield Static("", id="split-bill", markup=False)
            yield Static("", id="split-notes")
            yield Static("", id="split-written", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        if self.report is None:
            self.check()
        else:
            self.refresh_preview()

    # the report, once

    @work(thread=True, exclusive=True, group="split-report", exit_on_error=False)
    def check(self) -> None:
        try:
            report = validate(self.dataset)
        except DatasetError as exc:
            self.post_message(PreviewFailed(exc.title, exc.hint))
            return
        self.post_message(ReportReady(report))

    def on_report_ready(self, message: ReportReady) -> None:
        self.report = message.report
        self.refresh_preview()

    # the preview, after every change

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def changed(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self.refresh_preview)

    def current_options(self) -> Options:
        return _parse(
            self.query_one("#ratio", Input).value,
            self.query_one("#seed", Input).value,
            self.query_one("#cap", Input).value,
            self.query_one("#shuffle", Checkbox).value,
            self.query_one("#dedupe", Checkbox).value,
        )

    def refresh_preview(self) -> None:
        self._debounce = None
        if self.report is None:
            return
        try:
            options = self.current_options()
        except ValueError as exc:
            self.post_message(PreviewFailed(str(exc)))
            return
        self.compute(options)

    @work(thread=True, exclusive=True, group="split-preview", exit_on_error=False)
    def compute(self, options: Options) -> None:
        try:
            result = preview(
                self.dataset, self.report, ratio=options.ratio, seed=options.seed, shuffle=options.shuffle,
                dedupe=options.dedupe, max_validation=options.max_validation,
            )  # fmt: skip
        except DatasetError as exc:
            self.post_message(PreviewFailed(exc.title, exc.hint))
            return
        self.post_message(PreviewReady(result, options))

    def on_preview_ready(self, message: PreviewReady) -> None:
        self.preview, self.options = message.preview, message.options
        result = message.preview
        plan = result.plan
        self.query_one("#split-table", Static).update(render_preview(result))
        self.query_one("#split-bill", Static).update(
            f"Training: {plan.epochs} epochs (the service's default for {result.train.examples:,} examples), "
            f"{plan.billed_tokens:,} billed tokens, about ${plan.cost_usd:,.2f} on {result.model}"
        )
        notes = Text()
        for note in result.notes:
            notes.append(f"{MARK[note.severity]} ", style=STYLE[note.severity])
            notes.append(note.message + "\n")  # Text: dataset-derived numbers are never markup
        self.query_one("#split-notes", Static).update(notes if result.notes else Text("No warnings.", style="green"))

    def on_preview_failed(self, message: PreviewFailed) -> None:
        self.preview = None
        text = Text(message.title, style="bold red")
        if message.hint:
            text.append(f"\n{message.hint}", style="")
        self.query_one("#split-table", Static).update(text)
        self.query_one("#split-bill", Static).update("")
        self.query_one("#split-notes", Static).update("")

    # writing

    def action_write(self) -> None:
        if self.dataset.dirty:
            self.notify(
                "Save the dataset first: the split records the file's hash, so it must match what is on disk.",
                title="Unsaved edits",
                severity="warning",
                markup=False,
            )
            return
        try:
            options = self.current_options()
        except ValueError as exc:
            self.notify(str(exc), title="Not written", severity="error", markup=False)
            return
        if self.preview is None or self.options != options or self._debounce is not None:
            self.notify("The preview is still being computed; try again in a moment.", title="Not written", markup=False)
            return
        if not self.preview.writable:
            first = next(n for n in self.preview.notes if n.severity == "error")
            self.notify(first.message, title="Not written", severity="error", markup=False)
            return
        existing = [p for p in splitting.output_paths(self.dataset.path) if p.exists()]
        if not existing:
            self.write_split(options, overwrite=False)
            return

        def chosen(overwrite: bool | None) -> None:
            if overwrite:
                self.write_split(options, overwrite=True)

        listed = "\n".join(f"  • {path}" for path in existing)
        self.app.push_screen(ConfirmScreen("These files exist already:", f"{listed}\n\nReplace them with this split?", "Overwrite", no="Keep them"), chosen)

    @work(thread=True, exclusive=True, group="split-write", exit_on_error=False)
    def write_split(self, options: Options, overwrite: bool) -> None:
        try:
            plan = splitting.plan(
                self.dataset, self.report, ratio=options.ratio, seed=options.seed, shuffle=options.shuffle,
                dedupe=options.dedupe, max_validation=options.max_validation,
            )  # fmt: skip
            written = splitting.write(self.dataset, plan, overwrite=overwrite)
            remember_split(self.dataset.path, written)
        except DatasetError as exc:
            self.post_message(WriteFailed(exc.title, exc.hint))
            return
        except OSError as exc:
            self.post_message(WriteFailed(f"Could not write the split: {exc.strerror or exc}", str(exc.filename or "")))
            return
        self.post_message(SplitWritten(written))

    def on_split_written(self, message: SplitWritten) -> None:
        self.written = plan = message.plan
        lines = [f"Written (ratio {plan.ratio}, seed {plan.seed}; recorded for launching — L to launch):"]
        for side in (plan.train, plan.validation):
            lines.append(f"  {side.path}  {len(side.records):,} examples")
        self.query_one("#split-written", Static).update("\n".join(lines))
        self.notify(f"{plan.train.path.name} and {plan.validation.path.name}", title="Split written", markup=False)

    def on_write_failed(self, message: WriteFailed) -> None:
        self.notify(f"{message.title}\n{message.hint}".strip(), title="Not written", severity="error", markup=False)

    def action_launch(self) -> None:
        """Go on to the launch screen with the training side just written (its split gives the
        validation file)."""
        if self.written is None:
            self.notify("Write the split first (w)", markup=False)
            return
        from tui.screens.launch import LaunchScreen

        self.app.push_screen(LaunchScreen(self.written.train.path))

    def action_back(self) -> None:
        self.app.pop_screen()
