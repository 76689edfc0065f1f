"""Files and models of the Jobs section: uploaded files and tuned models, and deleting them (after asking).

What is listed comes from the service (read in a worker over the JobsFeed's connection); which
job used a file or made a model comes from the feed's JobBoard, so those columns follow the
jobs as they are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from core.clock import ago
from core.service import watch
from core.service.errors import NotFound, ServiceError, translate
from core.service.tracking import JobView
from tui.jobs_feed import Change
from tui.screens.confirm import ConfirmScreen
from tui.widgets.profile_bar import ProfileBar
from tui.widgets.tables import highlighted_key

if TYPE_CHECKING:
    from openai.types import FileObject, Model

MOST_JOBS_SHOWN = 3  # the jobs column names this many, then "+N"
NARROWEST = 16  # a name or model id is never cut shorter than this; the table scrolls instead
JOBS_WIDTH = 20  # the jobs named in a row, cut to this, leave the name its room
_CHECKPOINT = re.compile(r"^(?P<model>ft:.+):ckpt-step-(?P<step>\d+)$")

# "Jobs": those that trained on a file, or the one whose results it holds (its purpose says which).
# Status comes last: nearly always "processed", it is the column to lose when the table scrolls.
FILE_COLUMNS = (("name", "Name"), ("size", "Size"), ("purpose", "Purpose"), ("created", "Created"), ("jobs", "Jobs"), ("status", "Status"))
MODEL_COLUMNS = (("id", "Tuned model"), ("created", "Created"), ("job", "Made by job"))
FILE_STATUS_STYLE = {"processed": "green", "error": "red", "deleted": "dim"}


# -- what a cell says ---------------------------------------------------------------------------


def size_text(n: int | None) -> str:
    """Decimal units, as the service and file managers count: '812 B', '12.3 kB', '1.4 MB'."""
    if n is None:
        return ""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.95 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def job_name(view: JobView) -> str:
    """A job in a narrow column: its suffix, else the start of its id."""
    if view.suffix:
        return view.suffix
    return view.job_id if len(view.job_id) <= 14 else view.job_id[:12] + "…"


def files_of(view: JobView) -> tuple[str | None, str | None]:
    """(training file, validation file) of a job: the service's word, else TuneDeck's record."""
    if view.job is not None:
        return view.job.training_file, view.job.validation_file
    if view.record is not None:
        return view.record.training_file, view.record.validation_file
    return None, None


def users_of(file_id: str, views: list[JobView]) -> list[JobView]:
    return [v for v in views if file_id in files_of(v)]


def results_of(file_id: str, views: list[JobView]) -> list[JobView]:
    """The job whose result file (its per-step metrics) this is."""
    return [v for v in views if v.job is not None and file_id in (v.job.result_files or ())]


def fit(text: str, width: int) -> str:
    """`text` in `width` cells, cut in the middle: both a file's extension and a model's code stay."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def maker_of(model_id: str, views: list[JobView]) -> tuple[JobView | None, int | None]:
    """The job that made a tuned model (and the step, for a checkpoint's model)."""
    match = _CHECKPOINT.match(model_id)
    final, step = (match["model"], int(match["step"])) if match else (model_id, None)
    return next((v for v in views if v.fine_tuned_model == final), None), step


def names(views: list[JobView]) -> str:
    shown = list(dict.fromkeys(job_name(v) for v in views))
    more = len(shown) - MOST_JOBS_SHOWN
    return ", ".join(shown[:MOST_JOBS_SHOWN]) + (f" +{more}" if more > 0 else "")


# -- messages from workers ----------------------------------------------------------------------


@dataclass
class Doing(Message):
    text: str  # "connecting…", "reading…", "deleting …"


@dataclass
class Listed(Message):
    files: list[FileObject]  # newest first
    models: list[Model]  # tuned ones only, newest first


@dataclass
class ReadFailed(Message):
    title: str
    hint: str


@dataclass
class Deleted(Message):
    kind: str  # "file" | "model"
    id: str
    name: str
    already: bool = False  # the service no longer had it
    note: str = ""  # something to add, said with the notice


@dataclass
class DeleteFailed(Message):
    id: str
    name: str
    title: str
    hint: str


