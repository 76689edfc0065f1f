"""How close an answer is to the gold one: exact match, token F1, similarity, JSON validity (pure).

- exact: equal once whitespace is collapsed, case folded and punctuation around the text
  stripped ("Paris." = "paris"); when the gold answer is JSON, equal as parsed JSON instead
  (key order and spacing do not matter, `true` is not `1`).
- f1: SQuAD's token F1 — lower case, punctuation and the articles a/an/the removed, then the
  overlap of the two bags of tokens. Partial credit for a partly right answer, blind to order.
  Unlike SQuAD's script, punctuation (any script's, and symbols) becomes a space rather than
  nothing, so "March–May" is two tokens and compact JSON `{"a":1}` is not one.
- similarity: difflib's SequenceMatcher ratio over the same normalised token sequences. Unlike
  F1 it sees order ("Lisbon to Porto" is not "Porto to Lisbon"); over tokens rather than
  characters it stays fast on long answers and is not inflated by shared spelling. `autojunk`
  is off: its heuristic drops frequent tokens from sequences of 200+ and makes long answers'
  ratios erratic.
- json_valid: None when the gold answer is not a JSON object or array; else whether the answer
  parses as JSON (as it is: a ```json fence would break the program reading it too). When both
  parse, F1 and similarity compare their canonical forms (keys sorted, one spacing), so an
  exact JSON answer also scores 1 on those.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher

_SPACE = re.compile(r"\s+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NOT_WORD = re.compile(r"[^\w\s]")  # punctuation and symbols, in any script (“ ” – € …)


@dataclass(frozen=True)
class Score:
    exact: bool
    f1: float
    similarity: float  # 0..1
    json_valid: bool | None  # None when the gold answer is not JSON


def _edge(c: str) -> bool:
    return c.isspace() or unicodedata.category(c).startswith("P")


def normalise(text: str) -> str:
    """For exact match: whitespace collapsed, case folded, punctuation and spaces around it stripped
    (symbols are kept: "$5" is not "5")."""
    text = _SPACE.sub(" ", text).casefold()
    start, end = 0, len(text)
    while start < end and _edge(text[start]):
        start += 1
    while end > start and _edge(text[end - 1]):
        end -= 1
    return text[start:end]


def tokens(text: str) -> list[str]:
    """SQuAD's normalisation: lower case, no punctuation, no articles, split on whitespace."""
    return _ARTICLES.sub(" ", _NOT_WORD.sub(" ", text.lower())).split()


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def token_f1(answer: list[str], gold: list[str]) -> float:
    if not answer or not gold:  # SQuAD: an empty answer is right only when the gold one is empty too
        return float(answer == gold)
    same = sum((Counter(answer) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(answer), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def as_json(text: str):
    """The JSON object or array `text` holds, or None (scalars do not count: "42" is prose)."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


_INVALID = object()


def _parsed(text: str):
    """Any JSON value `text` holds, or _INVALID."""
    try:
        return json.loads(text)
    except ValueError:
        return _INVALID


def same_json(a, b) -> bool:
    """Equal as JSON values: Python's == says True == 1 and {"a": 1} == {"a": 1.0}; JSON tells
    booleans from numbers (1 and 1.0 are the same number)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same_json, a, b))
    return type(a) is type(b) and a == b


def score(answer: str, gold: str) -> Score:
    """How `answer` compares with `gold` (see the module's docstring for each measure)."""
    gold_json = as_json(gold)
    said, wanted = answer, gold
    if gold_json is not None:
        value = _parsed(answer)
        valid = value is not _INVALID
        exact = valid and same_json(value, gold_json)
        if valid:
            said, wanted = _canonical(value), _canonical(gold_json)
    else:
        valid = None
        exact = normalise(answer) == normalise(gold)
    said, wanted = tokens(said), tokens(wanted)
    similarity = SequenceMatcher(None, said, wanted, autojunk=False).ratio()
    return Score(exact=exact, f1=token_f1(said, wanted), similarity=similarity, json_valid=valid)
