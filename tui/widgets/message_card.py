"""A message of an example as a card (role, weight, content, tool calls), the tools box, and their findings."""

from __future__ import annotations

import orjson
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from core.dataset.rules import CODES
from tui.widgets.field import KEEP, MISSING, Field, JsonField, pretty

Slot = tuple[str, ...]  # where a list of messages sits in an example, e.g. ("input", "messages")
SHOWN_KEYS = frozenset({"role", "content", "weight", "tool_calls", "tool_call_id", "name"})
ROLE_STYLES = {"system": "bold magenta", "user": "bold cyan", "assistant": "bold green", "tool": "bold yellow"}


def slot_path(slot: Slot, i: int) -> str:
    """The finding path of a message: `messages[2]`, `input.messages[0]`, `preferred_output[0]`."""
    return f"{'.'.join(slot)}[{i}]"


def calls_editable(calls) -> bool:
    """Can each call's arguments get a box of its own (else `tool_calls` is edited as one JSON value)?"""
    return (
        isinstance(calls, list)
        and bool(calls)
        and all(
            isinstance(c, dict) and isinstance(c.get("function"), dict) and isinstance(c["function"].get("arguments", ""), str)
            for c in calls
        )
    )


def content_state(message: dict) -> str:
    content = message.get("content", MISSING)
    if content is MISSING:
        return "missing"
    return "null" if content is None else "text" if isinstance(content, str) else "json"


def card_shape(slot: Slot, message: dict) -> tuple:
    """What decides a card's boxes: two messages of one shape differ only in texts and title."""
    calls = message.get("tool_calls", MISSING)
    if calls is MISSING:
        calls_shape = None
    elif calls_editable(calls):  # the call lines show each call's name and id
        calls_shape = tuple((c.get("id"), c["function"].get("name")) for c in calls)
    else:
        calls_shape = "json"
    return slot, content_state(message), calls_shape, tuple(key for key in message if key not in SHOWN_KEYS)


def findings_text(problems: list) -> Text:
    """Findings as plain Text (never markup: the messages quote dataset text)."""
    text = Text()
    for code, _path, message, fix in problems:
        error = CODES[code][0] == "error"
        if text:
            text.append("\n")
        text.append("✗ " if error else "⚠ ", style="bold red" if error else "bold yellow")
        text.append(message)
        if fix:
            text.append(f" → {fix}", style="italic")
        text.append(f"  {code}", style="dim")
    return text


def counts(problems: list) -> tuple[int, int]:
    errors = sum(CODES[p[0]][0] == "error" for p in problems)
    return errors, len(problems) - errors


class FindingsLine(Static):
    """The findings of one card (or of the whole example): hidden when there are none."""

    DEFAULT_CSS = """
    FindingsLine { padding: 0 1; display: none; }
    FindingsLine.-shown { display: block; }
    """

    def show(self, problems: list) -> None:
        if problems == getattr(self, "_shown", None):  # called on every key: touch the DOM only on a change
            return
        self._shown = problems
        self.update(findings_text(problems))
        self.set_class(bool(problems), "-shown")


def card_title(slot: Slot, i: int, message: dict) -> Text:
    label = f"#{i + 1}" if slot[-1] == "messages" else slot[0].replace("_output", "").replace("_", "-")
    role = message.get("role")
    title = Text(f" {label} ")
    title.append(role if isinstance(role, str) else "(no role)", style=ROLE_STYLES.get(role, "bold red"))
    if role == "assistant" or "weight" in message:
        weight = message.get("weight", 1)
        title.append(f" · weight {orjson.dumps(weight).decode()}")
        if weight == 0:
            title.append(" (not trained)")
    if isinstance(message.get("tool_call_id"), str):
        title.append(f" · answers {message['tool_call_id']}")
    if "name" in message:
        title.append(f" · name {message['name']}")
    title.append(" ")
    return title