class FilesScreen(Screen):
    DEFAULT_CSS = """
    FilesScreen { layout: vertical; }
    #files-status { height: 1; padding: 0 1; background: $boost; }
    .files-title { height: 1; padding: 0 1; text-style: bold; color: $text-accent; }
    #files-table { height: 3fr; min-height: 4; }
    #models-table { height: 2fr; min-height: 3; }
    """
    BINDINGS = [
        Binding("x,delete", "delete", "Delete", tooltip="Delete the highlighted file or tuned model (asks first)", id="files.delete"),
        Binding("r", "refresh", "Refresh", tooltip="Read the files and tuned models again", id="files.refresh"),
        Binding("escape", "back", "Back", tooltip="Back to the jobs list", id="files.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, FileObject] = {}  # by id, as last read
        self.models: dict[str, Model] = {}
        self.read_once = False
        self.doing = ""
        self.problem: Text | None = None
        self._deleting: set[str] = set()

    def compose(self) -> ComposeResult:
        yield ProfileBar("jobs")
        yield Static(id="files-status", markup=False)
        yield Static(id="files-title", classes="files-title", markup=False)
        files = DataTable(id="files-table", cursor_type="row", zebra_stripes=True)
        for key, title in FILE_COLUMNS:
            files.add_column(title, key=key)
        yield files
        yield Static(id="models-title", classes="files-title", markup=False)
        models = DataTable(id="models-table", cursor_type="row", zebra_stripes=True)
        for key, title in MODEL_COLUMNS:
            models.add_column(title, key=key)
        yield models
        yield Footer()

    @property
    def feed(self):
        return self.app.jobs_feed

    @property
    def files_table(self) -> DataTable:
        return self.query_one("#files-table", DataTable)

    @property
    def models_table(self) -> DataTable:
        return self.query_one("#models-table", DataTable)

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw)  # the tables have their new width by then

    def on_mount(self) -> None:
        self.feed.changed.subscribe(self, self._jobs_changed)
        self._draw()
        self.files_table.focus()
        self.read()
        self.set_interval(30, self._draw)  # ages move on

    # network work: workers post messages, the handlers below draw

    async def _connection(self):
        if self.feed.conn is None:
            self.post_message(Doing("connecting…"))
        try:
            return await self.feed.connection()
        except ServiceError as error:
            self.post_message(ReadFailed(error.title, error.hint))
            return None

    @work(group="files-read", exclusive=True, exit_on_error=False)
    async def read(self) -> None:
        conn = await self._connection()
        if conn is None:
            return
        self.post_message(Doing("reading…"))
        try:
            files = [f async for f in conn.client.files.list()]
            models = [m async for m in conn.client.models.list() if m.id.startswith("ft:")]
        except Exception as exc:
            error = translate(exc, base_url=conn.base_url)
            self.post_message(ReadFailed(error.title, error.hint))
            return
        files.sort(key=lambda f: f.created_at, reverse=True)
        models.sort(key=lambda m: m.created, reverse=True)
        self.post_message(Listed(files, models))

    @work(group="files-delete", exit_on_error=False)
    async def delete(self, kind: str, item_id: str, name: str) -> None:
        conn = await self._connection()
        if conn is None:
            self.post_message(DeleteFailed(item_id, name, "Not connected", self.feed.status))
            return
        self.post_message(Doing(f"deleting {name}…"))
        already = False
        try:
            if kind == "file":
                await conn.client.files.delete(item_id)
            else:
                await conn.client.models.delete(item_id)
        except Exception as exc:
            error = translate(exc, base_url=conn.base_url)
            if not isinstance(error, NotFound):  # gone is what was asked for
                self.post_message(DeleteFailed(item_id, name, error.title, error.hint))
                return
            already = True
        note = ""
        if kind == "file":
            try:
                self.feed.state.forget_upload(conn.profile.identity, item_id)  # the next launch uploads the bytes again
            except Exception as exc:  # only a shortcut is lost: the next launch looks the file up, finds it gone, uploads
                note = f"\nIts local upload record was kept: {exc}"
        self.post_message(Deleted(kind, item_id, name, already, note))

    def on_doing(self, message: Doing) -> None:
        self.doing = message.text
        self._draw_status()

    def on_listed(self, message: Listed) -> None:
        self.files = {f.id: f for f in message.files}
        self.models = {m.id: m for m in message.models}
        self.read_once = True
        self.doing = ""
        self.problem = None
        self._draw()

    def on_read_failed(self, message: ReadFailed) -> None:
        self.doing = ""
        self.problem = Text(f"⚠ not read: {message.title}" + (f" — {message.hint}" if message.hint else ""), style="red")
        self._draw_status()

    def on_deleted(self, message: Deleted) -> None:
        self._deleting.discard(message.id)
        (self.files if message.kind == "file" else self.models).pop(message.id, None)
        self.doing = ""
        self._draw()
        what = "File" if message.kind == "file" else "Tuned model"
        self.notify(message.name + message.note, title=f"{what} {'was already gone' if message.already else 'deleted'}", timeout=5, markup=False)
        self.read()

    def on_delete_failed(self, message: DeleteFailed) -> None:
        self._deleting.discard(message.id)
        self.doing = ""
        self._draw_status()
        self.notify(message.hint or message.title, title=f"{message.name} not deleted: {message.title}", severity="error", markup=False)

    def _jobs_changed(self, change: Change) -> None:
        # A metric point changes no file or model; a new job, its end or a fresh list may.
        if change.job is None or change.update is None or isinstance(change.update, (watch.StatusChanged, watch.Finished)):
            self._draw()

    # drawing

    def _draw(self) -> None:
        views = list(self.feed.board.views.values())
        views.sort(key=lambda v: v.created_at, reverse=True)
        now = self.app.clock.now()
        self._fill(self.files_table, FILE_COLUMNS, [(f.id, self._file_cells(f, views, now)) for f in self.files.values()], "name")
        self._fill(self.models_table, MODEL_COLUMNS, [(m.id, self._model_cells(m, views, now)) for m in self.models.values()], "id")
        self.query_one("#files-title", Static).update(self._title("Files", len(self.files), "none uploaded yet; a launch uploads its dataset"))
        self.query_one("#models-title", Static).update(self._title("Tuned models", len(self.models), "none yet; a job that succeeds makes one"))
        self._draw_status()

    def _title(self, what: str, count: int, empty: str) -> Text:
        line = Text(what)
        if self.read_once:
            line.append(f" · {count}" if count else f" · {empty}", style="not bold dim")
        return line

    @staticmethod
    def _fill(table: DataTable, columns, rows: list[tuple[str, dict]], wide: str) -> None:
        """Replace the rows, keeping the highlighted one; the `wide` column is cut to fit the width."""
        keep = highlighted_key(table)
        if table.size.width and rows:
            others = sum(max(len(title), *(cells[key].cell_len for _, cells in rows)) for key, title in columns if key != wide)
            padding = 2 * table.cell_padding * len(columns) + table.styles.scrollbar_size_vertical
            room = max(NARROWEST, table.size.width - others - padding)
            for _, cells in rows:
                cells[wide] = Text(fit(cells[wide].plain, room), style=cells[wide].style)
        table.clear()
        for key, cells in rows:
            table.add_row(*(cells[c] for c, _ in columns), key=key)
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)

    @staticmethod
    def _file_cells(file, views: list[JobView], now: float) -> dict[str, Text]:
        status = file.status or ""
        return {
            "name": Text(file.filename or file.id),
            "size": Text(size_text(file.bytes), justify="right"),
            "purpose": Text(file.purpose or ""),
            "created": Text(ago(file.created_at, now) if file.created_at else ""),
            "status": Text(status, style=FILE_STATUS_STYLE.get(status, "yellow")),
            "jobs": Text(fit(names(users_of(file.id, views) + results_of(file.id, views)), JOBS_WIDTH)),
        }

    @staticmethod
    def _model_cells(model, views: list[JobView], now: float) -> dict[str, Text]:
        maker, step = maker_of(model.id, views)
        made_by = job_name(maker) if maker else ""
        if step is not None:
            made_by = f"{made_by} (step {step})".strip()
        return {
            "id": Text(model.id),
            "created": Text(ago(model.created, now) if model.created else ""),
            "job": Text(fit(made_by, JOBS_WIDTH)),
        }

    def _draw_status(self) -> None:
        line = Text()
        if self.read_once:
            files, models = len(self.files), len(self.models)
            line.append(f"{files} file{'s' if files != 1 else ''} · {models} tuned model{'s' if models != 1 else ''}")
        if self.doing:
            line.append(" · " if line else "")
            line.append(self.doing, style="yellow")
        if self.problem is not None:
            line.append(" · " if line else "")
            line.append_text(self.problem)
        if not line:
            line.append("reading…", style="yellow")
        self.query_one("#files-status", Static).update(line)

    # actions

    def action_delete(self) -> None:
        table = self.focused if isinstance(self.focused, DataTable) else None
        item_id = highlighted_key(table) if table is not None else None
        if item_id is None:
            self.notify("Highlight a file or a tuned model first.", timeout=3)
            return
        if item_id in self._deleting:
            return
        if table is self.files_table:
            question = self._file_question(item_id)
        else:
            question = self._model_question(item_id)
        if question is None:
            return
        kind, name, title, body, yes = question

        def answered(yes_: bool | None) -> None:
            if yes_:
                self._deleting.add(item_id)
                self.delete(kind, item_id, name)

        self.app.push_screen(ConfirmScreen(title, body, yes, no="Keep it", danger=True), answered)

    def _file_question(self, file_id: str):
        file = self.files.get(file_id)
        if file is None:
            return None
        name = file.filename or file_id
        views = sorted(self.feed.board.views.values(), key=lambda v: v.created_at, reverse=True)
        users, made = users_of(file_id, views), results_of(file_id, views)
        if made and not users:
            effect = f"The results of job {names(made)}: its metrics can no longer be saved as CSV; the job stays listed."
        else:
            used = f"Used by jobs: {', '.join(dict.fromkeys(job_name(v) for v in users))}." if users else "No job listed here used it."
            again = "; a new launch will upload it again." if file.purpose == "fine-tune" else "."
            effect = f"{used} Jobs that used it keep their results{again}"
        body = f"{file_id} · {size_text(file.bytes)} · {file.purpose}\n\n{effect}"
        return "file", name, f"Delete the file {name}?", body, "Delete the file"

    def _model_question(self, model_id: str):
        if model_id not in self.models:
            return None
        maker, _ = maker_of(model_id, list(self.feed.board.views.values()))
        made = f"Made by job {job_name(maker)}. " if maker else ""
        body = f"{model_id}\n\n{made}It can no longer be chatted with or used for inference; its job stays listed."
        return "model", model_id, "Delete this tuned model?", body, "Delete the model"

    def action_refresh(self) -> None:
        self.problem = None
        self.read()

    def action_back(self) -> None:
        self.app.pop_screen()

