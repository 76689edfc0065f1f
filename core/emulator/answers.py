"""What the emulator's models say: tuned models answer from their training data, base models talk.

Pure and deterministic: the same conversation, options and seed always give the same reply.
- A tuned model (or checkpoint) is given its training examples and replies with the trained
  answer to the prompt nearest the user's last message (bag-of-words cosine), which is how a user
  recognises that fine-tuning "worked".
- A base model writes a few generic sentences about the topic of the last message.
- Asked for JSON (`response_format`) or for training examples, the reply is well-formed JSON:
  an instance of the requested schema, or `{"examples": [...]}` chat examples that pass
  core.dataset's rules (offline synthetic-data generation depends on them). Like a model that
  follows its instructions, it leaves out the system message when the request says not to
  include one, and does not repeat a question the request quotes (an "already written" list).
  The examples are templates filled with the request's topics: varied enough that a run of a few
  dozen passes a near-duplicate check, but nothing like a real model's range.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
from collections import Counter as Bag
from collections.abc import Sequence
from typing import Any

from core.dataset.messages import content_text
from core.dataset.tokens import Counter, count_text

DEFAULT_EXAMPLES = 5
MAX_EXAMPLES = 50

_WORD = re.compile(r"\w+")
_LETTERS = re.compile(r"[^\W\d_]+")

STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being best
    between both but by can could did do does doing done for from further get had has have having he
    her here hers him his how i if in into is it its just know like make me might more most much must
    my need no not now of off on once only or other our out over own please really same she should so
    some such tell than that the their them then there these they this those through to too under
    until up very want was way we well were what when where which while who whom why will with would
    you your yours thanks thank hi hello hey let lets give good""".split()
)
# Words of a request for data, not of its topic: "generate 5 training examples for a travel bot".
_REQUEST_WORDS = frozenset(
    """generate create write produce make give examples example sample samples training train dataset
    datasets data synthetic jsonl json format conversation conversations dialogue dialogues chat
    chats assistant assistants chatbot chatbots bot bots model models fine tune tuning tuned line
    task tasks topic topics
    lines row rows pair pairs varied diverse different realistic short long new each one two three four
    five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty dozen""".split()
)
# Verbs that open a request; as the first word they are not its topic.
_ASKING = frozenset("tell explain describe list show suggest recommend plan find compare summarize summarise write create generate".split())
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "dozen": 12,
}  # fmt: skip
# "Do not include a system message", "without a system prompt": the examples get none.
_NO_SYSTEM = re.compile(
    r"\b(?:do not|don't|never) (?:include|write|add|repeat)\b[^.\n]{0,20}?\bsystem (?:message|prompt)"
    r"|\bwithout (?:a |any )?system (?:message|prompt)",
    re.I,
)
_EXAMPLES_REQUEST = re.compile(r"\b(examples|training examples?|jsonl|datasets?|training data|synthetic data)\b", re.I)
_COUNT = re.compile(
    r"\b(\d{1,4}|" + "|".join(_NUMBER_WORDS) + r")\s+(?:[\w-]+\s+){0,3}?(?:examples?|conversations?|samples?|dialogues?|lines|rows|pairs)\b",
    re.I,
)


def reply(
    messages: list[dict],
    *,
    examples: Sequence[dict] | None = None,
    response_format: dict | None = None,
    seed: int = 0,
    malformed: bool = False,
) -> str:
    """The assistant's reply to `messages`. `malformed` (a fault) cuts the reply short."""
    last = _last_user_text(messages)
    rng = random.Random(_digest(seed, messages))
    kind = (response_format or {}).get("type", "text")
    trained = _nearest_reply(last, examples, seed) if examples else None
    wants_examples = trained is None and bool(_EXAMPLES_REQUEST.search(last))

    if kind == "json_schema":
        schema = ((response_format or {}).get("json_schema") or {}).get("schema") or {}
        if wants_examples:
            hint = _examples_payload(last, messages, rng)
        elif trained is not None:
            hint = _as_json_object(trained)
        else:
            hint = None
        topics = _topics(trained if trained is not None else last) or ["answer"]
        value = _Instance(schema, topics).build(schema, hint)
        return _cut_json(value) if malformed else _dumps(value)
    if trained is not None:
        if kind == "json_object":
            value = _as_json_object(trained)
            return _cut_json(value) if malformed else _dumps(value)
        return _cut_prose(trained) if malformed else trained
    if wants_examples:
        value = _examples_payload(last, messages, rng)
        return _cut_json(value) if malformed else _dumps(value)
    prose = _prose(last, rng)
    if kind == "json_object":
        value = {"topic": _listing(_topics(last)) or "general", "answer": prose}
        return _cut_json(value) if malformed else _dumps(value)
    return _cut_prose(prose) if malformed else prose


