"""A model's reply read into example values, robustly, with a reason for every part that cannot be read.

Accepted shapes: `{"examples": [...]}` (or another object holding one list of objects), a bare
array, a single example object, JSONL (one example a line) — each of them bare, inside ```
fences, or with prose around. Models without structured outputs produce all of these.

How. The whole reply (then the first fenced block) is tried as one JSON value: the fast path,
and the only one that sees array items that are not objects (they come back as values, so the
rules can say what is wrong with them). Otherwise the reply is scanned for objects: each `{`
is matched to its closing brace (string-aware), and a complete object is kept when it is an
example, entered when it is something else (a wrapper such as `{"examples": [...`, whole or cut
short). An example object that does not parse is reported and skipped as a whole (its messages
are not taken for examples); a trailing comma, the commonest slip, is forgiven. A reply that
ends inside an example, or inside the list before its end, was cut short: every complete
example before the cut is kept, and the cut is one reason.

Positions in reasons ("at char 120") count characters from the start of the reply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import orjson

# Keys an example can start with: a chat example, or a preference (DPO) one.
EXAMPLE_KEYS = ("messages", "input", "preferred_output", "non_preferred_output", "tools", "parallel_tool_calls", "functions")
_EXAMPLE_START = re.compile(r'\{\s*"(?:' + "|".join(EXAMPLE_KEYS) + r')"\s*:')
# A JSON string (an unterminated one runs to the end), or a bracket.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)|[{}\[\]]', re.S)
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
SHOWN = 60  # characters of unreadable text quoted in a reason
_FAILED = object()  # what _loads returns for text that is not JSON (None is JSON null)


@dataclass(frozen=True)
class Part:
    """One piece of a reply: an example value, or text that could not be read and why."""

    value: object | None  # the parsed value (None when unreadable)
    raw: str  # its JSON text (compact), or the text that could not be read
    reason: str | None = None  # None when readable
    at: int = 0  # where it starts in the reply (characters)


def parse_reply(text: str) -> tuple[list[object], list[str]]:
    """(values that look like examples, reasons for the parts that could not be read)."""
    parts = parse_parts(text)
    return [p.value for p in parts if p.reason is None], [p.reason for p in parts if p.reason is not None]


def parse_parts(text: str) -> list[Part]:
    """Every example value and every unreadable part of `text`, in the order they appear."""
    whole = _loads(text.strip())
    if whole is not _FAILED:
        return _from_value(whole, text, text.find(text.strip()[:1]) if text.strip() else 0)
    fence = _FENCE.search(text)
    if fence and fence.group(1).strip():
        inner = _loads(fence.group(1).strip())
        if inner is not _FAILED:
            return _from_value(inner, text, fence.start(1))
    return _jsonl(text) or _Scan(text).run()


def _loads(text: str):
    if not text:
        return _FAILED
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _FAILED


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


def _is_example(value) -> bool:
    return isinstance(value, dict) and any(key in value for key in EXAMPLE_KEYS)


def _items(value) -> list | None:
    """The list of examples a parsed value holds, or None when it holds none."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("examples"), list):
        return value["examples"]
    if _is_example(value):
        return [value]
    # {"data": [...]}, {"conversations": [...]}: the first list of objects is the examples.
    for item in value.values():
        if isinstance(item, list) and item and all(isinstance(x, dict) for x in item):
            return item
    return None


def _element(item):
    """An array item as an example value: a JSON string holding an object is read as that object."""
    if isinstance(item, str) and item.lstrip().startswith("{"):
        inner = _loads(item.strip())
        if isinstance(inner, dict):
            return inner
    return item


def _from_value(value, text: str, at: int) -> list[Part]:
    items = _items(value)
    if items is None:
        kind = {dict: "a JSON object", str: "a JSON string", bool: "JSON true or false", type(None): "JSON null"}.get(type(value), "a JSON number")
        keys = f" (keys: {', '.join(list(value)[:5])})" if isinstance(value, dict) and value else ""
        return [Part(None, text, f"the reply is {kind} with no examples in it{keys}", at)]
    if not items:
        return [Part(None, text, "the reply holds an empty list of examples", at)]
    return [Part(_element(item), _dumps(_element(item)), None, at) for item in items]