class MessageCard(Vertical):
    """One message: role and weight in the border, its findings, its content and its tool calls."""

    DEFAULT_CSS = """
    MessageCard { height: auto; border: round $foreground 30%; border-subtitle-color: $text-muted; }
    MessageCard:focus-within { border: round $accent; }
    MessageCard.-error { border-subtitle-color: $error; }
    MessageCard > .call { padding: 0 1; color: $text-muted; }
    MessageCard > .other-keys { padding: 0 1; color: $text-muted; text-style: italic; }
    MessageCard JsonField { margin-left: 2; }
    """

    def __init__(self, slot: Slot, i: int, message: dict) -> None:
        super().__init__()
        self.slot, self.i = slot, i
        self.path = slot_path(slot, i)
        self._shown: list | None = None
        self.retitle(message)

    def retitle(self, message: dict) -> None:
        self.message = message
        self.border_title = Content.from_rich_text(card_title(self.slot, self.i, message))

    def renumber(self, i: int) -> None:
        """The card now shows message `i` of its list (a message was added or removed before it)."""
        self.i, self.path = i, slot_path(self.slot, i)
        for field in self.query(Field):
            field.key = (field.kind, self.slot, i, *field.key[3:])

    def compose(self) -> ComposeResult:
        message, slot, i = self.message, self.slot, self.i
        yield FindingsLine()
        state = content_state(message)
        if state == "json":  # a list of content parts (or something odd)
            yield JsonField(pretty(message["content"]), ("content-json", slot, i))
        else:
            calls = "tool_calls" in message
            hint = "no content (type to add it)" if state == "missing" else "null: the reply is the tool call" if calls else "null"
            empty = {"missing": MISSING, "null": None}.get(state, KEEP)
            yield Field(message.get("content") or "", ("content", slot, i), empty=empty, placeholder=hint)
        calls = message.get("tool_calls", MISSING)
        if calls is not MISSING and calls_editable(calls):
            for k, call in enumerate(calls):
                line = Text(f"↳ call {k + 1} ")
                line.append(str(call["function"].get("name")), style="bold")
                line.append(f" · id {call.get('id')}")
                yield Static(line, classes="call")
                yield JsonField(call["function"].get("arguments", ""), ("args", slot, i, k), placeholder="{} (the arguments)")
        elif calls is not MISSING:
            yield Static(Text("↳ tool_calls (a list of calls, as JSON):"), classes="call")
            yield JsonField(pretty(calls), ("calls", slot, i))
        others = [key for key in message if key not in SHOWN_KEYS]
        if others:
            yield Static(Text(f"also {', '.join(others)}: edit in the raw view (f2)"), classes="other-keys")

    def show(self, problems: list) -> None:
        if problems == self._shown:
            return
        self._shown = problems
        self.query_one(FindingsLine).show(problems)
        errors, warnings = counts(problems)
        marks = " ".join(part for part in (f"✗ {errors}" if errors else "", f"⚠ {warnings}" if warnings else "") if part)
        self.border_subtitle = Content(f" {marks} ") if marks else None
        self.set_class(bool(errors), "-error")


class ToolsBox(Vertical):
    """The example's `tools`, edited as JSON."""

    DEFAULT_CSS = """
    ToolsBox { height: auto; border: round $foreground 30%; }
    ToolsBox:focus-within { border: round $accent; }
    """

    def __init__(self, slot: Slot, tools) -> None:
        super().__init__()
        self.slot = slot
        self.path = ".".join(slot)
        self.retitle(tools)

    def retitle(self, tools) -> None:
        self.tools = tools
        count = f" · {len(tools)} function{'s' if len(tools) != 1 else ''}" if isinstance(tools, list) else ""
        self.border_title = Content(f" {self.path}{count} ")

    def compose(self) -> ComposeResult:
        yield FindingsLine()
        yield JsonField(pretty(self.tools), ("tools", self.slot), placeholder="empty: no tools key")

    def show(self, problems: list) -> None:
        self.query_one(FindingsLine).show(problems)
