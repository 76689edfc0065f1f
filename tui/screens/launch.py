"""The launch screen: the form with a live cost estimate, the confirmation, then upload and job creation.

Every check and number comes from core.service.launch (`plan`, `launch`, `check_metadata`), the
same calls `tunedeck launch` makes, so what is confirmed here is exactly what is sent.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Button, Footer, Input, ProgressBar, RadioButton, RadioSet, Select, Static

from core.dataset import DatasetError, open_dataset, validate
from core.dataset.base_models import DEFAULT_MODEL, MODELS, PRICES_AS_OF, UnknownModel, lookup
from core.dataset.stats import DEFAULT_BETA, DEFAULT_LR_MULTIPLIER, MAX_TARGET_EXAMPLES, MIN_TARGET_EXAMPLES, TARGET_EPOCHS, default_batch_size, default_epochs
from core.service import launch as launching
from core.service import profiles
from core.service.client import connect
from core.service.errors import ServiceError, translate
from core.service.files import UploadProgress
from core.service.local_state import LocalState
from core.service.profiles import Active
from tui.app import shown
from tui.widgets.profile_bar import ProfileBar

DEBOUNCE = 0.2  # seconds of quiet typing before the estimate is recomputed
NEAR_SHUTDOWN_DAYS = 90  # a model retiring within this many days gets a warning
# Fields a models.list entry may carry about its retirement (not in the SDK's schema; kept when sent).
RETIREMENT_FIELDS = ("shutdown_date", "shutdown_at", "deprecation_date", "deprecated_at")
STAGES = {
    "hashing": "Reading the file",
    "sending": "Uploading",
    "processing": "Waiting for the service to process the file",
    "reused": "Already uploaded: reusing it",
    "done": "Uploaded",
}


# -- models ---------------------------------------------------------------------------------------


def retirement(model) -> tuple[str, dt.date] | None:
    """("shuts down" | "deprecated", day) when the service's Model object says so."""
    extra = getattr(model, "model_extra", None) or {}
    for key in RETIREMENT_FIELDS:
        value = extra.get(key, getattr(model, key, None))  # the SDK keeps unknown fields as attributes
        if value in (None, ""):
            continue
        try:
            if isinstance(value, int | float):
                day = dt.datetime.fromtimestamp(value, dt.UTC).date()
            else:
                day = dt.date.fromisoformat(str(value)[:10])
        except (ValueError, OverflowError, OSError):
            continue
        return ("shuts down" if key.startswith("shutdown") else "deprecated", day)
    return None


def model_label(name: str, retiring: tuple[str, dt.date] | None, today: dt.date) -> Text:
    label = Text(name)
    if name.startswith("ft:"):
        label.append("  continue training", style="dim")
    if retiring is not None:
        what, day = retiring
        left = (day - today).days
        if left < 0:
            label.append(f"  ⚠ {'shut down' if what == 'shuts down' else 'deprecated'} {day}", style="bold red")
        elif left <= NEAR_SHUTDOWN_DAYS:
            label.append(f"  ⚠ {what} {day} (in {left} days)", style="bold yellow")
        else:
            label.append(f"  {what} {day}", style="dim")
    return label


def model_options(models, today: dt.date, *, unlisted_ok: bool = False) -> tuple[list[tuple[Text, str]], int]:
    """(fine-tunable base models first, then tuned ones; how many listed models cannot be tuned).
    With `unlisted_ok` (a compatible server, e.g. a self-hosted trainer) the models TuneDeck's
    table does not know are offered too: the server says what it can train."""
    base, tuned, others = [], [], 0
    for model in sorted(models, key=lambda m: m.id):
        try:
            known = lookup(model.id)
        except UnknownModel:
            if unlisted_ok:
                (tuned if model.id.startswith("ft:") else base).append((model_label(model.id, retirement(model), today), model.id))
            else:
                others += 1
            continue
        if not known.fine_tunable:
            others += 1
            continue
        (tuned if model.id.startswith("ft:") else base).append((model_label(model.id, retirement(model), today), model.id))
    return base + tuned, others


def table_options() -> list[tuple[Text, str]]:
    return [(Text(name), name) for name, m in MODELS.items() if m.fine_tunable]


# -- messages from workers ------------------------------------------------------------------------


