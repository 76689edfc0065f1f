"""Each finding code fires on the example that deserves it, at the right line and path."""

import orjson
import pytest

from core.dataset import open_dataset, rules, validate
from core.dataset.base_models import lookup
from core.dataset.rules import CODES, check_value
from core.dataset.tokens import Counter
from tests.conftest import DATA

SYSTEM = {"role": "system", "content": "You are terse."}
USER = {"role": "user", "content": "Hi"}
ASSISTANT = {"role": "assistant", "content": "Hello."}
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def chat(*messages, **extra):
    return {"messages": list(messages), **extra}


# (example, code expected, JSON path expected)
CASES = [
    (chat(SYSTEM, USER, ASSISTANT), None, None),
    ({"prompt": "a", "completion": "b"}, "missing-messages", ""),
    (chat(), "empty-messages", "messages"),
    ({"messages": "hi"}, "empty-messages", "messages"),
    (chat(SYSTEM, USER, ASSISTANT, metadata={}), "unknown-key", "metadata"),
    (chat(SYSTEM, {**USER, "ts": 1}, ASSISTANT), "unknown-key", "messages[1].ts"),
    (chat(SYSTEM, "hi", ASSISTANT), "message-not-object", "messages[1]"),
    (chat(SYSTEM, {"content": "x"}, ASSISTANT), "missing-role", "messages[1].role"),
    (chat({"role": "developer", "content": "x"}, USER, ASSISTANT), "unknown-role", "messages[0].role"),
    (chat(SYSTEM, {"role": ["user"], "content": "x"}, ASSISTANT), "unknown-role", "messages[1].role"),  # did not hash: raised
    (chat(SYSTEM, {"role": "user"}, ASSISTANT), "missing-content", "messages[1].content"),
    (chat(SYSTEM, {"role": "user", "content": []}, ASSISTANT), "missing-content", "messages[1].content"),
    (chat(SYSTEM, {"role": "user", "content": 5}, ASSISTANT), "content-invalid", "messages[1].content"),
    (chat(SYSTEM, {"role": "user", "content": [{"type": "audio"}]}, ASSISTANT), "content-part-invalid", "messages[1].content[0]"),
    (chat(SYSTEM, {**USER, "name": "a b"}, ASSISTANT), "name-invalid", "messages[1].name"),
    (chat(SYSTEM, USER), "no-assistant-message", "messages"),
    (chat(SYSTEM, USER, {**ASSISTANT, "weight": 2}), "weight-invalid", "messages[2].weight"),
    (chat(SYSTEM, USER, {**ASSISTANT, "weight": True}), "weight-invalid", "messages[2].weight"),
    (chat(SYSTEM, {**USER, "weight": 1}, ASSISTANT), "weight-not-assistant", "messages[1].weight"),
    (chat(SYSTEM, USER, {"role": "assistant", "tool_calls": {}}), "tool-calls-invalid", "messages[2].tool_calls"),
    (chat(SYSTEM, USER, {"role": "assistant", "tool_calls": [{"id": "c"}]}), "tool-calls-invalid", "messages[2].tool_calls[0]"),
    (
        chat(SYSTEM, USER, {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "{x"}}]}, ASSISTANT),
        "tool-arguments-invalid-json",
        "messages[2].tool_calls[0].function.arguments",
    ),
    (
        chat(SYSTEM, USER, {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "f", "arguments": {}}}]}, ASSISTANT),
        "tool-arguments-invalid-json",
        "messages[2].tool_calls[0].function.arguments",
    ),
    (chat(SYSTEM, USER, {"role": "tool", "tool_call_id": "nope", "content": "1"}, ASSISTANT), "tool-call-id-unknown", "messages[2].tool_call_id"),
    (chat(SYSTEM, USER, ASSISTANT, tools=[{"type": "function"}]), "tools-invalid", "tools"),
    (chat(SYSTEM, USER, ASSISTANT, parallel_tool_calls="yes"), "tools-invalid", "parallel_tool_calls"),
    (
        chat(SYSTEM, USER, {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}),
        "image-in-assistant",
        "messages[2].content[0]",
    ),
    (
        chat(SYSTEM, {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}] * 65}, ASSISTANT),
        "too-many-images",
        "messages",
    ),
    (chat(SYSTEM, {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}, ASSISTANT), "images-not-supported", "messages"),
    (chat(SYSTEM, USER, {"role": "assistant", "content": "bye<|endoftext|>"}), "special-token", "messages[2].content"),
    (chat(SYSTEM, USER, {"role": "assistant", "content": "word " * 70_000}), "too-many-tokens", ""),
    ({"input": {"messages": [SYSTEM, USER]}, "preferred_output": [ASSISTANT]}, "dpo-invalid", "non_preferred_output"),
    ({"input": [USER], "preferred_output": [ASSISTANT], "non_preferred_output": [ASSISTANT]}, "dpo-invalid", "input"),
    (chat(USER, ASSISTANT), "no-system-message", "messages"),
    (chat(SYSTEM, ASSISTANT), "no-user-message", "messages"),
    (chat(SYSTEM, USER, {"role": "assistant", "content": ""}), "empty-assistant-content", "messages[2].content"),
    (chat(SYSTEM, USER, ASSISTANT, USER), "last-message-not-assistant", "messages[3]"),
    (chat(SYSTEM, USER, {**ASSISTANT, "weight": 0}), "no-trained-message", "messages"),
    ({"input": {"messages": [SYSTEM, USER]}, "preferred_output": [ASSISTANT], "non_preferred_output": [ASSISTANT]}, "dpo-same-outputs", "preferred_output"),
]

