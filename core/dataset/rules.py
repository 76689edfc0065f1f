"""Every check the fine-tuning service applies to a training file, and the ones it should.

Each problem is a `Finding` with a stable `code` (scripts and the README depend on the codes),
a severity, the 1-based physical line of its record, the JSON path inside the example
(`messages[2].content`), a message written for a person, and a fix where one is obvious.

This is the bulk path: plain checks on the dicts orjson gives, fast enough to validate a
million examples (pydantic per line is several times slower; `schema.py` holds the models used
to edit one example, and a test holds both to the same verdict).

Roles: the service documents system, user, assistant, tool, and the deprecated function role for
chat fine-tuning (`FineTuneChatRequestInput` in the OpenAPI document: its `messages` items are the
system, user, fine-tune assistant, tool and function message schemas). `developer`, accepted by
chat completions, is not in that list, so it is reported with the fix "use system".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import orjson

from core.dataset.base_models import MAX_IMAGES_PER_EXAMPLE, MIN_EXAMPLES, BaseModel
from core.dataset.tokens import SPECIAL_TOKENS, TOKENS_PER_MESSAGE, TOKENS_REPLY_PRIMING, Counter

Severity = Literal["error", "warning"]

# code -> (severity, what it means). The codes are a contract: never rename one.
CODES: dict[str, tuple[Severity, str]] = {
    "invalid-utf8": ("error", "the line is not valid UTF-8"),
    "invalid-json": ("error", "the line is not valid JSON"),
    "not-an-object": ("error", "the line is JSON but not an object"),
    "missing-messages": ("error", "no `messages` (chat) or `input` (preference) key"),
    "empty-messages": ("error", "`messages` is not a non-empty list"),
    "unknown-key": ("error", "a key the service does not accept"),
    "message-not-object": ("error", "a message is not an object"),
    "missing-role": ("error", "a message has no role"),
    "unknown-role": ("error", "a role the service does not accept"),
    "missing-content": ("error", "a message has no content"),
    "content-invalid": ("error", "content is neither a string nor a list of parts"),
    "content-part-invalid": ("error", "a content part is malformed"),
    "name-invalid": ("error", "`name` is not 1–64 letters, digits, _ or -"),
    "no-assistant-message": ("error", "no assistant message to learn from"),
    "weight-invalid": ("error", "`weight` is not 0 or 1"),
    "weight-not-assistant": ("error", "`weight` on a message that is not from the assistant"),
    "tool-calls-invalid": ("error", "`tool_calls` or `function_call` is malformed"),
    "tool-arguments-invalid-json": ("error", "tool call `arguments` is not a JSON string"),
    "tool-call-id-unknown": ("error", "a tool message answers no earlier tool call"),
    "tools-invalid": ("error", "`tools`, `functions` or `parallel_tool_calls` is malformed"),
    "image-in-assistant": ("error", "an image in an assistant message"),
    "too-many-images": ("error", f"more than {MAX_IMAGES_PER_EXAMPLE} images in one example"),
    "images-not-supported": ("error", "the chosen model does not train on images"),
    "special-token": ("error", "text contains a special token of the tokenizer"),
    "too-many-tokens": ("error", "the example is longer than the model's limit"),
    "dpo-invalid": ("error", "a preference (DPO) example has the wrong shape"),
    "too-few-examples": ("error", f"fewer than {MIN_EXAMPLES} valid examples in the file"),
    "mixed-formats": ("error", "chat and preference examples in one file"),
    "no-system-message": ("warning", "no system message"),
    "no-user-message": ("warning", "no user message"),
    "empty-assistant-content": ("warning", "an assistant message with empty content"),
    "last-message-not-assistant": ("warning", "the last message is not from the assistant"),
    "no-trained-message": ("warning", "every assistant message has weight 0"),
    "dpo-same-outputs": ("warning", "preferred and non-preferred outputs are identical"),
    "duplicate-example": ("warning", "an exact copy of an earlier example"),
    "several-system-prompts": ("warning", "more than one distinct system prompt"),
    "utf8-bom": ("warning", "the file starts with a UTF-8 byte-order mark"),
}

# Codes about the shape of one example, as opposed to its content (tokens, special tokens) or the
# file as a whole. `schema.py` must reject exactly the examples with one of these errors.
SHAPE_CODES = frozenset(
    code
    for code, (severity, _) in CODES.items()
    if severity == "error"
    and code
    not in {
        "invalid-utf8",
        "invalid-json",
        "special-token",
        "too-many-tokens",
        "images-not-supported",
        "too-few-examples",
        "mixed-formats",
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    line: int | None = None  # 1-based physical line of the record; None for the whole file
    path: str = ""  # where inside the example, e.g. "messages[2].content"
    fix: str | None = None
    related_line: int | None = None  # e.g. the earlier copy of a duplicate

    @property
    def severity(self) -> Severity:
        return CODES[self.code][0]

    def where(self) -> str:
        """`line 7, messages[2].content` — or `file` for file-level findings."""
        at = f"line {self.line}" if self.line is not None else "file"
        return f"{at}, {self.path}" if self.path else at

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
            "related_line": self.related_line,
        }


# A problem inside one example, before the line is known: (code, path, message, fix).
Problem = tuple[str, str, str, "str | None"]

CHAT, PREFERENCE, UNKNOWN, INVALID = 1, 2, 3, 0
FORMAT_NAMES = {CHAT: "chat", PREFERENCE: "preference", UNKNOWN: "unknown", INVALID: "invalid"}

ROLES = ("system", "user", "assistant", "tool", "function")
_PLAIN_ROLES = frozenset({"system", "user", "assistant"})
_MESSAGE_KEYS = {
    "system": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls", "function_call", "weight", "refusal"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
_CHAT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
_PREFERENCE_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
_INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PART_TYPES = {
    "system": ("text",),
    "user": ("text", "image_url"),
    "assistant": ("text", "refusal", "image_url"),  # image_url only to report it precisely
    "tool": ("text",),
    "function": ("text",),
}


@dataclass(slots=True)
class Checked:
    """What the bulk check learned about one record: its problems and the numbers stats need."""

    kind: int = INVALID
    problems: list[Problem] | None = None
    tokens: int = 0
    messages: int = 0
    system_tokens: int = 0
    user_tokens: int = 0
    assistant_tokens: int = 0
    duplicate_key: int = 0  # 64-bit digest of the canonical JSON; 0 for invalid lines
    system_key: int = 0  # 64-bit digest of the first system prompt; 0 when there is none

    def has_error(self) -> bool:
        return has_error(self.problems)


def has_error(problems: list[Problem] | None) -> bool:
    """Does any of these problems stop the service from training on the example?"""
    return any(CODES[p[0]][0] == "error" for p in problems or ())


def digest(data: bytes) -> int:
    """A 64-bit content digest, the same in every process (unlike `hash`)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") or 1


