"""Save a playground conversation into a dataset as a training example, after editing the reply:
from "the model got this wrong" to "now it is in the data". The example is checked with the
dataset rules as it is edited; one with errors is not saved."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from core.service.conversation import as_example, example_problems, has_errors

SHOWN = 160  # characters of each earlier turn shown above the reply


class SaveExampleScreen(ModalScreen[tuple[Path, dict] | None]):
    DEFAULT_CSS = """
    SaveExampleScreen { align: center middle; }
    SaveExampleScreen > Vertical { width: 100; max-width: 100%; height: auto; max-height: 100%; border: thick $primary; background: $surface; padding: 0 1; }
    SaveExampleScreen .title { text-style: bold; }
    SaveExampleScreen .hint { color: $text-muted; }
    SaveExampleScreen VerticalScroll { height: auto; max-height: 8; }
    SaveExampleScreen TextArea { height: 8; }
    SaveExampleScreen Horizontal { height: 1; margin-top: 1; }
    SaveExampleScreen Horizontal Static { width: 9; }
    SaveExampleScreen Input, SaveExampleScreen Input:focus { border: none; height: 1; padding: 0 1; width: 1fr; background: $boost; }
    SaveExampleScreen #save-problems { height: auto; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="save-example.save"),
        Binding("escape", "dismiss(None)", "Cancel", id="save-example.cancel"),
    ]

    def __init__(self, model: str, system: str, messages: list[dict], target: Path, params: dict | None = None) -> None:
        super().__init__()
        self.model = model
        self.system = system
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        self.before = messages[:last]  # what led to the reply; turns after it are not kept
        self.reply = messages[last].get("content") or ""
        self.target = target
        self.params = params or {}  # a replayed example's tools go along with it

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Save as a training example — {self.model}'s reply, as it should have been", classes="title", markup=False)
            with VerticalScroll():
                shown = Text()
                if self.system.strip():
                    shown.append("system  ", style="bold").append(_short(self.system) + "\n")
                for message in self.before:
                    shown.append(f"{message['role']}  ", style="bold").append(_short(message.get("content") or "") + "\n")
                yield Static(shown)
            yield Static("assistant (edit it into the answer you want the model to learn)", classes="hint")
            yield TextArea(self.reply, id="save-reply", soft_wrap=True)
            with Horizontal():
                yield Static("dataset")
                yield Input(str(self.target), id="save-path", placeholder="JSONL file (created when missing)")
            yield Static("", id="save-problems", markup=False)
            yield Static("ctrl+s saves (appended, undoable in the Datasets section) · Esc cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()
        self._check()

    @property
    def example(self) -> dict:
        reply = {"role": "assistant", "content": self.query_one(TextArea).text}
        return as_example(self.system, [*self.before, reply], self.params)

    def _check(self) -> list[str]:
        problems = example_problems(self.example)
        shown = Text()
        for problem in problems:
            shown.append(problem + "\n", style="red" if problem.startswith("error") else "yellow")
        self.query_one("#save-problems", Static).update(shown or Text("passes the dataset rules", style="green"))
        return problems

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        if has_errors(self._check()):
            self.notify("Fix the errors first: an example with errors would be rejected by the service.", severity="warning", markup=False)
            return
        path = Path(self.query_one("#save-path", Input).value.strip()).expanduser()
        if not path.name or path.is_dir() or not path.parent.is_dir():
            self.notify(f"{path}: name a JSONL file in an existing folder.", severity="warning", markup=False)
            return
        self.dismiss((path, self.example))


def _short(text) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"
