"""Benchmark of the generation Judge (core.synthetic.review): building it over a file, and judging candidates.

Prints, for a file of N examples (default 100k, generated once under --dir by make_dataset.py):
- read: the file's records as (line, bytes), what the Judge is built from;
- build: Judge(...) over them (exact digests, user-message digests, the near-duplicate index),
  wall and CPU time, and the memory it keeps (its arrays: everything it holds per example);
- judge: 100 candidates, half of them near copies of lines of the file (one word changed) and
  half new, with how many of the copies were found.

    python tests/bench/bench_near_duplicates.py [--size 100000] [--dir /tmp/tunedeck-bench]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from make_dataset import ensure_file  # noqa: E402  (this folder is on sys.path when run as a script)

from core.dataset import open_dataset  # noqa: E402
from core.dataset.tokens import encoding  # noqa: E402
from core.synthetic.review import Judge, file_records  # noqa: E402


def near_copy(example: dict, rng: random.Random) -> dict:
    """The example with one word of its first user message changed."""
    messages = [dict(m) for m in example["messages"]]
    user = next(m for m in messages if m["role"] == "user")
    words = user["content"].split()
    words[rng.randrange(len(words))] = "zebra"
    user["content"] = " ".join(words)
    return {"messages": messages}


def new_example(k: int) -> dict:
    return {"messages": [{"role": "system", "content": "You are a bench."},
                         {"role": "user", "content": f"Completely new question number {k} about quantum knitting?"},
                         {"role": "assistant", "content": f"A new answer {k}: cast on, then entangle every second stitch."}]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/tunedeck-bench"))
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    path = ensure_file(args.dir, args.size)
    encoding("o200k_base")  # the rules' tokenizer loads once per process: not the Judge's cost

    with open_dataset(path) as ds:
        started = time.perf_counter()
        records = list(file_records(ds))
        read = time.perf_counter() - started

    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    judge = Judge(records)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    arrays = [judge._tops, judge._offsets, judge._lines, judge._index_keys, judge._index_ids, judge._exact.keys, judge._exact.lines,
              judge._prompts.keys, judge._prompts.lines]  # fmt: skip
    kept = sum(a.itemsize * len(a) for a in arrays)

    rng = random.Random(1)
    picked = rng.sample(range(len(records)), 50)
    copies = [(records[i][0], near_copy(orjson.loads(records[i][1]), rng)) for i in picked]
    started = time.perf_counter()
    found = 0
    for number, (line, example) in enumerate(copies, 1):
        candidate = judge.judge(example, "", number)
        found += candidate.verdict == "near-duplicate" and candidate.related_line == line
    for number in range(51, 101):
        judge.judge(new_example(number), "", number)
    judged = time.perf_counter() - started

    print(f"{path}: {judge.examples:,} examples")
    print(f"  read records      {read:6.2f} s")
    print(f"  build the Judge   {wall:6.2f} s wall, {cpu:.2f} s CPU ({judge.examples / wall:,.0f} examples/s); keeps {kept / 1e6:.0f} MB")
    print(f"  judge 100         {judged * 1000:6.1f} ms ({judged * 10:.2f} ms each); near copies found: {found}/50")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
