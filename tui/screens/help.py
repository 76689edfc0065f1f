"""`?`: every binding of the screen you came from, then the global ones."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def _key_label(app, key: str) -> str:
    return app.get_key_display(Binding(key, ""))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help.close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.from_screen = screen

    def compose(self) -> ComposeResult:
        app = self.app
        text = Text()
        seen: set[tuple[str, str]] = set()
        here = [(b.binding, b.node) for b in self.from_screen.active_bindings.values()]
        name = self.from_screen.__class__.__name__.removesuffix("Screen")
        for title, rows in (
            (f"This screen ({name})", [b for b, node in here if node is not app]),
            ("Everywhere", [b for b, node in here if node is app]),
        ):
            rows = [b for b in rows if b.description and (b.action, b.key) not in seen]
            if not rows:
                continue
            text.append(f"{title}\n", style="bold underline")
            for binding in rows:
                seen.add((binding.action, binding.key))
                keys = ", ".join(_key_label(app, k.strip()) for k in binding.key.split(","))
                text.append(f"  {keys:<16}", style="bold")
                text.append(f"{binding.tooltip or binding.description}\n")
            text.append("\n")
        text.append(f"  {_key_label(app, 'ctrl+p'):<16}", style="bold")
        text.append("command palette: every action by name\n")
        with VerticalScroll(id="help-body"):
            yield Static("[b]Keys[/b]   (Esc closes)\n", markup=True)
            yield Static(text, id="help-keys")
