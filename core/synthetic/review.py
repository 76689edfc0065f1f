"""Judging generated candidates: the dataset's rules, then exact and near duplicates of the file and of each other.

    judge = Judge(file_records(ds), system=brief.system)      # from a worker thread: it reads the file
    candidate = judge.judge(value, raw, number=1)             # verdict "ok", "invalid", "duplicate", …
    judge.forget(1)                                           # rejected: it no longer blocks look-alikes

Verdicts, the first that applies:
1. "unreadable": the reply's text could not be read as an example (`unreadable()`; see parse.py).
2. "invalid": a rule error of core.dataset.rules, the same checks the file gets. The brief's
   system prompt is put first when the candidate has none (the request asks for none).
3. "duplicate": the same example as a line of the file ("same as line 12") or as an earlier
   candidate ("same as candidate 3"), by the rules' canonical digest (key order and spacing do not
   matter, as for the file's own duplicate-example finding).
4. "near-duplicate": the same system prompt and user messages (character for character) as a
   line or an earlier candidate, whatever the replies ("same user message as line 7"), or a near
   copy of one: similarity ≥ `near` ("near line 7 (similarity 0.91)").
5. "ok": rule warnings, and a system prompt other than the brief's, are listed in `problems`
   but keep nothing out.
"Earlier candidates" are the ones judged ok before, minus those `forget()` was told of (rejected
on the review screen, so a regenerated look-alike can take its place).

Similarity: Jaccard of the two examples' sets of word pairs (bigrams). The words are the first
WORDS of the user turns, then the first WORDS of the assistant turns, lowercased and split on
white space and ASCII punctuation; the system prompt is left out (a file usually has one for every
line). On real data two different examples share very few pairs (data/travel.jsonl: at most 0.09
between any two of its 48), while a copy with a few words changed, or a question reworded above
the same answer, keeps most of them. NEAR = 0.6: 60% of the pairs of the two together are
common to both. Only the opening words count, which bounds the cost on long examples and is where
generated copies show: two examples that agree that far are near copies for training purposes
(identical user messages are caught whatever their length, by the rule before).

The file's index. Per example the Judge keeps its bigram hashes (top 32 bits; at most 2·WORDS−1
of them), so similarity to a line of the file is exact too (but for 32-bit collisions). Lines are
looked up by their INDEXED smallest hashes — a uniform sample of their pairs — kept in one sorted
array, and a line is compared only when a candidate has MATCHES of them: common pairs ("how do",
"of the") are among the smallest of thousands of lines, and one of them alone says nothing. A
candidate at least 0.6 similar to a line holds at least 60% of that line's pairs, so it holds
fewer than 2 of the 12 with probability below 0.04% (binomial; less when sampled without
replacement). Word ids are CRC-32s and pairs are hashed with Python's tuple hash of ints —
neither is salted per process — so a verdict is the same in every run. About 380 bytes per
example; build and judge times are measured by tests/bench/bench_near_duplicates.py.
"""

from __future__ import annotations

import zlib
from array import array
from bisect import bisect_left
from collections import Counter as TallyCounter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson

from core.dataset.base_models import lookup
from core.dataset.messages import content_text
from core.dataset.rules import CODES, check_value, digest, has_error
from core.dataset.tokens import Counter

NEAR = 0.6
WORDS = 32  # words taken from the user turns, and as many from the assistant turns
INDEXED = 12  # the smallest bigram hashes of a file example, by which it is looked up
MATCHES = 2  # of which a candidate must hold this many for the line to be compared
_ID_BITS = 24  # example ids packed under each indexed hash while sorting: 16.7M examples
VERDICTS = ("ok", "invalid", "duplicate", "near-duplicate", "unreadable")

_PUNCTUATION = bytes(range(33, 48)) + bytes(range(58, 65)) + bytes(range(91, 97)) + bytes(range(123, 127))
_TO_SPACES = bytes.maketrans(_PUNCTUATION, b" " * len(_PUNCTUATION))