@lru_cache(maxsize=4096)
def _system_key(prompt: str) -> int:
    """The digest of a system prompt; a file repeats a few prompts on every line."""
    return digest(prompt.encode("utf-8", "surrogatepass"))


def check_line(raw: bytes, counter: Counter, model: BaseModel) -> Checked:
    """Check one record's bytes (without its line ending)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Checked(
                problems=[
                    (
                        "invalid-utf8",
                        "",
                        f"byte {bad.start + 1} of the line is not valid UTF-8 ({raw[bad.start:bad.start + 1]!r})",
                        "re-save the file as UTF-8",
                    )
                ]
            )
        return Checked(problems=[("invalid-json", "", f"not valid JSON at column {exc.pos + 1}: {exc.msg}", None)])
    return check_value(value, counter, model)


def check_value(value, counter: Counter, model: BaseModel) -> Checked:
    """Check one parsed example (a dict, or whatever JSON the line held)."""
    if not isinstance(value, dict):
        kind = type(value).__name__.replace("dict", "object").replace("list", "array")
        return Checked(problems=[("not-an-object", "", f"the line is a JSON {kind}, not an object", None)])
    if len(value) == 1:
        plain = _check_plain(value, counter, model)
        if plain is not None:
            return plain
    problems: list[Problem] = []
    result = Checked(problems=problems)
    if "messages" in value:
        result.kind = CHAT
        _check_chat(value, counter, model, problems, result)
    elif "input" in value or "preferred_output" in value or "non_preferred_output" in value:
        result.kind = PREFERENCE
        _check_preference(value, counter, model, problems, result)
    else:
        result.kind = UNKNOWN
        legacy = "prompt" in value or "completion" in value
        problems.append(
            (
                "missing-messages",
                "",
                "no `messages` key"
                + (": this is the legacy prompt/completion format, which chat models do not train on" if legacy else ""),
                'wrap the conversation as {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}',
            )
        )
    if not problems:
        result.problems = None
    if result.kind != UNKNOWN:
        result.duplicate_key = digest(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
        _check_length(result, model)
    return result


def _check_plain(value: dict, counter: Counter, model: BaseModel) -> Checked | None:
    """`check_value` for the plain shape most records of a real file have; None for any other.

    {"messages": [{"role": "system|user|assistant", "content": "text"}, ...]} can only have
    problems with its sequence of roles (and its length), so it skips the general checker and
    its per-message work. Anything else, down to an extra key or a "<|" in a text, takes the
    general path; tests/test_rules.py holds the two to the same results.
    """
    messages = value.get("messages")
    if type(messages) is not list or not messages:
        return None
    overhead = _plain_overhead(counter.encoding_name)
    roles: list[str] = []
    tokens = TOKENS_REPLY_PRIMING
    system_tokens = user_tokens = assistant_tokens = system_key = 0
    for message in messages:
        if type(message) is not dict or len(message) != 2:
            return None
        content = message.get("content")
        role = message.get("role")
        if type(content) is not str or not content or type(role) is not str or "<|" in content:
            return None
        n = overhead.get(role)
        if n is None:  # not system, user or assistant
            return None
        roles.append(role)
        if role == "system":
            n += counter.once(content)  # a file repeats a few system prompts on every line
            system_tokens += n
            if not system_key:
                system_key = _system_key(content)
        else:
            n += counter.count(content)
            if role == "user":
                user_tokens += n
            else:
                assistant_tokens += n
        tokens += n
    problems: list[Problem] = []
    _check_roles(messages, roles, problems, weighted=False)  # no message here has a weight
    result = Checked(
        kind=CHAT,
        problems=problems or None,
        tokens=tokens,
        messages=len(messages),
        system_tokens=system_tokens,
        user_tokens=user_tokens,
        assistant_tokens=assistant_tokens,
        duplicate_key=digest(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)),
        system_key=system_key,
    )
    _check_length(result, model)
    return result


@lru_cache(maxsize=None)
def _plain_overhead(encoding_name: str) -> dict[str, int]:
    """Tokens a plain message costs besides its content, by role: the overhead and the role."""
    counter = Counter(encoding_name)
    return {role: TOKENS_PER_MESSAGE + counter.once(role) for role in _PLAIN_ROLES}


def _check_length(result: Checked, model: BaseModel) -> None:
    """The last check of an example, once all its tokens are counted."""
    if result.tokens > model.token_limit:
        result.problems = (result.problems or []) + [_too_long(result.tokens, model)]


def _too_long(tokens: int, model: BaseModel) -> Problem:
    return (
        "too-many-tokens",
        "",
        f"{tokens:,} tokens; {model.name} trains on at most {model.token_limit:,} per example",
        "shorten the example or split the conversation",
    )


def _check_chat(value: dict, counter: Counter, model: BaseModel, problems: list[Problem], result: Checked) -> None:
    for key in value:
        if key not in _CHAT_KEYS:
            problems.append(("unknown-key", key, f"unknown key {key!r} in a chat example", f"remove {key!r}"))
    messages = value["messages"]
    tools = value.get("tools")
    _check_definitions(value, "", problems)
    result.tokens = counter.definitions(tools) + counter.definitions(value.get("functions"))
    if not isinstance(messages, list) or not messages:
        problems.append(("empty-messages", "messages", "`messages` must be a non-empty list", None))
        return
    _check_messages(messages, "messages", counter, model, problems, result)
    _check_roles(messages, [m.get("role") for m in messages if isinstance(m, dict)], problems)


def _check_roles(messages: list, roles: list, problems: list[Problem], weighted: bool = True) -> None:
    """The checks on a chat example's sequence of roles (`roles`: those of its object messages).

    `weighted=False` says no message has a `weight`, so they need not be looked at.
    """
    if "assistant" not in roles:
        problems.append(("no-assistant-message", "messages", "no assistant message: there is nothing to learn", None))
    else:
        if weighted:
            weights = [m.get("weight", 1) for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
            if weights and all(w == 0 for w in weights):
                problems.append(("no-trained-message", "messages", "every assistant message has weight 0: nothing is trained", None))
        if roles and roles[-1] != "assistant":
            problems.append(
                (
                    "last-message-not-assistant",
                    f"messages[{len(messages) - 1}]",
                    f"the last message is from {roles[-1]!r}; it is not trained on",
                    "end the example with the assistant's reply",
                )
            )
    if "system" not in roles:
        problems.append(("no-system-message", "messages", "no system message", None))
    if "user" not in roles:
        problems.append(("no-user-message", "messages", "no user message", None))


def _check_messages(
    messages: list, at: str, counter: Counter, model: BaseModel, problems: list[Problem], result: Checked
) -> None:
    """Per-message checks for a chat example or a preference `input`. Counts tokens per role."""
    call_ids: set[str] = set()
    images = 0
    first_system = True
    for i, message in enumerate(messages):
        # The common shape, {"role": "system|user|assistant", "content": "non-empty text"}, has
        # nothing to check but special tokens; count it without the general path below, which
        # would reach the same verdict more slowly (tests/test_rules.py holds the two equal).
        if type(message) is dict and len(message) == 2:
            content = message.get("content")
            role = message.get("role")
            if type(content) is str and content and type(role) is str and role in _PLAIN_ROLES and "<|" not in content:
                result.messages += 1
                if role == "system":
                    tokens = TOKENS_PER_MESSAGE + counter.once(role) + counter.once(content)
                    result.system_tokens += tokens
                    if first_system:
                        first_system = False
                        result.system_key = _system_key(content)
                else:
                    tokens = TOKENS_PER_MESSAGE + counter.once(role) + counter.count(content)
                    if role == "user":
                        result.user_tokens += tokens
                    else:
                        result.assistant_tokens += tokens
                result.tokens += tokens
                continue
        path = f"{at}[{i}]"
        if not isinstance(message, dict):
            problems.append(("message-not-object", path, "a message must be an object", None))
            continue
        result.messages += 1
        role = message.get("role")
        if role is None:
            problems.append(("missing-role", f"{path}.role", "the message has no role", None))
            continue
        if type(role) is not str or role not in _MESSAGE_KEYS:  # a list or an object would not hash
            fix = "use the system role" if role == "developer" else f"use one of {', '.join(ROLES)}"
            problems.append(("unknown-role", f"{path}.role", f"role {role!r} is not accepted for fine-tuning", fix))
            continue
        allowed = _MESSAGE_KEYS[role]
        for key in message:
            if key not in allowed and key != "weight":  # a misplaced weight has its own code
                problems.append(("unknown-key", f"{path}.{key}", f"{key!r} is not a key of a {role} message", f"remove {key!r}"))
        tokens = counter.message(message)
        result.tokens += tokens
        if role == "system":
            result.system_tokens += tokens
            if first_system:
                first_system = False
                content = message.get("content")
                if isinstance(content, str):
                    result.system_key = _system_key(content)
        elif role == "user":
            result.user_tokens += tokens
        elif role == "assistant":
            result.assistant_tokens += tokens
        if "name" in message and not (isinstance(message["name"], str) and _NAME.fullmatch(message["name"])):
            problems.append(("name-invalid", f"{path}.name", f"name {message['name']!r} is not 1–64 of A–Z a–z 0–9 _ -", None))
        if "weight" in message:
            weight = message["weight"]
            if role != "assistant":
                problems.append(("weight-not-assistant", f"{path}.weight", f"`weight` is only allowed on assistant messages, not {role}", "remove `weight`"))
            elif type(weight) is not int or weight not in (0, 1):
                problems.append(("weight-invalid", f"{path}.weight", f"weight is {weight!r}; it must be 0 or 1", None))
        has_call = False
        if role == "assistant":
            has_call = _check_calls(message, path, call_ids, problems)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                problems.append(("tool-call-id-unknown", f"{path}.tool_call_id", "a tool message needs the `tool_call_id` it answers", None))
            elif call_id not in call_ids:
                problems.append(("tool-call-id-unknown", f"{path}.tool_call_id", f"no earlier tool call has id {call_id!r}", None))
        images += _check_content(message, role, path, has_call, problems)
    result.tokens += TOKENS_REPLY_PRIMING
    if images > MAX_IMAGES_PER_EXAMPLE:
        problems.append(("too-many-images", at, f"{images} images; at most {MAX_IMAGES_PER_EXAMPLE} per example", None))
    if images and not model.images:
        problems.append(("images-not-supported", at, f"{model.name} does not train on images", "choose gpt-4o-2024-08-06 or gpt-4.1"))


def _check_content(message: dict, role: str, path: str, has_call: bool, problems: list[Problem]) -> int:
    """Check `content` and its special tokens; returns the number of images it holds."""
    content = message.get("content")
    at = f"{path}.content"
    if content is None:
        if not has_call:
            problems.append(("missing-content", at, f"the {role} message has no content", None))
        return 0
    if isinstance(content, str):
        if role == "assistant" and not content and not has_call:
            problems.append(("empty-assistant-content", at, "the assistant's reply is empty", None))
        _check_special(content, at, problems)
        return 0
    if not isinstance(content, list):
        problems.append(("content-invalid", at, f"content is a {type(content).__name__}; it must be a string or a list of parts", None))
        return 0
    if not content and not has_call:
        problems.append(("missing-content", at, f"the {role} message has an empty list of content parts", None))
    images = 0
    accepted = _PART_TYPES[role]
    for j, part in enumerate(content):
        part_at = f"{at}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in accepted:
            problems.append(("content-part-invalid", part_at, f"part type {kind!r} is not accepted in a {role} message", None))
        elif kind in ("text", "refusal"):
            text = part.get(kind)
            if not isinstance(text, str):
                problems.append(("content-part-invalid", part_at, f"a {kind} part needs a string `{kind}`", None))
            else:
                _check_special(text, f"{part_at}.{kind}", problems)
        else:  # image_url
            images += role != "assistant"
            if role == "assistant":
                problems.append(("image-in-assistant", part_at, "images are only accepted in user messages", "move the image to a user message"))
            image = part.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                problems.append(("content-part-invalid", part_at, "an image_url part needs {\"image_url\": {\"url\": ...}}", None))
    return images


def _check_calls(message: dict, path: str, call_ids: set[str], problems: list[Problem]) -> bool:
    """Check an assistant's `tool_calls`/`function_call`; returns whether it makes a call."""
    has_call = False
    if "tool_calls" in message:
        calls = message["tool_calls"]
        if not isinstance(calls, list) or not calls:
            problems.append(("tool-calls-invalid", f"{path}.tool_calls", "`tool_calls` must be a non-empty list", None))
        else:
            has_call = True
            for k, call in enumerate(calls):
                at = f"{path}.tool_calls[{k}]"
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(function, dict) or not isinstance(call.get("id"), str) or not isinstance(function.get("name"), str):
                    problems.append(("tool-calls-invalid", at, 'a tool call needs "id", "type": "function" and "function": {"name", "arguments"}', None))
                    continue
                call_ids.add(call["id"])
                if call.get("type", "function") != "function":
                    problems.append(("tool-calls-invalid", f"{at}.type", f"tool call type {call['type']!r}; only 'function' is accepted", None))
                _check_arguments(function.get("arguments"), f"{at}.function.arguments", problems)
    if "function_call" in message:
        call = message["function_call"]
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            problems.append(("tool-calls-invalid", f"{path}.function_call", 'function_call needs "name" and "arguments"', None))
        else:
            has_call = True
            _check_arguments(call.get("arguments"), f"{path}.function_call.arguments", problems)
    return has_call


