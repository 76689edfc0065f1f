"""The example editor: one example as message cards (or as its raw JSON), checked as you type.

Every change goes into the shared `Dataset` at once: a run of typing in one box is folded into a
single undoable edit (the previous fold is undone and replaced), so the document is dirty,
journaled and undoable as soon as a key is pressed, and leaving the editor cannot drop what was
typed. The only text that can be pending is JSON that does not parse yet (tools, a malformed
`tool_calls`, list content, the raw line); leaving with such text asks first.

Undo and redo are the Dataset's, for everything: typing, message edits and example-level edits
(new, duplicate, delete, move). The editor remembers which example each of its edits touched so
undo brings that example back on screen. After any change the boxes on screen are reconciled with
the example rather than rebuilt, which keeps the cursor and is fast enough for every key.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import partial
from pathlib import Path

import orjson
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import VerticalScroll
from textual.events import DescendantFocus
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from core.clock import SYSTEM
from core.dataset import ChangedOnDisk, Dataset, DatasetError, journal
from core.dataset.base_models import DEFAULT_MODEL, UnknownModel, lookup
from core.dataset.rules import Checked, check_line, check_value
from core.dataset.tokens import Counter
from tui.screens.editor_dialogs import ChangedOnDiskScreen, NewExampleScreen, RoleScreen, UnparsedScreen
from tui.screens.recovery import journaled
from tui.widgets.field import MISSING, Field, JsonField, Key, json_error, parse_json, pretty
from tui.widgets.message_card import FindingsLine, MessageCard, Slot, ToolsBox, card_shape, counts
from tui.widgets.profile_bar import ProfileBar

BURST_SECONDS = 2.0  # a pause in typing longer than this starts a new undo step
LONG_EXAMPLE_TOKENS = 4_000  # examples this long are re-checked on a timer, not on every key
CHAT_SLOTS: tuple[Slot, ...] = (("messages",),)
PREFERENCE_SLOTS: tuple[Slot, ...] = (("input", "messages"), ("preferred_output",), ("non_preferred_output",))
KIND_NAMES = {"raw": "the raw JSON", "tools": "tools", "calls": "tool_calls", "content-json": "content"}


# ----------------------------------------------------------------------------- example shapes


def get_in(value, path: Slot):
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def message_slots(example) -> tuple[Slot, ...] | None:
    """The message lists the cards show, or None when only the raw view can show this example."""
    if not isinstance(example, dict):
        return None
    if "messages" in example:
        slots = CHAT_SLOTS
    elif any(key in example for key in ("input", "preferred_output", "non_preferred_output")):
        slots = PREFERENCE_SLOTS
    else:
        return None
    for slot in slots:
        messages = get_in(example, slot)
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return None
    return slots


def tools_slot(slots: tuple[Slot, ...]) -> Slot:
    return ("input", "tools") if slots is PREFERENCE_SLOTS else ("tools",)


def holder(example, slot: Slot) -> dict | None:
    """The object that holds the last key of `slot`."""
    return get_in(example, slot[:-1]) if len(slot) > 1 else example


def within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def shape(example, slots: tuple[Slot, ...] | None, raw: bool) -> tuple:
    """("raw",) or ("cards", card shapes, has tools): what is on screen, apart from texts and titles."""
    if raw or slots is None:
        return ("raw",)
    cards = tuple(card_shape(slot, m) for slot in slots for m in get_in(example, slot))
    slot = tools_slot(slots)
    container = holder(example, slot)
    return "cards", cards, isinstance(container, dict) and slot[-1] in container


def field_text(example, key: Key) -> str:
    """The text of the box at `key` for this example."""
    kind = key[0]
    if kind == "raw":
        return pretty(example)
    if kind == "tools":
        return pretty(holder(example, key[1])[key[1][-1]])
    message = get_in(example, key[1])[key[2]]
    if kind == "content":
        content = message.get("content")
        return content if isinstance(content, str) else ""
    if kind == "content-json":
        return pretty(message.get("content"))
    if kind == "calls":
        return pretty(message.get("tool_calls"))
    return message["tool_calls"][key[3]]["function"].get("arguments", "")


def same_value(a, b) -> bool:
    """Equal as JSON, telling 1, 1.0 and true apart (Python's == does not)."""
    return isinstance(b, dict) and orjson.dumps(a) == orjson.dumps(b)


def template_like(example) -> dict:
    """An empty example of the same format, keeping the system prompt (a dataset usually shares one)."""
    slots = message_slots(example) or CHAT_SLOTS
    messages = get_in(example, slots[0]) or []
    system = next((m["content"] for m in messages if m.get("role") == "system" and isinstance(m.get("content"), str)), "")
    opening = [{"role": "system", "content": system}, {"role": "user", "content": ""}]
    if slots is PREFERENCE_SLOTS:
        reply = [{"role": "assistant", "content": ""}]
        return {"input": {"messages": opening}, "preferred_output": reply, "non_preferred_output": copy.deepcopy(reply)}
    return {"messages": [*opening, {"role": "assistant", "content": ""}]}


# ----------------------------------------------------------------------------- worker reports


@dataclass
class CounterReady(Message):
    counter: Counter | None
    problem: str | None = None


@dataclass
class Saved(Message):
    path: Path
    before: Path  # where the document was before (differs after "save elsewhere")


@dataclass
class SaveFailed(Message):
    title: str
    hint: str
    what: str  # "save" or "reload"
    changed_on_disk: bool = False


@dataclass
class Reloaded(Message):
    """The document was read from disk again (its edits dropped, as the user asked)."""


# ----------------------------------------------------------------------------- the screen


class EditorCommands(Provider):
    """The editor's actions in the command palette, named as in the help screen."""

    def _commands(self):
        screen = self.screen
        if isinstance(screen, EditorScreen):
            for binding in screen.BINDINGS:
                yield f"Editor: {binding.tooltip or binding.description}", partial(screen.run_action, binding.action), binding.key

    async def discover(self) -> Hits:
        for name, run, key in self._commands():
            yield DiscoveryHit(name, run, help=key)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, key in self._commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), run, help=key)


