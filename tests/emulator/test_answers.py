"""The emulator's chat replies: tuned models sound trained, base models generic, JSON is JSON."""

import json

import jsonschema
import orjson
import pytest

from core.dataset.base_models import lookup
from core.dataset.rules import check_value
from core.dataset.tokens import Counter, count_text
from core.emulator.answers import chunks, reply, usage
from tests.conftest import DATA

TRAVEL = [orjson.loads(line) for line in (DATA / "travel.jsonl").read_bytes().splitlines()]
TOOLS = [orjson.loads(line) for line in (DATA / "tools.jsonl").read_bytes().splitlines()]
PREFERENCES = [orjson.loads(line) for line in (DATA / "preferences.jsonl").read_bytes().splitlines()]
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


def ask(text: str, **options) -> str:
    return reply([SYSTEM, {"role": "user", "content": text}], **options)


def trained_replies(examples) -> set[str]:
    return {m["content"] for e in examples for m in e["messages"] if m["role"] == "assistant" and isinstance(m.get("content"), str)}


# --- tuned models ---------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["Best time to visit Japan?", "best TIME to visit japan!!!", "When's the best time for a Japan visit"])
def test_a_tuned_model_answers_with_the_reply_it_was_trained_on(prompt):
    assert ask(prompt, examples=TRAVEL) == TRAVEL[0]["messages"][2]["content"]


def test_a_later_turn_of_a_conversation_gets_its_own_trained_reply():
    narita = TRAVEL[4]["messages"]
    assert ask("How do I get from Narita Airport to central Tokyo?", examples=TRAVEL) == narita[2]["content"]
    # the second user turn of the same example, answered with the reply that followed it
    assert ask(narita[3]["content"], examples=TRAVEL) == narita[4]["content"]


def test_replies_with_weight_zero_were_not_trained_and_are_never_given():
    untrained = TOOLS[5]["messages"][4]["content"]
    assert TOOLS[5]["messages"][4]["weight"] == 0
    answer = ask("What's the weather in Berlin?", examples=TOOLS)
    assert answer != untrained and answer in trained_replies(TOOLS)
    assert ask("And the weather in Munich this afternoon?", examples=TOOLS) == TOOLS[5]["messages"][-1]["content"]


def test_a_dpo_tuned_model_gives_the_preferred_answer():
    line = PREFERENCES[1]
    answer = ask(line["input"]["messages"][-1]["content"], examples=PREFERENCES)
    assert answer == line["preferred_output"][0]["content"] != line["non_preferred_output"][0]["content"]


def test_a_tuned_model_answers_an_unrelated_prompt_in_its_trained_voice():
    answer = ask("zyx qwv", examples=TRAVEL)
    assert answer in trained_replies(TRAVEL) and answer == ask("zyx qwv", examples=TRAVEL)


# --- base models ----------------------------------------------------------------------------


def test_a_base_model_talks_generically_about_the_topic():
    answer = ask("What should I pack for hiking in Patagonia?")
    assert "Patagonia" in answer and answer.count(". ") >= 2
    assert answer not in trained_replies(TRAVEL)
    assert answer == ask("What should I pack for hiking in Patagonia?")  # deterministic
    assert answer != ask("What should I pack for hiking in Patagonia?", seed=3)  # but seeded
    assert answer != ask("How do I brew good espresso at home?")


def test_json_object_format_gives_a_json_object():
    value = json.loads(ask("Tell me about Lisbon trams", response_format={"type": "json_object"}))
    assert isinstance(value, dict) and "Lisbon" in json.dumps(value)
    tuned = json.loads(ask("Best time to visit Japan?", examples=TRAVEL, response_format={"type": "json_object"}))
    assert tuned == {"answer": TRAVEL[0]["messages"][2]["content"]}


# --- synthetic training examples ------------------------------------------------------------


def assert_trainable(examples: list[dict]) -> None:
    """Every example passes core.dataset's rules as a chat example, without even a warning."""
    counter, model = Counter("o200k_base"), lookup("gpt-4o-mini")
    for example in examples:
        assert check_value(example, counter, model).problems is None, example
    prompts = [e["messages"][1]["content"] for e in examples]
    assert len(set(prompts)) == len(prompts)  # varied, not one example copied


def test_asked_for_training_examples_it_returns_that_many_trainable_ones_on_topic():
    text = ask("Generate 7 training examples for a sourdough baking assistant")
    examples = json.loads(text)["examples"]
    assert len(examples) == 7
    assert_trainable(examples)
    assert all("sourdough" in e["messages"][1]["content"] or "baking" in e["messages"][1]["content"] for e in examples)
    assert len({e["messages"][0]["content"] for e in examples}) == 1  # one system prompt, as the rules prefer


@pytest.mark.parametrize(
    "prompt,count",
    [
        ("Write some JSONL examples about tea ceremonies", 5),
        ("Give me twelve short chat examples about bicycle repair", 12),
        ("Create a dataset of 500 examples about chess openings", 50),
    ],
)
def test_the_number_of_examples_asked_for_with_a_default_and_a_cap(prompt, count):
    examples = json.loads(ask(prompt))["examples"]
    assert len(examples) == count
    assert_trainable(examples)