VALID = [
    # Content-part lists and tool-call-only assistant messages are valid (the cookbook gets these wrong).
    chat(SYSTEM, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}, ASSISTANT),
    chat(
        SYSTEM,
        USER,
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{}"},
        ASSISTANT,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        parallel_tool_calls=False,
    ),
    chat(SYSTEM, USER, {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}, {"role": "function", "name": "f", "content": "1"}, ASSISTANT, functions=[{"name": "f"}]),
    chat(SYSTEM, USER, {**ASSISTANT, "weight": 0}, USER, {**ASSISTANT, "weight": 1}),
    {"input": {"messages": [SYSTEM, USER], "tools": [], "parallel_tool_calls": True}, "preferred_output": [ASSISTANT], "non_preferred_output": [{"role": "assistant", "content": "No."}]},
]

MODEL = lookup(None)
COUNTER = Counter(MODEL.encoding)


@pytest.mark.parametrize("example,code,path", CASES, ids=[c[1] or "valid" for c in CASES])
def test_code_fires_at_its_path(example, code, path):
    problems = check_value(example, COUNTER, MODEL).problems or []
    if code is None:
        assert problems == []
    else:
        assert (code, path) in [(p[0], p[1]) for p in problems], problems
        assert all(p[2] for p in problems), "every finding has a message for a person"


@pytest.mark.parametrize("example", VALID)
def test_valid_examples_have_no_findings(example):
    assert check_value(example, COUNTER, MODEL).problems is None


def test_every_code_is_exercised():
    exercised = {c[1] for c in CASES if c[1]} | {"invalid-json", "invalid-utf8", "not-an-object", "duplicate-example", "several-system-prompts", "too-few-examples", "mixed-formats", "utf8-bom"}
    assert exercised == set(CODES)


def test_images_allowed_for_a_vision_model():
    example = chat(SYSTEM, {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}, ASSISTANT)
    assert check_value(example, COUNTER, lookup("gpt-4o-2024-08-06")).problems is None


EXPECTED_BROKEN = {
    3: {"invalid-json"},
    4: {"not-an-object"},
    6: {"invalid-utf8"},
    8: {"missing-messages"},
    9: {"empty-messages"},
    10: {"name-invalid"},
    11: {"unknown-key"},
    12: {"unknown-key"},
    13: {"unknown-role"},
    14: {"unknown-role", "no-system-message"},
    15: {"missing-content"},
    16: {"no-assistant-message"},
    17: {"weight-invalid"},
    18: {"weight-not-assistant"},
    19: {"tool-arguments-invalid-json"},
    20: {"tool-calls-invalid", "missing-content", "tool-call-id-unknown"},
    21: {"tool-call-id-unknown"},
    23: {"image-in-assistant"},
    24: {"special-token"},
    26: {"no-system-message"},
    27: {"last-message-not-assistant"},
    28: {"empty-assistant-content"},
    29: {"content-part-invalid"},
    30: {"duplicate-example"},
    None: {"too-few-examples", "mixed-formats", "several-system-prompts"},
}