@dataclass
class ModelsListed(Message):
    profile: str
    options: list[tuple[Text, str]]
    note: Text


@dataclass
class FileKind(Message):
    format: str | None  # chat, preference, mixed, unknown, empty; None when unreadable
    problem: str | None = None


@dataclass
class PlanReady(Message):
    result: launching.LaunchPlan | launching.Refused
    generation: int
    confirm: bool  # the user pressed Launch: show the confirmation for this plan


@dataclass
class LaunchProgress(Message):
    progress: UploadProgress


@dataclass
class LaunchSucceeded(Message):
    job: object  # the FineTuningJob as created
    record: object  # its JobRecord in local state (where it came from)


@dataclass
class LaunchFailed(Message):
    title: str
    hint: str
    kept: str


# -- modals ---------------------------------------------------------------------------------------


class ConfirmLaunchScreen(ModalScreen[bool]):
    """Exactly what will be sent (`plan.confirmation()`, verbatim); nothing leaves before "y"."""

    DEFAULT_CSS = """
    ConfirmLaunchScreen { align: center middle; }
    ConfirmLaunchScreen > Vertical { width: 78; max-width: 100%; height: auto; max-height: 100%; border: thick $warning; background: $surface; padding: 0 1; }
    ConfirmLaunchScreen #confirm-title { text-style: bold; }
    ConfirmLaunchScreen VerticalScroll { height: auto; max-height: 17; }
    ConfirmLaunchScreen Horizontal { height: auto; margin-top: 1; }
    ConfirmLaunchScreen Button { margin-right: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Upload and start", id="launch.confirm.yes"),
        Binding("escape,n", "answer(False)", "Cancel", id="launch.confirm.no"),
    ]

    def __init__(self, confirmation: str) -> None:
        super().__init__()
        self.confirmation = confirmation

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Start this fine-tuning job? Nothing has been sent yet.", id="confirm-title", markup=False)
            with VerticalScroll():
                yield Static(Text(self.confirmation.rstrip("\n")), id="confirm-text", markup=False)
            with Horizontal():
                yield Button("Upload and start (y)", id="confirm-yes", variant="warning", compact=True)
                yield Button("Cancel (n)", id="confirm-no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()  # Enter alone never spends money

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


# -- the screen -----------------------------------------------------------------------------------


def _row(label: str, *widgets, hint_id: str | None = None) -> Horizontal:
    children = [Static(label, classes="label", markup=False), *widgets]
    if hint_id is not None:
        children.append(Static("", id=hint_id, classes="hint", markup=False))
    return Horizontal(*children, classes="row")


class LaunchScreen(Screen):
    """Launch a fine-tuning job on `train` (and `validation`, else the split's own)."""

    DEFAULT_CSS = """
    LaunchScreen #launch-title { padding: 0 1; text-style: bold; }
    LaunchScreen #form { height: 1fr; padding: 0 1; }
    LaunchScreen .row { height: auto; }
    LaunchScreen .label { width: 12; color: $text-muted; }
    LaunchScreen .row Input { width: 18; }
    LaunchScreen .row Select { width: 40; }
    LaunchScreen #model { width: 66; }
    LaunchScreen .row #suffix, LaunchScreen .row #metadata, LaunchScreen .row #validation { width: 40; }
    LaunchScreen .hint { width: 1fr; height: auto; padding-left: 1; color: $text-muted; }
    LaunchScreen .hint.-bad { color: $error; }
    LaunchScreen .note { padding-left: 12; color: $text-muted; height: auto; }
    LaunchScreen .note.-warn { color: $warning; }
    LaunchScreen #method { layout: horizontal; border: none; padding: 0; height: 1; width: auto; background: transparent; }
    LaunchScreen #method:focus { border: none; }
    LaunchScreen #method > RadioButton { padding: 0 1 0 0; height: 1; width: auto; }
    LaunchScreen #cost { margin-top: 1; height: auto; }
    LaunchScreen #plan-notes { color: $text-muted; height: auto; }
    LaunchScreen #launch-button { margin-top: 1; }
    LaunchScreen #launch-error { display: none; height: auto; border: round $error; padding: 0 1; margin: 0 1; }
    LaunchScreen #launch-error.-shown { display: block; }
    LaunchScreen #progress { display: none; height: auto; border: round $primary; padding: 0 1; margin: 0 1; }
    LaunchScreen #progress.-shown { display: block; }
    """
    BINDINGS = [
        Binding("ctrl+enter,L", "launch", "Launch…", id="launch.launch"),
        Binding("escape", "back", "Back", id="launch.back"),
    ]

    def __init__(self, train: Path, validation: Path | None = None) -> None:
        super().__init__()
        self.train = train
        self.validation = validation
        self.file_format: str | None = None  # known once the file was read
        self.plan_result: launching.LaunchPlan | launching.Refused | None = None
        self.launching = False
        self._generation = 0
        self._debounce: Timer | None = None
        self._profiles: dict[str, Active] = {}

    # compose

    def compose(self) -> ComposeResult:
        yield ProfileBar("jobs")
        yield Static(Text(f"Launch a fine-tuning job — training file {shown(self.train)}"), id="launch-title", markup=False)
        yield Static("", id="launch-error", markup=False)
        with Vertical(id="progress"):
            yield Static("", id="progress-stage", markup=False)
            yield ProgressBar(total=100, show_eta=False, id="progress-bar")
        with VerticalScroll(id="form"):
            yield _row("profile", Select(self._profile_options(), value=self._active_name(), allow_blank=False, id="profile", compact=True))
            yield _row("model", Select(table_options(), value=DEFAULT_MODEL, allow_blank=False, id="model", compact=True))
            yield Static("", id="model-note", classes="note", markup=False)
            yield _row(
                "method",
                RadioSet(RadioButton("supervised", value=True, id="method-supervised"), RadioButton("DPO", id="method-dpo", disabled=True), id="method"),
                hint_id="method-hint",
            )
            yield _row("epochs", Input(placeholder="auto", type="integer", id="epochs", compact=True), hint_id="epochs-hint")
            yield _row("batch size", Input(placeholder="auto", type="integer", id="batch_size", compact=True), hint_id="batch-hint")
            yield _row("lr mult.", Input(placeholder="auto", type="number", id="lr_multiplier", compact=True), hint_id="lr-hint")
            yield _row("DPO beta", Input(placeholder="auto", type="number", id="beta", compact=True, disabled=True), hint_id="beta-hint")
            yield _row("suffix", Input(placeholder="(none)", id="suffix", compact=True), hint_id="suffix-hint")
            yield _row("seed", Input(placeholder="auto", type="integer", id="seed", compact=True), hint_id="seed-hint")
            yield _row("metadata", Input(placeholder="key=value, key=value", id="metadata", compact=True), hint_id="metadata-hint")
            yield _row(
                "validation",
                Input(str(shown(self.validation)) if self.validation else "", placeholder="(the split's, if any)", id="validation", compact=True),
                hint_id="validation-hint",
            )
            yield Static("Estimate: checking the file…", id="cost", markup=False)
            yield Static("", id="plan-notes", markup=False)
            yield Button("Launch… (ctrl+enter / L)", id="launch-button", variant="warning", compact=True)
        yield Footer()

    def _active_name(self) -> str:
        return self.app.active.profile.name or "active"

    def _profile_options(self) -> list[tuple[Text, str]]:
        active: Active = self.app.active
        self._profiles = {self._active_name(): active}
        try:
            saved = profiles.load().profiles
        except ServiceError:
            saved = {}  # a broken config.toml is the profiles screen's to explain; the active one still works
        for name, profile in saved.items():
            self._profiles.setdefault(name, Active(profiles.with_environment(profile, os.environ), "chosen on the launch screen"))
        return [
            (Text(f"{name} · {a.profile.kind}" + ("  (active)" if a is active else "")), name) for name, a in self._profiles.items()
        ]

    def on_mount(self) -> None:
        self.query_one("#batch-hint", Static).update("auto: the service picks it from the file's size")
        self.query_one("#lr-hint", Static).update(f"auto ≈ {DEFAULT_LR_MULTIPLIER:g} (what the service usually picks)")
        self.query_one("#beta-hint", Static).update(f"DPO only; auto ≈ {DEFAULT_BETA:g}")
        self.query_one("#seed-hint", Static).update("auto: the service picks one")
        self._check_suffix("")
        self.query_one("#metadata-hint", Static).update(f"up to {launching.METADATA_PAIRS - len(launching.TRACE_KEYS)} pairs")
        self.read_file_kind(self.train)
        self.list_models(self.active)
        self.replan()

    # the profile and its models

    @property
    def active(self) -> Active:
        name = self.query_one("#profile", Select).value
        return self._profiles.get(name, self.app.active)

    @work(exclusive=True, group="launch-models", exit_on_error=False)
    async def list_models(self, active: Active) -> None:
        name = active.profile.name
        self.post_message(ModelsListed(name, table_options(), Text(f"listing the models of {name}…")))
        today = dt.datetime.fromtimestamp(self.app.clock.now(), dt.UTC).date()
        try:
            async with connect(active.profile) as conn:
                page = await conn.client.models.list()
                models = [m async for m in page]
        except Exception as exc:  # any failure: the table still lets the form be filled in
            error = exc if isinstance(exc, ServiceError) else translate(exc)
            note = Text(f"⚠ could not list {name}'s models ({error.title}); showing TuneDeck's table of fine-tunable models")
            self.post_message(ModelsListed(name, table_options(), note))
            return
        options, others = model_options(models, today, unlisted_ok=active.profile.kind == "compatible")
        if not options:
            note = Text(f"⚠ {name} lists no model TuneDeck knows how to fine-tune; showing TuneDeck's table")
            self.post_message(ModelsListed(name, table_options(), note))
            return
        tuned = sum(1 for _, value in options if value.startswith("ft:"))
        note = Text(f"{len(options) - tuned} fine-tunable, {tuned} tuned (to continue training) from {name}")
        if others:
            note.append(f"; {others} others cannot be fine-tuned")
        self.post_message(ModelsListed(name, options, note))

    def on_models_listed(self, message: ModelsListed) -> None:
        if message.profile != self.active.profile.name:
            return
        select = self.query_one("#model", Select)
        current = select.value
        values = [value for _, value in message.options]
        with self.prevent(Select.Changed):
            select.set_options(message.options)
            select.value = current if current in values else (DEFAULT_MODEL if DEFAULT_MODEL in values else values[0])
        note = self.query_one("#model-note", Static)
        note.update(message.note)
        note.set_class(message.note.plain.startswith("⚠"), "-warn")
        self._refresh_method()
        self.changed()

    # the file's kind decides whether DPO is possible

    @work(thread=True, exclusive=True, group="launch-file", exit_on_error=False)
    def read_file_kind(self, path: Path) -> None:
        try:
            with open_dataset(path) as ds:
                report = validate(ds)
        except DatasetError as exc:
            self.post_message(FileKind(None, exc.title))
            return
        self.post_message(FileKind(report.format))

    def on_file_kind(self, message: FileKind) -> None:
        self.file_format = message.format
        if message.problem:
            self.query_one("#cost", Static).update(Text(f"✗ {message.problem}", style="red"))
        self._refresh_method()

    def _dpo_unavailable(self) -> str | None:
        if self.file_format is None:
            return "DPO: checking the file…"
        if self.file_format != "preference":
            return f"DPO needs a preference file; this one holds {self.file_format} examples"
        try:
            model = lookup(self.query_one("#model", Select).value)
        except UnknownModel:
            return None
        if not model.dpo:
            return f"DPO is not offered on {model.name}"
        return None

    def _refresh_method(self) -> None:
        reason = self._dpo_unavailable()
        dpo = self.query_one("#method-dpo", RadioButton)
        dpo.disabled = reason is not None
        if reason is not None and dpo.value:
            self.query_one("#method-supervised", RadioButton).value = True
        self.query_one("#method-hint", Static).update(reason or "DPO available: preference pairs")
        self.query_one("#beta", Input).disabled = self.method != "dpo"

    @property
    def method(self) -> str:
        return "dpo" if self.query_one("#method-dpo", RadioButton).value else "supervised"

    # reading the form

    def read_form(self) -> launching.LaunchForm | launching.Refused:
        def number(field: str, kind):
            text = self.query_one(f"#{field}", Input).value.strip()
            return kind(text) if text else None

        try:
            epochs, batch, seed = number("epochs", int), number("batch_size", int), number("seed", int)
            lr = number("lr_multiplier", float)
            beta = number("beta", float) if self.method == "dpo" else None
        except ValueError as exc:
            return launching.Refused(f"not a number: {exc}")
        metadata = parse_metadata(self.query_one("#metadata", Input).value)
        if isinstance(metadata, launching.Refused):
            return metadata
        suffix = self.query_one("#suffix", Input).value.strip() or None
        validation = self.query_one("#validation", Input).value.strip()
        return launching.LaunchForm(
            train=self.train, model=str(self.query_one("#model", Select).value), validation=Path(validation) if validation else None,
            method=self.method, epochs=epochs, batch_size=batch, lr_multiplier=lr, beta=beta, suffix=suffix, seed=seed, metadata=metadata,
        )

    # live checks and the debounced estimate

    @on(Input.Changed)
    def input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "suffix":
            self._check_suffix(event.value)
        elif event.input.id == "metadata":
            self._check_metadata(event.value)
        self.changed()

    @on(Select.Changed)
    def select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "profile":
            self.list_models(self.active)
        self._refresh_method()
        self.changed()

    @on(RadioSet.Changed)
    def method_changed(self, event: RadioSet.Changed) -> None:
        self.query_one("#beta", Input).disabled = self.method != "dpo"
        self.changed()

    def _check_suffix(self, value: str) -> None:
        hint = self.query_one("#suffix-hint", Static)
        n = len(value.strip())
        too_long = n > launching.SUFFIX_LIMIT
        hint.update(f"{n}/{launching.SUFFIX_LIMIT} characters" + (": too long" if too_long else ""))
        hint.set_class(too_long, "-bad")

    def _check_metadata(self, value: str) -> None:
        hint = self.query_one("#metadata-hint", Static)
        parsed = parse_metadata(value)
        if isinstance(parsed, launching.Refused):
            hint.update(parsed.message)
            hint.set_class(True, "-bad")
        else:
            hint.update(f"{len(parsed)} of {launching.METADATA_PAIRS - len(launching.TRACE_KEYS)} pairs")
            hint.set_class(False, "-bad")

    def changed(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self.replan)

    def replan(self, confirm: bool = False) -> None:
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        self._generation += 1
        form = self.read_form()
        if isinstance(form, launching.Refused):
            self.post_message(PlanReady(form, self._generation, confirm))
            return
        self.compute_plan(form, self.active, self._generation, confirm)

    @work(thread=True, exclusive=True, group="launch-plan", exit_on_error=False)
    def compute_plan(self, form: launching.LaunchForm, active: Active, generation: int, confirm: bool) -> None:
        try:
            with LocalState() as state:
                result = launching.plan(form, active, state)
        except Exception as exc:  # the estimate line says so rather than the worker dying silently
            result = launching.Refused(f"could not check the launch: {exc}")
        self.post_message(PlanReady(result, generation, confirm))

    def on_plan_ready(self, message: PlanReady) -> None:
        if message.generation != self._generation:
            return  # the form changed since: a newer estimate is on its way
        self.plan_result = result = message.result
        cost = self.query_one("#cost", Static)
        notes = self.query_one("#plan-notes", Static)
        epochs_hint = self.query_one("#epochs-hint", Static)
        if isinstance(result, launching.Refused):
            cost.update(Text(f"✗ {result.message}", style="bold red"))
            notes.update("")
            if message.confirm:
                self.notify(result.message, title="Not launching", severity="error", markup=False)
            return
        auto = default_epochs(result.examples)
        epochs_hint.update(f"auto = {auto} for {result.examples:,} examples")
        self.query_one("#batch-hint", Static).update(f"auto ≈ {default_batch_size(result.examples)} for {result.examples:,} examples")
        price = lookup(result.request.model).training_price_per_million
        per_epoch = result.billed_tokens // result.epochs if result.epochs else 0
        line = Text("Estimate: ", style="bold")
        line.append(f"{per_epoch:,} tokens × {result.epochs} epochs{' (auto)' if result.epochs_is_default else ''}")
        line.append(f" × ${price:.2f}/1M ≈ ")
        line.append(f"${result.cost_usd:,.2f}", style="bold")
        line.append(f" (prices of {PRICES_AS_OF})", style="dim")
        cost.update(line)
        rule = (
            f"auto epochs: {TARGET_EPOCHS}, raised until {MIN_TARGET_EXAMPLES} examples are seen, "
            f"lowered to at most {MAX_TARGET_EXAMPLES:,}"
        )
        notes.update(Text("\n".join([rule, *result.notes])))
        validation_hint = self.query_one("#validation-hint", Static)
        form_validation = self.query_one("#validation", Input).value.strip()
        if result.validation is not None and not form_validation:
            validation_hint.update(f"from the split: {shown(result.validation)}")
        else:
            validation_hint.update("" if result.validation else "none")
        if message.confirm:
            self.app.push_screen(ConfirmLaunchScreen(result.confirmation()), lambda yes: self._confirmed(yes, result))

    # launching

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch-button":
            event.stop()
            self.action_launch()

    def action_launch(self) -> None:
        if self.launching:
            self.notify("A launch is already under way", markup=False)
            return
        self.replan(confirm=True)  # confirm the form as it is now, not an estimate in flight

    def _confirmed(self, yes: bool | None, plan: launching.LaunchPlan) -> None:
        if not yes:
            self.notify("Not launched; nothing was sent", markup=False)
            return
        self.launching = True
        self.query_one("#launch-error", Static).set_class(False, "-shown")
        self.query_one("#form").disabled = True
        self.query_one("#progress").set_class(True, "-shown")
        self.query_one("#progress-stage", Static).update(f"Connecting to {plan.active.profile.name}…")
        self.query_one("#progress-bar", ProgressBar).update(total=100, progress=0)
        self.run_launch(plan)

    @work(exclusive=True, group="launch-send", exit_on_error=False)
    async def run_launch(self, plan: launching.LaunchPlan) -> None:
        try:
            async with connect(plan.active.profile) as conn:
                with LocalState() as state:
                    job = await launching.launch(conn, plan, state, lambda p: self.post_message(LaunchProgress(p)))
                    record = state.job(conn.profile.identity, job.id)
        except ServiceError as error:
            self.post_message(LaunchFailed(error.title, error.hint, launching.kept_uploads(plan)))
            return
        except Exception as exc:  # not the service's: still shown, with what is kept
            self.post_message(LaunchFailed("The launch failed", f"{type(exc).__name__}: {exc}", launching.kept_uploads(plan)))
            return
        self.post_message(LaunchSucceeded(job, record))

    def on_launch_progress(self, message: LaunchProgress) -> None:
        p = message.progress
        label = STAGES.get(p.stage, p.stage)
        if p.stage in ("hashing", "sending") and p.total:
            label += f" {p.done:,} of {p.total:,} bytes"
        self.query_one("#progress-stage", Static).update(label)
        bar = self.query_one("#progress-bar", ProgressBar)
        if p.stage == "processing":
            bar.update(total=None)  # the service gives no percentage while it processes
        else:
            bar.update(total=p.total or 1, progress=p.done if p.total else 1)

    def _finished(self) -> None:
        self.launching = False
        self.query_one("#progress").set_class(False, "-shown")
        self.query_one("#form").disabled = False

    def on_launch_failed(self, message: LaunchFailed) -> None:
        self._finished()
        body = Text(f"✗ {message.title}", style="bold red")
        if message.hint:
            body.append(f"\n{message.hint}")
        body.append(f"\n{message.kept}", style="dim")
        box = self.query_one("#launch-error", Static)
        box.update(body)
        box.set_class(True, "-shown")

    def on_launch_succeeded(self, message: LaunchSucceeded) -> None:
        self._finished()
        box = self.query_one("#launch-error", Static)
        box.set_class(False, "-shown")
        self.notify(f"Job {message.job.id} created", markup=False)
        self.app.pop_screen()  # the form's work is done: straight to the job, live
        self.app.show_job(message.job, message.record, self.active)

    def action_back(self) -> None:
        if self.launching:
            self.notify("The launch is under way; wait for it to finish", markup=False)
            return
        self.app.pop_screen()


def parse_metadata(text: str) -> dict[str, str] | launching.Refused:
    """`key=value, key=value` → pairs, with the service's limits checked (check_metadata)."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            return launching.Refused(f"metadata {item[:20]!r}: write key=value")
        pairs[key.strip()] = value.strip()
    problem = launching.check_metadata(pairs)
    return launching.Refused(problem) if problem else pairs
