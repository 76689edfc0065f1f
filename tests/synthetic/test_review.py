"""The Judge: the file's rules, exact and near duplicates of the file and of the run's candidates, forget()."""

import itertools

import orjson
import pytest

from core.dataset import open_dataset
from core.synthetic.review import NEAR, Candidate, Judge, file_records, similarity, unreadable
from tests.bench.make_dataset import write as write_bench_file
from tests.conftest import DATA

TRAVEL_BYTES = (DATA / "travel.jsonl").read_bytes()
TRAVEL = [orjson.loads(line) for line in TRAVEL_BYTES.splitlines()]
SYSTEM = "You are a helpful travel assistant."


def chat(user: str, assistant: str, system: str | None = SYSTEM) -> dict:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": ([{"role": "system", "content": system}] if system else []) + messages}


@pytest.fixture
def travel_file(tmp_path):
    """travel.jsonl with two blank lines after line 3: physical line numbers differ from record numbers."""
    lines = TRAVEL_BYTES.splitlines(keepends=True)
    path = tmp_path / "travel.jsonl"
    path.write_bytes(b"".join(lines[:3]) + b"\n\n" + b"".join(lines[3:]))
    return path


@pytest.fixture
def judge(travel_file):
    with open_dataset(travel_file) as ds:
        return Judge(file_records(ds), system=SYSTEM)


def test_a_candidate_that_breaks_a_rule_is_invalid_with_the_findings_errors_first(judge):
    bad = {"messages": [{"role": "user", "content": "Hi <|endoftext|>"}, {"role": "assistant", "content": ""},
                        {"role": "user", "content": "Hello?"}]}  # fmt: skip
    candidate = judge.judge(bad, orjson.dumps(bad).decode(), 1)
    assert candidate.verdict == "invalid" and not candidate.ok
    assert candidate.problems[0] == "error: messages[1].content: contains the special token <|endoftext|>, which the service rejects"
    assert "warning: messages[3]: the last message is from 'user'; it is not trained on" in candidate.problems
    assert [p.split(":")[0] for p in candidate.problems] == sorted((p.split(":")[0] for p in candidate.problems), key=lambda s: s != "error")
    assert candidate.example["messages"][0] == {"role": "system", "content": SYSTEM}  # put first, as it would be appended
    assert judge.judge(chat("A new question about Oslo?", "A new answer."), "", 2).ok  # an invalid one blocks nothing


def test_values_that_are_not_examples_are_invalid(judge):
    for k, value in enumerate(["just text", 3, None, ["a"]], 1):
        candidate = judge.judge(value, orjson.dumps(value).decode(), k)
        assert candidate.verdict == "invalid" and candidate.example is None
        assert candidate.problems[0].startswith("error: the line is a JSON")
    legacy = judge.judge({"prompt": "a", "completion": "b"}, "", 9)
    assert legacy.verdict == "invalid" and "legacy prompt/completion format" in legacy.problems[0]


def test_the_system_prompt_is_added_or_a_different_one_is_a_warning(judge):
    added = judge.judge(chat("How do I pack for Lapland in winter?", "Layers, wool and a good shell.", system=None), "", 1)
    assert added.ok and added.problems == () and added.example["messages"][0] == {"role": "system", "content": SYSTEM}
    other = judge.judge(chat("Where should I eat in Bologna?", "Try the osterie near the market.", system="You are Bob."), "", 2)
    assert other.ok and other.problems == ("warning: messages[0].content: the system prompt is not the brief's",)
    judge.system = ""  # the brief wants none
    none = judge.judge(chat("Is Tallinn walkable?", "Very: the old town is compact.", system="You are Bob."), "", 3)
    assert none.ok and none.problems == ("warning: messages[0]: a system prompt, where the brief has none",)
    bare = judge.judge(chat("Is Riga walkable?", "Yes, the centre is compact.", system=None), "", 4)
    assert bare.ok and bare.problems == ("warning: messages: no system message",)  # the rules' own warning


def test_an_exact_copy_of_a_file_line_names_the_physical_line(judge):
    copy = orjson.loads(orjson.dumps(TRAVEL[4]))  # record 5, on line 7 because of the blank lines
    candidate = judge.judge(copy, "", 1)
    assert (candidate.verdict, candidate.problems, candidate.related_line) == ("duplicate", ("same as line 7",), 7)
    # key order and spacing do not matter (the rules' canonical digest)
    reordered = {"messages": [{"content": m["content"], "role": m["role"]} for m in TRAVEL[0]["messages"]]}
    assert judge.judge(reordered, "", 2).problems == ("same as line 1",)
    # a copy without the system prompt becomes the same example once the brief's is added
    assert judge.judge({"messages": TRAVEL[1]["messages"][1:]}, "", 3).problems == ("same as line 2",)


def test_the_same_user_message_as_a_line_is_a_near_duplicate_whatever_the_reply(judge):
    question = TRAVEL[2]["messages"][1]["content"]
    candidate = judge.judge(chat(question, "Something else entirely: bring a good book."), "", 1)
    assert (candidate.verdict, candidate.problems) == ("near-duplicate", ("same user message as line 3",))
    # under another system prompt it is a different example (files with several personas)
    judge.system = None
    assert judge.judge(chat(question, "Something else entirely.", system="You are a packing coach."), "", 2).ok


