"""The playground's settings: the system prompt sent first, and temperature / max tokens / top-p."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from core.service.conversation import ChatSettings, parse_settings


class SettingsScreen(ModalScreen[ChatSettings | None]):
    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    SettingsScreen > Vertical { width: 90; max-width: 100%; height: auto; max-height: 100%; border: thick $primary; background: $surface; padding: 0 1; }
    SettingsScreen .title { text-style: bold; }
    SettingsScreen .hint { color: $text-muted; }
    SettingsScreen TextArea { height: 8; }
    SettingsScreen Horizontal { height: 1; margin-top: 1; }
    SettingsScreen Horizontal Static { width: 14; }
    SettingsScreen Input, SettingsScreen Input:focus { border: none; height: 1; padding: 0 1; width: 1fr; background: $boost; }
    SettingsScreen #settings-problem { color: $text-error; height: auto; }
    """
    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", id="settings.apply"),
        Binding("escape", "dismiss(None)", "Cancel", id="settings.cancel"),
    ]

    def __init__(self, settings: ChatSettings, system_from: Path | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.system_from = system_from

    def compose(self) -> ComposeResult:
        s = self.settings
        with Vertical():
            yield Static("Chat settings", classes="title")
            origin = f" (taken from {self.system_from.name}: the one most of its examples use)" if self.system_from else ""
            yield Static(f"System prompt, sent first to every model{origin}", classes="hint", markup=False)
            yield TextArea(s.system, id="settings-system", soft_wrap=True)
            for name, label, value in (
                ("temperature", "temperature", s.temperature),
                ("max-tokens", "max tokens", s.max_tokens),
                ("top-p", "top-p", s.top_p),
            ):
                with Horizontal():
                    yield Static(label)
                    yield Input("" if value is None else str(value), id=f"settings-{name}", placeholder="the server's default")
            yield Static("", id="settings-problem", markup=False)
            yield Static("ctrl+s applies · Esc cancels · a blank box leaves the server's default", classes="hint")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def action_apply(self) -> None:
        value = lambda name: self.query_one(f"#settings-{name}", Input).value  # noqa: E731
        parsed = parse_settings(self.query_one(TextArea).text, value("temperature"), value("max-tokens"), value("top-p"))
        if isinstance(parsed, str):
            self.query_one("#settings-problem", Static).update(parsed)
            return
        self.dismiss(parsed)
