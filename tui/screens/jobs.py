"""The Jobs section: every job of the active profile, live, newest first; Enter opens one.

The rows come from the app's JobsFeed (the service's list merged with local state, then the
watcher's updates), so this screen only draws: it never talks to the network itself.
"""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.widgets.data_table import ColumnKey

from core.clock import ago
from core.service.tracking import ACTIVE, JobView
from tui.jobs_feed import Change
from tui.widgets.job_status import progress_text, status_text, tokens
from tui.widgets.profile_bar import ProfileBar
from tui.widgets.tables import highlighted_key

# (key, title) — the order a person scans a row in: state first, the id last.
COLUMNS = (
    ("status", "Status"),
    ("suffix", "Suffix"),
    ("age", "Age"),
    ("progress", "Progress"),
    ("dataset", "Dataset"),  # before the base model, often the same in every row
    ("model", "Base model"),
    ("tokens", "Tokens"),
    ("tuned", "Tuned model"),
    ("id", "Job"),
)
# What `f` cycles through: everything, then each group a person asks for.
FILTERS: tuple[tuple[str, str], ...] = (("all", "all jobs"), ("active", "active"), ("succeeded", "succeeded"), ("failed", "failed"), ("cancelled", "cancelled"))


def matches(view: JobView, wanted: str) -> bool:
    if wanted == "all":
        return True
    if wanted == "active":
        return view.status in ACTIVE
    return view.status == wanted


def row_cells(view: JobView, now: float) -> dict[str, object]:
    dataset = view.dataset or ""
    return {
        "status": status_text(view.status),
        "suffix": view.suffix or "",
        "age": ago(view.created_at, now) if view.created_at else "",
        "progress": progress_text(view),
        "model": view.model,
        "dataset": Path(dataset).name if "/" in dataset else dataset,
        "tokens": tokens(view.trained_tokens),
        "tuned": view.fine_tuned_model or "",
        "id": view.job_id,
    }