def test_a_malformed_reply_cuts_the_last_example_and_nothing_before_it():
    prompt = "Generate 4 training examples about kayaking"
    whole = json.loads(ask(prompt))["examples"]
    broken = ask(prompt, malformed=True)
    assert broken == ask(prompt, malformed=True)  # the fault is deterministic
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    for example in whole[:3]:
        assert json.dumps(example, ensure_ascii=False) in broken
    assert json.dumps(whole[3], ensure_ascii=False) not in broken


def test_malformed_json_formats_and_prose():
    with pytest.raises(json.JSONDecodeError):
        json.loads(ask("Tell me about Oslo", response_format={"type": "json_object"}, malformed=True))
    whole = ask("Tell me about Oslo")
    cut = ask("Tell me about Oslo", malformed=True)
    assert whole.startswith(cut) and len(cut) < len(whole)


# --- structured outputs ---------------------------------------------------------------------

TRIP_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 3, "maxLength": 40},
        "days": {"type": "integer", "minimum": 2, "maximum": 4},
        "budget": {"type": "number", "exclusiveMinimum": 100, "multipleOf": 25},
        "season": {"type": "string", "enum": ["spring", "summer", "autumn", "winter"]},
        "visa_needed": {"type": "boolean"},
        "start": {"type": "string", "format": "date"},
        "notes": {"type": ["string", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": True},
        "stops": {"type": "array", "items": {"$ref": "#/$defs/stop"}, "minItems": 1},
        "contact": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/person"}]},
    },
    "required": ["city", "days", "budget", "season", "visa_needed", "start", "notes", "tags", "stops", "contact"],
    "additionalProperties": False,
    "$defs": {
        "stop": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "nights": {"type": "integer", "minimum": 1}, "person": {"$ref": "#/$defs/person"}},
            "required": ["name", "nights", "person"],
            "additionalProperties": False,
        },
        "person": {
            "type": "object",
            "properties": {"email": {"type": "string", "format": "email"}, "languages": {"type": "array", "items": {"enum": ["en", "pt"]}, "maxItems": 1}},
            "required": ["email", "languages"],
            "additionalProperties": False,
        },
    },
}


def schema_format(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": schema}}


def test_a_json_schema_reply_validates_against_the_schema():
    text = ask("Plan a long weekend in Porto", response_format=schema_format(TRIP_SCHEMA))
    value = json.loads(text)
    jsonschema.validate(value, TRIP_SCHEMA)
    # filled with the topic ("long weekend", "Porto"), not placeholders
    assert value["city"] in ("Long weekend", "Porto") and "Porto" in text
    assert value["stops"][0]["name"] != value["stops"][1]["name"]


def test_a_schema_for_training_examples_is_filled_with_trainable_examples():
    message = {
        "type": "object",
        "properties": {"role": {"type": "string", "enum": ["system", "user", "assistant"]}, "content": {"type": "string"}},
        "required": ["role", "content"],
        "additionalProperties": False,
    }
    schema = {
        "type": "object",
        "properties": {
            "examples": {
                "type": "array",
                "items": {"type": "object", "properties": {"messages": {"type": "array", "items": message}}, "required": ["messages"], "additionalProperties": False},
            }
        },
        "required": ["examples"],
        "additionalProperties": False,
    }
    value = json.loads(ask("Generate 6 training examples about houseplant care", response_format=schema_format(schema)))
    jsonschema.validate(value, schema)
    assert len(value["examples"]) == 6
    assert_trainable(value["examples"])


# --- streaming and usage --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", " ", "Hello, world.", "  two  spaces\nand a newline\n", "東京へ行きたい です", "a" * 50, '{"examples": [{"messages": []}]}'],
)
def test_stream_chunks_join_back_to_the_exact_reply(text):
    pieces = chunks(text)
    assert "".join(pieces) == text
    assert all(pieces) and all(len(p.strip()) <= 12 for p in pieces)


def test_a_reply_streams_in_many_small_pieces():
    text = ask("What should I pack for hiking in Patagonia?")
    assert len(chunks(text)) >= len(text.split())


def test_usage_counts_the_prompt_with_chat_overhead_and_the_reply_as_text():
    messages = [SYSTEM, {"role": "user", "content": "Best time to visit Japan?"}]
    text = reply(messages, examples=TRAVEL)
    counted = usage(messages, text)
    # 3 tokens per message + role + content, then 3 priming the reply (the cookbook's formula)
    expected_prompt = sum(3 + count_text(m["role"]) + count_text(m["content"]) for m in messages) + 3
    assert counted == {"prompt_tokens": expected_prompt, "completion_tokens": count_text(text), "total_tokens": expected_prompt + count_text(text)}
    assert usage(messages, text, "cl100k_base")["completion_tokens"] == count_text(text, "cl100k_base")
