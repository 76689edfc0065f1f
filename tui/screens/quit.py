"""Leaving with unsaved edits: save, discard, or stay."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class QuitScreen(ModalScreen[str]):
    """Dismisses with "save", "discard" or "cancel"."""

    BINDINGS = [
        Binding("s", "choose('save')", "Save all and quit", id="quit.save"),
        Binding("d", "choose('discard')", "Discard and quit", id="quit.discard"),
        Binding("escape,c", "choose('cancel')", "Cancel", id="quit.cancel"),
    ]

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        listed = "\n".join(f"  • {name}" for name in self.names[:8])
        more = f"\n  … and {len(self.names) - 8} more" if len(self.names) > 8 else ""
        with Vertical(id="quit-dialog"):
            yield Static(f"Unsaved changes in:\n{listed}{more}", markup=False)
            with Horizontal(id="quit-buttons"):
                yield Button("Save and quit (s)", id="save", variant="primary")
                yield Button("Discard (d)", id="discard", variant="error")
                yield Button("Cancel (Esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
