"""The editor's questions: a message's role, a new example, unparsed text on leaving, a file changed on disk."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from core.dataset.rules import ROLES


class ChoiceScreen(ModalScreen[str | None]):
    """A small question with one key per answer (the keys are the BINDINGS of each subclass)."""

    DEFAULT_CSS = """
    ChoiceScreen { align: center middle; }
    ChoiceScreen > Vertical { width: 76; max-width: 100%; height: auto; padding: 1 2; border: thick $primary; background: $surface; }
    ChoiceScreen .choice-title { text-style: bold; }
    ChoiceScreen Horizontal { height: auto; margin-top: 1; }
    ChoiceScreen Button { margin-right: 1; min-width: 8; }
    """
    TITLE_TEXT = ""
    CHOICES: tuple[tuple[str, str, str], ...] = ()  # (answer, button label, variant)

    def __init__(self, body: str = "") -> None:
        super().__init__()
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.TITLE_TEXT), classes="choice-title")
            if self.body:
                yield Static(Text(self.body))
            with Horizontal():
                for answer, label, variant in self.CHOICES:
                    yield Button(label, id=f"choice-{answer}", variant=variant)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id.removeprefix("choice-"))

    def action_choose(self, answer: str | None) -> None:
        self.dismiss(answer)


class RoleScreen(ChoiceScreen):
    BINDINGS = [
        *(Binding(role[0], f"choose('{role}')", role, id=f"editor.role.{role}") for role in ROLES),
        Binding("escape", "choose(None)", "Cancel", id="editor.role.cancel"),
    ]
    TITLE_TEXT = "Role of this message"
    CHOICES = tuple((role, f"{role} ({role[0]})", "default") for role in ROLES)


class NewExampleScreen(ChoiceScreen):
    BINDINGS = [
        Binding("e", "choose('empty')", "Empty template", id="editor.new.empty"),
        Binding("c", "choose('copy')", "Copy of this example", id="editor.new.copy"),
        Binding("escape", "choose(None)", "Cancel", id="editor.new.cancel"),
    ]
    TITLE_TEXT = "New example, after this one"
    CHOICES = (("empty", "Empty template (e)", "primary"), ("copy", "Copy of this one (c)", "default"), ("cancel", "Cancel (Esc)", "default"))


class UnparsedScreen(ChoiceScreen):
    """Leaving while a JSON box holds text that does not parse."""

    BINDINGS = [
        Binding("escape,e", "choose('edit')", "Keep editing", id="editor.unparsed.edit"),
        Binding("k", "choose('keep')", "Keep as an invalid line", id="editor.unparsed.keep"),
        Binding("d", "choose('drop')", "Leave without this text", id="editor.unparsed.drop"),
    ]
    TITLE_TEXT = "Some JSON here does not parse"

    def __init__(self, body: str, *, raw: bool) -> None:
        super().__init__(body)
        self.raw = raw
        self.CHOICES = (
            ("edit", "Keep editing (Esc)", "primary"),
            *((("keep", "Keep as invalid line (k)", "warning"),) if raw else ()),
            ("drop", "Drop this text (d)", "error"),
        )

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return self.raw or parameters != ("keep",)


class ChangedOnDiskScreen(ModalScreen[tuple[str, str] | None]):
    """The file changed on disk: save elsewhere, reload (dropping the edits, asked twice), or cancel."""

    DEFAULT_CSS = """
    ChangedOnDiskScreen { align: center middle; }
    #disk-dialog { width: 74; max-width: 95%; height: auto; padding: 1 2; border: thick $warning; background: $surface; }
    #disk-dialog .choice-title { text-style: bold; }
    #disk-status { color: $warning; margin-top: 1; }
    #disk-buttons { height: auto; margin-top: 1; }
    #disk-buttons Button { margin-right: 1; }
    """
    BINDINGS = [
        Binding("ctrl+r", "reload", "Reload from disk", id="editor.disk.reload"),
        Binding("escape", "cancel", "Cancel", id="editor.disk.cancel"),
    ]

    def __init__(self, path: Path, suggestion: Path) -> None:
        super().__init__()
        self.path, self.suggestion = path, suggestion
        self._armed: str | None = None  # a choice that needs a second press to confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="disk-dialog"):
            yield Static(Text(f"{self.path.name} changed on disk since it was opened"), classes="choice-title")
            yield Static(
                Text(
                    "Another program wrote to it; nothing has been saved over it and your edits are "
                    "still here. Save them to another file (Enter), or reload the file and drop them."
                )
            )
            yield Input(str(self.suggestion), id="disk-path")
            yield Static("", id="disk-status", markup=False)
            with Horizontal(id="disk-buttons"):
                yield Button("Save elsewhere (Enter)", id="elsewhere", variant="primary")
                yield Button("Reload… (ctrl+r)", id="reload", variant="error")
                yield Button("Cancel (Esc)", id="cancel")

    def _target(self) -> Path:
        target = Path(self.query_one("#disk-path", Input).value.strip()).expanduser()
        return target if target.is_absolute() else self.path.parent / target

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._save_elsewhere()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"elsewhere": self._save_elsewhere, "reload": self.action_reload, "cancel": self.action_cancel}[event.button.id]()

    def _save_elsewhere(self) -> None:
        target = self._target()
        status = self.query_one("#disk-status", Static)
        if not self.query_one("#disk-path", Input).value.strip() or target.is_dir():
            status.update("Type the path of a file to save to.")
        elif not target.parent.is_dir():
            status.update(f"There is no folder {target.parent}.")
        elif target.exists() and self._armed != f"replace:{target}":
            self._armed = f"replace:{target}"  # never replace another file without a second Enter
            status.update(f"{target.name} exists. Press Enter again to replace it.")
        else:
            self.dismiss(("elsewhere", str(target)))

    def action_reload(self) -> None:
        if self._armed != "reload":
            self._armed = "reload"
            self.query_one("#disk-status", Static).update("Reloading drops every unsaved edit of this file. Press ctrl+r again to reload.")
            return
        self.dismiss(("reload", ""))

    def action_cancel(self) -> None:
        self.dismiss(None)
