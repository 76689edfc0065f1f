"""The top line of every screen: where you are, which server you talk to, and EMULATOR when it is one."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

SECTIONS = (("datasets", "1 Datasets"), ("jobs", "2 Jobs"), ("playground", "3 Playground"))


class ProfileBar(Static):
    """Sections (the current one highlighted), the active profile, and the EMULATOR badge."""

    DEFAULT_CSS = """
    ProfileBar { dock: top; height: 1; background: $panel; color: $text; }
    """

    def __init__(self, section: str) -> None:
        super().__init__()
        self.section = section

    def render(self) -> Text:
        app = self.app
        active = getattr(app, "active", None)
        line = Text(" TuneDeck ", style="bold")
        for name, label in SECTIONS:
            line.append(f" {label} ", style="reverse bold" if name == self.section else "dim")
        if active is not None:
            right = Text(f"  profile {active.profile.name} ")
            if active.profile.kind == "emulator":
                # Always visible: nothing done here trains a real model.
                right.append(" EMULATOR ", style="bold black on yellow")
            width = self.size.width or 80
            gap = max(1, width - line.cell_len - right.cell_len)
            line.append(" " * gap)
            line.append_text(right)
        return line