def chunks(text: str) -> list[str]:
    """Stream deltas: each word with the space before it (long words in pieces); joined, exactly `text`."""
    return re.findall(r"\s*\S{1,12}|\s+", text)


def usage(messages: list[dict], text: str, encoding_name: str = "o200k_base") -> dict:
    """Token usage as the API reports it: the prompt counted with the cookbook's chat overhead."""
    prompt = Counter(encoding_name).messages(messages)
    completion = count_text(text, encoding_name)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# ---------------------------------------------------------------------------------------------
# Reading the conversation


def _last_user_text(messages: Sequence) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"), " ")
    return ""


def _digest(seed: int, value: Any) -> int:
    """A seed for this conversation, the same in every process (unlike `hash`)."""
    data = json.dumps([seed, value], sort_keys=True, ensure_ascii=False, default=str).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _topics(text: str, ignore: frozenset = frozenset()) -> list[str]:
    """What a message is about: runs of adjacent content words ("houseplant care", "Porto").

    Stopwords, punctuation and `ignore` words end a run, so "best time to visit Japan" gives
    ["time", "visit Japan"]. At most three phrases of at most three words, first spelling kept.
    """
    phrases, run, end, seen = [], [], 0, set()
    for k, match in enumerate(_LETTERS.finditer(text)):
        word, low = match.group(), match.group().lower()
        asking = k == 0 and low in _ASKING  # "Plan a weekend in Porto" is about Porto, not planning
        content = not (len(word) < 3 and word.isascii()) and low not in STOPWORDS and low not in ignore and not asking
        if run and (not content or text[end : match.start()].strip(" -") or len(run) == 3):
            phrases.append(" ".join(run))
            run = []
        if content:
            run.append(word)
            end = match.end()
    if run:
        phrases.append(" ".join(run))
    unique = []
    for phrase in phrases:
        if phrase.lower() not in seen:
            seen.add(phrase.lower())
            unique.append(phrase)
    return unique[:3]