def _check_arguments(arguments, at: str, problems: list[Problem]) -> None:
    if not isinstance(arguments, str):
        problems.append(
            ("tool-arguments-invalid-json", at, f"arguments must be a JSON string, not a {type(arguments).__name__}", "encode the arguments object as a JSON string")
        )
        return
    try:
        orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        problems.append(("tool-arguments-invalid-json", at, f"arguments are not valid JSON (column {exc.pos + 1}: {exc.msg})", None))


def _check_definitions(value: dict, at: str, problems: list[Problem]) -> None:
    prefix = f"{at}." if at else ""
    if "tools" in value:
        tools = value["tools"]
        ok = isinstance(tools, list) and all(
            isinstance(t, dict) and t.get("type", "function") == "function" and isinstance(t.get("function"), dict) and isinstance(t["function"].get("name"), str)
            for t in tools
        )
        if not ok:
            problems.append(("tools-invalid", f"{prefix}tools", 'tools must be a list of {"type": "function", "function": {"name": ...}}', None))
    if "functions" in value:
        functions = value["functions"]
        if not (isinstance(functions, list) and all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in functions)):
            problems.append(("tools-invalid", f"{prefix}functions", 'functions must be a list of {"name": ...}', None))
    if "parallel_tool_calls" in value and not isinstance(value["parallel_tool_calls"], bool):
        problems.append(("tools-invalid", f"{prefix}parallel_tool_calls", "parallel_tool_calls must be true or false", None))


