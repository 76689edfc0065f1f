"""Benchmark of the dataset browser on a million examples: first rows, keypress → repaint, memory.

Prints:
- time to first rows on screen, from before the process is spawned (Python start-up and every
  import included) to the first frame written with example rows in it, for `app.run()` in
  headless mode — the same start-up as typing `tunedeck FILE` — and again with the openai SDK
  stubbed out, to show what importing it at start-up costs;
- keypress → repaint for down, page down, end, page up and jump-to-line (Enter in the `g`
  prompt): from posting the key to the frame that shows the result being written, median and
  worst, while validation runs in the background and (unless --no-idle) after it finished;
  measured at Textual's default 60 frames a second (the frame clock alone adds 0–16.7 ms), with
  gc.freeze() after start-up (a full collection walks every object the imports made), and, to
  show the work itself, with TEXTUAL_FPS=1000;
- peak RSS growth of the app process over the same app on a 48-example file, and the largest
  validation worker process;
- re-validation after a save: one example edited and the file saved (as Ctrl+S does), then the
  time until the browser holds the new report, and the peak RSS growth by then.

    python tests/bench/bench_browser.py [--n 1000000] [--dir /tmp/tunedeck-bench] [--no-idle]
    python tests/bench/bench_browser.py --memory-only   # just the memory and re-validation figures
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from make_dataset import ensure_file  # this folder is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# Runs in a fresh interpreter; prints seconds from the parent's clock reading to the first frame
# with rows.
FIRST_ROWS = """
import os, sys, time
script = time.time()
started = float(sys.argv[2])
if os.environ.get("BENCH_SWITCH"):
    sys.setswitchinterval(float(os.environ["BENCH_SWITCH"]))
if os.environ.get("BENCH_STUB_OPENAI"):  # what start-up would cost if core.service imported the SDK lazily
    import types
    sys.modules["openai"] = types.ModuleType("openai")
from pathlib import Path
from core.clock import ManualClock
from core.service.profiles import Active, Profile
from tui.app import make_app
from tui.widgets import example_list
imported = time.time()

painted = {}
draw = example_list.ExampleList._row
def _row(self, *args):
    painted["row"] = True
    return draw(self, *args)
example_list.ExampleList._row = _row

app = make_app(Path(sys.argv[1]), active=Active(Profile(kind="emulator", name="emulator"), "bench"), clock=ManualClock())
display = app._display
def _display(screen, update):
    display(screen, update)
    if painted and "at" not in painted:
        painted["at"] = time.time()
        count = len(screen.query_one(example_list.ExampleList).rows)
        painted["count"] = count
        app.exit()
app._display = _display
app.run(headless=True, size=(120, 40))
print(json.dumps({"first_rows_s": painted["at"] - started, "rows_known": painted["count"],
                  "interpreter_s": script - started, "imports_s": imported - script, "app_s": painted["at"] - imported}))
"""

KEYS = """
import asyncio, gc, os, resource, statistics, sys, time
from pathlib import Path
from textual import events
from core.clock import ManualClock
from core.service.profiles import Active, Profile
from textual.screen import Screen
from tui.app import make_app
from tui.screens.browser import BrowserScreen
from tui.widgets.example_list import ExampleList

# Where a key's time goes: the browser's own code on the way to the frame (moving the cursor,
# drawing rows, the detail line), and the frame's work in Textual (which includes drawing rows).
spent = {"ours": 0.0, "frame": 0.0, "tick": 0.0}
depth = [0]

def timing(cls, name, bucket):
    original = getattr(cls, name)
    def wrapper(*args, **kwargs):
        if depth[0] and bucket == "ours":
            return original(*args, **kwargs)
        depth[0] += bucket == "ours"
        t = time.perf_counter()
        if bucket == "frame":
            spent["tick"] = t
        try:
            return original(*args, **kwargs)
        finally:
            spent[bucket] += time.perf_counter() - t
            depth[0] -= bucket == "ours"
    setattr(cls, name, wrapper)

for cls, name in ((ExampleList, "render_line"), (ExampleList, "move_to"), (ExampleList, "go_to_line"), (BrowserScreen, "_update_detail")):
    timing(cls, name, "ours")
timing(Screen, "_on_timer_update", "frame")

# When the report arrived (a round of keys may outlast validation).
finished = {}
on_done = BrowserScreen.on_validation_done
def _on_done(self, message):
    finished.setdefault("at", time.perf_counter())
    return on_done(self, message)
BrowserScreen.on_validation_done = _on_done

path, idle, settle_s = Path(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3])
size = tuple(int(n) for n in sys.argv[4].split("x")) if len(sys.argv) > 4 else (120, 40)
keys = not os.environ.get("BENCH_NO_KEYS")  # --memory-only: no rounds of keys
save_copy = os.environ.get("BENCH_SAVE")  # re-validation after a save, on this copy of the file
if save_copy:
    import shutil
    shutil.copyfile(path, save_copy)
    path = Path(save_copy)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