@dataclass(frozen=True)
class Candidate:
    number: int  # 1-based, in arrival order over the run
    example: dict | None  # what would be appended (None when it could not be read as an object)
    raw: str  # its JSON text as received (or the unreadable text), for the review screen and the report
    verdict: str  # "ok" | "invalid" | "duplicate" | "near-duplicate" | "unreadable"
    problems: tuple[str, ...]  # for a person; a duplicate's reason first, then rule findings (errors first)
    prompt_tokens: int = 0  # its share of the request's usage (split evenly over the request's candidates)
    completion_tokens: int = 0
    related_line: int | None = None  # the file line it duplicates (1-based physical line)
    related_candidate: int | None = None  # the earlier candidate it duplicates
    similarity: float | None = None  # for a near copy

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def unreadable(number: int, raw: str, reason: str) -> Candidate:
    """A part of a reply that could not be read as an example, and why."""
    return Candidate(number, None, raw, "unreadable", (reason,))


def file_records(dataset) -> Iterator[tuple[int, bytes]]:
    """(physical line, record bytes) of every record of a core.dataset Dataset, for `Judge`."""
    for i in range(len(dataset)):
        yield dataset.lineno(i), dataset.raw(i)


# ---------------------------------------------------------------------------------------------
# What an example is compared by


def _calls(message: dict) -> str:
    """Tool calls as text, so examples that only call tools are told apart too."""
    said = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            said.append(f"{function.get('name')} {function.get('arguments')}")
    call = message.get("function_call")
    if isinstance(call, dict):
        said.append(f"{call.get('name')} {call.get('arguments')}")
    return " ".join(said)


def turns(value: dict) -> tuple[str | None, list[str], list[str]]:
    """(the first system prompt, the user turns, the assistant turns) of a chat or preference example."""
    messages = value.get("messages")
    if not isinstance(messages, list):
        data = value.get("input")
        messages = data.get("messages") if isinstance(data, dict) else None
        messages = list(messages) if isinstance(messages, list) else []
        preferred = value.get("preferred_output")
        messages += preferred[:1] if isinstance(preferred, list) else []
    system, users, replies = None, [], []
    for message in messages:
        if type(message) is not dict:
            continue
        role, content = message.get("role"), message.get("content")
        text = content if type(content) is str else content_text(content, " ")
        if role == "user":
            users.append(text)
        elif role == "assistant":
            calls = _calls(message) if "tool_calls" in message or "function_call" in message else ""
            replies.append(f"{text} {calls}" if calls else text)
        elif role == "system" and system is None:
            system = text
    return system, users, replies


def first_user_text(example) -> str | None:
    """What a candidate's user asks first: how a person tells candidates apart in a list."""
    if not isinstance(example, dict):
        return None
    _, users, _ = turns(example)
    return users[0] if users else None


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): keep it rather than fail
        return text.encode("utf-8", "surrogatepass")


def words(text: str) -> list[bytes]:
    """Lowercased words: split on white space and ASCII punctuation (other characters stay in words)."""
    return _utf8(text.lower()).translate(_TO_SPACES).split()


_CHARS = WORDS * 10  # of the turns: their first WORDS words, unless words are long (the rest is not compared)


@dataclass(slots=True)
class _Profile:
    exact: int  # the rules' digest of the canonical JSON
    prompt: int  # digest of the system prompt and the user turns, as they are; 0 without user turns
    users: int  # how many user turns
    bigrams: set[int]


def _profile(value: dict) -> _Profile:
    system, users, replies = turns(value)
    prompt = digest(_utf8("\0".join([system or "", *users]))) if users else 0
    said = words(" ".join(users)[:_CHARS]) if users else []
    answered = words(" ".join(replies)[:_CHARS]) if replies else []
    ids = [*map(zlib.crc32, said[:WORDS]), *map(zlib.crc32, answered[:WORDS])]
    if len(ids) >= 2:
        bigrams = set(map(hash, zip(ids, ids[1:])))
    else:
        bigrams = {hash((ids[0],))} if ids else set()
    return _Profile(digest(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)), prompt, len(users), bigrams)


def similarity(a: dict, b: dict) -> float:
    """The near-duplicate measure between two examples, exactly (for tests and the review screen)."""
    x, y = _profile(a).bigrams, _profile(b).bigrams
    return len(x & y) / len(x | y) if x or y else 1.0