def test_broken_sample_file_line_by_line():
    """data/README.md documents these lines; the validator must agree with it."""
    report = validate(open_dataset(DATA / "broken.jsonl"))
    found: dict = {}
    for f in report.findings:
        found.setdefault(f.line, set()).add(f.code)
    assert found == EXPECTED_BROKEN
    assert report.valid_examples == 9 and report.format == "mixed"
    duplicate = report.by_code()["duplicate-example"][0]
    assert duplicate.related_line == 2


def test_sample_files_are_clean():
    for name in ("travel", "tools", "preferences"):
        report = validate(open_dataset(DATA / f"{name}.jsonl"))
        assert report.findings == [], (name, report.findings[:3])
    assert validate(open_dataset(DATA / "preferences.jsonl")).format == "preference"


def test_duplicates_ignore_key_order_and_spacing(tmp_path):
    line = chat(SYSTEM, USER, ASSISTANT)
    reordered = {"messages": [{"content": m["content"], "role": m["role"]} for m in line["messages"]]}
    path = tmp_path / "d.jsonl"
    path.write_bytes(orjson.dumps(line) + b"\n" + orjson.dumps(reordered, option=orjson.OPT_INDENT_2).replace(b"\n", b"") + b"\n")
    report = validate(open_dataset(path))
    assert [(f.code, f.line, f.related_line) for f in report.findings if f.code == "duplicate-example"] == [("duplicate-example", 2, 1)]


@pytest.mark.parametrize("name", ["travel.jsonl", "tools.jsonl", "broken.jsonl"])
def test_token_numbers_agree_with_the_general_counter(name):
    """The checker's shortcut for plain messages counts exactly what `Counter.message` counts."""
    counter = Counter("o200k_base")
    for line in (DATA / name).read_bytes().splitlines():
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(value, dict) or not isinstance(value.get("messages"), list) or not value["messages"]:
            continue
        checked = check_value(value, COUNTER, MODEL)
        messages = [m for m in value["messages"] if isinstance(m, dict) and m.get("role") in ("system", "user", "assistant", "tool", "function")]
        by_role = {role: sum(counter.message(m) for m in messages if m["role"] == role) for role in ("system", "user", "assistant")}
        assert (checked.system_tokens, checked.user_tokens, checked.assistant_tokens) == (by_role["system"], by_role["user"], by_role["assistant"])
        tools = counter.definitions(value.get("tools")) + counter.definitions(value.get("functions"))
        assert checked.tokens == counter.messages(messages) + tools


# The plain shape {"messages": [{"role", "content"}, ...]} in every sequence of roles that has
# findings, plus a long one: `rules._check_plain` takes all of these.
PLAIN = [
    chat(SYSTEM, USER, ASSISTANT),
    chat(USER, ASSISTANT),
    chat(SYSTEM, ASSISTANT),
    chat(SYSTEM, USER),
    chat(ASSISTANT),
    chat(SYSTEM),
    chat(SYSTEM, USER, ASSISTANT, USER),
    chat({"role": "system", "content": "Other."}, SYSTEM, USER, ASSISTANT, USER, {"role": "assistant", "content": "東京 😀 déjà vu"}),
    chat(SYSTEM, USER, {"role": "assistant", "content": "word " * 20_000}),  # too long for gpt-3.5
]


def _examples():
    yield from PLAIN
    yield from (example for example, _, _ in CASES)
    yield from VALID
    for name in ("travel.jsonl", "tools.jsonl", "broken.jsonl", "preferences.jsonl"):
        for line in (DATA / name).read_bytes().splitlines():
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                continue


@pytest.mark.parametrize("model_name", ["gpt-4o-mini-2024-07-18", "gpt-3.5-turbo-0613"])  # o200k and cl100k
def test_the_plain_shortcut_gives_what_the_general_checker_gives(monkeypatch, model_name):
    model = lookup(model_name)
    examples = list(_examples())
    assert all(rules._check_plain(e, Counter(model.encoding), model) is not None for e in PLAIN)
    shortcut = [check_value(e, Counter(model.encoding), model) for e in examples]
    monkeypatch.setattr(rules, "_check_plain", lambda value, counter, model: None)
    general = [check_value(e, Counter(model.encoding), model) for e in examples]
    assert shortcut == general
    long = general[len(PLAIN) - 1].problems or []
    assert [p[0] for p in long][-1:] == (["too-many-tokens"] if model.token_limit < 20_000 else [])
