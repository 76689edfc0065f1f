"""A playground conversation's rules: the sampling settings a person types, what is sent, and the
training example a conversation becomes when it is saved into a dataset."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from core.dataset import base_models, rules
from core.dataset.tokens import Counter

SYSTEM_ROLES = ("system", "developer")


@dataclass(frozen=True)
class ChatSettings:
    system: str = ""
    temperature: float | None = None  # None: the server's default
    max_tokens: int | None = None
    top_p: float | None = None

    def params(self) -> dict:
        """What goes with every request besides the messages."""
        sent = {"temperature": self.temperature, "max_tokens": self.max_tokens, "top_p": self.top_p}
        return {name: value for name, value in sent.items() if value is not None}

    def sent(self, messages: list[dict]) -> list[dict]:
        """The conversation as sent: the system prompt first, unless the conversation brings its
        own (a replayed dataset example keeps the one it was trained with)."""
        if not self.system.strip() or (messages and messages[0].get("role") in SYSTEM_ROLES):
            return list(messages)
        return [{"role": "system", "content": self.system}, *messages]

    def describe(self) -> str:
        shown = [f"{name} {value}" for name, value in self.params().items()]
        return ", ".join(shown) or "server defaults"


def parse_settings(system: str, temperature: str, max_tokens: str, top_p: str) -> ChatSettings | str:
    """Settings from what was typed (blank: the server's default), or what is wrong, for a person."""
    try:
        t = float(temperature) if temperature.strip() else None
    except ValueError:
        return f"temperature: {temperature!r} is not a number (0 to 2)"
    if t is not None and not 0 <= t <= 2:
        return f"temperature: {t} is outside 0 to 2"
    try:
        m = int(max_tokens) if max_tokens.strip() else None
    except ValueError:
        return f"max tokens: {max_tokens!r} is not a whole number"
    if m is not None and m < 1:
        return "max tokens: at least 1"
    try:
        p = float(top_p) if top_p.strip() else None
    except ValueError:
        return f"top-p: {top_p!r} is not a number (0 to 1)"
    if p is not None and not 0 < p <= 1:
        return f"top-p: {p} is outside (0, 1]"
    return ChatSettings(system, t, m, p)


TRAINING_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "weight")
EXAMPLE_PARAMS = ("tools", "parallel_tool_calls")


def as_example(system: str, messages: list[dict], params: dict | None = None) -> dict:
    """A chat training example from a conversation: the system prompt (when it has none of its
    own), then its turns with the fields a training line takes (what the API adds to a reply,
    such as `refusal`, is left out), and the tools a replayed example came with."""
    turns = ChatSettings(system=system).sent(messages)
    example: dict = {"messages": [{key: m[key] for key in TRAINING_KEYS if key in m} for m in turns]}
    for message in example["messages"]:
        if "tool_calls" not in message:
            message.setdefault("content", "")
    example.update({key: value for key, value in (params or {}).items() if key in EXAMPLE_PARAMS})
    return example


def example_problems(example: dict, model: str | None = None) -> list[str]:
    """What the dataset rules say about one example: errors first, each as `field: message`."""
    checked = rules.check_value(orjson.loads(orjson.dumps(example)), Counter(base_models.lookup(model).encoding), base_models.lookup(model))
    found = sorted(checked.problems or (), key=lambda p: rules.CODES[p[0]][0] != "error")
    return [f"{rules.CODES[code][0]}: {path + ': ' if path else ''}{message}" for code, path, message, _ in found]


def has_errors(problems: list[str]) -> bool:
    return any(p.startswith("error:") for p in problems)
