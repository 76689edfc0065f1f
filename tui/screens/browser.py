"""The dataset browser screen: a file's examples beside its findings and stats, and the keys over them.

Everything slow runs in thread workers that report with typed messages; handlers here, on the
event loop, render. Opening (`browser_open`) streams the line index in, so rows appear before
the file is fully indexed; checking (`browser_check`) reports each range as it finishes, so marks,
token counts and findings fill in while the user scrolls, and the stats appear at the end; search
and roles filters (`browser_search`) scan the records the same way. Edits (from the editor or
anyone holding the shared `Dataset`) arrive through `Dataset.listen`; results computed for an
older version follow their records through `Layout` keys until fresh ones arrive.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, bisect_right
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, ProgressBar, Static

from core.dataset import CODES, Dataset, Finding, Validator
from core.dataset import base_models
from core.dataset.validate import Report
from tui.screens.browser_check import ValidationChunk, ValidationDone, ValidationProgress, ValidationStopped, check_dataset, start_process_helpers
from tui.screens.browser_open import IndexGrew, Opened, OpenFailed, open_while_indexing
from tui.screens.browser_search import Scan, ScanProgress, parse_filter, roles_test, scan_records, search_test
from tui.widgets.example_list import MARKS, ExampleList, Layout, Verdicts, one_line
from tui.widgets.findings_panel import FindingsModel, FindingsPanel, error_codes
from tui.widgets.profile_bar import ProfileBar
from tui.widgets.stats_panel import StatsPanel

# tui/app.py starts the process helpers through this module before any browser opens.
__all__ = ["BrowserScreen", "start_process_helpers"]

TRANSLATE_LIMIT = 300_000  # above this, a list of records is rebuilt by a new scan, not carried over an edit
WIDE = 96  # columns from which findings and stats sit beside the list (below 96 they open under it)


class DatasetChanged(Message):
    """The shared dataset was edited, undone, or saved (possibly from another thread)."""


def translate(records, old: Layout, new: Layout) -> array:
    """Records of one version of the document, found again in another (sorted; gone ones dropped)."""
    if old is new:
        return records
    moved = (new.index(old.key(r)) for r in records)
    return array("q", sorted(r for r in moved if r is not None))


class BrowserScreen(Screen):
    """One JSONL file: its examples, what is wrong with them, and what training on them costs."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]
    # The footer has room for about six keys at 80 columns: the rest are in help (?) and the palette.
    BINDINGS = [
        Binding("slash", "search", "Search", id="browser.search", tooltip="Search the text of every example"),
        Binding("n", "match(1)", "Next match", id="browser.next_match", show=False),
        Binding("N", "match(-1)", "Previous match", id="browser.previous_match", show=False),
        Binding("right_square_bracket", "problem(1)", "Next problem", id="browser.next_problem", key_display="]"),
        Binding("left_square_bracket", "problem(-1)", "Previous problem", id="browser.previous_problem", show=False, key_display="["),
        Binding("e", "first_error", "First error", id="browser.first_error", show=False),
        Binding("F", "filter", "Filter", id="browser.filter", show=False, tooltip="Filter: only examples with a finding code, errors, warnings, or roles like S U A *"),
        Binding("f", "toggle_findings", "Findings", id="browser.findings", tooltip="Findings panel: show or hide"),
        Binding("s", "toggle_stats", "Stats", id="browser.stats", show=False, tooltip="Stats panel: show or hide"),
        Binding("m", "next_model", "Base model", id="browser.model", show=False, tooltip="Base model: count tokens and cost for the next one"),
        Binding("S", "split", "Split…", id="browser.split", show=False, tooltip="Split into training and validation files, then launch"),
        Binding("G", "generate", "Generate…", id="browser.generate", show=False, tooltip="Generate new examples with a model, and review each before it enters the dataset"),
        Binding("r", "replay", "Replay", id="browser.replay", show=False, tooltip="Replay the highlighted example in the Playground: its prompt to each model, next to its answer"),
        Binding("escape", "escape", "Clear / back", id="browser.escape", show=False, tooltip="Clear the search and the filter; then back to the folder"),
    ]

    def __init__(self, path: Path, *, model: str | None = None, open_line: int | None = None) -> None:
        super().__init__()
        self.path = path
        self.open_line = open_line  # a physical line to open in the editor once the file is read (a job's failure)
        self.model = base_models.lookup(model)
        self.dataset: Dataset | None = None
        self.report: Report | None = None
        self.verdicts = Verdicts()
        self.findings: FindingsModel | None = None
        self.search: Scan | None = None
        self.filter: tuple[str, object] | None = None  # ("codes", codes) or ("roles", pattern)
        self.roles_scan: Scan | None = None
        self.progress = (0, 0)
        self._version = 0  # bumped by every change to the dataset, from whichever thread made it
        self._layout: Layout | None = None  # the current version's order of records
        self._layout_version = -1
        self._validators: dict[str, Validator] = {}
        self._validating = False
        self._rerun = False
        self._cancel = threading.Event()
        self._panels: dict[str, bool | None] = {"findings": None, "stats": None}  # None: by width
        self._prompt_mode = ""
        self._pending_change = False

    # ------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield ProfileBar("datasets")
        with Horizontal(id="browser-top"):
            yield Static(id="browser-status", markup=False)
            yield ProgressBar(id="browser-progress", show_eta=False, show_percentage=True)
        with Horizontal(id="browser-body"):
            with Vertical(id="browser-main"):
                yield ExampleList(id="examples")
                # The prompt (search, filter) takes the detail line's place: nothing else moves.
                yield Static(id="browser-detail", markup=False)
                yield Input(id="browser-prompt")
            with Horizontal(id="browser-side"):
                yield FindingsPanel(id="findings")
                yield StatsPanel(id="stats")
        yield Footer()

    @property
    def examples(self) -> ExampleList:
        return self.query_one(ExampleList)

    @property
    def findings_panel(self) -> FindingsPanel:
        return self.query_one(FindingsPanel)

    def on_mount(self) -> None:
        self._list = self.examples
        self.examples.verdicts = self.verdicts
        self.examples.focus()
        self.query_one("#browser-progress").display = False
        self.query_one(StatsPanel).show_waiting(self.model.name, "waiting for the file to open…")
        self._apply_panels()
        key = self.path.resolve()
        if key in self.app.documents:
            self._use(self.app.documents[key])
        else:
            self._status(f"{self.path.name} · opening…")
            self.open_file(key)

    def on_unmount(self) -> None:
        self._cancel.set()
        if self.dataset is not None:
            self.dataset.unlisten(self._dataset_changed)

    def on_resize(self) -> None:
        self._apply_panels()

    def _apply_panels(self) -> None:
        narrow = self.size.width < WIDE
        shown = {name: (choice if choice is not None else not narrow) for name, choice in self._panels.items()}
        self.query_one(FindingsPanel).display = shown["findings"]
        self.query_one(StatsPanel).display = shown["stats"]
        self.query_one("#browser-side").display = shown["findings"] or shown["stats"]

    def _status(self, text: str | Text) -> None:
        # One fixed line: no layout pass (it would redraw the whole screen on every key).
        self.query_one("#browser-status", Static).update(text, layout=False)

    # ------------------------------------------------------------- opening
    @work(thread=True, group="open", exit_on_error=False)
    def open_file(self, path: Path) -> None:
        open_while_indexing(path, self.post_message)

    def on_index_grew(self, message: IndexGrew) -> None:
        if self.dataset is not None:
            return
        message.rows.count = max(message.rows.count, message.count)
        if self.examples.rows is not message.rows:
            self.examples.set_rows(message.rows)
        else:
            self.examples.grown()
        if message.drawn is not None:
            self.call_after_refresh(message.drawn.set)
        self._status(f"{self.path.name} · {message.count:,} examples so far · indexing…")

    def on_opened(self, message: Opened) -> None:
        dataset = self.app.documents.setdefault(self.path.resolve(), message.dataset)
        if dataset is not message.dataset:  # someone opened it meanwhile: share theirs
            message.dataset.close()
        self._use(dataset)
        if message.rows is not None:
            message.rows.close()

    def on_open_failed(self, message: OpenFailed) -> None:
        self._status(Text(f"{self.path.name}: {message.title}", style="bold red"))
        self.query_one(StatsPanel).show_waiting(self.model.name, message.hint)
        self.notify(message.hint, title=message.title, severity="error", markup=False)

    def _use(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.app.browsed = self.path  # what the Playground saves examples into by default
        dataset.listen(self._dataset_changed)
        self._seen = dataset.pieces()
        self.examples.set_rows(dataset)
        self._validate()
        self._update_status()
        if self.open_line is not None:
            line, self.open_line = self.open_line, None
            record = dataset.record_at_line(line)
            if record is None:
                self.notify(f"Line {line} of {self.path.name} holds no example now: the file changed since the job.", severity="warning", markup=False)
            else:
                self.open_editor(record)

    # ------------------------------------------------------------- following edits
    def _dataset_changed(self, dataset: Dataset) -> None:
        """Any thread: note the change now (so no stale row is drawn), handle it on the loop."""
        self._version += 1
        self._list.stale()  # (a plain reference: no DOM query from another thread)
        self.post_message(DatasetChanged())

    def on_dataset_changed(self, message: DatasetChanged) -> None:
        if self.is_current:
            self._catch_up()
        else:
            self._pending_change = True  # the editor is on top: catch up once, when it closes

    def on_screen_resume(self) -> None:
        if self.dataset is None:
            return
        if self._pending_change or self.dataset.pieces() != self._seen:
            self._version += 1
            self._catch_up()

    def _catch_up(self) -> None:
        ds = self.dataset
        if ds is None:
            return
        self._pending_change = False
        self._seen = ds.pieces()
        # Carry the search matches and the filter over to the new order right away (rows that
        # moved keep their place in them); new scans then look at the records that changed.
        if self.search is not None:
            self._start_scan("search", self.search.query, carry=self.search)
        if self.filter is not None and self.filter[0] == "roles":
            self._start_scan("roles", self.filter[1], carry=self.roles_scan)
        elif self.filter is not None:
            self._apply_code_filter()
        self.examples.changed()
        self._validate()
        self._update_status()
        self._update_detail()

    def current_layout(self) -> Layout:
        if self._layout is None or self._layout_version != self._version:
            self._layout = Layout(self.dataset.pieces())
            self._layout_version = self._version
        return self._layout

    def to_current(self, records, layout: Layout | None) -> array:
        if layout is None or len(records) > TRANSLATE_LIMIT and layout is not self.current_layout():
            return array("q")
        return translate(records, layout, self.current_layout())

    def _show_view(self, records: array | None) -> None:
        """Filter the list to these records (of the current version), or show all."""
        self.examples.set_view(records)

    # ------------------------------------------------------------- validation
    def _validator(self) -> Validator:
        validator = self._validators.get(self.model.name)
        if validator is None:
            validator = self._validators[self.model.name] = Validator(self.dataset, self.model)
        return validator

    def _validate(self) -> None:
        if self.dataset is None:
            return
        if self._validating:
            self._rerun = True  # let the run finish: its checked ranges are kept for the next one
            return
        self._validating, self._rerun = True, False
        self._cancel = threading.Event()
        if self.report is None:
            self.query_one(StatsPanel).show_waiting(self.model.name, "counting tokens… (the stats need every example)")
        self.query_one("#browser-progress").display = True
        self.run_validation(self.dataset, self._validator(), self._version, self.current_layout(), self._cancel)

    @work(thread=True, group="validate", exit_on_error=False)
    def run_validation(self, ds: Dataset, validator: Validator, version: int, layout: Layout, cancel: threading.Event) -> None:
        check_dataset(ds, validator, version, layout, cancel, post=self.post_message, current_version=lambda: self._version)

    def on_validation_progress(self, message: ValidationProgress) -> None:
        if message.model != self.model.name:
            return
        self.progress = (message.done, message.total)
        self.query_one("#browser-progress", ProgressBar).update(progress=message.done, total=max(1, message.total))
        self._update_status()

    def on_validation_chunk(self, message: ValidationChunk) -> None:
        if message.model != self.model.name:
            return
        self.verdicts.add_chunk(message.source_id, message.lo, message.columns)
        fresh = self.findings is None or not self.findings.partial or self.findings.layout is not message.layout
        if fresh:
            self.findings = FindingsModel(message.layout, message.version, partial=True)
        self.findings.add(message.found)
        checked = (message.source_id, message.lo, message.lo + len(message.columns))
        if message.found or fresh:
            self._findings_changed()
        elif self.examples.shows_any(*checked):
            # Only marks and token counts are new, some on screen: those rows are drawn again
            # (rows are cached with their mark); a range not on screen redraws nothing, so a
            # key arriving meanwhile stays quick.
            self.examples.refresh()
            self._update_detail()
        elif self.examples.cursor_in(*checked):  # scrolled away from the cursor with the mouse
            self._update_detail()

    def on_validation_done(self, message: ValidationDone) -> None:
        if message.model != self.model.name:  # the user chose another model meanwhile
            self._validation_ended()
            return
        self.report = message.report
        self.verdicts.finish(message.layout, message.report.columns, message.flagged)
        self.findings = FindingsModel.of_report(message.layout, message.version, message.report, message.records)
        self.query_one(StatsPanel).show_stats(message.report, message.stats, message.histogram)
        self._validation_ended()
        self._findings_changed()

    def on_validation_stopped(self, message: ValidationStopped) -> None:
        if message.error is not None and message.model == self.model.name and not self._rerun:
            self.notify(message.error, title="Validation stopped", severity="error", markup=False)
        self._validation_ended()

    def _validation_ended(self) -> None:
        self._validating = False
        self.query_one("#browser-progress").display = False
        if self._rerun:
            self._validate()
        self._update_status()

    def _findings_changed(self) -> None:
        if self.filter is not None and self.filter[0] == "codes":
            self._apply_code_filter()
        self.examples.changed()
        done = self.report is not None and not self._validating
        self.findings_panel.show(self.findings, "" if done else "checking…")
        self._update_status()
        self._update_detail()

    # ------------------------------------------------------------- status lines
    def _update_status(self) -> None:
        ds = self.dataset
        if ds is None:
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.path.name, style="bold")
        text.append(f" · {len(ds):,} examples")
        if self._validating:
            done, total = self.progress
            text.append(f" · checking {done * 100 // max(1, total)}%", style="italic")
        if self.report is not None:
            text.append(f" · {self.report.valid_examples:,} valid")
            text.append(f" · ✗ {len(self.report.errors):,}", style="bold red" if self.report.errors else "green")
            text.append(f" · ! {len(self.report.warnings):,}", style="bold yellow" if self.report.warnings else "green")
        if ds.dirty:
            text.append(" · modified", style="bold")
        if self.search is not None:
            more = "" if self.search.finished else "…"
            text.append(f"  /{self.search.query}: {len(self.search.found):,}{more} match{'es' if len(self.search.found) != 1 else ''}", style="italic")
        if self.filter is not None and self.examples.view is not None:
            shown = self.filter[1] if self.filter[0] == "roles" else ", ".join(sorted(self.filter[1])) if len(self.filter[1]) < 3 else "…"
            text.append(f"  filter {shown}: {len(self.examples.view):,} shown", style="italic")
        self._status(text)

    def _update_detail(self) -> None:
        detail = self.query_one("#browser-detail", Static)
        if self.findings_panel.has_focus:
            finding = self.findings_panel.selected()
            if finding is not None:
                text = Text(no_wrap=True, overflow="ellipsis")
                text.append(f"{finding.where()}  ", style="dim")
                text.append(one_line(finding.message))
                if finding.fix:
                    text.append(f" — {one_line(finding.fix)}", style="italic")
                detail.update(text, layout=False)
                return
        record = self.examples.cursor_record
        if record is None or self.dataset is None or record >= len(self.dataset):
            detail.update("", layout=False)
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"line {self.dataset.lineno(record)} ", style="dim")
        found = self._findings_of(record)
        mark, _ = self.verdicts.at(self.dataset.identity(record))
        if found:
            first = found[0]
            text.append(MARKS[first.severity] + " ", style="bold red" if first.severity == "error" else "bold yellow")
            text.append(f"{first.code}: ", style="bold")
            text.append(one_line(first.message))
            if len(found) > 1:
                text.append(f"  (+{len(found) - 1} more)", style="dim")
        elif mark is None:
            text.append("not checked yet", style="dim italic")
        else:
            text.append("no problems", style="dim")
            self._point_to_first_error(text)
        detail.update(text, layout=False)

    def _point_to_first_error(self, text: Text) -> None:
        """On a clean row, say where the first error is (the panels may be closed at 80×24)."""
        errors = self._problems(error_codes())
        if not len(errors) or self.findings is None:
            return
        record = errors[0]
        first = next((f for f in self._findings_of(record) if f.severity == "error"), None)
        if first is not None:
            text.append(" · first error: ", style="dim")
            text.append(f"line {self.dataset.lineno(record)} {first.code}", style="bold")
            text.append(" (e)", style="dim")

    def _findings_of(self, record: int) -> list[Finding]:
        model = self.findings
        if model is None or self.dataset is None:
            return []
        if model.layout is not self.current_layout():
            found = model.layout.index(self.dataset.identity(record))
            if found is None:
                return []
            record = found
        return model.by_record.get(record, [])

    @on(ExampleList.CursorMoved)
    def _cursor_moved(self) -> None:
        self._update_detail()

    @on(FindingsPanel.Selected)
    def _finding_selected(self) -> None:
        self._update_detail()

    # ------------------------------------------------------------- moving between problems
    def _problems(self, codes: frozenset[str] | None = None) -> array:
        if self.findings is None:
            return array("q")
        return self.to_current(self.findings.records(codes), self.findings.layout)

    def _step(self, records, direction: int, what: str) -> None:
        here = self.examples.cursor_record
        if here is None:
            return
        at = bisect_right(records, here) if direction > 0 else bisect_left(records, here) - 1
        if 0 <= at < len(records):
            self._show_record(records[at])
        else:
            self.notify(f"No {what} {'below' if direction > 0 else 'above'}.", timeout=2)

    def _show_record(self, record: int) -> None:
        view = self.examples.view
        if view is not None:
            at = bisect_left(view, record)
            if at >= len(view) or view[at] != record:
                self._clear_filter()
        self.examples.go_to_record(record)

    def action_problem(self, direction: int) -> None:
        self._step(self._problems(), direction, "problems")

    def action_split(self) -> None:
        if getattr(self, "dataset", None) is None:
            return
        from tui.screens.split import SplitScreen

        # The report is reused when it is current; the split screen checks again otherwise.
        current = self.report if self.report is not None and not self._validating else None
        self.app.push_screen(SplitScreen(self.dataset, current))

    def action_replay(self) -> None:
        record = self.examples.cursor_record
        if getattr(self, "dataset", None) is None or record is None or record >= len(self.dataset):
            return
        # The document's version of it, saved or not (the Playground reads the same document).
        self.app.run_worker(self.app.replay_in_playground(self.path, self.dataset.lineno(record)), group="replay", exit_on_error=False)

    def action_generate(self) -> None:
        if getattr(self, "dataset", None) is None:
            return
        from tui.screens.generate import GenerateScreen

        self.app.push_screen(GenerateScreen(self.path))

    def action_first_error(self) -> None:
        errors = self._problems(error_codes())
        if len(errors):
            self._show_record(errors[0])
        else:
            self.notify("No errors" + (" found so far." if self._validating else "."), timeout=2)

    def action_match(self, direction: int) -> None:
        if self.search is None:
            self.notify("No search: press / to search.", timeout=2)
            return
        self._step(self.search.found, direction, "matches")

    @on(FindingsPanel.Jump)
    def _jump(self, message: FindingsPanel.Jump) -> None:
        if self.dataset is None:
            return
        if message.record is not None:
            found = self.to_current([message.record], self.findings.layout)
            if not len(found):
                self.notify("That example has changed since it was checked.", timeout=3)
                return
            self._show_record(found[0])
        elif message.line is not None:
            record = self.dataset.record_at_line(message.line)
            if record is not None:
                self._show_record(record)

    @on(FindingsPanel.FilterCode)
    def _filter_code(self, message: FindingsPanel.FilterCode) -> None:
        self._set_filter(("codes", frozenset({message.code})))

    @on(ExampleList.Chosen)
    def _chosen(self, message: ExampleList.Chosen) -> None:
        self.open_editor(message.record)

    def open_editor(self, record: int) -> None:
        if self.dataset is None:
            self.notify("The file is still opening.", timeout=2)
            return
        try:
            from tui.screens.editor import EditorScreen
        except ModuleNotFoundError as error:
            if error.name != "tui.screens.editor":
                raise
            self.notify("The example editor is not built yet.", severity="warning", timeout=3)
            return
        self.app.push_screen(EditorScreen(self.dataset, record, model=self.model.name))

    # ------------------------------------------------------------- search and filter
    def action_search(self) -> None:
        self._open_prompt("search", self.search.query if self.search else "", "/ search the examples' text — Enter: go to the first match, Esc: clear")

    def action_filter(self) -> None:
        current = ""
        if self.filter is not None:
            current = self.filter[1] if self.filter[0] == "roles" else next(iter(self.filter[1])) if len(self.filter[1]) == 1 else ""
        self._open_prompt("filter", current, "filter: a finding code, errors, warnings, or roles like S U A *")

    def _open_prompt(self, mode: str, value: str, placeholder: str) -> None:
        if self.dataset is None:
            self.notify("The file is still opening.", timeout=2)
            return
        prompt = self.query_one("#browser-prompt", Input)
        self._prompt_mode = mode
        prompt.suggester = SuggestFromList(sorted(CODES) + ["errors", "warnings"]) if mode == "filter" else None
        prompt.placeholder = placeholder
        prompt.value = value
        self.query_one("#browser-detail").display = False
        prompt.display = True
        prompt.focus()

    def _close_prompt(self) -> None:
        prompt = self.query_one("#browser-prompt", Input)
        prompt.display = False
        self.query_one("#browser-detail").display = True
        self._prompt_mode = ""
        self.examples.focus()

    @on(Input.Changed, "#browser-prompt")
    def _prompt_changed(self, event: Input.Changed) -> None:
        if self._prompt_mode == "search":
            self._set_search(event.value)

    @on(Input.Submitted, "#browser-prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        mode = self._prompt_mode
        self._close_prompt()
        if mode == "search":
            if self.search is not None and len(self.search.found):
                here = self.examples.cursor_record or 0
                at = bisect_left(self.search.found, here)
                self._show_record(self.search.found[at] if at < len(self.search.found) else self.search.found[0])
        elif mode == "filter":
            if not event.value.strip():
                self._clear_filter()
                return
            parsed = parse_filter(event.value)
            if isinstance(parsed, str):
                self.notify(parsed, title="Filter", severity="warning", markup=False)
            else:
                self._set_filter(parsed)

    def _set_search(self, query: str) -> None:
        if not query.strip():
            self.search = None
            self.examples.matches = None
            self.examples.highlight = ""
            self.workers.cancel_group(self, "scan-search")
        else:
            self.examples.highlight = query.lower()
            self._start_scan("search", query)
        self.examples.changed()
        self._update_status()

    def _set_filter(self, spec: tuple[str, object]) -> None:
        self.filter = spec
        if spec[0] == "codes":
            self._apply_code_filter()
        else:
            self._start_scan("roles", spec[1])
        self._update_status()

    def _apply_code_filter(self) -> None:
        self._show_view(self._problems(self.filter[1]))

    def _clear_filter(self) -> None:
        self.filter = None
        self.roles_scan = None
        self.workers.cancel_group(self, "scan-roles")
        self._show_view(None)
        self._update_status()

    def _start_scan(self, kind: str, query: str, carry: Scan | None = None) -> None:
        """Look through every record in a worker; `carry`: the same scan before an edit."""
        scan = Scan(kind, query)
        if carry is not None and carry.layout is not None and len(carry.found) <= TRANSLATE_LIMIT:
            scan.found, scan.carried = translate(carry.found, carry.layout, self.current_layout()), True
        scan.layout = self.current_layout()
        if kind == "search":
            self.search = scan
            self.examples.matches = scan.found
        else:
            self.roles_scan = scan
            self._show_view(scan.found)
        test = search_test(query) if kind == "search" else roles_test(query)
        work = partial(scan_records, kind, query, test, self.dataset.pieces(), len(self.dataset), self._version, post=self.post_message, current_version=lambda: self._version)
        self.run_worker(work, thread=True, group=f"scan-{kind}", exclusive=True, exit_on_error=False)

    def on_scan_progress(self, message: ScanProgress) -> None:
        scan = self.search if message.kind == "search" else self.roles_scan
        if scan is None or scan.query != message.query or message.version != self._version:
            return
        if scan.carried:  # this scan's own results replace the ones carried over the edit
            scan.found, scan.carried = array("q"), False
        scan.found.extend(message.found)
        scan.done, scan.total, scan.finished = message.done, message.total, message.finished
        if message.kind == "roles":
            self._show_view(scan.found)
        else:
            self.examples.matches = scan.found
            self.examples.changed()
        self._update_status()

    # ------------------------------------------------------------- panels and the rest
    def _toggle(self, name: str, widget_id: str) -> None:
        widget = self.query_one(widget_id)
        showing = not widget.display
        self._panels[name] = showing
        self._apply_panels()
        if showing and widget.can_focus:
            widget.focus()
        elif not showing:
            self.examples.focus()

    def action_toggle_findings(self) -> None:
        self._toggle("findings", "#findings")

    def action_toggle_stats(self) -> None:
        self._toggle("stats", "#stats")

    def action_next_model(self) -> None:
        names = list(base_models.MODELS)
        self.model = base_models.MODELS[names[(names.index(self.model.name) + 1) % len(names)]]
        self._cancel.set()  # results for the other model are of no use now
        self.verdicts.clear()
        self.report = None
        self.findings = None
        self.query_one(StatsPanel).show_waiting(self.model.name, "counting tokens…")
        self.notify(f"Counting tokens and cost for {self.model.name}", timeout=2, markup=False)
        if self._validating:
            self._rerun = True
        else:
            self._validate()
        self._findings_changed()

    def action_escape(self) -> None:
        if self._prompt_mode:
            if self._prompt_mode == "search":
                self._set_search("")
            self._close_prompt()
        elif self.search is not None or self.filter is not None:
            self._set_search("")
            self._clear_filter()
        elif len(self.app.screen_stack) > 1:
            self.dismiss()
