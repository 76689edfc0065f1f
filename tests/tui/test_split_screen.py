"""The split screen: options change the preview; writing matches `tunedeck split` byte for byte."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys

import pytest

from core.service.local_state import LocalState
from tests.conftest import DATA, REPO
from tests.tui.conftest import build
from tui.screens.confirm import ConfirmScreen
from tui.screens.split import SplitScreen

SIZE = (80, 24)


@pytest.fixture
def travel(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    return shutil.copy(DATA / "travel.jsonl", folder / "travel.jsonl")


@pytest.fixture
def broken(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir(exist_ok=True)
    return shutil.copy(DATA / "broken.jsonl", folder / "broken.jsonl")


async def settle(pilot) -> SplitScreen:
    """Let the debounce fire and every worker finish."""
    app = pilot.app
    for _ in range(3):
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause()
    return app.screen if isinstance(app.screen, SplitScreen) else app.screen_stack[-2]


async def open_split(pilot, path) -> SplitScreen:
    await pilot.pause()
    pilot.app.push_screen(SplitScreen(pilot.app.document(path)))
    return await settle(pilot)


async def set_field(pilot, field: str, value: str) -> None:
    screen = pilot.app.screen
    screen.query_one(f"#{field}").focus()
    screen.query_one(f"#{field}").value = ""
    await pilot.press(*value)


def screen_text(app) -> str:
    """What the terminal shows, as plain text: the screenshot's text runs, line by line."""
    lines: dict[str, list[tuple[float, str]]] = {}
    for x, y, run in re.findall(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', app.export_screenshot()):
        lines.setdefault(y, []).append((float(x), html.unescape(run).replace("\xa0", " ")))
    return "\n".join("".join(run for _, run in sorted(runs)) for _, runs in sorted(lines.items(), key=lambda item: float(item[0])))


@pytest.mark.asyncio
async def test_changing_the_ratio_changes_the_preview(travel):
    app = build(travel.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_split(pilot, travel)
        assert (screen.preview.train.examples, screen.preview.validation.examples) == (38, 10)
        await set_field(pilot, "ratio", "0.5")
        await settle(pilot)
        assert (screen.preview.train.examples, screen.preview.validation.examples) == (24, 24)
        assert screen.options.ratio == 0.5
        await set_field(pilot, "cap", "5")
        await settle(pilot)
        assert screen.preview.validation.examples == 5
        codes = {n.code for n in screen.preview.notes}
        assert "validation-too-small" in codes
        assert "under 10" in screen_text(app)


@pytest.mark.asyncio
async def test_a_bad_ratio_says_why(travel):
    app = build(travel.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_split(pilot, travel)
        await set_field(pilot, "ratio", "1.5")
        await settle(pilot)
        assert screen.preview is None
        assert "not between 0 and 1" in str(screen.query_one("#split-table").render())


@pytest.mark.asyncio
async def test_warnings_for_a_broken_file(broken):
    app = build(broken.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_split(pilot, broken)
        codes = {n.code for n in screen.preview.notes}
        assert {"errors-left-out", "duplicates-together", "train-too-small"} <= codes
        await pilot.press("w")  # refused: the service would not take 7 training examples
        await settle(pilot)
        assert not (broken.parent / "broken.train.jsonl").exists()


@pytest.mark.asyncio
async def test_write_matches_the_cli_and_is_recorded_and_overwrite_asks(travel, tmp_path):
    app = build(travel.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_split(pilot, travel)
        await set_field(pilot, "ratio", "0.75")
        await set_field(pilot, "seed", "7")
        await settle(pilot)
        await pilot.press("w")  # typed while the cursor is in the seed field: still the binding
        await settle(pilot)
        written = screen.written
        assert written is not None, [(w.name, w.state, w.error) for w in app.workers._workers] + [n.message for n in app._notifications]
        assert written is not None and written.seed == 7 and written.ratio == 0.75
        train, validation = travel.parent / "travel.train.jsonl", travel.parent / "travel.validation.jsonl"
        assert str(train) in str(screen.query_one("#split-written").render())

        # the same split by the CLI, into another folder: the same bytes
        out = tmp_path / "cli"
        result = subprocess.run(
            [sys.executable, "-m", "core", "split", str(travel), "--ratio", "0.75", "--seed", "7", "--out", str(out)],
            cwd=REPO, env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert train.read_bytes() == (out / "travel.train.jsonl").read_bytes()
        assert validation.read_bytes() == (out / "travel.validation.jsonl").read_bytes()

        with LocalState() as state:
            record = state.split_of(written.train.sha256)
        assert record is not None
        assert (record.ratio, record.seed, record.dataset_path) == (0.75, 7, str(travel.resolve()))
        assert record.validation_sha256 == written.validation.sha256

        # again: the files exist, so it asks; "n" keeps them, "y" replaces them
        before = train.read_bytes()
        await set_field(pilot, "seed", "8")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert train.read_bytes() == before
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert screen.written.seed == 8
        assert train.read_bytes() != before


def test_snapshot_split_preview(snap_compare, broken, monkeypatch):
    monkeypatch.chdir(broken.parent)

    async def opened(pilot) -> None:
        await open_split(pilot, broken.relative_to(broken.parent))

    app = build(broken.parent)
    assert snap_compare(app, terminal_size=SIZE, run_before=opened)
