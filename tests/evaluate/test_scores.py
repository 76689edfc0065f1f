"""Scores of one answer against the gold one: pure, no server."""

from __future__ import annotations

import pytest

from core.evaluate.scores import normalise, score, tokens


def test_exact_evens_out_whitespace_case_and_punctuation_around_the_text():
    assert score("  Paris. ", "paris").exact
    assert score("The  best time is\nSPRING!", "the best time is spring").exact
    assert score("«Lisbon»", "Lisbon").exact
    assert not score("Lisbon, Porto", "Lisbon Porto").exact  # inside the text punctuation counts
    assert not score("$5", "5").exact  # symbols are not punctuation
    assert normalise("  «Hello,   World!» ") == "hello, world"


def test_exact_for_json_gold_compares_parsed_values():
    gold = '{"city": "Paris", "days": 3, "tags": ["food", "art"]}'
    assert score('{"tags":["food","art"],"days":3,"city":"Paris"}', gold).exact  # key order, spacing
    assert score('{"city": "Paris", "days": 3.0, "tags": ["food", "art"]}', gold).exact  # 3 and 3.0 are one number
    assert not score('{"city": "Paris", "days": 3, "tags": ["art", "food"]}', gold).exact  # array order counts
    assert not score('{"ok": true}', '{"ok": 1}').exact  # JSON tells booleans from numbers
    assert not score('{"city": "Paris"}', gold).exact
    key_order = score('{"days": 3, "tags": ["food", "art"], "city": "Paris"}', gold)
    assert key_order.f1 == key_order.similarity == 1.0  # compared in canonical form


def test_json_valid_only_when_the_gold_answer_is_json():
    assert score("Spring.", "Spring is best.").json_valid is None
    assert score("42", "42").json_valid is None  # a scalar is not a JSON answer
    assert score('["a", "b"]', '["a"]').json_valid is True
    assert score('{"a": 1', '{"a": 1}').json_valid is False
    assert score('```json\n{"a": 1}\n```', '{"a": 1}').json_valid is False  # a fence breaks a parser too
    assert score('  {"a": 1}\n', '{"a": 1}') == score('{"a": 1}', '{"a": 1}')


def test_f1_gives_partial_credit_for_the_bag_of_tokens():
    # answer tokens: best time is spring; gold: best time is spring or autumn (articles dropped)
    s = score("The best time is spring.", "The best time is spring or autumn")
    assert s.f1 == pytest.approx(2 * 1.0 * (4 / 6) / (1.0 + 4 / 6))
    assert not s.exact
    assert score("spring", "autumn").f1 == 0.0
    assert score("", "").f1 == 1.0 and score("", "something").f1 == 0.0 and score("something", "").f1 == 0.0


def test_similarity_sees_order_where_f1_does_not():
    swapped = score("Porto to Lisbon", "Lisbon to Porto")
    assert swapped.f1 == 1.0
    assert swapped.similarity < 1.0


def test_similarity_and_f1_grow_as_the_answer_comes_closer():
    gold = "pack layers a waterproof shell warm fleece thermal base layers and sturdy boots"
    words = gold.split()
    scores = [score(" ".join(words[:k] + ["something"] * (len(words) - k)), gold) for k in range(len(words) + 1)]
    similarities = [s.similarity for s in scores]
    assert similarities == sorted(similarities) and similarities[0] == 0.0 and similarities[-1] == 1.0
    assert len(set(similarities)) > len(words) // 2  # it really moves, not in two steps
    f1s = [s.f1 for s in scores]
    assert f1s == sorted(f1s) and f1s[-1] == 1.0


def test_tokens_split_on_punctuation_of_any_script():
    assert tokens("March–May, “spring”") == ["march", "may", "spring"]
    assert tokens('{"wind_kph":17}') == ["wind_kph", "17"]
    assert tokens("An apple and the pear") == ["apple", "and", "pear"]