class EditorScreen(Screen[int | None]):
    """Edit example `index` of `dataset`. Dismisses with the index of the example shown last."""

    COMMANDS = {EditorCommands}
    DEFAULT_CSS = """
    EditorScreen { layout: vertical; }
    #editor-header { height: 1; padding: 0 1; background: $boost; }
    #editor-findings { max-height: 5; overflow-y: auto; border-bottom: solid $foreground 20%; }
    #editor-body { height: 1fr; }
    #editor-body > .editor-note { padding: 1 2; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the list (edits stay in the document)", id="editor.back"),
        Binding("ctrl+s", "save", "Save", id="editor.save"),
        # Priority, so that inside a text box too the one undo history is the document's.
        Binding("ctrl+z", "undo", "Undo", priority=True, id="editor.undo"),
        Binding("ctrl+y", "redo", "Redo", priority=True, show=False, id="editor.redo"),
        Binding("f2", "toggle_raw", "Raw", tooltip="Raw JSON of the whole line / the cards", id="editor.raw"),
        # Priority: a real terminal sends alt+letter with its letter, which a text box would type.
        Binding("alt+r", "role", "Role", priority=True, tooltip="Change this message's role", id="editor.role"),
        Binding("alt+w", "weight", "Weight", priority=True, show=False, tooltip="Weight 1/0: train on this reply or not", id="editor.weight"),
        Binding("alt+n", "add_message", "Add message", priority=True, show=False, tooltip="Add a message after this one", id="editor.add_message"),
        Binding("alt+d", "delete_message", "Delete message", priority=True, show=False, tooltip="Delete this message", id="editor.delete_message"),
        Binding("alt+up", "move_message(-1)", "Message up", show=False, tooltip="Move this message up", id="editor.message_up"),
        Binding("alt+down", "move_message(1)", "Message down", show=False, tooltip="Move this message down", id="editor.message_down"),
        Binding("ctrl+n", "new_example", "New example", show=False, tooltip="New example after this one (empty / copy)", id="editor.new_example"),
        Binding("f8", "delete_example", "Delete example", show=False, tooltip="Delete this example", id="editor.delete_example"),
        Binding("ctrl+up", "move_example(-1)", "Example up", show=False, tooltip="Move this example up in the file", id="editor.example_up"),
        Binding("ctrl+down", "move_example(1)", "Example down", show=False, tooltip="Move this example down in the file", id="editor.example_down"),
    ]

    MESSAGE_ACTIONS = frozenset({"role", "weight", "add_message", "delete_message", "move_message"})

    def __init__(self, dataset: Dataset, index: int, *, model: str = DEFAULT_MODEL) -> None:
        super().__init__()
        self.ds = dataset
        self.index = index
        self.model_problem = None
        try:
            self.model = lookup(model)
        except UnknownModel as exc:
            self.model, self.model_problem = lookup(DEFAULT_MODEL), str(exc)
        self.counter: Counter | None = None
        self.example: dict | None = None  # our own copy of the example shown; None for a raw line
        self.slots: tuple[Slot, ...] | None = None
        self.raw_mode = False  # the user asked for the raw view
        self.showing_raw = False  # the raw view is on screen (asked for, or the cards cannot show it)
        self.checked: Checked | None = None
        self._shape: tuple | None = None  # of the boxes on screen
        self._unparsed: dict[Key, str] = {}  # boxes whose text does not parse (so is not in the document)
        self._burst: tuple | None = None  # (box, edit number, example) of the last typing edit
        self._typed_at = 0.0
        self._positions: dict[int, tuple[int, int]] = {}  # edit number -> example index before, after
        self._busy = False  # a save or reload is running: the document must not change
        self._deferred = False  # typing happened while busy: apply it afterwards
        self._auto_focus = True  # until the user moves, focus may jump to the first error
        self._check_timer = None

    # ------------------------------------------------------------------ building

    def compose(self) -> ComposeResult:
        yield ProfileBar("datasets")
        yield Static(id="editor-header", markup=False)
        yield FindingsLine(id="editor-findings")
        yield VerticalScroll(id="editor-body", can_focus=False)
        yield Footer()

    async def on_mount(self) -> None:
        if self.model_problem:
            self.notify(self.model_problem, title="Checked against the default model", severity="warning", markup=False)
        self._load_counter()
        await self._show()

    @work(thread=True, group="editor-counter", exit_on_error=False)
    def _load_counter(self) -> None:
        # The first tokenizer of a process takes ~0.6 s to build: never on the event loop.
        try:
            self.post_message(CounterReady(Counter(self.model.encoding)))
        except Exception as exc:  # noqa: BLE001 - whatever it is, edit on without live checks
            self.post_message(CounterReady(None, str(exc)))

    def on_counter_ready(self, message: CounterReady) -> None:
        self.counter = message.counter
        if message.problem:
            self.notify(message.problem, title="No live checks", severity="error", markup=False)
        self._validate()
        if self._auto_focus:
            self._focus_first_error()

    def field(self, *key) -> Field | None:
        """The box at `key`, e.g. field("content", ("messages",), 2) or field("raw")."""
        return next((f for f in self.query(Field) if f.key == key), None)

    def card(self, i: int, slot: Slot = ("messages",)) -> MessageCard | None:
        """The card of message `i` of `slot`."""
        return next((c for c in self.query(MessageCard) if (c.slot, c.i) == (slot, i)), None)

    async def _show(self, focus: Key | None = None) -> None:
        """Show the document's example at `self.index`, keeping the boxes that still fit it."""
        body = self.query_one("#editor-body", VerticalScroll)
        self._unparsed.clear()
        self._burst = None
        self.example = self.slots = None
        if not len(self.ds):
            self.index, self._shape = 0, None
            await body.remove_children()
            await body.mount(Static(Text("This file has no examples. ctrl+n adds one, ctrl+z undoes the last edit."), classes="editor-note"))
            self._validate()
            return
        self.index = min(max(self.index, 0), len(self.ds) - 1)
        value = self.ds[self.index]
        if isinstance(value, dict):
            self.example = copy.deepcopy(value)  # ds[i] is a shared cache: never edit it in place
            self.slots = message_slots(self.example)
        self.showing_raw = self.raw_mode or self.slots is None
        old, self._shape = self._shape, shape(self.example, self.slots, self.showing_raw)
        if old is None or old[0] != self._shape[0]:
            await body.remove_children()
            if self.showing_raw:
                await body.mount(JsonField(pretty(self.example) if self.example is not None else str(value), ("raw",)))
        if not self.showing_raw:
            await self._fit_cards(body, old[1] if old and old[0] == "cards" else ())
        self._patch(value)
        self._validate()
        self._restore_focus(focus)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # Message keys mean nothing in the raw view: out of the footer there.
        return not (self.showing_raw and action in self.MESSAGE_ACTIONS)

    async def _fit_cards(self, body: VerticalScroll, before: tuple) -> None:
        """Add and remove cards so that they match the example's messages; keep the rest."""
        places = [(slot, i) for slot in self.slots for i in range(len(get_in(self.example, slot)))]
        old_cards = list(body.query_children(MessageCard))
        cards: list[MessageCard | None] = [None] * len(places)
        doomed = []
        for tag, a1, a2, b1, b2 in SequenceMatcher(None, before, self._shape[1], autojunk=False).get_opcodes():
            if tag == "equal":
                cards[b1:b2] = old_cards[a1:a2]
            else:
                doomed += old_cards[a1:a2]
        await body.remove_children([*doomed, *body.query_children(".editor-note")])
        anchor, new = None, []  # new cards go in after the last card kept before them

        async def place() -> None:
            if new:
                where = {"after": anchor} if anchor is not None else {"before": 0} if body.children else {}
                await body.mount_all(new, **where)
                new.clear()

        for (slot, i), card in zip(places, cards):
            if card is None:
                new.append(MessageCard(slot, i, get_in(self.example, slot)[i]))
                continue
            await place()
            if card.i != i:
                card.renumber(i)
            anchor = card
        await place()
        if not places:
            await body.mount(Static(Text("No messages yet: alt+n adds one."), classes="editor-note"), before=0 if body.children else None)
        tools = body.query_children(ToolsBox)
        if self._shape[2] and not tools:
            slot = tools_slot(self.slots)
            await body.mount(ToolsBox(slot, holder(self.example, slot)[slot[-1]]))
        elif tools and not self._shape[2]:
            await body.remove_children(tools)

    def _patch(self, value) -> None:
        """Put the example's texts and titles into the boxes on screen (only those that differ)."""
        for card in self.query(MessageCard):
            card.retitle(get_in(self.example, card.slot)[card.i])
        for box in self.query(ToolsBox):
            box.retitle(holder(self.example, box.slot)[box.slot[-1]])
        for field in self.query(Field):
            text = str(value) if self.example is None else field_text(self.example, field.key)
            field.original = text
            if field.text != text:
                row, column = field.cursor_location
                field.load_text(text)  # posts Changed, which finds nothing new to apply
                row = min(row, field.document.line_count - 1)
                field.move_cursor((row, min(column, len(field.document.get_line(row)))))
                if field.json:
                    field.parent.recheck()

    def _restore_focus(self, wanted: Key | None) -> None:
        fields = list(self.query(Field))
        if fields:
            next((f for f in fields if f.key == wanted), fields[0]).focus()

    def _focus_first_error(self) -> None:
        for card in self.query(MessageCard):
            if card.has_class("-error"):
                card.query(Field).first().focus()
                return

    # ------------------------------------------------------------------ checking

    def _validate(self) -> None:
        """Check the example as it stands (text that does not parse included) and show the findings."""
        problems: list = []
        self.checked = None
        if self.counter is not None and len(self.ds):
            raw = self.field("raw")
            if raw is not None and raw.text != raw.original:
                self.checked = check_line(raw.text.encode("utf-8", "surrogateescape"), self.counter, self.model)
            elif self.example is not None:
                self.checked = check_value(self.example, self.counter, self.model)
            else:
                self.checked = check_line(self.ds.raw(self.index), self.counter, self.model)
            problems = self.checked.problems or []
        rest = list(problems)
        for box in [*self.query(MessageCard), *self.query(ToolsBox)]:
            mine = [p for p in problems if within(p[1], box.path)]
            box.show(mine)
            rest = [p for p in rest if p not in mine]
        self.query_one("#editor-findings", FindingsLine).show(rest)
        self._refresh_header()

    def _refresh_header(self) -> None:
        ds, line = self.ds, Text()
        if len(ds):
            line.append(f"Example {self.index + 1:,} of {len(ds):,}", style="bold")
            if not self._busy:  # the index is being rebuilt by a save
                line.append(f" · line {ds.lineno(self.index):,}")
        else:
            line.append("No examples", style="bold")
        line.append(f" · {ds.path.name}")
        if ds.dirty or self._unparsed:
            line.append(" · modified", style="bold yellow")
        if self.showing_raw and len(ds):
            line.append(" · raw JSON", style="bold")
        if self.checked is not None:
            errors, warnings = counts(self.checked.problems or [])
            if errors:
                line.append(f" · ✗ {errors}", style="bold red")
            if warnings:
                line.append(f" · ⚠ {warnings}", style="bold yellow")
            if not errors and not warnings:
                line.append(" · ✓ ok", style="green")
            if self.checked.tokens:
                line.append(f" · {self.checked.tokens:,} tokens")
        elif len(ds):
            line.append(" · checking…", style="dim")
        line.no_wrap, line.overflow = True, "ellipsis"
        self.query_one("#editor-header", Static).update(line)

    # ------------------------------------------------------------------ typing

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        self._burst = None  # another box: another undo step
        fields = self.query(Field)
        if event.widget is not (fields.first() if fields else None):
            self._auto_focus = False

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        field = event.text_area
        if not isinstance(field, Field) or field.screen is not self:
            return
        if field.text != field.original:
            self._auto_focus = False
        if field.kind == "raw":
            self._typed_raw(field)
        else:
            self._typed(field)
        self._validate_soon()

    def _validate_soon(self) -> None:
        """Check on every key, except long examples: at most every 0.3 s (tokenizing them takes a while)."""
        if self.checked is None or self.checked.tokens < LONG_EXAMPLE_TOKENS:
            self._validate()
        elif self._check_timer is None:
            self._refresh_header()
            self._check_timer = self.set_timer(0.3, self._timed_check)

    def _timed_check(self) -> None:
        self._check_timer = None
        self._validate()

    def _typed(self, field: Field) -> None:
        """Put a box's text into our copy of the example, then into the document."""
        text, kind, slot = field.text, field.kind, field.key[1]
        if kind == "tools":
            container = holder(self.example, slot)
            if not text.strip():  # an emptied tools box means: no tools key
                container.pop(slot[-1], None)
                field.parent.show_error(None)
                self._unparsed.pop(field.key, None)
            elif (value := self._parsed(field)) is MISSING:
                return
            else:
                container[slot[-1]] = value
            field.original = text  # the document holds what this text says
            self._commit(field.key)
            return
        message = get_in(self.example, slot)[field.key[2]]
        if kind == "content":
            if text == "" and field.empty is MISSING:
                message.pop("content", None)
            else:
                message["content"] = None if text == "" and field.empty is None else text
        elif kind == "args":
            # Arguments are a JSON *string*: stored as typed, their syntax error shown under them.
            message["tool_calls"][field.key[3]]["function"]["arguments"] = text
            field.parent.show_error(parse_json(text)[1])
        elif (value := self._parsed(field)) is not MISSING:  # content-json, calls
            message["content" if kind == "content-json" else "tool_calls"] = value
        else:
            return
        field.original = text  # the document holds what this text says
        self._commit(field.key)

    def _parsed(self, field: Field):
        """The JSON value of a box, or MISSING (its error shown, the text pending) when it does not parse."""
        value, error = parse_json(field.text)
        field.parent.show_error(error)
        if error is None or field.text == field.original:
            self._unparsed.pop(field.key, None)
        else:
            self._unparsed[field.key] = error
        return MISSING if error else value

    def _typed_raw(self, field: Field) -> None:
        value = self._parsed(field)
        if value is not MISSING and not isinstance(value, dict):
            field.parent.show_error(json_error("raw", field.text))
            if field.text != field.original:
                self._unparsed[field.key] = json_error("raw", field.text)
        elif value is not MISSING:
            self.example = value
            field.original = field.text
            self._commit(field.key)

    def _commit(self, burst: Key | None = None) -> None:
        """Apply our copy of the example to the document, folding a run of typing into one edit."""
        if self.example is None or not len(self.ds):
            return
        if self._busy:
            self._deferred = True
            return
        ds, i = self.ds, self.index
        now = getattr(self.app, "clock", SYSTEM).now()
        fold = burst is not None and self._burst == (burst, ds.edits, i) and now - self._typed_at < BURST_SECONDS
        self._typed_at = now
        if fold:
            ds.undo()  # and redo it below with the newer text: one undo step per run of typing
        if same_value(self.example, ds[i]):
            self._burst = None
        else:
            ds.replace(i, self.example)
            self._positions[ds.edits] = (i, i)
            self._burst = (burst, ds.edits, i) if burst else None
        self._refresh_header()

    # ------------------------------------------------------------------ message actions

    def _free(self) -> bool:
        """May the document change now? Not while it is being saved, nor while a box holds JSON
        that does not parse (showing another version would drop that text); says so."""
        if self._busy:
            self.notify("Saving… one moment.", markup=False)
        elif self._unparsed:
            self.notify(f"First fix the JSON in {self._unparsed_names()}, or undo it (ctrl+z).", severity="warning", markup=False)
        return not self._busy and not self._unparsed

    def _cards_ready(self) -> bool:
        if not self._free():
            return False
        if self.showing_raw:
            self.notify("Messages are edited in the cards view (f2).", markup=False)
        return not self.showing_raw

    def _focused_card(self) -> MessageCard | None:
        node = self.focused
        while node is not None and not isinstance(node, MessageCard):
            node = node.parent
        return node

    def _current_card(self) -> MessageCard | None:
        """The card holding the cursor (None, with a hint, when there is none or this is the raw view)."""
        if not self._cards_ready():
            return None
        card = self._focused_card()
        if card is None:
            self.notify("Put the cursor in a message first (Tab moves between boxes).", markup=False)
        return card

    def _focus_key(self) -> Key | None:
        return self.focused.key if isinstance(self.focused, Field) else None

    async def _restructured(self, focus: Key | None, note: str = "") -> None:
        self._commit()
        await self._show(focus)
        if note:
            self.notify(note, timeout=3, markup=False)

    async def action_role(self) -> None:
        card = self._current_card()
        if card is None:
            return
        focus = self._focus_key()

        async def chosen(role: str | None) -> None:
            if role and role != card.message.get("role"):
                card.message["role"] = role
                await self._restructured(focus)

        await self.app.push_screen(RoleScreen(), chosen)

    async def action_weight(self) -> None:
        card = self._current_card()
        if card is None:
            return
        message = card.message
        if message.get("role") == "assistant":
            message["weight"] = 1 if message.get("weight", 1) == 0 else 0
            await self._restructured(self._focus_key())
        elif "weight" in message:  # on any other role it is an error: toggling it off fixes that
            del message["weight"]
            await self._restructured(self._focus_key(), "Removed `weight`: only assistant messages carry one.")
        else:
            self.notify("Weight applies to assistant messages only.", markup=False)

    async def action_add_message(self) -> None:
        if not self._cards_ready():
            return
        card = self._focused_card()
        if card is not None:
            slot, i = card.slot, card.i + 1
            role = "assistant" if card.message.get("role") in ("user", "tool") else "user"
        else:  # the cursor is in the tools, or there are no messages yet
            slot, role = self.slots[0], "user"
            i = len(get_in(self.example, slot))
        get_in(self.example, slot).insert(i, {"role": role, "content": ""})
        await self._restructured(("content", slot, i))

    async def action_delete_message(self) -> None:
        card = self._current_card()
        if card is None:
            return
        messages = get_in(self.example, card.slot)
        del messages[card.i]
        after = min(card.i, len(messages) - 1)
        focus = ("content", card.slot, after) if after >= 0 else None
        await self._restructured(focus, f"Deleted message {card.i + 1} (ctrl+z brings it back).")

    async def action_move_message(self, step: int) -> None:
        card = self._current_card()
        if card is None:
            return
        messages, i, j = get_in(self.example, card.slot), card.i, card.i + step
        if not 0 <= j < len(messages):
            return self.notify("Already at the " + ("top." if step < 0 else "bottom."), markup=False)
        messages[i], messages[j] = messages[j], messages[i]
        key = self._focus_key() or ("content", card.slot, i)
        await self._restructured((key[0], card.slot, j, *key[3:]))

    # ------------------------------------------------------------------ example actions

    async def _went(self, before: int, after: int, note: str = "") -> None:
        self._positions[self.ds.edits] = (before, after)
        self.index = after
        await self._show(None)
        if note:
            self.notify(note, timeout=3, markup=False)

    async def action_new_example(self) -> None:
        if not self._free():
            return
        if not len(self.ds):
            self.ds.insert(0, template_like(None))
            return await self._went(0, 0)

        async def chosen(answer: str | None) -> None:
            i = self.index
            if answer == "copy":
                self.ds.duplicate(i)
            elif answer == "empty":
                self.ds.insert(i + 1, template_like(self.ds[i]))
            else:
                return
            await self._went(i, i + 1)

        await self.app.push_screen(NewExampleScreen(), chosen)

    async def action_delete_example(self) -> None:
        if not self._free() or not len(self.ds):
            return
        i = self.index
        self.ds.delete(i)
        await self._went(i, min(i, len(self.ds) - 1), f"Deleted example {i + 1} (ctrl+z brings it back).")

    def action_move_example(self, step: int) -> None:
        if not self._free() or not len(self.ds):
            return
        i, j = self.index, self.index + step
        if not 0 <= j < len(self.ds):
            return self.notify("Already the " + ("first example." if step < 0 else "last example."), markup=False)
        self.ds.move(i, j)
        self._positions[self.ds.edits] = (i, j)
        self.index, self._burst = j, None
        self._refresh_header()

    async def action_undo(self) -> None:
        if self._busy:
            return self.notify("Saving… one moment.", markup=False)
        focus = self._focus_key()
        if self._unparsed:  # that text is not in the document: undoing it means going back to the document
            await self._show(focus)
            return self.notify("Went back to the last JSON that parsed.", timeout=3, markup=False)
        n = self.ds.edits
        if not self.ds.undo():
            return self.notify("Nothing to undo.", timeout=2, markup=False)
        self.index = self._positions.get(n, (self.index, self.index))[0]
        await self._show(focus)

    async def action_redo(self) -> None:
        if not self._free():
            return
        if not self.ds.redo():
            return self.notify("Nothing to redo.", timeout=2, markup=False)
        self.index = self._positions.get(self.ds.edits, (self.index, self.index))[1]
        await self._show(self._focus_key())

    async def action_toggle_raw(self) -> None:
        if not len(self.ds) or not self._free():
            return
        if self.showing_raw and message_slots(self.example) is None:
            return self.notify("The cards cannot show this JSON: it needs a list of message objects.", markup=False)
        self.raw_mode = not self.showing_raw
        await self._show(("raw",) if self.raw_mode else None)

    # ------------------------------------------------------------------ saving

    def action_save(self) -> None:
        if self._busy:
            return
        if self._unparsed:
            self.notify(f"{self._unparsed_names()}: JSON that does not parse is not saved.", severity="warning", markup=False)
        if not self.ds.dirty:
            self.notify("No unsaved changes.", timeout=2, markup=False)
            return
        self._start("save", partial(self.ds.save, None))

    def _start(self, what: str, job) -> None:
        self._busy = True
        self._io(what, job)

    @work(thread=True, group="editor-io", exit_on_error=False)
    def _io(self, what: str, job) -> None:
        """Save or reload in a thread (a large file takes a while); report back with a message."""
        before = self.ds.path
        try:
            result = job()
        except ChangedOnDisk as exc:
            self.post_message(SaveFailed(exc.title, exc.hint, what, changed_on_disk=True))
        except DatasetError as exc:
            self.post_message(SaveFailed(exc.title, exc.hint, what))
        except OSError as exc:
            self.post_message(SaveFailed(f"could not write {exc.filename or before}", exc.strerror or str(exc), what))
        else:
            self.post_message(Saved(result, before) if what == "save" else Reloaded())

    def _done(self) -> None:
        self._busy = False
        self.query_one("#editor-body").disabled = False
        if self._deferred:
            self._deferred = False
            self._commit()
        self._refresh_header()

    def on_saved(self, message: Saved) -> None:
        self._done()
        if message.path.resolve() != message.before.resolve():
            self._moved(message.before, message.path)
        self.notify(f"Saved {message.path}", timeout=3, markup=False)

    def _moved(self, before: Path, after: Path) -> None:
        """After "save elsewhere" the new file is the document's file."""
        documents = getattr(self.app, "documents", None)
        if isinstance(documents, dict):  # keep the app's registry of open files truthful
            for key in [k for k, v in documents.items() if v is self.ds]:
                del documents[key]
            documents[after.resolve()] = self.ds
        if journaled(self.ds):  # this session's journal of the old file: its edits are saved now
            journal.journal_path(before).unlink(missing_ok=True)

    def on_save_failed(self, message: SaveFailed) -> None:
        self._done()
        if not message.changed_on_disk:
            label = "Not saved" if message.what == "save" else "Not reloaded"
            self.notify(message.hint, title=f"{label}: {message.title}", severity="error", markup=False)
            return
        path = self.ds.path
        self.app.push_screen(ChangedOnDiskScreen(path, path.with_name(f"{path.stem}.edited{path.suffix}")), self._after_disk_choice)

    def _after_disk_choice(self, answer: tuple[str, str] | None) -> None:
        if answer is None:
            self.notify("Not saved. Your edits are kept in the document.", timeout=4, markup=False)
        elif answer[0] == "elsewhere":
            self._start("save", partial(self.ds.save, Path(answer[1])))
        else:
            self.query_one("#editor-body").disabled = True  # what is typed now would be dropped
            self._start("reload", self._reload)

    def _reload(self) -> None:
        self.ds.reload()  # listeners stay and are told: the journal forgets the dropped edits

    async def on_reloaded(self, message: Reloaded) -> None:
        self._deferred = False  # typing during a reload belonged to the dropped version
        self._done()
        self._positions.clear()
        await self._show(None)
        self.notify(f"Reloaded {self.ds.path.name} from disk.", timeout=3, markup=False)

    # ------------------------------------------------------------------ leaving

    def _unparsed_names(self) -> str:
        return ", ".join(KIND_NAMES.get(key[0], key[0]) for key in self._unparsed)

    def unapplied(self) -> list[str]:
        """What is typed here but not in the document (JSON that does not parse), e.g. for a quit prompt."""
        return [KIND_NAMES.get(key[0], key[0]) for key in self._unparsed]

    async def action_back(self) -> None:
        if self._busy:
            return self.notify("Saving… one moment.", markup=False)
        if not self._unparsed:
            self.dismiss(self.index if len(self.ds) else None)
            return
        raw = self.field("raw") if ("raw",) in self._unparsed else None
        body = f"{self._unparsed_names()}: {next(iter(self._unparsed.values()))}.\nEverything else you changed is already in the document."

        def chosen(answer: str | None) -> None:
            if answer == "keep" and raw is not None:
                # A record is one line: the text's line breaks become spaces.
                self.ds.replace(self.index, " ".join(raw.text.splitlines()))
                self._positions[self.ds.edits] = (self.index, self.index)
            if answer in ("keep", "drop"):
                self.dismiss(self.index)
            elif (field := self.field(*next(iter(self._unparsed)))) is not None:
                field.focus()

        await self.app.push_screen(UnparsedScreen(body, raw=raw is not None), chosen)
