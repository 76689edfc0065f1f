"""What is asked and what the answer should be: a dataset example cut at its last assistant turn."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from core.dataset.messages import content_text
from core.dataset.store import RawLine, open_dataset

# Per-example API parameters that change what a model may answer, so they go with the prompt.
CARRIED_PARAMS = ("tools", "parallel_tool_calls")
# Keys of a training message the chat API does not accept (it answers 400 to unknown keys).
TRAINING_ONLY_KEYS = ("weight",)


@dataclass(frozen=True)
class Case:
    """One question. Its messages are the example's own objects, not copies: treat them as read-only."""

    line: int  # 1-based physical line in the source file
    prompt: list[dict]  # the messages before the last assistant turn
    gold: str  # the last assistant turn's text ("" when it only calls tools)
    params: dict  # {"tools": [...]} / {"parallel_tool_calls": ...} when the example has them


@dataclass(frozen=True)
class Skipped:
    line: int
    reason: str  # for a person: "not valid JSON", "no assistant turn", …


def text_of(content) -> str:
    """The text of a message's content, parts joined as the model reads them."""
    return content_text(content)


def _sendable(message: dict) -> dict:
    if message.get("role") == "assistant" and any(key in message for key in TRAINING_ONLY_KEYS):
        return {k: v for k, v in message.items() if k not in TRAINING_ONLY_KEYS}
    return message


def case_of(example: dict, line: int) -> Case | None:
    """The example as a question: its messages up to the last assistant turn, and that turn's text.

    None when there is nothing to predict: no assistant turn, or only one that opens the
    conversation (there would be no prompt to send).
    """
    messages = example.get("messages")
    if not isinstance(messages, list):
        return None
    last = next((k for k in range(len(messages) - 1, -1, -1) if isinstance(messages[k], dict) and messages[k].get("role") == "assistant"), None)
    if not last:  # None, or 0: an assistant turn with nothing before it
        return None
    prompt = [_sendable(m) for m in messages[:last]]
    params = {key: example[key] for key in CARRIED_PARAMS if key in example}
    return Case(line, prompt, text_of(messages[last].get("content")), params)


def _why_not(value, line: int) -> Skipped | None:
    """Why a record is no question, or None when `case_of` can make one."""
    if isinstance(value, RawLine):
        try:
            orjson.loads(value.raw)
        except orjson.JSONDecodeError:
            return Skipped(line, "not valid JSON")
        return Skipped(line, "not a JSON object")
    if "messages" not in value:
        if "input" in value and ("preferred_output" in value or "non_preferred_output" in value):
            return Skipped(line, "preference (DPO) example")
        return Skipped(line, "no messages")
    messages = value["messages"]
    if not isinstance(messages, list):
        return Skipped(line, "messages is not a list")
    if not all(isinstance(m, dict) for m in messages):
        return Skipped(line, "a message is not a JSON object")
    roles = [m.get("role") for m in messages]
    if "assistant" not in roles:
        return Skipped(line, "no assistant turn")
    if roles.index("assistant") == 0 and roles.count("assistant") == 1:
        return Skipped(line, "nothing before the assistant turn")
    return None


def read_cases(path: str | Path, *, limit: int | None = None) -> tuple[list[Case], list[Skipped]]:
    """Every example of a JSONL file as a Case (at most `limit`), and the lines that are none, with why.

    Synchronous: it reads the file (call it from a worker thread in the app). A file that cannot
    be opened raises core.dataset's `DatasetError`.
    """
    cases: list[Case] = []
    skipped: list[Skipped] = []
    with open_dataset(path) as ds:
        for i in range(len(ds)):
            if limit is not None and len(cases) >= limit:
                break
            value, line = ds[i], ds.lineno(i)
            problem = _why_not(value, line)
            if problem is not None:
                skipped.append(problem)
                continue
            case = case_of(value, line)
            if case is not None:
                cases.append(case)
    return cases, skipped


def _system_text(example) -> str | None:
    if not isinstance(example, dict):  # a RawLine (invalid record) is a str
        return None
    messages = example.get("messages")
    if messages is None and isinstance(example.get("input"), dict):  # a preference example
        messages = example["input"].get("messages")
    if not isinstance(messages, list):
        return None
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "system":
            return text_of(message.get("content")) or None
    return None


def most_common_system_prompt(examples: Iterable[dict]) -> str | None:
    """The system prompt most examples start with (ties: the one seen first); None when none has one.

    The playground pre-fills its system prompt with it, so a tuned model is asked the way it was trained.
    """
    counts = Counter(text for text in map(_system_text, examples) if text)
    return counts.most_common(1)[0][0] if counts else None


def sample_examples(dataset, most: int = 2000) -> list[dict]:
    """Up to `most` of a Dataset's examples, parsed, spread evenly over the file (invalid lines
    skipped): enough to tell its usual system prompt or pick style references without parsing a
    file of a million lines. Synchronous: call it from a thread."""
    step = max(1, len(dataset) // most)
    sample = []
    for i in range(0, len(dataset), step):
        try:
            value = orjson.loads(dataset.raw(i))
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            sample.append(value)
    return sample
