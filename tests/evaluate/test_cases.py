"""Examples as questions: cut at the last assistant turn, read from a file with the lines that are none."""

from __future__ import annotations

import json

import pytest

from core.dataset.store import DatasetError, RawLine
from core.evaluate.cases import Case, Skipped, case_of, most_common_system_prompt, read_cases
from tests.conftest import DATA

SYSTEM = {"role": "system", "content": "You are a helpful travel assistant."}


def chat(*messages, **extra) -> dict:
    return {"messages": list(messages), **extra}


def test_a_multi_turn_example_is_cut_at_its_last_assistant_turn():
    example = chat(
        SYSTEM,
        {"role": "user", "content": "Is Lisbon expensive?"},
        {"role": "assistant", "content": "Not very.", "weight": 0},
        {"role": "user", "content": "And Porto?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Porto is "}, {"type": "text", "text": "cheaper."}]},
    )
    case = case_of(example, 7)
    assert case == Case(
        line=7,
        prompt=[
            SYSTEM,
            {"role": "user", "content": "Is Lisbon expensive?"},
            {"role": "assistant", "content": "Not very."},  # `weight` is for training: the chat API refuses it
            {"role": "user", "content": "And Porto?"},
        ],
        gold="Porto is cheaper.",
        params={},
    )
    assert example["messages"][2]["weight"] == 0  # the example itself is left as it was


def test_tool_calls_and_tool_definitions_are_kept():
    example = json.loads((DATA / "tools.jsonl").read_text().splitlines()[0])
    case = case_of(example, 1)
    messages = example["messages"]
    assert case.prompt == messages[:-1]  # system, user, the assistant's tool call, the tool's answer
    assert case.prompt[2]["tool_calls"] and case.prompt[3]["role"] == "tool"
    assert case.gold == messages[-1]["content"]
    assert case.params == {"tools": example["tools"]}
    with_parallel = case_of({**example, "parallel_tool_calls": False}, 1)
    assert with_parallel.params == {"tools": example["tools"], "parallel_tool_calls": False}


def test_an_answer_that_only_calls_a_tool_has_an_empty_gold_answer():
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    case = case_of(chat({"role": "user", "content": "Weather?"}, {"role": "assistant", "content": None, "tool_calls": [call]}), 1)
    assert case.gold == "" and case.prompt == [{"role": "user", "content": "Weather?"}]


def test_nothing_to_predict_without_an_assistant_turn_after_a_prompt():
    assert case_of(chat(SYSTEM, {"role": "user", "content": "Hi"}), 1) is None
    assert case_of(chat({"role": "assistant", "content": "Hello!"}), 1) is None
    assert case_of({"messages": "nope"}, 1) is None


def test_read_cases_names_each_line_it_skips_and_why(tmp_path):
    good = chat(SYSTEM, {"role": "user", "content": "Best time to visit Japan?"}, {"role": "assistant", "content": "Spring."})
    lines = [
        json.dumps(good),  # 1
        "",  # 2: blank lines are no record but count as lines
        '{"messages": [',  # 3
        "[1, 2]",  # 4
        json.dumps(json.loads((DATA / "preferences.jsonl").read_text().splitlines()[0])),  # 5
        json.dumps(chat(SYSTEM, {"role": "user", "content": "Hi"})),  # 6
        json.dumps(chat({"role": "assistant", "content": "Hello!"})),  # 7
        json.dumps({"prompt": "x", "completion": "y"}),  # 8
        json.dumps({"messages": {"role": "user"}}),  # 9
        json.dumps({"messages": ["hi", {"role": "assistant", "content": "x"}]}),  # 10
        json.dumps(good),  # 11
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    cases, skipped = read_cases(path)
    assert [c.line for c in cases] == [1, 11]
    assert cases[0].gold == "Spring." and cases[0].prompt == good["messages"][:2]
    assert skipped == [
        Skipped(3, "not valid JSON"),
        Skipped(4, "not a JSON object"),
        Skipped(5, "preference (DPO) example"),
        Skipped(6, "no assistant turn"),
        Skipped(7, "nothing before the assistant turn"),
        Skipped(8, "no messages"),
        Skipped(9, "messages is not a list"),
        Skipped(10, "a message is not a JSON object"),
    ]
    limited, skipped_before = read_cases(path, limit=1)
    assert [c.line for c in limited] == [1] and skipped_before == []


def test_read_cases_of_the_sample_files():
    cases, skipped = read_cases(DATA / "travel.jsonl")
    assert len(cases) == 48 and skipped == []
    _, skipped = read_cases(DATA / "preferences.jsonl")
    assert {s.reason for s in skipped} == {"preference (DPO) example"}
    with pytest.raises(DatasetError, match="no such file"):
        read_cases(DATA / "missing.jsonl")


def test_most_common_system_prompt():
    def example(system):
        return chat({"role": "system", "content": system}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"})

    assert most_common_system_prompt([example("A"), example("B"), example("B"), RawLine(b"oops"), {"messages": 3}]) == "B"
    assert most_common_system_prompt([example("A"), example("B")]) == "A"  # a tie: the first one seen
    assert most_common_system_prompt([chat({"role": "user", "content": "Hi"})]) is None
    assert most_common_system_prompt([]) is None
    preference = json.loads((DATA / "preferences.jsonl").read_text().splitlines()[0])
    assert most_common_system_prompt([preference]) == "You are a helpful travel assistant."
    parts = chat({"role": "system", "content": [{"type": "text", "text": "Be brief."}]})
    assert most_common_system_prompt([parts]) == "Be brief."
