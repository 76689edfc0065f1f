"""Connection profiles: list, create, edit, delete, set the default, and test a connection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Select, Static

from core.service import health, profile_edits, profiles
from core.service.errors import ProfileError
from core.service.profiles import EMULATOR, Profile
from tui.screens.confirm import ConfirmScreen
from tui.widgets.profile_bar import ProfileBar
from tui.widgets.tables import highlighted_key

KINDS = ("openai", "azure", "compatible", "emulator")
COLUMNS = ("", "name", "kind", "key", "server")
FORM_FIELDS = ("base_url", "azure_endpoint", "api_version", "organization", "project")


def server(profile: Profile) -> str:
    """Where a profile points, short enough for a table cell (describe() says it in full)."""
    if profile.kind == "emulator":
        return profile.base_url or "built in (offline, no real training)"
    if profile.kind == "azure":
        return f"{profile.azure_endpoint or '(no endpoint)'} api {profile.api_version or '?'}"
    return profile.base_url or "https://api.openai.com/v1"


@dataclass
class Tested(Message):
    name: str
    health: health.Health


class ProfileForm(ModalScreen[Profile | None]):
    """Create (`base` None) or edit a profile; dismisses with the saved profile, or None."""

    DEFAULT_CSS = """
    ProfileForm { align: center middle; }
    ProfileForm > Vertical { width: 72; height: auto; border: thick $accent; background: $surface; padding: 0 1; }
    ProfileForm Grid { grid-size: 2; grid-columns: 16 1fr; grid-rows: auto; grid-gutter: 0 1; height: auto; }
    ProfileForm Grid Label { width: 100%; text-align: right; }
    ProfileForm Grid Select { height: 1; }
    ProfileForm Grid Select > SelectCurrent { margin: 0; padding: 0 1; }
    ProfileForm #form-error { height: auto; color: $error; }
    ProfileForm Horizontal { height: auto; margin-top: 1; }
    ProfileForm Button { margin-right: 2; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="profile-form.save"),
        Binding("escape", "cancel", "Cancel", id="profile-form.cancel"),
    ]

    def __init__(self, base: Profile | None = None) -> None:
        super().__init__()
        self.base = base

    def compose(self) -> ComposeResult:
        base = self.base
        with Vertical():
            yield Static(f"Edit profile {base.name}" if base else "New profile", markup=False)
            with Grid():
                yield Label("kind")
                yield Select([(k, k) for k in KINDS], value=base.kind if base else "openai", allow_blank=False, id="kind", compact=True)
                yield Label("name")
                yield Input(base.name if base else "", id="name", compact=True, disabled=base is not None, placeholder="work")
                for field in FORM_FIELDS:
                    yield Label(field, id=f"label-{field}")
                    yield Input(getattr(base, field) or "" if base else "", id=field, compact=True)
                yield Label("api key", id="label-api_key")
                kept = f"unchanged ({base.masked_key()}); type to replace" if base and base.api_key else "paste the key"
                yield Input("", id="api_key", password=True, compact=True, placeholder=kept)
            yield Static("", id="form-error", markup=False)
            with Horizontal():
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.show_fields(self.query_one("#kind", Select).value)

    @on(Select.Changed, "#kind")
    def kind_changed(self, event: Select.Changed) -> None:
        self.show_fields(event.value)

    def show_fields(self, kind) -> None:
        used = profile_edits.USED.get(str(kind), ())
        for field in (*FORM_FIELDS, "api_key"):
            for node in (self.query_one(f"#{field}"), self.query_one(f"#label-{field}")):
                node.display = field in used

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()

    def action_save(self) -> None:
        values = {field: self.query_one(f"#{field}", Input).value for field in FORM_FIELDS}
        kind = str(self.query_one("#kind", Select).value)
        try:
            profile = profile_edits.edited(
                self.base, kind=kind, name=self.query_one("#name", Input).value, key=self.query_one("#api_key", Input).value, **values
            )
            profiles.save_profile(profile)
        except ProfileError as exc:
            self.query_one("#form-error", Static).update(f"{exc.title} — {exc.hint}" if exc.hint else exc.title)
            return
        self.dismiss(profile)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ProfilesScreen(Screen):
    DEFAULT_CSS = """
    ProfilesScreen #profiles-title { height: 1; padding: 0 1; text-style: bold; }
    ProfilesScreen DataTable { height: auto; max-height: 1fr; margin: 0 1; }
    ProfilesScreen #profiles-legend { height: auto; padding: 0 1; color: $text-muted; }
    ProfilesScreen #profiles-test { height: auto; padding: 0 1; margin-top: 1; }
    """
    BINDINGS = [
        Binding("n", "new", "New", id="profiles.new"),
        Binding("e", "edit", "Edit", id="profiles.edit"),
        Binding("t", "test", "Test", id="profiles.test"),
        Binding("d", "default", "Set default", id="profiles.default"),
        Binding("u", "use", "Use now", tooltip="Talk to this profile's server from now on, without a restart", id="profiles.use"),
        Binding("x,delete", "delete", "Delete", id="profiles.delete"),
        Binding("escape", "back", "Back", id="profiles.back"),
    ]

    def compose(self) -> ComposeResult:
        yield ProfileBar("datasets")
        yield Static("Profiles: the servers TuneDeck can talk to", id="profiles-title", markup=False)
        yield DataTable(id="profiles", cursor_type="row", zebra_stripes=True)
        yield Static("", id="profiles-legend", markup=False)
        yield Static("", id="profiles-test")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name, width=40 if name == "server" else None)
        self.reload()

    def reload(self, select: str | None = None) -> None:
        try:
            settings = profiles.load()
        except ProfileError as exc:
            self.notify(exc.hint, title=exc.title, severity="error", markup=False)
            return
        listed = dict(settings.profiles)
        listed.setdefault(EMULATOR, Profile(kind="emulator", name=EMULATOR))
        self.listed = listed
        active = getattr(self.app, "active", None)
        active_name = active.profile.name if active is not None else None
        table = self.query_one(DataTable)
        current = select or self.selected_name()
        table.clear()
        for name, profile in sorted(listed.items()):
            mark = ("★" if name == settings.default_profile else " ") + ("●" if name == active_name else " ")
            key = profile.masked_key() if (profile.api_key or profile.azure_ad_token) else ""
            table.add_row(mark, Text(name), profile.kind, Text(key), Text(server(profile), overflow="ellipsis", no_wrap=True), key=name)
        self.query_one("#profiles-legend", Static).update(f"★ default  ● active now   saved in {profiles.config_path()}")
        if current in listed:
            table.move_cursor(row=table.get_row_index(current))

    def selected_name(self) -> str | None:
        return highlighted_key(self.query_one(DataTable))

    def _editable(self, action: str) -> str | None:
        name = self.selected_name()
        if name is None:
            return None
        if profile_edits.stored(name) is None:
            self.notify(f"{name!r} is not in config.toml, so it cannot be {action}.", title="Built in", markup=False)
            return None
        return name

    def action_new(self) -> None:
        self.app.push_screen(ProfileForm(), self._saved)

    def action_edit(self) -> None:
        name = self._editable("edited")
        if name is not None:
            self.app.push_screen(ProfileForm(profile_edits.stored(name)), self._saved)

    def _saved(self, profile: Profile | None) -> None:
        if profile is not None:
            self.reload(select=profile.name)
            self.notify(f"Saved {profile.name} ({profile.masked_key()})", title="Profile saved", markup=False)

    def action_delete(self) -> None:
        name = self._editable("deleted")
        if name is None:
            return

        def chosen(yes: bool | None) -> None:
            if yes:
                try:
                    profiles.delete_profile(name)
                except ProfileError as exc:
                    self.notify(exc.hint, title=exc.title, severity="error", markup=False)
                self.reload()

        question = ConfirmScreen(f"Delete profile {name!r} from {profiles.config_path()}?", "Its key is removed from the file.", "Delete", danger=True)
        self.app.push_screen(question, chosen)

    def action_default(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        try:
            profiles.set_default(name)
        except ProfileError as exc:
            self.notify(exc.hint, title=exc.title, severity="error", markup=False)
            return
        self.reload()
        self.notify(f"{name} is the default from the next start.", title="Default profile", markup=False)

    def action_use(self) -> None:
        import os

        name = self.selected_name()
        if name is None:
            return
        profile = profiles.with_environment(self.listed[name], os.environ)
        # On the app's queue, not awaited here: the switch may remove this very screen (when it
        # sits on the Jobs section's stack), which cannot finish inside its own handler.
        self.app.call_later(self.app.use_profile, profiles.Active(profile, "chosen on the profiles screen"))
        self.app.call_later(self._used, name)

    def _used(self, name: str) -> None:
        if self.is_attached:  # still shown: mark the active one
            self.reload(select=name)

    def action_test(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        self.query_one("#profiles-test", Static).update(Text(f"Testing {name}…", style="dim"))
        self.test(self.listed[name])

    @work(thread=True, exclusive=True, group="profile-test", exit_on_error=False)
    def test(self, profile: Profile) -> None:
        # Its own event loop: an embedded emulator starts and stops inside the check.
        self.post_message(Tested(profile.name, asyncio.run(health.check(profile))))

    def on_tested(self, message: Tested) -> None:
        result = message.health
        text = Text()
        if result.ok:
            text.append(f"✓ {message.name}: ", style="bold green")
        else:
            text.append(f"✗ {message.name}: ", style="bold red")
        text.append(result.title)  # Text, not markup: server messages are untrusted
        if result.hint:
            text.append(f"\n  {result.hint}")
        text.append(f"\n  ({result.seconds:.1f} s)", style="dim")
        self.query_one("#profiles-test", Static).update(text)

    def action_back(self) -> None:
        self.app.pop_screen()
