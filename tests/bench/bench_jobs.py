"""Benchmark of the Jobs section watching 50 jobs at once: what it costs the server, and whether
the keyboard stays quick while the list updates.

Starts `tunedeck emulator` in its own process (real clock, sped up so every job trains
throughout; in another process, as a real server would be, so its work and its heap are not
counted against the app), launches 50 jobs, opens the app headless at 80×24 on the Jobs list with
the default watch budget, and for `--seconds` measures:
- requests per minute the app sends (the watcher's budget is 4 a second for all jobs together,
  so at most 240, plus a read of the jobs list every 30 s), and how many a second at the busiest;
- how stale a job gets: the longest gap between two polls of one job;
- keypress → repaint for down/up in the list while updates arrive: from posting the key to the
  first frame written after the cursor moved, median and worst;
- the longest pause of the garbage collector meanwhile (the usual cause of a slow worst case).

    python tests/bench/bench_jobs.py [--jobs 50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import gc  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402

import httpx2  # noqa: E402
from core.service import files, jobs  # noqa: E402
from core.service.client import connect  # noqa: E402
from core.service.jobs import JobRequest  # noqa: E402
from core.service.profiles import Active, Profile  # noqa: E402


async def launch_all(profile: Profile, count: int) -> list[str]:
    async with connect(profile) as conn:
        file = await files.upload(conn, REPO / "data" / "travel.jsonl")
        await files.wait_processed(conn, file.id)
        made = []
        for i in range(count):
            # 25 epochs of 48 examples: 1,200 steps, so every job trains for the whole run.
            job = await jobs.create(conn, JobRequest(model="gpt-4o-mini-2024-07-18", training_file=file.id, n_epochs=25, suffix=f"bench-{i}", seed=i))
            made.append(job.id)
        return made


def count_requests() -> list[tuple[float, str, str]]:
    """Every request the app's SDK client sends: (when, method, path)."""
    sent: list[tuple[float, str, str]] = []
    original = httpx2.AsyncClient.send

    async def send(self, request, *args, **kwargs):
        sent.append((time.perf_counter(), request.method, request.url.path))
        return await original(self, request, *args, **kwargs)

    httpx2.AsyncClient.send = send
    return sent


def gc_pauses() -> list[float]:
    pauses: list[float] = []
    started = [0.0]

    def note(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started[0])

    gc.callbacks.append(note)
    return pauses


async def measure(profile: Profile, seconds: float) -> dict:
    from textual.widgets import DataTable

    from tui.app import make_app
    from tui.screens.jobs import JobsScreen

    app = make_app(REPO / "data", active=Active(profile, "bench"))
    frames: list[float] = []
    original = app._display

    def display(*args, **kwargs):
        frames.append(time.perf_counter())
        return original(*args, **kwargs)

    app._display = display
    if os.environ.get("BENCH_SLOW"):  # name what holds the loop for more than 50 ms
        import logging

        asyncio.get_running_loop().slow_callback_duration = float(os.environ["BENCH_SLOW"])
        logging.basicConfig(level=logging.WARNING)
    out: dict = {}
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        while not (isinstance(app.screen, JobsScreen) and app.jobs_feed.listed):
            await asyncio.sleep(0.05)
        table = app.screen.query_one(DataTable)
        await asyncio.sleep(2)  # the first round of polls is under way
        sent, pauses = count_requests(), gc_pauses()
        started = time.perf_counter()
        latencies = []
        direction = "down"
        while time.perf_counter() - started < seconds:
            before = table.cursor_row
            expected = min(before + 1, table.row_count - 1) if direction == "down" else max(before - 1, 0)
            if expected == before:
                direction = "up" if direction == "down" else "down"
                continue
            t0 = time.perf_counter()
            pressing = asyncio.create_task(pilot.press(direction))
            while table.cursor_row != expected:
                await asyncio.sleep(0.0002)
            moved = time.perf_counter()
            while not frames or frames[-1] < moved:
                await asyncio.sleep(0.0002)
            latencies.append((next(f for f in frames if f >= moved) - t0) * 1000)
            await pressing
            await asyncio.sleep(0.2)  # a person's pace, not a key held down
        elapsed = time.perf_counter() - started
    window = [r for r in sent if r[0] - started <= elapsed]
    per_second = Counter(int(at - started) for at, _, _ in window)
    polls: dict[str, list[float]] = {}
    for at, method, path in window:
        parts = path.rstrip("/").split("/")
        if method == "GET" and len(parts) == 5 and parts[3] == "jobs":  # /v1/fine_tuning/jobs/{id}
            polls.setdefault(parts[4], []).append(at)
    gaps = [b - a for times in polls.values() for a, b in zip(times, times[1:])]
    out["requests_per_minute"] = round(len(window) / elapsed * 60)
    out["busiest_second"] = max(per_second.values()) if per_second else None
    out["jobs_polled"] = len(polls)
    out["longest_gap_between_polls_s"] = round(max(gaps), 1) if gaps else None
    out["keypresses"] = len(latencies)
    out["keypress_median_ms"] = round(statistics.median(latencies), 1)
    out["keypress_worst_ms"] = round(max(latencies), 1)
    out["longest_gc_pause_ms"] = round(max(pauses) * 1000, 1) if pauses else 0
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name in ("CONFIG", "DATA", "STATE"):
            os.environ[f"TUNEDECK_{name}_DIR"] = str(Path(folder) / name.lower())
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())", "emulator", "--port", str(port), "--speed", "4", "--state-dir", str(Path(folder) / "emulator")],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            profile = Profile(kind="emulator", name="emulator", base_url=f"http://127.0.0.1:{port}/v1")
            made = asyncio.run(launch_all(profile, args.jobs))
            print(f"{len(made)} jobs launched; watching for {args.seconds:g} s", flush=True)
            result = asyncio.run(measure(profile, args.seconds), debug=bool(os.environ.get("BENCH_SLOW")))
        finally:
            server.terminate()
            server.wait()
    for key, value in result.items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