class _Lookup:
    """Sorted 64-bit keys with a line each: a dict's job in a tenth of its memory."""

    def __init__(self, pairs: list[tuple[int, int]]):
        pairs.sort()  # by key, then line: the first line of equal keys comes first
        self.keys = array("Q", [k for k, _ in pairs])
        self.lines = array("q", [line for _, line in pairs])

    def get(self, key: int) -> int | None:
        i = bisect_left(self.keys, key)
        return self.lines[i] if i < len(self.keys) and self.keys[i] == key else None


# ---------------------------------------------------------------------------------------------
# The judge


class Judge:
    """Judges candidates against the rules, the file's examples and the run's earlier candidates.

    `existing`: the file's records as (physical line, example) pairs, the example a parsed dict or
    the record's bytes (`file_records(ds)` gives them); records that are not JSON objects are left
    out (a valid candidate cannot equal them). Building reads them all once: call it from a worker
    thread for a big file. `model`: the base model whose rules apply (token limit, images; default
    the project's). `system`: the brief's system prompt — put first in a candidate with none, and
    a warning for a candidate with another; None leaves system prompts alone. generate() and
    regenerate() set it from their brief. `near`: the similarity from which a candidate is a near
    copy (NEAR).
    """

    def __init__(self, existing: Iterable[tuple[int, dict | bytes]] = (), *, model: str | None = None,
                 system: str | None = None, near: float = NEAR):  # fmt: skip
        if not 0.0 < near <= 1.0:
            raise ValueError("near is a similarity in (0, 1]")
        self.model = lookup(model)
        self.system = system
        self.near = near
        self._counter = Counter(self.model.encoding)
        self.last_number = 0  # the highest candidate number judged: a next run goes on from it
        # The run's candidates judged ok and not forgotten, by number.
        self._mine: dict[int, _Profile] = {}
        self._mine_exact: dict[int, int] = {}
        self._mine_prompts: dict[int, int] = {}
        self._build(existing)

    @property
    def examples(self) -> int:
        """File records indexed (JSON objects)."""
        return len(self._lines)

    def _build(self, existing: Iterable[tuple[int, dict | bytes]]) -> None:
        exact: list[tuple[int, int]] = []
        prompts: list[tuple[int, int]] = []
        keys: list[int] = []
        tops, offsets, lines = array("i"), array("q", [0]), array("q")
        for line, record in existing:
            value = record
            if not isinstance(value, dict):
                try:
                    value = orjson.loads(value)
                except (orjson.JSONDecodeError, TypeError):
                    continue
                if not isinstance(value, dict):
                    continue
            profile = _profile(value)
            exact.append((profile.exact, line))
            if profile.prompt:
                prompts.append((profile.prompt, line))
            n = len(lines)
            lines.append(line)
            ordered = sorted(profile.bigrams)
            tops.extend([h >> 32 for h in ordered])
            offsets.append(len(tops))
            if n < 1 << _ID_BITS:  # beyond 16.7M examples, the rest is checked for exact copies only
                # (a line of one pair is indexed twice, so that one match is MATCHES for it)
                keys.extend([(h >> 32 << _ID_BITS) | n for h in (ordered[:INDEXED] if len(ordered) > 1 else ordered * MATCHES)])
        keys.sort()
        self._exact, self._prompts = _Lookup(exact), _Lookup(prompts)
        # Split once here so that a lookup takes its ids as one slice, not one by one.
        mask = (1 << _ID_BITS) - 1
        self._index_keys = array("i", [k >> _ID_BITS for k in keys])
        self._index_ids = array("i", [k & mask for k in keys])
        self._tops, self._offsets, self._lines = tops, offsets, lines

    # ------------------------------------------------------------------ judging
    def judge(self, value: object, raw: str, number: int) -> Candidate:
        """The verdict on one candidate. Judging a number again (an edited candidate) replaces it."""
        self.forget(number)
        self.last_number = max(self.last_number, number)
        example, notes = self._with_system(value) if isinstance(value, dict) else (value, [])
        checked = check_value(example, self._counter, self.model)
        findings = sorted(checked.problems or (), key=lambda p: CODES[p[0]][0] != "error")  # errors first, stable
        problems = [_said(p) for p in findings] + notes
        if not isinstance(example, dict):
            return Candidate(number, None, raw, "invalid", tuple(problems))
        if has_error(checked.problems):
            return Candidate(number, example, raw, "invalid", tuple(problems))
        profile = _profile(example)
        copy = self._copy_of(profile)
        if copy is not None:
            verdict, why, line, other, share = copy
            return Candidate(number, example, raw, verdict, (why, *problems), related_line=line,
                             related_candidate=other, similarity=share)  # fmt: skip
        self._mine[number] = profile
        self._mine_exact.setdefault(profile.exact, number)
        if profile.prompt:
            self._mine_prompts.setdefault(profile.prompt, number)
        return Candidate(number, example, raw, "ok", tuple(problems))

    def forget(self, number: int) -> None:
        """Candidate `number` no longer counts as an earlier candidate (the user rejected it)."""
        profile = self._mine.pop(number, None)
        if profile is None:
            return
        if self._mine_exact.get(profile.exact) == number:
            del self._mine_exact[profile.exact]
        if self._mine_prompts.get(profile.prompt) == number:
            del self._mine_prompts[profile.prompt]

    def _with_system(self, value: dict) -> tuple[dict, list[str]]:
        messages = value.get("messages")
        if self.system is None or not isinstance(messages, list):
            return value, []
        first = messages[0] if messages else None
        has = isinstance(first, dict) and first.get("role") == "system"
        if self.system:
            if not has:
                return {**value, "messages": [{"role": "system", "content": self.system}, *messages]}, []
            if first.get("content") != self.system:
                return value, ["warning: messages[0].content: the system prompt is not the brief's"]
        elif has:
            return value, ["warning: messages[0]: a system prompt, where the brief has none"]
        return value, []

    def _copy_of(self, profile: _Profile):
        """(verdict, why, line, candidate, similarity) for a duplicate or near copy; None when there is none."""
        line = self._exact.get(profile.exact)
        if line is not None:
            return "duplicate", f"same as line {line}", line, None, 1.0
        other = self._mine_exact.get(profile.exact)
        if other is not None:
            return "duplicate", f"same as candidate {other}", None, other, 1.0
        if profile.prompt:
            what = "user message" if profile.users == 1 else "user messages"
            line = self._prompts.get(profile.prompt)
            if line is not None:
                return "near-duplicate", f"same {what} as line {line}", line, None, None
            other = self._mine_prompts.get(profile.prompt)
            if other is not None:
                return "near-duplicate", f"same {what} as candidate {other}", None, other, None
        share, line, other = self._nearest(profile.bigrams)
        if share >= self.near:
            where = f"line {line}" if line is not None else f"candidate {other}"
            return "near-duplicate", f"near {where} (similarity {share:.2f})", line, other, round(share, 4)
        return None

    def _nearest(self, bigrams: set[int]) -> tuple[float, int | None, int | None]:
        """(similarity, file line, candidate number) of the most similar example; (0, None, None) for none."""
        best, best_line, best_other = 0.0, None, None
        if not bigrams:
            return best, best_line, best_other
        size = len(bigrams)
        for number, profile in self._mine.items():
            theirs = profile.bigrams
            common = len(bigrams & theirs)
            if common:
                share = common / (size + len(theirs) - common)
                if share > best:
                    best, best_line, best_other = share, None, number
        tops = {h >> 32 for h in bigrams}
        keys, ids = self._index_keys, self._index_ids
        hits: TallyCounter[int] = TallyCounter()
        for top in tops:
            lo = bisect_left(keys, top)
            hi = bisect_left(keys, top + 1, lo)
            if hi > lo:
                hits.update(ids[lo:hi])
        size = len(tops)  # the same as len(bigrams) but for a 32-bit collision
        for n, count in hits.items():
            if count < MATCHES:
                continue
            theirs = self._tops[self._offsets[n] : self._offsets[n + 1]]
            common = len(tops.intersection(theirs))
            share = common / (size + len(theirs) - common)
            if share > best or share == best and best_other is not None:  # a file line beats a candidate
                best, best_line, best_other = share, self._lines[n], None
        return best, best_line, best_other


def _said(problem) -> str:
    code, path, message, _fix = problem
    severity = CODES[code][0]
    return f"{severity}: {path}: {message}" if path else f"{severity}: {message}"
