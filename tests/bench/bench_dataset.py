"""Benchmark of the dataset engine against the OpenAI cookbook's way and a plain index floor.

Prints, for each size (default 100k and 1M examples, files generated once under --dir):
- open: index built + first 50 examples parsed, and the growth of peak RSS over the interpreter's
  (each measured in a fresh process), beside a plain `mmap.find` loop counting lines (the floor);
- validation throughput (rules + exact token counts) in one process and with worker processes,
  beside the cookbook notebook's loop (json.loads + format checks + per-message encode) and the
  tokenizer alone (one encode per user/assistant message: the floor for exact counts);
- save after one edit (atomic: temp file, fsync, rename), beside a buffered copy + fsync.

    python tests/bench/bench_dataset.py [--sizes 100000 1000000] [--dir /tmp/tunedeck-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

from make_dataset import ensure_file  # this folder is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

OPEN = """
import resource, time, sys
t0 = time.perf_counter()
from core.dataset import open_dataset
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
ds = open_dataset(sys.argv[1])
first = [ds[i] for i in range(50)]
elapsed = time.perf_counter() - t
grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps({"records": len(ds), "open_s": elapsed, "rss_growth_mb": grew}))
"""

FLOOR = """
import mmap, time, sys
t = time.perf_counter()
with open(sys.argv[1], "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
    n = pos = 0
    find = mm.find
    while (nl := find(b"\\n", pos)) >= 0:
        n += 1
        pos = nl + 1
print(json.dumps({"lines": n, "floor_s": time.perf_counter() - t}))
"""

VALIDATE = """
import time, sys
from core.dataset import open_dataset, validate
ds = open_dataset(sys.argv[1])
t = time.perf_counter()
report = validate(ds, workers=int(sys.argv[2]))
elapsed = time.perf_counter() - t
print(json.dumps({"validate_s": elapsed, "per_s": len(ds) / elapsed, "errors": len(report.errors)}))
"""

# The cookbook notebook ("Data preparation and analysis for chat model fine-tuning"): json per
# line, its format checks, and num_tokens_from_messages with encode per message value.
COOKBOOK = """
import json as j, time, sys
from collections import defaultdict
from core.dataset.tokens import encoding
enc = encoding("o200k_base")
def num_tokens_from_messages(messages, tokens_per_message=3, tokens_per_name=1):
    num_tokens = 0
    for message in messages:
        num_tokens += tokens_per_message
        for key, value in message.items():
            num_tokens += len(enc.encode(value))
            if key == "name":
                num_tokens += tokens_per_name
    num_tokens += 3
    return num_tokens
t = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as f:
    dataset = [j.loads(line) for line in f]
format_errors = defaultdict(int)
for ex in dataset:
    if not isinstance(ex, dict):
        format_errors["data_type"] += 1
        continue
    messages = ex.get("messages", None)
    if not messages:
        format_errors["missing_messages_list"] += 1
        continue
    for message in messages:
        if "role" not in message or "content" not in message:
            format_errors["message_missing_key"] += 1
        if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
            format_errors["message_unrecognized_key"] += 1
        if message.get("role", None) not in ("system", "user", "assistant", "function"):
            format_errors["unrecognized_role"] += 1
        content = message.get("content", None)
        function_call = message.get("function_call", None)
        if (not content and not function_call) or not isinstance(content, str):
            format_errors["missing_content"] += 1
    if not any(message.get("role", None) == "assistant" for message in messages):
        format_errors["example_missing_assistant_message"] += 1
n_tokens = [num_tokens_from_messages(ex["messages"]) for ex in dataset]
elapsed = time.perf_counter() - t
print(j.dumps({"cookbook_s": elapsed, "per_s": len(dataset) / elapsed}))
"""

# The floor for validation: only the tokenizer, once per user/assistant message (system prompts
# repeat and are counted once by the validator). Nothing can validate faster than this.
TOKENIZE = """
import time, sys, orjson
from core.dataset.tokens import encoding
encode = encoding("o200k_base").encode_ordinary
t = time.perf_counter()
n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        n += 1
        for m in orjson.loads(line)["messages"]:
            if m["role"] != "system":
                encode(m["content"])
elapsed = time.perf_counter() - t
print(json.dumps({"tokenize_s": elapsed, "per_s": n / elapsed}))
"""

# Save after one edit, three times each after one more edit: with 3 s between saves (the time
# a big save leaves the kernel to read the file it wrote around the page cache back in, see
# core/dataset/writing.py), and back to back. The file is settled on disk first: a save right
# after writing a 1 GB copy would share the disk with that copy's write-back. Beside it the floor
# for writing the same bytes through the page cache: a plain copy_file_range + fsync.
SAVE = """
import time, sys, shutil, statistics
from core.dataset import open_dataset
copy = sys.argv[1] + ".save-bench.jsonl"
shutil.copyfile(sys.argv[1], copy)
def settled(pause):
    os.sync()
    time.sleep(pause)
ds = open_dataset(copy)
saves = {3: [], 0: []}
for pause in saves:
    for k in range(3):
        ex = dict(ds[len(ds) // 2])
        ex["messages"] = ex["messages"][:-1] + [{"role": "assistant", "content": f"Edited {pause} {k}"}]
        ds.replace(len(ds) // 2, ex)
        settled(pause)
        t = time.perf_counter()
        ds.save()
        saves[pause].append(time.perf_counter() - t)
ds.close()
floors = []
for k in range(3):
    settled(3)
    t = time.perf_counter()
    src, dst = os.open(copy, os.O_RDONLY), os.open(copy + ".floor", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    left = os.fstat(src).st_size
    while left:
        left -= os.copy_file_range(src, dst, left)
    os.fsync(dst)
    floors.append(time.perf_counter() - t)
    os.close(src), os.close(dst)
    os.unlink(copy + ".floor")
os.unlink(copy)
print(json.dumps({"paused": saves[3], "back_to_back": saves[0], "floor_s": statistics.median(floors)}))
"""


def run(code: str, *args: str) -> dict:
    script = "import json, os\n" + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(path: Path, workers: int) -> None:
    size_mb = path.stat().st_size / 1e6
    opened = min((run(OPEN, str(path)) for _ in range(3)), key=lambda r: r["open_s"])
    floor = min((run(FLOOR, str(path)) for _ in range(3)), key=lambda r: r["floor_s"])
    one = run(VALIDATE, str(path), "1")
    many = run(VALIDATE, str(path), str(workers))
    cookbook = run(COOKBOOK, str(path))
    tokenize = run(TOKENIZE, str(path))
    save = run(SAVE, str(path))
    out = sys.stdout.write
    out(f"\n{path.name}: {opened['records']:,} examples, {size_mb:,.0f} MB (best of 3 for open and floor)\n")
    out(f"  open (index + first 50 parsed)   {opened['open_s']:7.3f} s   peak RSS +{opened['rss_growth_mb']:.0f} MB\n")
    out(f"  floor: plain mmap.find line loop {floor['floor_s']:7.3f} s   open/floor = {opened['open_s'] / floor['floor_s']:.2f}×\n")
    out(f"  validate, 1 process              {one['validate_s']:7.2f} s   {one['per_s']:9,.0f} examples/s\n")
    out(f"  validate, {workers} worker processes     {many['validate_s']:7.2f} s   {many['per_s']:9,.0f} examples/s\n")
    out(f"  tokenizer alone (floor)          {tokenize['tokenize_s']:7.2f} s   {tokenize['per_s']:9,.0f} examples/s\n")
    out(f"  cookbook notebook way            {cookbook['cookbook_s']:7.2f} s   {cookbook['per_s']:9,.0f} examples/s\n")
    out(f"  speed-up over the cookbook: {one['per_s'] / cookbook['per_s']:.2f}× (1 process), {many['per_s'] / cookbook['per_s']:.2f}× ({workers} workers)\n")
    for label, times in (("3 s apart", save["paused"]), ("back to back", save["back_to_back"])):
        out(f"  save after one edit, {label:12} {statistics.median(times):7.3f} s   median of 3 (best {min(times):.3f}, worst {max(times):.3f})\n")
    out(f"  floor: buffered copy + fsync     {save['floor_s']:7.3f} s\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "tunedeck-bench")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    sys.stdout.write(f"TuneDeck dataset benchmark — {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    for n in args.sizes:
        bench(ensure_file(args.dir, n), args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