async def main():
    app = make_app(path, active=Active(Profile(kind="emulator", name="emulator"), "bench"), clock=ManualClock())
    app.animation_level = "none"
    frames = []
    display = app._display
    def _display(screen, update):
        display(screen, update)
        now = time.perf_counter()
        # (when, browser code so far, frame work so far including this frame's)
        frames.append((now, spent["ours"], spent["frame"] + now - spent["tick"]))
    app._display = _display
    out = {}
    async with app.run_test(size=size) as pilot:
        if os.environ.get("BENCH_GC_FREEZE"):  # what the app would get from gc.freeze() at start-up
            gc.freeze()
        screen = app.screen
        assert isinstance(screen, BrowserScreen)
        t = time.perf_counter()
        while screen.dataset is None:
            await asyncio.sleep(0.01)
        out["indexed_s"] = time.perf_counter() - t
        opened = time.perf_counter()
        lines = screen.dataset.lineno(len(screen.dataset) - 1)

        async def timed(key):
            before = len(frames)
            spent["ours"] = spent["frame"] = 0.0
            t0 = time.perf_counter()
            await pilot.press(key)
            while len(frames) == before:
                await asyncio.sleep(0.0002)
            shown, ours, frame = frames[before]
            return (shown - t0) * 1000, ours * 1000, frame * 1000

        async def jump(line):
            await pilot.press("g")
            await pilot.pause()
            for ch in str(line):
                await pilot.press(ch)
            return await timed("enter")

        async def round_of_keys(label):
            result = {}
            result["down"] = [await timed("down") for _ in range(60)]
            result["page down"] = [await timed("pagedown") for _ in range(40)]
            ends, ups = [], []
            for _ in range(8):
                ends.append(await timed("end"))
                ups.extend([await timed("pageup") for _ in range(4)])
                await pilot.press("home")
            result["end"] = ends
            result["page up"] = ups
            result["jump to line"] = [await jump(1 + (k * 7919 * 104729) % lines) for k in range(12)]
            out[label] = {
                k: {
                    "median_ms": statistics.median(t for t, _, _ in v),
                    "worst_ms": max(t for t, _, _ in v),
                    "ours_ms": statistics.median(o for _, o, _ in v),
                    "frame_ms": statistics.median(f for _, _, f in v),
                    "n": len(v),
                }
                for k, v in result.items()
            }
            out[label + " validation"] = f"{screen.progress[0]:,}/{screen.progress[1]:,} checked" if screen._validating else "finished"

        await pilot.pause()
        await asyncio.sleep(settle_s)
        if keys:
            await round_of_keys("while validating")
        if idle:
            while screen._validating or screen.report is None:
                await asyncio.sleep(0.25)
            out["validation_s_after_open"] = finished["at"] - opened
            await pilot.pause()
            await asyncio.sleep(settle_s)  # the results are drawn and the pool is gone: idle
            if keys:
                await round_of_keys("after validation")
            out["rss_growth_mb_validated"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
        if idle and save_copy:
            ds, before = screen.dataset, screen.report
            middle = len(ds) // 2
            edited = dict(ds[middle])
            edited["messages"] = edited["messages"][:-1] + [{"role": "assistant", "content": "Edited."}]
            ds.replace(middle, edited)
            while screen._validating or screen.report is before:  # the edit's own (quick) re-run
                await asyncio.sleep(0.05)
            before = screen.report
            await asyncio.to_thread(ds.save)  # as the editor saves: from a worker thread
            t = time.perf_counter()
            while screen._validating or screen.report is before:
                await asyncio.sleep(0.01)
            out["revalidate_after_save_s"] = time.perf_counter() - t
            out["rss_growth_mb_after_save"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    out["rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    out["largest_worker_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(out))

asyncio.run(main())
"""


# Compiled modules as an installed copy has them (a development shell may turn writing them
# off), kept out of the repository.
PYCACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "tunedeck-bench" / "pycache"


def run(code: str, *args: str, env: dict | None = None) -> dict:
    script = "import json\n" + textwrap.dedent(code)
    environment = {**os.environ, "PYTHONPYCACHEPREFIX": str(PYCACHE), **(env or {})}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", script, *[a.replace("{started}", repr(started)) for a in args]],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=environment,
    )
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"benchmark step failed ({out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_rows(path: Path, runs: int, env: dict | None = None) -> list[dict]:
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache once
    run(FIRST_ROWS, str(path), "{started}", env=env)  # and the compiled modules
    return [run(FIRST_ROWS, str(path), "{started}", env=env) for _ in range(runs)]


def show_first_rows(label: str, starts: list[dict]) -> None:
    starts = sorted(starts, key=lambda s: s["first_rows_s"])
    mid = starts[len(starts) // 2]
    sys.stdout.write(
        f"  first rows on screen, {label}: best {starts[0]['first_rows_s']:.3f} s, median {mid['first_rows_s']:.3f} s"
        f" over {len(starts)} runs (target ≤ 1.5 s)\n"
        f"    median run: interpreter {mid['interpreter_s']:.3f} s + imports {mid['imports_s']:.3f} s"
        f" + app start to first frame with rows {mid['app_s']:.3f} s ({mid['rows_known']:,} rows indexed by then)\n"
    )


def table(label: str, figures: dict) -> None:
    sys.stdout.write(f"  keypress → repaint, {label} ({figures.get(label + ' validation', '')}):\n")
    for key, f in figures[label].items():
        ok = "ok" if f["median_ms"] <= 10 and f["worst_ms"] <= 33 else "over target"
        sys.stdout.write(
            f"    {key:<13} median {f['median_ms']:6.2f} ms   worst {f['worst_ms']:6.2f} ms   (n={f['n']}, {ok});"
            f" medians: browser code {f['ours_ms']:5.2f} ms, frame work {f['frame_ms']:5.2f} ms\n"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "tunedeck-bench")
    parser.add_argument("--runs", type=int, default=5, help="start-ups to time (the best and the median are shown)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to let validation start before the first round of keys")
    parser.add_argument("--no-idle", action="store_true", help="skip the round after validation finishes (minutes at 1M)")
    parser.add_argument("--memory-only", action="store_true", help="only the memory and re-validation-after-save figures")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    path = ensure_file(args.dir, args.n)
    small = REPO / "data" / "travel.jsonl"
    out = sys.stdout.write
    out(f"TuneDeck browser benchmark — {os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}\n")
    out(f"{path.name}: {path.stat().st_size / 1e6:,.0f} MB\n")
    if args.memory_only:
        memory_and_save(path, small, args)
        return 0

    show_first_rows("as shipped", first_rows(path, args.runs))
    show_first_rows("openai SDK not imported at start-up (stubbed)", first_rows(path, args.runs, {"BENCH_STUB_OPENAI": "1"}))
    show_first_rows(f"same, on {small.name}", first_rows(small, args.runs, {"BENCH_STUB_OPENAI": "1"}))
    sys.stdout.flush()

    rounds = [
        ("120×40, TEXTUAL_FPS=60 (as shipped)", "120x40", {"TEXTUAL_FPS": "60"}, not args.no_idle),
        ("80×24, TEXTUAL_FPS=60", "80x24", {"TEXTUAL_FPS": "60"}, False),
        ("120×40, TEXTUAL_FPS=60, gc.freeze() after start-up", "120x40", {"TEXTUAL_FPS": "60", "BENCH_GC_FREEZE": "1"}, False),
        ("120×40, TEXTUAL_FPS=1000 (the work, without the 60 Hz frame clock)", "120x40", {"TEXTUAL_FPS": "1000"}, False),
    ]
    for label, size, env, idle in rounds:
        figures = run(KEYS, str(path), "1" if idle else "0", str(args.settle), size, env=env)
        out(f"\n  {label}: index complete {figures['indexed_s']:.2f} s after the app started\n")
        table("while validating", figures)
        if "after validation" in figures:
            out(f"  validation finished {figures['validation_s_after_open']:.0f} s after the file opened\n")
            table("after validation", figures)
            baseline = run(KEYS, str(small), "1", "0.5", size)
            out(f"  peak RSS growth: {figures['rss_growth_mb']:.0f} MB at {args.n:,} examples, {baseline['rss_growth_mb']:.0f} MB on"
                f" {small.name} → {figures['rss_growth_mb'] - baseline['rss_growth_mb']:.0f} MB extra for the data (target ≤ 100 MB);"
                f" largest validation worker process {figures['largest_worker_rss_mb']:.0f} MB\n")
        sys.stdout.flush()
    memory_and_save(path, small, args)
    return 0


def memory_and_save(path: Path, small: Path, args) -> None:
    """Peak RSS once validated and after a save, and how long re-validation after a save takes."""
    copy = args.dir / f"save-bench-{path.name}"
    env = {"TEXTUAL_FPS": "60", "BENCH_NO_KEYS": "1"}
    try:
        figures = run(KEYS, str(path), "1", "1.0", "120x40", env={**env, "BENCH_SAVE": str(copy)})
        baseline = run(KEYS, str(small), "1", "0.5", "120x40", env=env)
    finally:
        copy.unlink(missing_ok=True)
    # The small file is checked in the app's own process (too few examples for workers), so its
    # figure includes loading the tokenizer, which a big file's first validation does not: the
    # difference understates what the data costs. Both figures are shown.
    extra = baseline["rss_growth_mb_validated"]
    sys.stdout.write(
        f"\n  memory, no keys pressed: validation finished {figures['validation_s_after_open']:.0f} s after the file opened;"
        f" peak RSS growth once validated {figures['rss_growth_mb_validated']:.0f} MB"
        f" ({figures['rss_growth_mb_validated'] - extra:+.0f} MB over {small.name}'s {extra:.0f} MB; target ≤ 100 MB extra);"
        f" after an edit, a save and re-validation {figures['rss_growth_mb_after_save']:.0f} MB"
        f" ({figures['rss_growth_mb_after_save'] - extra:+.0f} MB over {small.name}; the edit loads the tokenizer in the app)\n"
        f"  re-validate after save (one example edited) at {args.n:,} examples: {figures['revalidate_after_save_s']:.2f} s"
        f" from the save to the new report\n"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
