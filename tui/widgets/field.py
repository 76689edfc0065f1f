"""The editor's text boxes: a `Field` bound to one place in an example, and a `JsonField` that shows its JSON error."""

from __future__ import annotations

import orjson
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, TextArea

try:  # JSON highlighting needs tree-sitter and its JSON grammar; plain text otherwise
    from textual._tree_sitter import TREE_SITTER, get_language

    JSON_LANGUAGE = "json" if TREE_SITTER and get_language("json") is not None else None
except ImportError:  # pragma: no cover - a Textual without the module
    JSON_LANGUAGE = None

Key = tuple  # a box's place: (kind, slot, message index[, call index]); ("tools", slot); ("raw",)


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISSING = _Marker("MISSING")  # a key the message does not have (as opposed to null)
KEEP = _Marker("KEEP")  # an emptied box stores "" (the value was a string)


def parse_json(text: str):
    """(value, None) or (None, "line 2, column 8: what is wrong")."""
    try:
        return orjson.loads(text), None
    except orjson.JSONDecodeError as exc:
        return None, f"line {exc.lineno}, column {exc.colno}: {exc.msg}"


def json_error(kind: str, text: str) -> str | None:
    """What is wrong with a JSON box's text (None when nothing is)."""
    value, error = parse_json(text)
    if error is None and kind == "raw" and not isinstance(value, dict):
        return f"a line must hold a JSON object, not {'an array' if isinstance(value, list) else type(value).__name__}"
    return error


def pretty(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


class Field(TextArea):
    """A text box bound to one place in the example: content, a call's arguments, tools, the whole line."""

    DEFAULT_CSS = """
    Field { height: auto; max-height: 12; border: none; padding: 0 1; background: $surface; }
    Field:focus { border: none; background: $boost; }
    Field.-raw { height: 1fr; max-height: 100%; }
    """

    def __init__(self, text: str, key: Key, *, json: bool = False, empty=KEEP, placeholder: str = "") -> None:
        super().__init__(
            text,
            language=JSON_LANGUAGE if json else None,
            soft_wrap=True,
            tab_behavior="focus",
            highlight_cursor_line=False,
            placeholder=placeholder,
            classes="-raw" if key[0] == "raw" else None,
        )
        self.key = key
        self.json = json
        self.empty = empty  # what an emptied box stores: MISSING (drop the key), None, or KEEP ("")
        self.original = text  # what the document holds: unchanged text is never "pending"

    @property
    def kind(self) -> str:
        return self.key[0]


class JsonField(Vertical):
    """A JSON box with its syntax error, if any, on the line under it."""

    DEFAULT_CSS = """
    JsonField { height: auto; }
    JsonField.-raw { height: 1fr; }
    JsonField > .json-error { color: $error; padding: 0 1; display: none; }
    JsonField > .json-error.-shown { display: block; }
    """

    def __init__(self, text: str, key: Key, *, placeholder: str = "") -> None:
        super().__init__(classes="-raw" if key[0] == "raw" else None)
        self.field = Field(text, key, json=True, placeholder=placeholder)

    def compose(self) -> ComposeResult:
        yield self.field
        yield Static("", classes="json-error", markup=False)

    def on_mount(self) -> None:
        self.recheck()

    def recheck(self) -> None:
        """Show what is wrong with JSON the document itself holds (arguments are strings; a raw line may be anything)."""
        field = self.field
        self.show_error(json_error(field.kind, field.text) if field.kind in ("args", "raw") and field.text else None)

    def show_error(self, error: str | None) -> None:
        line = self.query_one(".json-error", Static)
        line.update(Text(f"✗ JSON: {error}") if error else "")
        line.set_class(bool(error), "-shown")
