"""parse_reply: every shape a model answers in, and every way a reply goes wrong, with a reason that says where."""

import json

import pytest

from core.emulator.answers import reply
from core.synthetic.parse import parse_parts, parse_reply


def example(k: int) -> dict:
    # Braces and quotes inside strings must not confuse the brace matching.
    return {"messages": [{"role": "user", "content": f"Question {k}: what about {{this}}?"},
                         {"role": "assistant", "content": f'Answer {k}, "quoted" and with a ] bracket.'}]}  # fmt: skip


EXAMPLES = [example(k) for k in range(1, 5)]
WRAPPED = json.dumps({"examples": EXAMPLES})
JSONL = "\n".join(json.dumps(e) for e in EXAMPLES)


@pytest.mark.parametrize(
    "text",
    [
        WRAPPED,
        json.dumps({"examples": EXAMPLES}, indent=2),
        json.dumps(EXAMPLES),
        JSONL,
        JSONL + "\n",
        "```json\n" + json.dumps({"examples": EXAMPLES}, indent=2) + "\n```",
        "Here are the examples you asked for:\n\n```\n" + JSONL + "\n```\n\nLet me know if you want more.",
        "Sure! " + WRAPPED + "\nHope this helps.",
        "Sure! Here they are: " + json.dumps(EXAMPLES) + " — enjoy",
        json.dumps({"data": EXAMPLES}),  # another wrapper key
        json.dumps({"examples": [json.dumps(e) for e in EXAMPLES]}),  # each example sent as a JSON string
    ],
    ids=["object", "indented", "array", "jsonl", "jsonl-newline", "fenced", "fenced-jsonl-in-prose", "prose-object",
         "prose-array", "other-key", "double-encoded"],  # fmt: skip
)
def test_every_shape_gives_the_examples_in_order(text):
    values, reasons = parse_reply(text)
    assert reasons == []
    assert values == EXAMPLES


def test_a_single_example_object_bare_or_fenced():
    assert parse_reply(json.dumps(EXAMPLES[0])) == ([EXAMPLES[0]], [])
    assert parse_reply("Here:\n```json\n" + json.dumps(EXAMPLES[0], indent=1) + "\n```") == ([EXAMPLES[0]], [])


def test_a_reply_cut_short_keeps_every_complete_example_before_the_cut():
    cut = WRAPPED[: WRAPPED.index("Question 4") + 4]  # inside the 4th example
    values, reasons = parse_reply(cut)
    assert values == EXAMPLES[:3] and reasons == ["reply cut short after 3 examples"]
    between = WRAPPED[: WRAPPED.index('{"messages"', WRAPPED.index("Question 3"))]  # after the 3rd one's comma
    assert parse_reply(between) == (EXAMPLES[:3], ["reply cut short after 3 examples"])
    first = WRAPPED[:30]
    assert parse_reply(first) == ([], ["reply cut short after 0 examples"])
    fenced = "```json\n" + JSONL[: JSONL.rindex("Question")]  # a fenced JSONL reply cut in its last line
    assert parse_reply(fenced) == (EXAMPLES[:3], ["reply cut short after 3 examples"])


def test_the_part_cut_short_keeps_its_text_and_where_it_starts():
    cut = WRAPPED[: WRAPPED.index("Question 4") + 4]
    part = parse_parts(cut)[-1]
    assert part.value is None and cut[part.at :] == part.raw and part.raw.startswith('{"messages"')


def test_a_broken_example_in_the_middle_is_reported_by_number_and_position_and_the_rest_kept():
    broken = WRAPPED.replace('bracket."}]}, {"messages"', 'bracket." "oops"}]}, {"messages"', 1)  # example 1 broken
    values, reasons = parse_reply(broken)
    assert values == EXAMPLES[1:]
    [reason] = reasons
    assert reason.startswith("example 1: not valid JSON at char ") and reason.endswith("Expecting ',' delimiter")
    at = int(reason.split("at char ")[1].split(":")[0])
    assert broken[at:].startswith('"oops"')  # the position counts characters of the reply


def test_jsonl_with_a_broken_line_keeps_the_other_lines():
    lines = JSONL.splitlines()
    lines[1] = lines[1].replace('"Question 2', '"Question 2 is missing its quote', 1).replace('?", "role"', '?, "role"')
    lines[1] = lines[1][:-3]  # and is cut mid-object, but the next line is whole
    values, reasons = parse_reply("\n".join(lines))
    assert values == [EXAMPLES[0], EXAMPLES[2], EXAMPLES[3]]
    assert len(reasons) == 1 and reasons[0].startswith("example 2: not valid JSON at char ")


def test_an_object_spread_over_lines_that_start_with_a_brace_is_not_taken_for_jsonl():
    spread = json.dumps(EXAMPLES[0]).replace("}, {", "},\n{")
    assert spread.count("\n") == 1 and parse_reply(spread) == ([EXAMPLES[0]], [])
    assert parse_reply("Two of them:\n" + spread + "\n" + spread) == ([EXAMPLES[0], EXAMPLES[0]], [])


def test_a_trailing_comma_is_forgiven():
    text = "Examples:\n" + json.dumps({"examples": EXAMPLES}).replace("]}]}", "]},]}", 1)
    assert parse_reply(text) == (EXAMPLES, [])


def test_items_that_are_not_objects_come_back_for_the_rules_to_refuse():
    values, reasons = parse_reply(json.dumps({"examples": [EXAMPLES[0], "just text", 3]}))
    assert values == [EXAMPLES[0], "just text", 3] and reasons == []


@pytest.mark.parametrize(
    "text,reason",
    [
        ("", "the reply is empty"),
        ("   \n", "the reply is empty"),
        ("I'm sorry, I can't help with that request.", "no example in the reply; it begins \"I'm sorry, I can't help with that request.\""),
        ('{"answer": "yes"}', "the reply is a JSON object with no examples in it (keys: answer)"),
        ('"examples"', "the reply is a JSON string with no examples in it"),
        ('{"examples": []}', "the reply holds an empty list of examples"),
    ],
)
def test_replies_without_examples_say_why(text, reason):
    assert parse_reply(text) == ([], [reason])


def test_a_long_unreadable_reply_is_quoted_only_in_part():
    [reason] = parse_reply("word " * 100)[1]
    assert reason.startswith("no example in the reply; it begins 'word word") and reason.endswith("…'") and len(reason) < 120


def test_the_emulators_malformed_reply_keeps_its_whole_examples():
    messages = [{"role": "user", "content": "Write 5 training examples about kayaking."}]
    whole = json.loads(reply(messages))["examples"]
    values, reasons = parse_reply(reply(messages, malformed=True))
    assert values == whole[:4] and reasons == ["reply cut short after 4 examples"]