def _closing(text: str, start: int) -> int | None:
    """The index just past the bracket closing the one at `start`; None when the text ends first."""
    depth = 0
    for match in _TOKEN.finditer(text, start):
        token = match.group()
        if token[0] == '"':
            continue  # an unterminated string runs to the end: no bracket closes after it
        depth += 1 if token in "{[" else -1
        if depth == 0:
            return match.end()
    return None


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text[:SHOWN] + ("…" if len(text) > SHOWN else ""))


def _parse(chunk: str):
    value = _loads(chunk)
    if value is _FAILED and "," in chunk:
        value = _loads(_TRAILING_COMMA.sub(r"\1", chunk))
    return value


def _invalid(chunk: str, at: int, number: int) -> str:
    try:
        json.loads(chunk)
    except json.JSONDecodeError as error:
        return f"example {number}: not valid JSON at char {at + error.pos}: {error.msg}"
    return f"example {number}: not valid JSON"  # json and orjson disagree: say no more


def _cut_reason(whole: int) -> str:
    return f"reply cut short after {whole} example{'s' if whole != 1 else ''}"


def _jsonl(text: str) -> list[Part] | None:
    """One example a line (fence lines and blank lines aside), or None when the reply is not that.

    JSONL when every such line starts with `{` and most of them are JSON on their own (an object
    spread over lines whose every line starts with `{` is not JSONL; the scan reads it).
    """
    lines = []
    at = 0
    for line in text.splitlines(keepends=True):
        body = line.strip()
        if body and not body.startswith("```"):
            lines.append((at + line.index(body[0]), body))
        at += len(line)
    if len(lines) < 2 or not all(body.startswith("{") for _, body in lines):
        return None
    values = [_parse(body) for _, body in lines]
    if 2 * sum(value is not _FAILED for value in values) <= len(lines):
        return None
    parts: list[Part] = []
    for k, ((start, body), value) in enumerate(zip(lines, values), 1):
        if value is not _FAILED:
            parts.append(Part(value, _dumps(value), None, start))
        elif k == len(lines) and _closing(body, 0) is None:
            parts.append(Part(None, body, _cut_reason(sum(p.reason is None for p in parts)), start))
        else:
            parts.append(Part(None, body, _invalid(body, start, k), start))
    return parts


class _Scan:
    """The slow path: objects found one by one in a reply that is not one JSON value."""

    def __init__(self, text: str):
        self.text = text
        self.parts: list[Part] = []
        self.examples = 0  # example objects met so far, readable or not: "example 4"
        self.unclosed = False  # entered an object that the reply never closes
        self.end = 0  # where the last example found ends

    def run(self) -> list[Part]:
        text = self.text
        pos = 0
        while (start := text.find("{", pos)) != -1:
            end = _closing(text, start)
            example = bool(_EXAMPLE_START.match(text, start))
            if end is None:
                if example:  # the reply ends inside an example
                    self.parts.append(Part(None, text[start:], _cut_reason(self._whole()), start))
                    return self.parts
                self.unclosed = True  # `{"examples": [ …` never closed: look inside it
                pos = start + 1
                continue
            value = _parse(text[start:end])
            if value is _FAILED:
                if not example:
                    pos = start + 1  # perhaps a wrapper with a broken example inside: look inside it
                    continue
                self.examples += 1
                self.parts.append(Part(None, text[start:end], _invalid(text[start:end], start, self.examples), start))
            elif _is_example(value):
                self.examples += 1
                self.parts.append(Part(value, _dumps(value), None, start))
            elif isinstance(value, dict) and isinstance(value.get("examples"), list):
                for item in value["examples"]:
                    self.examples += 1
                    self.parts.append(Part(_element(item), _dumps(_element(item)), None, start))
            else:
                pos = start + 1  # some other object: there may be examples inside it
                continue
            pos = self.end = end
        if self.unclosed and self.parts:  # the list was cut between two examples
            self.parts.append(Part(None, text[self.end :], _cut_reason(self._whole()), self.end))
        if not self.parts:
            stripped = text.strip()
            why = "the reply is empty" if not stripped else f"no example in the reply; it begins {_quote(stripped)}"
            self.parts.append(Part(None, text, why, 0))
        return self.parts

    def _whole(self) -> int:
        return sum(1 for p in self.parts if p.reason is None)