def test_a_reworded_copy_of_a_line_is_a_near_duplicate_with_its_similarity(judge):
    original = TRAVEL[1]["messages"]  # the Thailand visa example, line 2
    reworded = chat("As a US citizen, do I need a visa to visit Thailand?", original[2]["content"].replace("currently ", ""))
    share = similarity(reworded, TRAVEL[1])
    assert NEAR <= share < 1
    candidate = judge.judge(reworded, "", 1)
    assert candidate.verdict == "near-duplicate" and candidate.related_line == 2
    assert candidate.problems == (f"near line 2 (similarity {share:.2f})",) and candidate.similarity == pytest.approx(share, abs=1e-4)
    # the same topic with a different answer is a new example
    fresh = chat("Do I need a visa for Vietnam as a US citizen?", "Yes: apply for an e-visa online at least a week before you fly.")
    assert similarity(fresh, TRAVEL[1]) < 0.2 and judge.judge(fresh, "", 2).ok


def test_different_examples_of_a_real_file_are_far_from_each_other():
    shares = [similarity(a, b) for a, b in itertools.combinations(TRAVEL, 2)]
    assert max(shares) < 0.1  # as the module docstring says


def test_duplicates_among_candidates_and_forget(judge):
    first = chat("How do I get around Kyoto by bus?", "Buy a one-day bus pass; buses 100 and 206 reach most temples.")
    assert judge.judge(first, "", 1).ok
    same = judge.judge(orjson.loads(orjson.dumps(first)), "", 2)
    assert (same.verdict, same.problems, same.related_candidate) == ("duplicate", ("same as candidate 1",), 1)
    near = chat("How do I get around Kyoto by bus, cheaply?", "Buy a one-day bus pass: buses 100 and 206 reach most temples.")
    judged = judge.judge(near, "", 3)
    assert judged.verdict == "near-duplicate" and judged.problems[0].startswith("near candidate 1 (similarity 0.")
    asked_again = judge.judge(chat("How do I get around Kyoto by bus?", "Walk instead."), "", 4)
    assert asked_again.problems == ("same user message as candidate 1",)
    judge.forget(1)  # rejected on the review screen: its look-alikes may now take its place
    assert judge.judge(near, "", 5).ok
    again = judge.judge(first, "", 6)
    assert again.verdict == "near-duplicate" and again.related_candidate == 5
    judge.forget(99)  # unknown numbers are fine
    assert judge.last_number == 6


def test_judging_a_number_again_replaces_it(judge):
    example = chat("Best ramen in Sapporo?", "Try the Ramen Yokocho alley near Susukino.")
    assert judge.judge(example, "", 1).ok
    assert judge.judge(example, "", 1).ok  # an edited candidate is judged again: it does not duplicate itself
    assert judge.judge(example, "", 2).problems == ("same as candidate 1",)


def test_the_judge_reads_records_as_bytes_or_dicts_and_skips_lines_that_are_not_objects():
    records = [(1, TRAVEL_BYTES.splitlines()[0]), (2, b"not json"), (3, b"[1, 2]"), (5, TRAVEL[1]), (6, "{")]
    judge = Judge(records)
    assert judge.examples == 2
    assert judge.judge(TRAVEL[0], "", 1).problems == ("same as line 1",)
    assert judge.judge(TRAVEL[1], "", 2).problems == ("same as line 5",)
    assert Judge().judge(TRAVEL[0], "", 1).ok  # an empty file


def test_unreadable_candidates_carry_their_text_and_reason():
    candidate = unreadable(4, '{"messages": [{"role": "us', "reply cut short after 3 examples")
    assert candidate == Candidate(4, None, '{"messages": [{"role": "us', "unreadable", ("reply cut short after 3 examples",))


def test_a_near_copy_is_found_among_thousands_of_lines(tmp_path):
    path = tmp_path / "chats.jsonl"
    write_bench_file(path, 3000, seed=3)
    with open_dataset(path) as ds:
        judge = Judge(file_records(ds))
        target = orjson.loads(ds.raw(2345))
    words = target["messages"][1]["content"].split()
    words[len(words) // 2] = "changed"  # one word of the question changed
    copy = {"messages": [target["messages"][0], {"role": "user", "content": " ".join(words)}, *target["messages"][2:]]}
    candidate = judge.judge(copy, "", 1)
    assert candidate.verdict == "near-duplicate" and candidate.related_line == 2346
    assert candidate.similarity == pytest.approx(similarity(copy, target), abs=1e-4)
    far = [judge.judge(orjson.loads(orjson.dumps(x)), "", k) for k, x in enumerate(TRAVEL[:10], 2)]
    assert all(c.ok for c in far)


def test_near_is_a_similarity():
    with pytest.raises(ValueError):
        Judge(near=0)
    strict = Judge([(1, TRAVEL[1])], near=1.0)
    reworded = chat("As a US citizen, do I need a visa to visit Thailand?", TRAVEL[1]["messages"][2]["content"])
    assert strict.judge(reworded, "", 1).ok