class JobsScreen(Screen):
    DEFAULT_CSS = """
    JobsScreen { layout: vertical; }
    #jobs-status { height: 1; padding: 0 1; background: $boost; }
    #jobs-table { height: 1fr; }
    #jobs-empty { padding: 1 2; color: $text-muted; display: none; }
    JobsScreen.-empty #jobs-empty { display: block; }
    JobsScreen.-empty #jobs-table { display: none; }
    """
    BINDINGS = [
        Binding("enter", "open", "Open", id="jobs.open"),
        Binding("f", "filter", "Filter", tooltip="Show all jobs, active ones, succeeded, failed or cancelled", id="jobs.filter"),
        Binding("o", "order", "Order", tooltip="Newest first, or oldest first", id="jobs.order"),
        Binding("r", "refresh", "Refresh", tooltip="Read the service's list now", id="jobs.refresh"),
        Binding("F", "files", "Files", tooltip="Uploaded files and tuned models; delete them", id="jobs.files"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.wanted = "all"
        self.newest_first = True
        self._dirty: set[str] = set()  # jobs whose row is to be drawn again
        self._rebuild_due = False
        self._redraw = None  # the pending timer
        self._drawn: dict[str, dict] = {}  # job id -> the cells on screen

    def compose(self) -> ComposeResult:
        yield ProfileBar("jobs")
        yield Static(id="jobs-status", markup=False)
        table = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        for key, title in COLUMNS:
            table.add_column(title, key=key)
        yield table
        yield Static(id="jobs-empty", markup=False)
        yield Footer()

    @property
    def feed(self):
        return self.app.jobs_feed

    @property
    def table(self) -> DataTable:
        return self.query_one("#jobs-table", DataTable)

    def on_mount(self) -> None:
        self.feed.start()
        self.feed.changed.subscribe(self, self._changed)
        self._rebuild()
        self.set_interval(30, self._rebuild)  # ages move on

    def on_screen_resume(self) -> None:
        self.feed.refresh_if_stale()
        self._rebuild()

    # drawing

    def _views(self) -> list[JobView]:
        views = [v for v in self.feed.board.rows() if matches(v, self.wanted)]
        return views if self.newest_first else views[::-1]

    def _rebuild(self) -> None:
        table = self.table
        keep = self.selected()
        scrolled = table.scroll_x  # clear() scrolls back to the left; a user reading the right stays there
        now = self.app.clock.now()
        views = self._views()
        table.clear()
        self._drawn = {}
        for view in views:
            cells = row_cells(view, now)
            table.add_row(*(cells[key] for key, _ in COLUMNS), key=view.job_id)
            self._drawn[view.job_id] = cells
        if keep is not None and keep in {v.job_id for v in views}:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        table.scroll_to(x=scrolled, animate=False, immediate=True)
        self.set_class(not views, "-empty")
        self.query_one("#jobs-empty", Static).update(self._empty_text())
        self._update_status(views)

    def _changed(self, change: Change) -> None:
        """Note what changed; draw it at most every REDRAW seconds (a poll of a running job brings
        dozens of events at once, and each would otherwise redraw the row)."""
        if change.job is None:
            self._rebuild_due = True
        else:
            self._dirty.add(change.job.job_id)
        if self._redraw is None:
            self._redraw = self.set_timer(REDRAW, self._redraw_now)

    def _redraw_now(self) -> None:
        self._redraw = None
        dirty, self._dirty = self._dirty, set()
        table = self.table
        board = self.feed.board
        # Rebuilt only when a row must come or go; a change inside a row redraws its cells.
        if self._rebuild_due or any((job_id in table.rows) != matches(board.views[job_id], self.wanted) for job_id in dirty):
            self._rebuild_due = False
            self._rebuild()
            return
        now = self.app.clock.now()
        for job_id in dirty:
            if job_id not in table.rows:
                continue  # filtered out, and still so
            cells = row_cells(board.views[job_id], now)
            drawn = self._drawn.get(job_id, {})
            for key, _ in COLUMNS:
                if key != "age" and drawn.get(key) != cells[key]:
                    # Measuring a column again costs a layout of the screen: only when it must grow.
                    wider = cell_len(str(cells[key])) > table.columns[ColumnKey(key)].content_width
                    table.update_cell(job_id, key, cells[key], update_width=wider)
            self._drawn[job_id] = cells
        self._update_status(None)

    def _update_status(self, views: list[JobView] | None) -> None:
        feed = self.feed
        shown = len(views) if views is not None else self.table.row_count
        total = len(feed.board.views)
        active = len(feed.board.active())
        line = Text()
        line.append(f"{shown} of {total} jobs" if self.wanted != "all" else f"{total} job{'s' if total != 1 else ''}")
        if self.wanted != "all":
            line.append(f" ({FILTERS_BY[self.wanted]})", style="bold")
        if active:
            line.append(f" · {active} active")
        line.append(" · ")
        line.append(feed.status, style="green" if feed.status == "live" else "yellow")
        if self.app.active.profile.kind == "emulator":
            line.append(" · emulated: no real model is trained", style="dim")
        self.query_one("#jobs-status", Static).update(line)

    def _empty_text(self) -> str:
        if not self.feed.listed:
            return f"Reading the jobs of profile {self.app.active.profile.name}… ({self.feed.status})"
        if self.feed.board.views:
            return f"No {FILTERS_BY[self.wanted]} jobs. Press f to show others."
        return (
            f"No jobs yet on profile {self.app.active.profile.name}.\n\n"
            "Start one from a dataset: open it (1), split it (S), then launch (L)."
        )

    # actions

    def selected(self) -> str | None:
        return highlighted_key(self.table)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open(event.row_key.value)

    def action_open(self) -> None:
        if (job_id := self.selected()) is not None:
            self._open(job_id)

    def _open(self, job_id: str) -> None:
        from tui.screens.job import JobScreen

        self.app.push_screen(JobScreen(job_id))

    def action_filter(self) -> None:
        keys = [key for key, _ in FILTERS]
        self.wanted = keys[(keys.index(self.wanted) + 1) % len(keys)]
        self._rebuild()

    def action_order(self) -> None:
        self.newest_first = not self.newest_first
        self._rebuild()
        self.notify("Newest first" if self.newest_first else "Oldest first", timeout=2)

    def action_refresh(self) -> None:
        if self.feed.conn is None:
            self.notify(f"Not connected: {self.feed.status}", timeout=4, markup=False)
            return
        self.feed.refresh_if_stale(fresh=0.0)

    def action_files(self) -> None:
        from tui.screens.files import FilesScreen

        self.app.push_screen(FilesScreen())


FILTERS_BY = dict(FILTERS)
# Seconds between two redraws of live changes: a list needs no more, and each redraw renders every
# visible row again (about 50 ms for 20 rows of 9 columns), time a keypress would wait behind.
REDRAW = 1.0
