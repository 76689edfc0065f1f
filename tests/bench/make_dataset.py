"""Generate a realistic chat fine-tuning file of N examples for the benchmarks.

Sizes follow the issue: system 5–30 words, user 8–60, assistant 20–160, some non-ASCII.
The same N and seed always give the same bytes, so runs are comparable.

    python tests/bench/make_dataset.py 1000000 /tmp/chats-1m.jsonl
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import orjson

WORDS = (
    "the a to of and in is for on with that this it as be are your you we can travel "
    "model train data time trip city visit best hotel flight museum food price season "
    "weather beach mountain guide plan route ticket budget night morning local market "
    "question answer example help please thanks review check book reserve cancel change "
    "Kyoto Lisbon Paris Oaxaca Hanoi Reykjavík São Zürich München Kraków café naïve "
    "東京 旅行 季節 😀 ✈️ déjà vu über straße garçon"
).split()


def sentence(rng: random.Random, lo: int, hi: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(lo, hi))
    return " ".join(words).capitalize() + "."


def example(rng: random.Random, systems: list[str]) -> dict:
    messages = [{"role": "system", "content": rng.choice(systems)}]
    for _ in range(rng.choice((1, 1, 1, 2))):
        messages.append({"role": "user", "content": sentence(rng, 8, 60)})
        messages.append({"role": "assistant", "content": sentence(rng, 20, 160)})
    return {"messages": messages}


def write(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    systems = [sentence(rng, 5, 30) for _ in range(5)]
    with open(path, "wb") as out:
        batch = []
        for _ in range(n):
            batch.append(orjson.dumps(example(rng, systems)))
            if len(batch) == 10_000:
                out.write(b"\n".join(batch) + b"\n")
                batch.clear()
        if batch:
            out.write(b"\n".join(batch) + b"\n")


def ensure_file(folder: Path, n: int) -> Path:
    """The cached bench file of n examples in `folder`, generated (once) when missing."""
    path = folder / f"chats-{n}.jsonl"
    if not path.exists():
        sys.stdout.write(f"generating {path} …\n")
        sys.stdout.flush()
        write(path, n)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    write(args.path, args.n, args.seed)
    sys.stdout.write(f"{args.path}: {args.n} examples, {args.path.stat().st_size / 1e6:.0f} MB\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
