"""The request sent for a brief, its JSON schema, the style references picked from a file, and what the emulator makes of them."""

import json

import jsonschema
import orjson
import pytest

from core.dataset.base_models import lookup
from core.dataset.rules import check_value
from core.dataset.tokens import Counter
from core.emulator.answers import reply
from core.synthetic.brief import AVOID_CHARS, AVOID_SHOWN, REFERENCE_CHARS, RESPONSE_FORMAT, Brief, references_from, request
from core.synthetic.review import Judge
from tests.conftest import DATA

TRAVEL = [orjson.loads(line) for line in (DATA / "travel.jsonl").read_bytes().splitlines()]
BRIEF = Brief(task="a travel assistant that plans short city trips", system="You are TripPal, a concise travel planner.",
              topics=("visas", "packing"), references=tuple(TRAVEL[:2]))  # fmt: skip


def test_the_request_asks_for_n_examples_about_the_topic_with_the_task():
    system, user = request(BRIEF, 5, topic="visas")
    assert system["role"] == "system" and user["role"] == "user"
    assert user["content"] == "Write 5 training examples about visas.\nThe task: a travel assistant that plans short city trips"
    assert request(BRIEF, 1, topic=None)[1]["content"].startswith("Write 1 training example.\n")


def test_the_instructions_carry_format_diversity_the_system_prompt_and_the_references():
    text = request(BRIEF, 5, topic="visas")[0]["content"]
    assert '{"examples": [{"messages": [{"role": "user"' in text
    assert "Do not include a system message: the system prompt below is added to every example." in text
    assert "Vary what real users do" in text and "Never reuse another example's opening words" in text
    assert json.dumps(BRIEF.system) in text  # shown once, as context
    # references go verbatim but without their system message (the model is told to write none)
    shown = orjson.dumps({"messages": TRAVEL[0]["messages"][1:]}).decode()
    assert shown in text and "You are a helpful travel assistant." not in text
    no_system = request(Brief(task="a bot"), 3, topic=None)[0]["content"]
    assert "Do not include a system message: the examples have no system prompt." in no_system
    assert "system prompt of the assistant" not in no_system and "Existing examples" not in no_system


def test_huge_references_are_trimmed():
    long = {"messages": [{"role": "user", "content": "x" * 5000}, {"role": "assistant", "content": "y"}] * 10}
    text = request(Brief(task="a bot", references=(long,)), 2, topic=None)[0]["content"]
    sent = json.loads(text.split("questions):\n")[1].splitlines()[0])
    assert len(sent["messages"]) == 12 and sent["messages"][0]["content"] == "x" * REFERENCE_CHARS + "…"


def test_user_messages_to_avoid_are_listed_last_trimmed_and_capped():
    avoid = [f"Question number {k}?" for k in range(50)] + ["  ", "z" * 500]
    text = request(BRIEF, 5, topic=None, avoid=avoid, variation=2)[0]["content"]
    listed = [line for line in text.splitlines() if line.startswith('- "')]
    assert len(listed) == AVOID_SHOWN and listed[-1] == "- " + json.dumps("z" * AVOID_CHARS)
    assert listed[0] == '- "Question number 21?"'  # the most recent ones
    assert text.index("do not repeat or paraphrase them") > text.index("Existing examples")
    assert text.endswith("In this batch, include a few conversations with a follow-up question.")


def test_requests_of_one_run_differ_by_their_variation():
    asked = {request(BRIEF, 5, topic=None, variation=k)[0]["content"] for k in range(6)}
    assert len(asked) == 6
    assert request(BRIEF, 5, topic=None, variation=6) == request(BRIEF, 5, topic=None, variation=0)


def test_a_request_needs_a_task_and_a_sensible_count():
    with pytest.raises(ValueError, match="description of the task"):
        request(Brief(task="  "), 3, topic=None)
    for n in (0, 21):
        with pytest.raises(ValueError, match="1 to 20"):
            request(BRIEF, n, topic=None)


def test_topics_go_round_robin_and_blank_ones_are_ignored():
    brief = Brief(task="x", topics=("visas", " ", "packing "))
    assert [brief.topic(k) for k in range(4)] == ["visas", "packing", "visas", "packing"]
    assert Brief(task="x").topic(3) is None


def _schemas(node):
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _schemas(value)


def test_the_response_format_is_a_strict_json_schema():
    assert RESPONSE_FORMAT["type"] == "json_schema" and RESPONSE_FORMAT["json_schema"]["strict"] is True
    schema = RESPONSE_FORMAT["json_schema"]["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    objects = list(_schemas(schema))
    assert len(objects) == 3  # the answer, an example, a message
    for node in objects:  # what strict mode demands at every level
        assert node["additionalProperties"] is False and set(node["required"]) == set(node["properties"])
    jsonschema.validate({"examples": [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"examples": [{"messages": [{"role": "system", "content": "a"}]}]}, schema)


def test_references_are_valid_chat_examples_of_different_lengths_the_same_for_a_seed():
    picked = references_from(TRAVEL, k=3)
    assert len(picked) == 3 and picked == references_from(iter(TRAVEL), k=3)
    sizes = [len(orjson.dumps(e)) for e in picked]
    every = sorted(len(orjson.dumps(e)) for e in TRAVEL)
    third = len(every) // 3  # one from each third by length: short, medium, long
    assert sizes[0] <= every[third] <= sizes[1] <= every[2 * third] <= sizes[2]
    assert all(e in TRAVEL for e in picked)
    assert references_from(TRAVEL, k=3, seed=1) != picked


def test_references_skip_invalid_and_non_chat_examples():
    broken = [orjson.loads(line) for line in (DATA / "broken.jsonl").read_bytes().splitlines() if line.strip().startswith(b"{") and _json(line)]
    counter, model = Counter("o200k_base"), lookup("gpt-4o-mini")
    picked = references_from(broken, k=10)
    assert picked and all(not check_value(example, counter, model).has_error() for example in picked)
    preferences = [orjson.loads(line) for line in (DATA / "preferences.jsonl").read_bytes().splitlines()]
    assert references_from(preferences) == ()
    assert references_from(TRAVEL[:2], k=3) == tuple(sorted(TRAVEL[:2], key=lambda e: len(orjson.dumps(e))))
    assert references_from(TRAVEL, k=0) == ()


def _json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


# --- what the emulator answers to such a request ---------------------------------------------


def test_the_emulator_answers_a_request_with_that_many_examples_without_a_system_message():
    messages = request(BRIEF, 6, topic="visas")
    value = json.loads(reply(messages, response_format=RESPONSE_FORMAT))
    jsonschema.validate(value, RESPONSE_FORMAT["json_schema"]["schema"])
    examples = value["examples"]
    assert len(examples) == 6 and all(e["messages"][0]["role"] == "user" for e in examples)
    assert any("visas" in e["messages"][0]["content"] for e in examples)  # the topic, among the task's words
    judge = Judge(system=BRIEF.system)  # the system prompt goes in front: then they pass the rules
    assert [judge.judge(e, "", k).verdict for k, e in enumerate(examples, 1)] == ["ok"] * 6
    assert reply(messages) == reply(messages, response_format=None)  # the same without structured outputs


def test_the_emulator_does_not_repeat_a_question_the_request_lists_as_written():
    first = json.loads(reply(request(BRIEF, 5, topic="visas")))["examples"]
    asked = [e["messages"][0]["content"] for e in first]
    again = json.loads(reply(request(BRIEF, 5, topic="visas", avoid=asked)))["examples"]
    assert not {e["messages"][0]["content"] for e in again} & set(asked)
