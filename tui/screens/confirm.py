"""A yes/no question before something that cannot be taken back: y to go ahead, Esc or n to keep."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 64; max-width: 100%; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
    ConfirmScreen.-danger > Vertical { border: thick $error; }
    ConfirmScreen .confirm-title { text-style: bold; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; }
    ConfirmScreen Button { margin-right: 2; }
    """
    BINDINGS = [
        Binding("y", "choose(True)", "Yes", id="confirm.yes"),
        Binding("escape,n", "choose(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, body: str, yes: str, *, no: str = "Keep it", danger: bool = False) -> None:
        super().__init__(classes="-danger" if danger else "")
        self.title_text, self.body, self.yes, self.no = title, body, yes, no
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), classes="confirm-title")
            if self.body:
                yield Static(Text(self.body))
            with Horizontal():
                yield Button(f"{self.yes} (y)", id="yes", variant="error" if self.danger else "warning")
                yield Button(f"{self.no} (Esc)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_choose(self, choice: bool) -> None:
        self.dismiss(choice)
