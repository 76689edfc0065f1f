"""Unsaved edits from an earlier session (found in the crash journal): offered back when a file is opened.

The journal (core/dataset/journal.py) is only written once a document is *attached* to it, and
attaching before the user has answered would overwrite the edits being offered. So
`offer_recovery` is also where journaling starts: at once when there is nothing to recover,
after the answer otherwise. The journal is one more listener of the Dataset, beside the browser.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from core.dataset import Dataset, journal
from core.dataset.journal import Recovery


class RecoveryScreen(ModalScreen[str]):
    """Dismisses with "restore", "discard" or "later"."""

    DEFAULT_CSS = """
    RecoveryScreen { align: center middle; }
    #recovery-dialog { width: 72; max-width: 95%; height: auto; padding: 1 2; border: thick $warning; background: $surface; }
    #recovery-dialog .choice-title { text-style: bold; }
    #recovery-buttons { height: auto; margin-top: 1; }
    #recovery-buttons Button { margin-right: 1; }
    """
    BINDINGS = [
        Binding("r", "choose('restore')", "Restore the edits", id="recovery.restore"),
        Binding("d", "choose('discard')", "Discard the edits", id="recovery.discard"),
        Binding("escape,l", "choose('later')", "Decide later", id="recovery.later"),
    ]

    def __init__(self, recovery: Recovery) -> None:
        super().__init__()
        self.recovery = recovery

    def compose(self) -> ComposeResult:
        found = self.recovery
        with Vertical(id="recovery-dialog"):
            yield Static(Text("Unsaved edits from an earlier session"), classes="choice-title")
            yield Static(Text(found.describe() + "."))
            if found.applies:
                explain = "Restore puts them back (unsaved, undoable); Discard deletes them for good."
            else:
                explain = "Discard deletes them for good; Later keeps them on disk at " + str(journal.journal_path(found.path))
            yield Static(Text(explain + "\nLater leaves them untouched, but then edits made now are not journaled against a crash."))
            with Horizontal(id="recovery-buttons"):
                if found.applies:
                    yield Button("Restore (r)", id="restore", variant="primary")
                yield Button("Discard (d)", id="discard", variant="error")
                yield Button("Later (Esc)", id="later")

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return self.recovery.applies or parameters != ("restore",)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)

    def action_choose(self, answer: str) -> None:
        self.dismiss(answer)


def journaled(ds: Dataset) -> bool:
    """Is `ds` being journaled?"""
    return ds.listening(journal.write)


def start_journal(ds: Dataset) -> None:
    """Journal `ds` from now on, beside whoever already listens to its changes."""
    journal.attach(ds)


def offer_recovery(app: App, ds: Dataset, on_done: Callable[[str], object] | None = None) -> bool:
    """Offer back the unsaved edits of an earlier session for `ds`, then journal `ds` from now on.

    Call it once, right after opening a file and before any edit. Returns False when there was
    nothing to offer (journaling has started and `on_done("none")` has run), True when a prompt
    is shown; `on_done` then receives "restored", "discarded" or "later" (refresh after "restored").
    """

    def finish(answer: str) -> None:
        if on_done is not None:
            on_done(answer)

    if journaled(ds):  # already offered in this session: its journal is this session's own
        finish("none")
        return False
    try:
        found = journal.find(ds)
    except (KeyError, TypeError, ValueError, OSError) as exc:
        # An unreadable journal is left where it is (not overwritten) and said so.
        app.notify(f"{journal.journal_path(ds.path)}: {exc}", title="Unreadable journal of unsaved edits", severity="warning", markup=False)
        finish("later")
        return False
    if found is None:
        start_journal(ds)
        finish("none")
        return False

    def chosen(answer: str | None) -> None:
        if answer == "restore" and found.applies:
            journal.restore(ds, found)
            start_journal(ds)
            journal.write(ds)  # the journal now describes this session's document
            app.notify(f"Restored {found.edits} unsaved edit{'s' if found.edits != 1 else ''}; ctrl+s saves them.", markup=False)
            finish("restored")
        elif answer == "discard":
            journal.discard(ds)
            start_journal(ds)
            finish("discarded")
        else:
            app.notify(
                "The earlier edits are kept for later. Edits made now are not protected against a crash until you restore or discard them (reopen the file).",
                title="Unsaved edits kept",
                severity="warning",
                timeout=8,
                markup=False,
            )
            finish("later")

    app.push_screen(RecoveryScreen(found), chosen)
    return True
