"""Which dataset example to replay in the playground: a file and a line."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class ReplayAskScreen(ModalScreen[tuple[Path, int] | None]):
    DEFAULT_CSS = """
    ReplayAskScreen { align: center middle; }
    ReplayAskScreen > Vertical { width: 80; max-width: 100%; height: auto; border: thick $primary; background: $surface; padding: 0 1; }
    ReplayAskScreen .title { text-style: bold; }
    ReplayAskScreen .hint { color: $text-muted; }
    ReplayAskScreen Horizontal { height: 1; margin-top: 1; }
    ReplayAskScreen Horizontal Static { width: 9; }
    ReplayAskScreen Input, ReplayAskScreen Input:focus { border: none; height: 1; padding: 0 1; width: 1fr; background: $boost; }
    ReplayAskScreen #replay-problem { color: $text-error; height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="replay.cancel")]

    def __init__(self, path: Path | None) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Replay a dataset example", classes="title")
            yield Static("Its prompt (up to its last assistant turn) goes to every model; its answer is shown beside them.", classes="hint")
            with Horizontal():
                yield Static("dataset")
                yield Input(str(self.path or ""), id="replay-path", placeholder="path of a JSONL file")
            with Horizontal():
                yield Static("line")
                yield Input("", id="replay-line", placeholder="line number", type="integer")
            yield Static("", id="replay-problem", markup=False)

    def on_mount(self) -> None:
        self.query_one("#replay-line" if self.path else "#replay-path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = Path(self.query_one("#replay-path", Input).value.strip()).expanduser()
        line = self.query_one("#replay-line", Input).value.strip()
        problem = self.query_one("#replay-problem", Static)
        if not path.is_file():
            problem.update(f"{path} is not a file.")
            self.query_one("#replay-path", Input).focus()
        elif not line.isdigit() or int(line) < 1:
            problem.update("Give the line number of the example (1 is the first line).")
            self.query_one("#replay-line", Input).focus()
        else:
            self.dismiss((path, int(line)))