def _listing(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# ---------------------------------------------------------------------------------------------
# Tuned models: the trained answer to the nearest prompt


class _Prompts:
    """Every (user prompt, trained reply) pair of a set of examples, as word bags."""

    def __init__(self, examples: Sequence[dict]):
        self.replies: list[str] = []
        self.bags: list[Bag] = []
        self.norms: list[float] = []
        for example in examples:
            for prompt, answer in _pairs(example):
                bag = _bag(prompt)
                self.replies.append(answer)
                self.bags.append(bag)
                self.norms.append(math.sqrt(sum(c * c for c in bag.values())) or 1.0)


def _pairs(example: dict):
    """Each user turn of an example with the trained reply that answers it."""
    if not isinstance(example, dict):
        return
    if "messages" not in example:  # preference: the preferred output answers the last user turn
        inputs = (example.get("input") or {}).get("messages") or []
        preferred = example.get("preferred_output") or [{}]
        answer = content_text(preferred[0].get("content"), " ") if isinstance(preferred[0], dict) else ""
        if answer:
            yield _last_user_text(inputs), answer
        return
    prompt, answer = None, ""
    for message in example["messages"]:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "user":
            if prompt is not None and answer:
                yield prompt, answer
            prompt, answer = content_text(message.get("content"), " "), ""
        elif message.get("role") == "assistant" and message.get("weight", 1) != 0:
            # The last trained text before the next user turn answers it (after any tool calls).
            answer = content_text(message.get("content"), " ") or answer
    if prompt is not None and answer:
        yield prompt, answer


def _bag(text: str) -> Bag:
    words = [w.lower() for w in _WORD.findall(text)]
    content = [w for w in words if w not in STOPWORDS]
    return Bag(content or words)


# Examples objects seen recently, by identity: a tuned model's examples are one tuple for the
# life of the job, and indexing them again on every chat request would be the slow part.
_INDEXED: dict[int, tuple[Sequence[dict], _Prompts]] = {}
_INDEXED_LOCK = threading.Lock()  # the server may answer chats from several threads


def _prompts(examples: Sequence[dict]) -> _Prompts:
    with _INDEXED_LOCK:
        cached = _INDEXED.get(id(examples))
    if cached is not None and cached[0] is examples:
        return cached[1]
    prompts = _Prompts(examples)
    with _INDEXED_LOCK:
        if len(_INDEXED) >= 16:
            _INDEXED.pop(next(iter(_INDEXED)))
        _INDEXED[id(examples)] = (examples, prompts)  # holding `examples` keeps its id from being reused
    return prompts


def _nearest_reply(text: str, examples: Sequence[dict], seed: int) -> str | None:
    prompts = _prompts(examples)
    if not prompts.replies:
        return None
    query = _bag(text)
    best, best_score = 0, 0.0
    for k, (bag, norm) in enumerate(zip(prompts.bags, prompts.norms)):
        dot = sum(count * bag[word] for word, count in query.items() if word in bag)
        score = dot / norm  # cosine without the query's norm, which is the same for every candidate
        if score > best_score + 1e-12:
            best, best_score = k, score
    if best_score == 0.0:
        # Nothing in common: a tuned model still answers in its trained voice; which reply is
        # a stable function of the prompt.
        best = _digest(seed, text) % len(prompts.replies)
    return prompts.replies[best]


def _as_json_object(text: str):
    """A trained reply as a JSON object: itself when the model was trained to answer in JSON."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"answer": text}
    return value if isinstance(value, dict) else {"answer": value}


# ---------------------------------------------------------------------------------------------
# Base models: generic prose on the topic

_OPENERS = (
    "Here is a general overview of {topic}.",
    "Good question: {topic} comes up a lot.",
    "There is no single answer about {topic}, but a few points usually hold.",
    "Let me give you the general picture on {topic}.",
)
_MIDDLES = (
    "The most important factor is usually {a}, because it shapes most of the other choices.",
    "It helps to look at {b} early, since it is harder to change later.",
    "Many people find that comparing two or three options for {a} makes the decision easier.",
    "Details about {b} change over time, so check a current, official source before relying on them.",
    "Budget and timing matter as much as {a} itself.",
    "If {a} is new to you, start small and adjust as you learn what works.",
)
_CLOSERS = (
    "If you tell me more about your situation, I can be more specific.",
    "I hope this gives you a useful starting point.",
    "Let me know which part you would like to go deeper on.",
)


def _prose(text: str, rng: random.Random) -> str:
    topics = _topics(text)
    topic = _listing(topics) or "your question"
    a = rng.choice(topics) if topics else "the main goal"
    b = rng.choice(topics) if topics else "the constraints"
    middles = rng.sample(_MIDDLES, 2)
    sentences = [rng.choice(_OPENERS), *middles, rng.choice(_CLOSERS)]
    return " ".join(s.format(topic=topic, a=a, b=b) for s in sentences)


# ---------------------------------------------------------------------------------------------
# Synthetic training examples

_QUALIFIERS = (
    "on a tight budget", "for the first time", "as a complete beginner", "with very little time",
    "for a small group", "on short notice", "without special equipment", "step by step",
    "in the cheapest way", "without the usual mistakes",
)  # fmt: skip
# (question, the first sentence of its answer); the answer goes on with a detail and a closer
# drawn per example, so two examples from one template are not near copies of each other.
_QUESTIONS = (
    ("How do I handle {w} {q}?",
     "To handle {w} {q}, decide first what matters most to you, then pick the simplest option that covers it."),
    ("What should I know about {w} {q}?",
     "The key thing about {w} {q} is preparation: check the basic requirements early and keep a short checklist."),
    ("Can you give me one practical tip for {w} {q}?",
     "One practical tip for {w} {q}: do a small trial run first."),
    ("What is a common mistake with {w} {q}?",
     "A common mistake with {w} {q} is trying to do everything at once."),
    ("How much time should I set aside for {w} {q}?",
     "For {w} {q}, plan a little more time than you expect; an extra 20 to 30 percent is a safe margin."),
    ("What is the first step with {w} {q}?",
     "The first step with {w} {q} is to write down what you want to get out of it."),
    ("Is {w} worth the effort {q}?",
     "{W} is usually worth the effort {q}, as long as your expectations are realistic."),
)  # fmt: skip
_DETAILS = (
    "Most problems with {w} come from leaving things to the last minute.",
    "Write the plan down so nothing important about {w} slips.",
    "It shows you what works before you commit much time or money to {w}.",
    "Focus on the one or two parts of {w} that matter most and let the rest wait.",
    "{W} rarely goes exactly to plan the first time, and that is normal.",
    "With that goal in mind, every later choice about {w} gets easier.",
    "Ask someone who has done {w} before; one short conversation can save you hours.",
    "Check a current, official source on {w} as well, because details change.",
    "Keep notes as you go: your second attempt at {w} will be much smoother.",
    "If {w} starts to feel overwhelming, go back to the part you understand best.",
    "Compare two options for {w} side by side before you decide.",
    "Set yourself a small budget for {w} and review it after a week.",
)
_SIGN_OFFS = ("", " Good luck!", " Tell me how it goes.", " Happy to help with the next step.", " You can do this.")


def _requested_count(text: str) -> int:
    match = _COUNT.search(text)
    if not match:
        return DEFAULT_EXAMPLES
    word = match.group(1).lower()
    n = int(word) if word.isdigit() else _NUMBER_WORDS[word]
    return max(1, min(MAX_EXAMPLES, n))


def _examples_payload(text: str, messages: Sequence, rng: random.Random) -> dict:
    """{"examples": [{"messages": [system, user, assistant]}, ...]}: distinct, on the topic asked."""
    topics = _topics(text, _REQUEST_WORDS)
    if not topics:  # "generate 5 examples" alone: the system prompt may say what they are about
        system = next((content_text(m.get("content"), " ") for m in messages if isinstance(m, dict) and m.get("role") == "system"), "")
        topics = _topics(system, _REQUEST_WORDS) or ["everyday questions"]
    request = "\n".join(content_text(m.get("content"), " ") for m in messages if isinstance(m, dict))
    with_system = not _NO_SYSTEM.search(request)
    system = f"You are a helpful assistant who knows {_listing(topics)} well. Answer in two or three friendly, practical sentences."
    combos = [(t, w, q) for t in range(len(_QUESTIONS)) for w in topics for q in _QUALIFIERS]
    rng.shuffle(combos)
    # Details are dealt from a shuffled deck, so the examples of one reply all differ in theirs.
    details = rng.sample(range(len(_DETAILS)), len(_DETAILS))
    wanted = _requested_count(text)
    out = []
    for t, w, q in combos:
        if len(out) == wanted:
            break
        question, opening = _QUESTIONS[t]
        fill = {"w": w, "W": w[:1].upper() + w[1:], "q": q}
        asked = question.format(**fill)
        if asked in request:  # quoted as already written: a model told so would not repeat it
            continue
        detail = _DETAILS[details[len(out) % len(details)]]
        answer = f"{opening} {detail}{rng.choice(_SIGN_OFFS)}".format(**fill)
        conversation = [{"role": "user", "content": asked}, {"role": "assistant", "content": answer}]
        if with_system:
            conversation.insert(0, {"role": "system", "content": system})
        out.append({"messages": conversation})
    return {"examples": out}


# ---------------------------------------------------------------------------------------------
# JSON out


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _cut_json(value) -> str:
    """Valid JSON up to the middle of its last part, then nothing: what a dropped stream leaves.

    For an examples payload the cut falls inside the last example, so the earlier ones are whole.
    Any proper prefix of a JSON object or array is invalid JSON, so a parser always notices.
    """
    text = _dumps(value)
    if isinstance(value, dict) and isinstance(value.get("examples"), list) and value["examples"]:
        last = _dumps(value["examples"][-1])
        start = text.rindex(last)
        return text[: start + len(last) // 2]
    return text[: max(1, len(text) * 2 // 3)]


def _cut_prose(text: str) -> str:
    """Cut mid-sentence at a word boundary about two thirds in (never the whole reply)."""
    cut = text.rfind(" ", 0, max(1, len(text) * 2 // 3))
    return text[: cut if cut > 0 else max(1, len(text) // 2)] if len(text) > 1 else ""


# Fields that hold prose rather than a name: they get a sentence.
_LONG_TEXT = frozenset(
    "description summary notes note text content answer reason explanation details message comment body reply response advice tip".split()
)


class _Instance:
    """Builds a value that validates against a JSON schema, using a hint wherever it fits.

    Covers what structured outputs use: object (properties, required, additionalProperties),
    array (items, prefixItems, min/maxItems), string (enum, length, common formats), number,
    integer (bounds, multipleOf), boolean, null, const, anyOf/oneOf/allOf, type lists, and local
    $ref into $defs/definitions. Generated strings are made of the topics and differ from one
    another, so uniqueItems holds.
    """

    MAX_DEPTH = 12

    def __init__(self, root: dict, topics: list[str]):
        self.root = root
        self.topics = topics
        self.made = 0  # values generated so far: varies strings and numbers
        self.strings: set[str] = set()

    def build(self, schema, hint=None, name: str = "", depth: int = 0):
        if not isinstance(schema, dict):
            return hint if hint is not None else self._string({}, name)  # `true` / `{}`: anything
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return hint if hint in schema["enum"] else schema["enum"][0]
        if "allOf" in schema:
            return self.build(self._merged(schema), hint, name, depth + 1)
        options = schema.get("anyOf") or schema.get("oneOf")
        if options:
            return self.build(self._pick(options, hint), hint, name, depth + 1)
        kind = self._kind(schema, hint)
        if depth > self.MAX_DEPTH:  # a recursive schema: stop as early as the schema allows
            return {"object": {}, "array": [], "string": "", "integer": 0, "number": 0, "boolean": False}.get(kind)
        if kind == "object":
            return self._object(schema, hint, depth)
        if kind == "array":
            return self._array(schema, hint, name, depth)
        if kind == "integer":
            return self._number(schema, hint, integer=True)
        if kind == "number":
            return self._number(schema, hint, integer=False)
        if kind == "boolean":
            return hint if isinstance(hint, bool) else self._next() % 2 == 1
        if kind == "null":
            return None
        if kind == "any":
            return hint if hint is not None else self._string({}, name)
        return self._string(schema, name, hint)

    def _resolve(self, schema: dict) -> dict:
        seen = 0
        while "$ref" in schema and seen < 32:
            ref = schema["$ref"]
            if not ref.startswith("#"):
                return {k: v for k, v in schema.items() if k != "$ref"}  # remote refs: not followed
            target = self.root
            for part in ref.lstrip("#").split("/"):
                if part:
                    target = target[part.replace("~1", "/").replace("~0", "~")]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        return schema

    def _merged(self, schema: dict) -> dict:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self._resolve(part) if isinstance(part, dict) else {}
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = sorted(set(merged.get("required", [])) | set(value))
                else:
                    merged.setdefault(key, value)
        return merged

    def _pick(self, options: list, hint):
        """The first option that takes the hint's type; else the first that is not null."""
        def kind_of(option):
            return self._kind(self._resolve(option), None) if isinstance(option, dict) else "any"
        wanted = _json_kind(hint)
        for option in options:
            if wanted and kind_of(option) in (wanted, "number" if wanted == "integer" else wanted):
                return option
        return next((o for o in options if kind_of(o) != "null"), options[0])

    @staticmethod
    def _kind(schema: dict, hint) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            wanted = _json_kind(hint)
            if wanted in kind:
                return wanted
            return next((k for k in kind if k != "null"), "null")
        if kind:
            return kind
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
            return "string"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
            return "number"
        return "any"

    def _next(self) -> int:
        self.made += 1
        return self.made

    def _object(self, schema: dict, hint, depth: int) -> dict:
        hint = hint if isinstance(hint, dict) else {}
        properties = schema.get("properties") or {}
        out = {key: self.build(sub, hint.get(key), key, depth + 1) for key, sub in properties.items()}
        extra = schema.get("additionalProperties")
        for key in schema.get("required") or []:
            if key not in out:
                out[key] = self.build(extra if isinstance(extra, dict) else {}, hint.get(key), key, depth + 1)
        return out

    def _array(self, schema: dict, hint, name: str, depth: int) -> list:
        hint = hint if isinstance(hint, list) else []
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        low = max(schema.get("minItems", 0), len(prefix) if items is False else 0)
        high = schema.get("maxItems", math.inf)
        if items is False:
            high = min(high, len(prefix))
        n = int(max(low, min(high, len(hint) if hint else 2)))
        out = []
        for i in range(n):
            sub = prefix[i] if i < len(prefix) else items
            out.append(self.build(sub, hint[i] if i < len(hint) else None, name, depth + 1))
        return out

    def _string(self, schema: dict, name: str, hint=None) -> str:
        low, high = schema.get("minLength", 0), schema.get("maxLength", math.inf)
        pattern = schema.get("pattern")
        if isinstance(hint, str) and low <= len(hint) <= high and (not pattern or re.search(pattern, hint)):
            return hint
        n = self._next()
        formats = {
            "date": f"2026-01-{n % 28 + 1:02d}",
            "date-time": f"2026-01-{n % 28 + 1:02d}T09:30:00Z",
            "time": "09:30:00",
            "email": f"user{n}@example.com",
            "uri": f"https://example.com/{n}",
            "url": f"https://example.com/{n}",
            "uuid": f"00000000-0000-4000-8000-{n:012d}",
            "ipv4": f"192.0.2.{n % 250 + 1}",
        }
        text = formats.get(schema.get("format", ""))
        if text is None:
            # Rotate through the topics so neighbouring values differ; long-text fields get a sentence.
            topic = self.topics[n % len(self.topics)]
            label = name.lower().rsplit("_", 1)[-1]
            if label in _LONG_TEXT:
                text = f"About {topic}: " + _MIDDLES[n % len(_MIDDLES)].format(a=topic, b=topic)
            else:
                text = topic[:1].upper() + topic[1:]
        while len(text) < low:
            text += " " + self.topics[len(text) % len(self.topics)]
        text = text[: int(high)] if high != math.inf else text
        # Every generated string is new, so uniqueItems holds and list items are told apart.
        base, k = text, 2
        while text in self.strings:
            suffix = f" {k}"
            text = (base[: int(high) - len(suffix)] if high != math.inf else base) + suffix
            k += 1
        self.strings.add(text)
        return text

    def _number(self, schema: dict, hint, *, integer: bool):
        low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
        if "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
            low = max(low, schema["exclusiveMinimum"] + (1 if integer else 1e-6))
        if "exclusiveMaximum" in schema and not isinstance(schema["exclusiveMaximum"], bool):
            high = min(high, schema["exclusiveMaximum"] - (1 if integer else 1e-6))
        step = schema.get("multipleOf")
        ok_type = isinstance(hint, int) if integer else isinstance(hint, (int, float))
        if ok_type and not isinstance(hint, bool) and low <= hint <= high and (not step or _multiple(hint, step)):
            return hint
        value = 3 + self._next() % 7 + (0 if integer else 0.5)
        if step:  # a whole multiple of the step, inside the bounds
            value = round(value / step) * step
            if value < low:
                value = math.ceil(low / step) * step
            if value > high:
                value = math.floor(high / step) * step
        else:
            value = min(max(value, low), high)
        if integer:
            value = math.ceil(value) if math.ceil(value) <= high else math.floor(value)
        return value


def _multiple(value, step) -> bool:
    ratio = value / step
    return abs(ratio - round(ratio)) < 1e-9


def _json_kind(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else None
