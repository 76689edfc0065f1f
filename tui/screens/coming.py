"""An honest placeholder for a section that is not built yet."""

from __future__ import annotations

from collections.abc import Callable

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.widgets.profile_bar import ProfileBar


class ComingScreen(Screen):
    def __init__(self, section: str, title: str, what: str | Callable[[], str]) -> None:
        super().__init__()
        self.section = section
        self.title_text = title
        self.what = what

    def compose(self) -> ComposeResult:
        yield ProfileBar(self.section)
        with Middle(), Center():
            yield Static(self._text(), classes="coming", markup=True)
        yield Footer()

    def _text(self) -> str:
        what = self.what() if callable(self.what) else self.what
        return f"[b]{self.title_text} — not built yet[/b]\n\n{escape(what)}"  # what may name a model: never markup

    def on_screen_resume(self) -> None:
        self.query_one(".coming", Static).update(self._text())
