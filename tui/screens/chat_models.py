"""Choose the playground's models: one to chat with, two or three to compare side by side.

The list comes from the server, tuned models and checkpoints first with the job each came from
(core.service.models); any name can be typed too (on Azure, a deployment's name).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

SLOTS = ("A", "B", "C")
KIND_STYLE = {"tuned": "bold green", "checkpoint": "green", "base": ""}


class ModelsScreen(ModalScreen[list[str] | None]):
    DEFAULT_CSS = """
    ModelsScreen { align: center middle; }
    ModelsScreen > Vertical { width: 96; max-width: 100%; height: auto; max-height: 100%; border: thick $primary; background: $surface; padding: 0 1; }
    ModelsScreen .title { text-style: bold; }
    ModelsScreen .hint { color: $text-muted; }
    ModelsScreen Horizontal { height: 1; margin-top: 1; }
    ModelsScreen Horizontal Static { width: 3; }
    ModelsScreen Input, ModelsScreen Input:focus { border: none; height: 1; padding: 0 1; width: 1fr; background: $boost; }
    ModelsScreen OptionList { height: auto; max-height: 10; margin-top: 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "use", "Use these", id="models.use"),
        Binding("escape", "dismiss(None)", "Cancel", id="models.cancel"),
    ]

    def __init__(self, models: list[str], *, azure: bool = False) -> None:
        super().__init__()
        self.models = models
        self.azure = azure
        self._slot = 0  # the box a picked model goes into

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Models — one to chat with; two or three to compare side by side", classes="title")
            hint = "Type a name or pick one below (Enter); Enter in a box or ctrl+s uses them; an empty box is no model."
            if self.azure:
                hint += " Azure: a tuned model answers through its deployment — type the deployment's name."
            yield Static(hint, classes="hint", markup=False)
            for index, slot in enumerate(SLOTS):
                with Horizontal():
                    yield Static(slot)
                    placeholder = "deployment name" if self.azure else ("model" if index == 0 else "compare with (optional)")
                    yield Input(self.models[index] if index < len(self.models) else "", id=f"slot-{index}", placeholder=placeholder)
            yield OptionList(id="offers")
            yield Static("listing the server's models…", id="offers-note", classes="hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#slot-0", Input).focus()
        self.list_offers()

    @work(exclusive=True, group="models-offers", exit_on_error=False)
    async def list_offers(self) -> None:
        from core.service.errors import ServiceError
        from core.service.models import list_offers

        feed = self.app.jobs_feed
        note = self.query_one("#offers-note", Static)
        try:
            conn = await feed.connection()
            await feed.refresh()  # the jobs say where each tuned model came from
            offers = await list_offers(conn, [view.job for view in feed.board.views.values()])
        except ServiceError as error:
            note.update(f"⚠ could not list the models ({error.title}); type a name")
            return
        options = []
        for offer in offers:
            label = Text(offer.model, style=KIND_STYLE[offer.kind])
            if offer.detail:
                label.append(f"  {offer.detail}", style="dim")
            if offer.job_id:
                label.append(f"  from {offer.job_id}", style="dim")
            if self.azure and offer.kind != "base":
                label.append("  (answers once deployed)", style="yellow")
            options.append(Option(label, id=offer.model))
        self.query_one(OptionList).set_options(options)
        tuned = sum(1 for o in offers if o.kind != "base")
        note.update(f"{len(offers)} models: {tuned} tuned or checkpoints, {len(offers) - tuned} base")
        for box in self.query(Input):
            box.suggester = SuggestFromList([o.model for o in offers], case_sensitive=False)

    def on_descendant_focus(self, event) -> None:
        if isinstance(event.widget, Input):
            self._slot = int(event.widget.id.split("-")[1])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one(f"#slot-{self._slot}", Input).value = event.option.id
        self._slot = min(self._slot + 1, len(SLOTS) - 1)
        self.query_one(f"#slot-{self._slot}", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_use()

    def action_use(self) -> None:
        chosen = [box.value.strip() for box in self.query(Input) if box.value.strip()]
        if not chosen:
            self.notify("Name at least one model.", severity="warning", markup=False)
            return
        self.dismiss(list(dict.fromkeys(chosen)))
