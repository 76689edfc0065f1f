"""Token counts offline, the default-epochs rule, billed tokens and cost."""

import base64
import random
import re

import pytest

from core.dataset import open_dataset, validate
from core.dataset import tokens
from core.dataset.base_models import UnknownModel, load_price_overrides, lookup
from core.dataset.stats import compute, default_epochs
from tests.conftest import DATA


def test_known_counts_without_network():
    assert tokens.count_text("hello world") == 2
    assert tokens.count_text("hello world", "cl100k_base") == 2
    assert tokens.count_text("東京へ行きたい") == len(tokens.encoding("o200k_base").encode_ordinary("東京へ行きたい"))
    # special-token text is counted as ordinary text, never raises
    assert tokens.count_text("<|endoftext|>") > 1


def test_the_vocabulary_is_read_as_tiktoken_reads_it():
    for name in ("o200k_base", "cl100k_base"):
        encoding = tokens.encoding(name)
        lines = tokens._read_vocabulary(name).splitlines()
        for line in lines[::997] + lines[-3:]:
            token, rank = line.split()
            assert encoding.decode_single_token_bytes(int(rank)) == base64.b64decode(token)


def test_counts_are_the_encoders():
    counter = tokens.Counter("o200k_base")
    encode = tokens.encoding("o200k_base").encode_ordinary
    texts = ["hello world", "", "東京へ行きたい 😀", "<|endoftext|> x", "word " * 1000, "a lone surrogate \ud800 in a line of words"]
    assert [counter.count(t) for t in texts] == [len(encode(t)) for t in texts]  # the last is not UTF-8: tiktoken retries


# Pieces that stress tiktoken's split: cases, contractions, digits, marks, emoji, punctuation
# and whitespace of every kind next to spaces.
PIECES = list("aAzZ09 .,;:'\"!?-_/()[]{}<>|@#$%^&*+=~`\\") + [
    "'s", "'T", "'ll", "'RE", " ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u3000", "\u2028", "\u0085", "\x1c",
    "é", "É", "ß", "ǅ", "ʰ", "東", "京", "😀", "✈️", "\u0301", "٣", "Ⅷ", "\u200b", "\u00ad", "123", "4567",
    "Kyoto", " the", "don't", "I'M", "e.g.", "U.S.A.", "3.14", "1,000", "x=1;", "https://ex.com/a?b=c", "CamelCase",
]


def random_texts(rng: random.Random, n: int) -> list[str]:
    texts = []
    for _ in range(n):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 150)))
        if rng.random() < 0.6:  # one line of single spaces, which `count` takes word by word
            text = "".join(c for c in re.sub(r"\s+", " ", text) if c.isprintable()).lstrip(" ")
        texts.append(text)
    return texts


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_counting_by_words_gives_the_encoders_counts(name):
    """`Counter.count` adds up remembered words: the same numbers as encoding each text."""
    encode = tokens.encoding(name).encode_ordinary
    texts = random_texts(random.Random(7), 4000)
    expected = [len(encode(t)) for t in texts]
    counter = tokens.Counter(name)
    counter._first.clear(), counter._spaced.clear()  # remembered by earlier tests
    assert [counter.count(t) for t in texts] == expected  # words counted for the first time
    assert len(counter._spaced) > 100  # so the second time most come from the cache
    assert [counter.count(t) for t in texts] == expected
    assert [counter.count(t) for t in reversed(texts)] == list(reversed(expected))


def test_chat_overhead_follows_the_cookbook():
    counter = tokens.Counter("o200k_base")
    messages = [{"role": "user", "content": "hello world"}, {"role": "assistant", "content": "hello world", "name": "bot"}]
    # 3 per message + role + content, +1 for the name and its tokens, +3 reply priming
    expected = (3 + 1 + 2) + (3 + 1 + 2 + 1 + tokens.count_text("bot")) + 3
    assert counter.messages(messages) == expected


@pytest.mark.parametrize(
    "n,epochs", [(1, 25), (4, 25), (10, 10), (33, 3), (34, 3), (100, 3), (8333, 3), (8334, 2), (12_500, 2), (25_001, 1)]
)
def test_default_epochs(n, epochs):
    assert default_epochs(n) == epochs


def test_stats_of_the_travel_sample():
    report = validate(open_dataset(DATA / "travel.jsonl"))
    stats = compute(report)
    assert stats.examples == 48 and stats.epochs == 3
    per_example = [report.columns.tokens[k] for k in range(48)]
    assert stats.tokens.total == sum(per_example) and stats.tokens.max == max(per_example)
    assert stats.billed_tokens == 3 * sum(per_example)
    assert stats.cost_usd == pytest.approx(stats.billed_tokens * 3.0 / 1e6)
    assert stats.tokens_by_role["system"].min == stats.tokens_by_role["system"].max  # one system prompt


def test_billed_tokens_cap_each_example_at_the_limit(tmp_path):
    long = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "%s"}]}' % ("word " * 20_000)
    short = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}'
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join([long] + [short] * 12) + "\n")
    report = validate(open_dataset(path), "gpt-3.5-turbo-0613")  # 4,096-token limit
    stats = compute(report, epochs=2)
    assert stats.over_limit == 1 and stats.examples == 12  # too long is an error: left out
    assert stats.billed_tokens == 2 * 12 * report.columns.tokens[1]


def test_price_overrides_and_unknown_models(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text('[prices]\n"gpt-4o-mini-2024-07-18" = 1.5\n')
    assert lookup("gpt-4o-mini", load_price_overrides(prices)).training_price_per_million == 1.5
    assert lookup("ft:gpt-4o-mini-2024-07-18:org::abc").name == "gpt-4o-mini-2024-07-18"
    with pytest.raises(UnknownModel, match="known models"):
        lookup("gpt-9")
