"""What the user asks for (the brief) and the chat request sent to a model for it.

    brief = Brief(task="a travel assistant that plans short city trips",
                  system="You are TripPal, a concise travel planner.",
                  topics=("visas", "packing"), references=references_from(examples))
    messages = request(brief, 5, topic="visas", avoid=["How do I get a Schengen visa?"])
    await complete(conn, model, messages, response_format=RESPONSE_FORMAT)

The request asks for conversations *without* their system message: the brief's system prompt is
added to every example afterwards (review.Judge does it), so a model cannot misquote it and
does not pay output tokens to repeat it in every example. It is shown to the model once, as
context for the replies.

Layout, for prompt caching: the fixed instructions, the system prompt and the references come
first and are the same for every request of a run; what changes per request (the user messages
to avoid, the variation hint) comes last; the user message says how many and about what.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from core.dataset.base_models import DEFAULT_MODEL, lookup
from core.dataset.rules import check_value, has_error
from core.dataset.tokens import Counter

MAX_PER_REQUEST = 20  # more examples in one reply make a long answer that is more often cut short
AVOID_SHOWN = 30  # user messages to avoid, the most recent ones: enough to steer, cheap to send
AVOID_CHARS = 200  # each one cut to this: the opening of a question is what repeats
REFERENCE_CHARS = 1_200  # a reference's message content is cut to this ("trimmed if huge")
REFERENCE_MESSAGES = 12
REFERENCE_POOL = 64  # examples sampled from a file before picking references among them


@dataclass(frozen=True)
class Brief:
    task: str  # description of the task ("a travel assistant that ...")
    system: str = ""  # the system prompt the examples carry (first message); "" = the examples have none
    topics: tuple[str, ...] = ()  # optional seed topics, spread over the requests round-robin
    references: tuple[dict, ...] = ()  # a few existing examples as style references

    def topic(self, k: int) -> str | None:
        """The seed topic of request k (0-based), round-robin; None when there are no topics."""
        topics = [t for t in self.topics if t.strip()]
        return topics[k % len(topics)].strip() if topics else None


_MESSAGE = {
    "type": "object",
    "properties": {"role": {"type": "string", "enum": ["user", "assistant"]}, "content": {"type": "string"}},
    "required": ["role", "content"],
    "additionalProperties": False,
}
# Strict structured outputs need every property required and no additional ones, at every level.
RESPONSE_FORMAT: dict = {
    "type": "json_schema",
    "json_schema": {
        "name": "training_examples",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "examples": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"messages": {"type": "array", "items": _MESSAGE}},
                        "required": ["messages"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["examples"],
            "additionalProperties": False,
        },
    },
}

_INSTRUCTIONS = """\
You write training data for fine-tuning a chat model: realistic conversations between a user and \
the assistant being trained, showing exactly how that assistant should behave.

Answer with JSON only, in this shape:
{"examples": [{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}]}