def _check_special(text: str, at: str, problems: list[Problem]) -> None:
    if "<|" in text:
        for token in SPECIAL_TOKENS:
            if token in text:
                problems.append(("special-token", at, f"contains the special token {token}, which the service rejects", f"remove or rewrite {token}"))


def _check_preference(value: dict, counter: Counter, model: BaseModel, problems: list[Problem], result: Checked) -> None:
    for key in value:
        if key not in _PREFERENCE_KEYS:
            problems.append(("unknown-key", key, f"unknown key {key!r} in a preference example", f"remove {key!r}"))
    data = value.get("input")
    if not isinstance(data, dict):
        problems.append(("dpo-invalid", "input", 'a preference example needs "input": {"messages": [...]}', None))
    else:
        for key in data:
            if key not in _INPUT_KEYS:
                problems.append(("unknown-key", f"input.{key}", f"unknown key {key!r} in `input`", f"remove {key!r}"))
        _check_definitions(data, "input", problems)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            problems.append(("empty-messages", "input.messages", "`input.messages` must be a non-empty list", None))
        else:
            _check_messages(messages, "input.messages", counter, model, problems, result)
            result.tokens += counter.definitions(data.get("tools"))
            roles = [m.get("role") for m in messages if isinstance(m, dict)]
            if "system" not in roles:
                problems.append(("no-system-message", "input.messages", "no system message", None))
            if "user" not in roles:
                problems.append(("no-user-message", "input.messages", "no user message", None))
    outputs = []
    for key in ("preferred_output", "non_preferred_output"):
        output = value.get(key)
        if not (isinstance(output, list) and len(output) == 1 and isinstance(output[0], dict) and output[0].get("role") == "assistant"):
            problems.append(("dpo-invalid", key, f"`{key}` must be a list holding exactly one assistant message", None))
            continue
        message = output[0]
        at = f"{key}[0]"
        for name in message:
            if name not in _MESSAGE_KEYS["assistant"]:
                problems.append(("unknown-key", f"{at}.{name}", f"{name!r} is not a key of an assistant message", f"remove {name!r}"))
        has_call = _check_calls(message, at, set(), problems)
        content = message.get("content")
        if isinstance(content, str):
            _check_special(content, f"{at}.content", problems)
        elif content is not None or not has_call:
            problems.append(("missing-content", f"{at}.content", "the output needs string content (or a tool call)", None))
        tokens = counter.message(message)
        result.tokens += tokens
        result.assistant_tokens += tokens
        result.messages += 1
        outputs.append(message)
    if len(outputs) == 2 and outputs[0] == outputs[1]:
        problems.append(("dpo-same-outputs", "preferred_output", "preferred and non-preferred outputs are the same: nothing to learn", None))


def make_finding(problem: Problem, line: int | None) -> Finding:
    code, path, message, fix = problem
    return Finding(code=code, message=message, line=line, path=path, fix=fix)
