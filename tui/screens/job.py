"""One job, live: status and timing, progress, the loss chart, the event log, checkpoints, the
overfitting alarm, why it failed (and the line it blames), and what can be done to it now.

Everything shown comes from the app's JobsFeed; the screen subscribes to its changes and appends
what is new (events, points, checkpoints) rather than redrawing the lot.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.events import Key
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Input, ProgressBar, RichLog, Static

from core.clock import ago
from core.dataset.writing import atomic_write, write_all
from core.service import jobs as job_calls, overfit
from core.service.errors import ServiceError
from core.service.tracking import JobView
from tui.jobs_feed import Change, label
from tui.screens.confirm import ConfirmScreen
from tui.widgets.job_status import LEVEL_STYLE, duration, status_text, until
from tui.widgets.loss_chart import LossChart
from tui.widgets.profile_bar import ProfileBar
from tui.widgets.tables import highlighted_key

# key -> the action a job's state may forbid (JobView.refusal says why)
REDRAW = 0.1  # seconds: live changes are drawn together at most this often
GUARDED = {"c": "cancel", "p": "pause", "r": "resume", "d": "results", "y": "copy"}
CONFIRM = {
    "cancel": ("Cancel this job?", "Training stops now and cannot be resumed; steps already run may still be billed.", "Cancel the job", True),
    "pause": ("Pause this job?", "Training stops at the next step and can be resumed later.", "Pause", False),
    "resume": ("Resume this job?", "Training continues from where it was paused.", "Resume", False),
}


def event_line(event) -> Text:
    when = dt.datetime.fromtimestamp(event.created_at).strftime("%H:%M:%S")
    line = Text(f"{when} ", style="dim")
    level = (event.level or "info").lower()
    line.append(f"{level:<5} ", style=LEVEL_STYLE.get(level, "") or "dim")
    line.append(event.message, style=LEVEL_STYLE.get(level, ""))
    return line


class JobScreen(Screen):
    DEFAULT_CSS = """
    JobScreen { layout: vertical; }
    #job-title, #job-timing, #job-model { height: 1; padding: 0 1; }
    #job-model.-none { display: none; }
    #job-title { background: $boost; }
    #job-progress-row { height: 1; padding: 0 1; }
    #job-progress { width: 40; }
    #job-progress-row.-unknown, #job-chart.-none { display: none; }
    #job-step { width: 1fr; padding-left: 1; }
    #job-alarm { display: none; padding: 0 1; background: $warning 30%; color: $text; }
    #job-alarm.-shown { display: block; }
    #job-failure { display: none; padding: 0 1; border-left: thick $error; background: $error 10%; }
    #job-failure.-shown { display: block; }
    #job-chart { height: 1fr; min-height: 6; max-height: 16; }
    #job-tabs { height: 1; padding: 0 1; background: $boost; }
    #job-pages { height: 1fr; min-height: 4; }
    #job-events { scrollbar-size-vertical: 1; }
    #job-search { display: none; }
    #job-search.-shown { display: block; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", id="job.back"),
        Binding("c", "cancel", "Cancel", id="job.cancel"),
        Binding("p", "pause", "Pause", id="job.pause"),
        Binding("r", "resume", "Resume", id="job.resume"),
        Binding("d", "results", "CSV", tooltip="Save the result file (per-step metrics) as CSV", id="job.results"),
        Binding("y", "copy", "Copy", tooltip="Copy the tuned model's name", id="job.copy"),
        Binding("o", "open_line", "Open line", show=False, tooltip="Open the line the failure names in the dataset editor", id="job.open_line"),
        Binding("e", "page('job-events')", "Events", show=False, id="job.events"),
        Binding("k", "page('job-checkpoints')", "Checkpoints", show=False, id="job.checkpoints"),
        Binding("slash", "search", "Search events", show=False, id="job.search"),
        Binding("a", "accuracy", "Loss/accuracy", show=False, tooltip="Chart token accuracy instead of loss, and back", id="job.accuracy"),
        Binding("g", "playground", "Playground", show=False, tooltip="Chat with the selected checkpoint or the tuned model", id="job.playground"),
    ]

    HELP_NOTES = (
        ("Overfitting alarm", overfit.RULE + " It rings once per job (toast and bell); p pauses, c cancels."),
        ("Estimated finish", "The service's estimate when it gives one, else from the rate of the last 20 steps."),
    )

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.query_text = ""
        self._shown_events = 0  # events of the view already in the log
        self._shown_points = 0
        self._shown_checkpoints = 0
        self._redraw = None  # the pending timer that draws what changed

    @property
    def feed(self):
        return self.app.jobs_feed

    @property
    def view(self) -> JobView:
        return self.feed.board.view(self.job_id)

    def compose(self) -> ComposeResult:
        yield ProfileBar("jobs")
        yield Static(id="job-title", markup=False)
        yield Static(id="job-timing", markup=False)
        yield Static(id="job-model", markup=False)
        with Horizontal(id="job-progress-row"):
            yield ProgressBar(id="job-progress", show_eta=False, show_percentage=True)
            yield Static(id="job-step", markup=False)
        yield Static(id="job-alarm", markup=False)
        yield Static(id="job-failure", markup=False)
        yield LossChart(id="job-chart")
        yield Static(id="job-tabs", markup=False)
        with ContentSwitcher(id="job-pages", initial="job-events"):
            yield RichLog(id="job-events", wrap=True, auto_scroll=False, max_lines=None)
            table = DataTable(id="job-checkpoints", cursor_type="row")
            for key, title in (("step", "Step"), ("train", "Train loss"), ("valid", "Valid loss"), ("full", "Full valid"), ("model", "Checkpoint model")):
                table.add_column(title, key=key)
            yield table
        yield Input(id="job-search", placeholder="search the events — Enter: keep, Esc: clear")
        yield Footer()

    def on_mount(self) -> None:
        self.feed.start()
        self.feed.changed.subscribe(self, self._changed)
        self._catch_up()
        self._draw_header()
        self._draw_tabs()
        self.set_interval(1, self._draw_timing)
        if self.view.terminal and not self.view.events:
            self.feed.load(self.job_id)  # a finished job's history is read once

    # following the feed

    def _changed(self, change: Change) -> None:
        if change.job is not None and change.job.job_id != self.job_id:
            return
        if change.job is None and self._shown_events == 0 and self.view.terminal and not self.view.events:
            self.feed.load(self.job_id)  # the list has just said what this job is
        # A poll brings many events at once: draw them together, a moment later.
        if self._redraw is None:
            self._redraw = self.set_timer(REDRAW, self._redraw_now)

    def _redraw_now(self) -> None:
        self._redraw = None
        self._catch_up()
        self._draw_header()
        self.refresh_bindings()

    def _catch_up(self) -> None:
        """Append what the view has that the screen has not shown yet."""
        view = self.view
        log = self.query_one("#job-events", RichLog)
        new_events = view.events[self._shown_events :]
        if new_events:
            # Follow the end only while the user reads the end: scrolled up, the log stays put.
            at_end = log.scroll_y >= log.max_scroll_y
            for event in new_events:
                if self._wanted(event):
                    log.write(event_line(event), scroll_end=at_end)
            self._shown_events = len(view.events)
            self._draw_tabs()
        chart = self.query_one(LossChart)
        chart.set_class(view.terminal and not view.points, "-none")  # ended before training: no chart to show
        if self._shown_points == 0 and view.points:
            chart.set_points(view.points, view.points[-1].total_steps)
        elif len(view.points) > self._shown_points:
            chart.add_points(view.points[self._shown_points :])
        self._shown_points = len(view.points)
        chart.set_marker(view.alarm.step if view.alarm else None)
        table = self.query_one("#job-checkpoints", DataTable)
        for checkpoint in view.checkpoints[self._shown_checkpoints :]:
            metrics = checkpoint.metrics
            table.add_row(
                str(checkpoint.step_number),
                _number(metrics.train_loss),
                _number(metrics.valid_loss),
                _number(metrics.full_valid_loss),
                short_model(checkpoint.fine_tuned_model_checkpoint),
                key=checkpoint.fine_tuned_model_checkpoint,
            )
        if len(view.checkpoints) != self._shown_checkpoints:
            self._shown_checkpoints = len(view.checkpoints)
            self._draw_tabs()

    def _draw_header(self) -> None:
        view = self.view
        title = status_text(view.status)
        title.append(f"  {label(view)}", style="bold")
        if view.model:
            title.append(f"  {view.model}", style="dim")
        if view.lost:
            title.append(f"  not watched: {view.lost}", style="yellow")
        self.query_one("#job-title", Static).update(title)
        self._draw_timing()
        bar = self.query_one("#job-progress", ProgressBar)
        step = view.step
        done = view.progress()
        self.query_one("#job-progress-row").set_class(done is None and not view.fine_tuned_model, "-unknown")
        if done is not None:
            bar.update(total=step[1] if step and step[1] else 1, progress=step[0] if step and step[1] else done)
        step_text = Text()
        if step and step[1]:
            step_text.append(f"step {step[0]:,}/{step[1]:,}")
            if view.epochs and not view.terminal:
                per_epoch = max(1, step[1] // view.epochs)
                step_text.append(f" · epoch {min(view.epochs, (step[0] - 1) // per_epoch + 1)}/{view.epochs}")
        if view.trained_tokens:
            step_text.append(f" · {view.trained_tokens:,} tokens trained")
        self.query_one("#job-step", Static).update(step_text)
        model = self.query_one("#job-model", Static)
        model.set_class(not view.fine_tuned_model, "-none")
        if view.fine_tuned_model:
            model.update(Text.assemble(("tuned model ", "dim"), (view.fine_tuned_model, "bold green"), ("  y copies", "dim")))
        self._draw_alarm(view.alarm)
        self._draw_failure()

    def _draw_timing(self) -> None:
        view = self.view
        now = self.app.clock.now()
        parts = []
        if view.created_at:
            parts.append(f"created {ago(view.created_at, now)}")
        if view.started_at is not None:
            parts.append(f"started {dt.datetime.fromtimestamp(view.started_at):%H:%M}")
        elapsed = view.elapsed(now)
        if elapsed is not None:
            parts.append(f"{'trained' if view.terminal else 'running'} {duration(elapsed)}")
        if view.finished_at:
            parts.append(f"finished {ago(view.finished_at, now)}")
        estimate = view.estimated_finish()
        if estimate is not None:
            when, source = estimate
            parts.append(f"ends {until(when, now)} ({source})")
        self.query_one("#job-timing", Static).update(" · ".join(parts))

    def _draw_alarm(self, alarm: overfit.Overfitting | None) -> None:
        box = self.query_one("#job-alarm", Static)
        box.set_class(alarm is not None, "-shown")
        if alarm is None:
            return
        text = Text("⚠ Overfitting: ", style="bold")
        text.append(alarm.describe())
        if not self.view.terminal:
            text.append("  p pause · c cancel", style="bold")
        text.append(f"  Keep the checkpoint nearest step {alarm.best_step}.", style="italic")
        box.update(text)

    def _draw_failure(self) -> None:
        box = self.query_one("#job-failure", Static)
        failure = self.view.failure()
        box.set_class(failure is not None, "-shown")
        if failure is None:
            return
        text = Text(f"Failed{f' ({failure.code})' if failure.code else ''}: ", style="bold red")
        text.append(failure.message)
        text.append(f"\n{failure.hint}", style="italic")
        if failure.openable:
            text.append(f"\no: open line {failure.line} of {failure.path.name} in the editor", style="bold")
        elif failure.line is not None:
            text.append("\nThe file it names was not launched from this machine, so it cannot be opened here.", style="dim")
        box.update(text)

    def _draw_tabs(self) -> None:
        current = self.query_one(ContentSwitcher).current
        tabs = Text()
        events = f"Events ({len(self.view.events)})" + (f" matching “{self.query_text}”" if self.query_text else "")
        tabs.append(f" {events} e ", style="reverse" if current == "job-events" else "dim")
        tabs.append(" ")
        tabs.append(f" Checkpoints ({len(self.view.checkpoints)}) k ", style="reverse" if current == "job-checkpoints" else "dim")
        self.query_one("#job-tabs", Static).update(tabs)

    # the event log and its search

    def _wanted(self, event) -> bool:
        return not self.query_text or self.query_text.lower() in event.message.lower()

    def _rewrite_log(self) -> None:
        log = self.query_one("#job-events", RichLog)
        log.clear()
        for event in self.view.events:
            if self._wanted(event):
                log.write(event_line(event), scroll_end=False)
        log.scroll_end(animate=False, immediate=True)
        self._draw_tabs()

    def action_search(self) -> None:
        self.action_page("job-events")
        box = self.query_one("#job-search", Input)
        box.add_class("-shown")
        box.value = self.query_text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "job-search":
            self.query_text = event.value.strip()
            self._rewrite_log()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("-shown")
        self.query_one("#job-events", RichLog).focus()

    def action_page(self, page: str) -> None:
        self.query_one(ContentSwitcher).current = page
        self.query_one(f"#{page}").focus()
        self._draw_tabs()

    def action_accuracy(self) -> None:
        chart = self.query_one(LossChart)
        chart.show_accuracy = not chart.show_accuracy

    def action_back(self) -> None:
        box = self.query_one("#job-search", Input)
        if box.has_class("-shown") or self.query_text:
            box.remove_class("-shown")
            if self.query_text:
                self.query_text = ""
                self._rewrite_log()
            self.query_one("#job-events", RichLog).focus()
            return
        self.app.pop_screen()

    # what the job's state allows

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in GUARDED.values() and self._refusal(action) is not None:
            return None  # shown dimmed in the footer; pressing the key says why (on_key)
        if action == "open_line":
            failure = self.view.failure()
            return True if failure is not None and failure.openable else None
        return True

    def _refusal(self, action: str) -> str | None:
        if action == "copy" and self._chosen_checkpoint():
            return None  # the highlighted checkpoint is there to copy, tuned model or not
        if action == "results" and self.feed.conn is None:
            return f"not connected ({self.feed.status})"
        return self.view.refusal(action)

    def on_key(self, event: Key) -> None:
        action = GUARDED.get(event.key)
        if action is None or isinstance(self.focused, Input):
            return
        reason = self._refusal(action)
        if reason is not None:
            event.stop()
            self.notify(f"Not now: {reason}.", timeout=4, markup=False)

    def _confirm_then(self, action: str) -> None:
        title, body, yes, danger = CONFIRM[action]

        def answered(yes_: bool | None) -> None:
            if yes_:
                self.run_action_on_job(action)

        self.app.push_screen(ConfirmScreen(f"{title}  {label(self.view)}", body, yes, no="Keep it running" if action != "resume" else "Leave it paused", danger=danger), answered)

    def action_cancel(self) -> None:
        self._confirm_then("cancel")

    def action_pause(self) -> None:
        self._confirm_then("pause")

    def action_resume(self) -> None:
        self._confirm_then("resume")

    @work(group="job-action", exclusive=True, exit_on_error=False)
    async def run_action_on_job(self, action: str) -> None:
        try:
            view = await self.feed.act(self.job_id, action)
        except ServiceError as error:
            self.notify(error.hint or error.title, title=f"Could not {action}: {error.title}", severity="error", markup=False)
            return
        except Exception as error:  # ours: said, and the app goes on
            self.notify(f"{type(error).__name__}: {error}", title=f"Could not {action}", severity="error", markup=False)
            return
        self.notify(f"{label(view)}: {view.status}", markup=False)

    def _chosen_checkpoint(self) -> str | None:
        """The checkpoint highlighted on the Checkpoints page, when that page is shown."""
        if self.query_one(ContentSwitcher).current != "job-checkpoints":
            return None
        return highlighted_key(self.query_one("#job-checkpoints", DataTable))

    def action_copy(self) -> None:
        name = self._chosen_checkpoint() or self.view.fine_tuned_model
        if name:
            self.app.copy_to_clipboard(name)
            self.notify(name, title="Copied", timeout=4, markup=False)

    @work(group="job-results", exclusive=True, exit_on_error=False)
    async def action_results(self) -> None:
        view = self.view
        conn = self.feed.conn
        if conn is None or view.job is None or not view.job.result_files:
            return
        try:
            text = await job_calls.result_csv(conn, view.job.result_files[0])
        except ServiceError as error:
            self.notify(error.hint or error.title, title=f"Result file not read: {error.title}", severity="error", markup=False)
            return
        try:
            target = Path.cwd() / f"{view.suffix or view.job_id}-results.csv"
            fd, _ = atomic_write(target, lambda fd: write_all(fd, text.encode("utf-8")))
            os.close(fd)
        except OSError as error:
            self.notify(str(error), title="Result file not saved", severity="error", markup=False)
            return
        rows = max(0, text.count("\n") - 1)
        self.notify(f"{rows:,} steps → {target}", title="Results saved", timeout=8, markup=False)

    def action_open_line(self) -> None:
        failure = self.view.failure()
        if failure is not None and failure.openable:
            self.app.open_dataset_line(failure.path, failure.line)

    def action_playground(self) -> None:
        model = self._chosen_checkpoint() or self.view.fine_tuned_model
        if model is None:
            self.notify("Not now: no checkpoint or tuned model yet.", timeout=4, markup=False)
            return
        self.app.open_in_playground(model)


def short_model(name: str) -> str:
    """`ft:gpt-4o-mini-2024-07-18:org:trips:ab12:ckpt-step-40` → `…:ab12:ckpt-step-40`: the rest
    is the tuned model's name, shown above; the end is what tells checkpoints apart (y copies
    the whole name)."""
    parts = name.split(":")
    return "…:" + ":".join(parts[-2:]) if len(parts) > 3 else name


def _number(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else ""