Rules:
- Each example is one self-contained conversation. It starts with a user message and ends with \
the assistant's reply; some may have a follow-up exchange or two.
- Roles are "user" and "assistant" only. Do not include a system message: {system_rule}
- Vary what real users do: their intent, topic, wording, length, tone, level of detail and \
expertise, and how clearly they ask. Never reuse another example's opening words or sentence pattern.
- The assistant's replies are correct, helpful and consistent with its system prompt: they are \
what the model will learn to say.
- No placeholders such as [name] or "...", no numbering, nothing outside the JSON."""

_VARIATIONS = (
    "In this batch, mix very short questions with detailed ones.",
    "In this batch, include users who are unsure what they need.",
    "In this batch, include a few conversations with a follow-up question.",
    "In this batch, write some users informally and some formally.",
    "In this batch, include at least one unusual but realistic request.",
    "In this batch, vary how much the users already know.",
)


def _json_string(text: str) -> str:
    return orjson.dumps(text).decode()


def _trimmed(example: dict) -> dict:
    """A reference as sent: without its system message (shown once on its own), long texts cut."""
    messages = example.get("messages")
    if not isinstance(messages, list):
        return example
    kept = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") == "system":
            continue
        content = message.get("content")
        if isinstance(content, str) and len(content) > REFERENCE_CHARS:
            message = {**message, "content": content[:REFERENCE_CHARS] + "…"}
        kept.append(message)
    return {**example, "messages": kept[:REFERENCE_MESSAGES]}


def request(brief: Brief, n: int, *, topic: str | None, avoid: Sequence[str] = (), variation: int | None = None) -> list[dict]:
    """The chat messages asking for `n` examples of `brief`, about `topic` when given.

    `avoid`: user messages already written (this run's, or the file's) that the model should not
    repeat; the last AVOID_SHOWN are sent, each cut to AVOID_CHARS. `variation` (the request's
    number in a run) picks a hint that differs from one request to the next, so requests sent at
    the same time do not come back alike.
    """
    if not brief.task.strip():
        raise ValueError("the brief needs a description of the task")
    if not 1 <= n <= MAX_PER_REQUEST:
        raise ValueError(f"ask for 1 to {MAX_PER_REQUEST} examples at a time, not {n}")
    system_rule = (
        "the system prompt below is added to every example." if brief.system else "the examples have no system prompt."
    )
    parts = [_INSTRUCTIONS.replace("{system_rule}", system_rule)]
    if brief.system:
        parts.append("The system prompt of the assistant being trained (as a JSON string):\n" + _json_string(brief.system))
    if brief.references:
        shown = "\n".join(orjson.dumps(_trimmed(r)).decode() for r in brief.references)
        parts.append(f"Existing examples, for their style and length only (do not copy their content or questions):\n{shown}")
    recent = [a.strip()[:AVOID_CHARS] for a in avoid if a and a.strip()][-AVOID_SHOWN:]
    if recent:
        parts.append("User messages already written; do not repeat or paraphrase them:\n" + "\n".join(f"- {_json_string(a)}" for a in recent))
    if variation is not None:
        parts.append(_VARIATIONS[variation % len(_VARIATIONS)])
    about = f" about {topic.strip()}" if topic and topic.strip() else ""
    ask = f"Write {n} training example{'s' if n != 1 else ''}{about}.\nThe task: {brief.task.strip()}"
    return [{"role": "system", "content": "\n\n".join(parts)}, {"role": "user", "content": ask}]


def _looks_like_chat(example) -> bool:
    if not isinstance(example, dict) or not isinstance(example.get("messages"), list):
        return False
    roles = {m.get("role") for m in example["messages"] if isinstance(m, dict)}
    return "user" in roles and "assistant" in roles


def references_from(examples: Iterable[dict], k: int = 3, seed: int = 0) -> tuple[dict, ...]:
    """A varied pick of `k` valid chat examples: one from each length band, deterministic by seed.

    Reads the whole iterable once but validates only a sample (REFERENCE_POOL, reservoir-drawn
    with `seed`), so it costs little on a large file. Examples with a rule error are never picked.
    """
    if k <= 0:
        return ()
    rng = random.Random(seed)
    pool: list[dict] = []
    seen = 0
    for example in examples:
        if not _looks_like_chat(example):
            continue
        seen += 1
        if len(pool) < REFERENCE_POOL:
            pool.append(example)
        else:
            j = rng.randrange(seen)
            if j < REFERENCE_POOL:
                pool[j] = example
    if not pool:
        return ()
    counter, model = Counter(lookup(DEFAULT_MODEL).encoding), lookup(DEFAULT_MODEL)
    sized = []
    for example in pool:
        if not has_error(check_value(example, counter, model).problems):
            text = orjson.dumps(example)
            sized.append((len(text), text, example))
    sized.sort(key=lambda s: (s[0], s[1]))  # by length; the bytes break ties, whatever the input order
    if len(sized) <= k:
        return tuple(s[2] for s in sized)
    # One from each of k equal bands of length (short, medium, long), drawn with the seed.
    bands = [(band * len(sized) // k, (band + 1) * len(sized) // k) for band in range(k)]
    return tuple(sized[rng.randrange(lo, hi)][2] for lo, hi in bands)
