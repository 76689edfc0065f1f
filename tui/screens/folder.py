"""A folder of JSONL files: size, examples, format and problem counts, filled in the background."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from core.dataset import DatasetError, open_dataset, validate
from tui.widgets.profile_bar import ProfileBar
from tui.widgets.tables import highlighted_key

COLUMNS = ("file", "size", "examples", "format", "errors", "warnings")


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n} B"


@dataclass
class FileChecked(Message):
    """A worker finished looking at one file (`problem` says why it could not)."""

    path: Path
    examples: int = 0
    format: str = ""
    errors: int = 0
    warnings: int = 0
    problem: str | None = None


FORMAT_WIDTH = len("preference")  # the longest format name: empty, chat, preference, mixed, unknown


class FolderScreen(Screen):
    BINDINGS = [
        # priority: the table's own (hidden) enter binding would otherwise hide this one
        Binding("enter", "open", "Open", id="folder.open", priority=True),
        Binding("r", "rescan", "Rescan", id="folder.rescan"),
    ]

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def compose(self) -> ComposeResult:
        yield ProfileBar("datasets")
        yield Static(id="folder-title", markup=False)
        yield DataTable(id="files", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        self.action_rescan()

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.suffix == ".jsonl" and p.is_file())

    def action_rescan(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        found = self.files()
        self.query_one("#folder-title", Static).update(
            # The folder as the user named it: short, and the same on every machine.
            f" {self.folder if str(self.folder) != '.' else Path.cwd()} — {len(found)} JSONL file{'s' if len(found) != 1 else ''}"
            + ("" if found else " (open a file with: tunedeck PATH.jsonl)")
        )
        for path in found:
            # The format placeholder is as wide as the widest format, so the column does not widen
            # when the answer comes: Textual's cell cache does not key on width, and a cell drawn
            # between the update and the new width would stay cut ("prefer").
            table.add_row(Text(path.name), human_size(path.stat().st_size), "…", "…".ljust(FORMAT_WIDTH), "…", "…", key=str(path))
        if found:
            self.check(found)

    @work(thread=True, exclusive=True, group="folder-scan", exit_on_error=False)
    def check(self, paths: list[Path]) -> None:
        for path in paths:
            try:
                ds = open_dataset(path)
                try:
                    report = validate(ds)
                finally:
                    ds.close()
            except DatasetError as exc:
                self.post_message(FileChecked(path, problem=exc.title))
                continue
            self.post_message(FileChecked(path, len(ds), report.format, len(report.errors), len(report.warnings)))

    def on_file_checked(self, message: FileChecked) -> None:
        table = self.query_one(DataTable)
        row = str(message.path)
        if row not in table.rows:
            return
        if message.problem:
            table.update_cell(row, "format", Text(message.problem, style="red"), update_width=True)
            return
        cells = {
            "examples": f"{message.examples:,}",
            "format": message.format,
            "errors": Text(f"{message.errors:,}", style="bold red" if message.errors else "green"),
            "warnings": Text(f"{message.warnings:,}", style="yellow" if message.warnings else "green"),
        }
        for column, value in cells.items():
            table.update_cell(row, column, value, update_width=True)

    def action_open(self) -> None:
        key = highlighted_key(self.query_one(DataTable))
        if key is None:
            return
        from tui.screens.browser import BrowserScreen

        self.app.push_screen(BrowserScreen(Path(key)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()
