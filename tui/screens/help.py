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


def ours(node, binding: Binding) -> bool:
    """Was this binding declared by a TuneDeck class (not inherited from a stock Textual one)?"""
    for cls in type(node).__mro__:
        if cls.__module__.startswith("tui."):
            for declared in cls.__dict__.get("BINDINGS", ()):
                if isinstance(declared, Binding) and declared.action == binding.action:
                    return True
    return False


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help.close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.from_screen = screen

    def compose(self) -> ComposeResult:
        app = self.app
        text = Text()
        seen: set[tuple[str, str]] = set()
        # TuneDeck's own bindings (screens, app, our widgets) and any a widget shows in the
        # footer; a stock widget's cursor keys would only bury them.
        here = [(b.binding, b.node) for b in self.from_screen.active_bindings.values() if b.binding.show or ours(b.node, b.binding)]
        name = self.from_screen.__class__.__name__.removesuffix("Screen")
        for title, rows in (
            (f"This screen ({name})", [b for b, node in here if node is not app]),
            ("Everywhere", [b for b, node in here if node is app]),
        ):
            keys_of: dict[str, list[str]] = {}  # one row per action, all its keys together
            described: dict[str, str] = {}
            for binding in rows:
                if not binding.description or (binding.action, binding.key) in seen:
                    continue
                seen.add((binding.action, binding.key))
                keys_of.setdefault(binding.action, []).extend(_key_label(app, k.strip()) for k in binding.key.split(","))
                described.setdefault(binding.action, binding.tooltip or binding.description)
            if not keys_of:
                continue
            text.append(f"{title}\n", style="bold underline")
            for action, keys in keys_of.items():
                text.append(f"  {', '.join(dict.fromkeys(keys)):<16}", style="bold")
                text.append(f"{described[action]}\n")
            text.append("\n")
        text.append(f"  {_key_label(app, 'ctrl+p'):<16}", style="bold")
        text.append("command palette: every action by name\n")
        # A screen may say more than its keys: the rule behind an alarm, what a colour means.
        for heading, note in getattr(self.from_screen, "HELP_NOTES", ()):
            text.append(f"\n{heading}\n", style="bold underline")
            text.append(f"  {note}\n")
        with VerticalScroll(id="help-body"):
            yield Static("[b]Keys[/b]   (Esc closes)\n", markup=True)
            yield Static(text, id="help-keys")
