"""The shell: sections, the profile header and EMULATOR badge, help, quitting safely, the launcher."""

from __future__ import annotations

import shutil

import pytest
from pydantic import SecretStr

from core.service.profiles import Active, Profile
from tests.conftest import DATA
from tests.tui.conftest import build
from tui import launcher
from tui.screens.playground import PlaygroundScreen
from tui.screens.folder import FolderScreen
from tui.screens.help import HelpScreen
from tui.screens.quit import QuitScreen
from tui.widgets.profile_bar import ProfileBar

SAMPLES = ("broken.jsonl", "preferences.jsonl", "tools.jsonl", "travel.jsonl")


@pytest.fixture
def samples(tmp_path):
    folder = tmp_path / "datasets"
    folder.mkdir()
    for name in SAMPLES:
        shutil.copy(DATA / name, folder / name)
    return folder


def bar_text(app) -> str:
    return str(app.screen.query_one(ProfileBar).render())


@pytest.mark.asyncio
async def test_folder_lists_files_with_counts_filled_in_the_background(samples):
    app = build(samples)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FolderScreen)
        table = screen.query_one("#files")
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}
        assert sorted(rows) == list(SAMPLES)
        assert rows["broken.jsonl"][2:] == ["29", "mixed", rows["broken.jsonl"][4], rows["broken.jsonl"][5]]
        assert int(rows["broken.jsonl"][4]) > 0
        assert rows["travel.jsonl"][2:] == ["48", "chat", "0", "0"]
        assert rows["preferences.jsonl"][3] == "preference"


@pytest.mark.asyncio
async def test_the_emulator_badge_is_always_in_the_header(samples):
    app = build(samples)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("2", "3", "escape", "1"):  # escape: out of the Playground's message box
            await pilot.press(key)
            await pilot.pause()
            assert "EMULATOR" in bar_text(app)
        assert isinstance(app.screen, FolderScreen)


@pytest.mark.asyncio
async def test_a_real_profile_has_no_badge_and_shows_no_key(samples):
    key = "sk-proj-0123456789abcdefghij"
    active = Active(Profile(kind="openai", name="work", api_key=SecretStr(key)), "--profile")
    app = build(samples, active=active)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = bar_text(app)
        assert "work" in text and "EMULATOR" not in text and key not in text


@pytest.mark.asyncio
async def test_the_playground_says_its_models_are_the_emulators(samples):
    app = build(samples)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        assert isinstance(app.screen, PlaygroundScreen)
        assert "Emulator: templated replies" in str(app.screen.query_one("#playground-note").render())


@pytest.mark.asyncio
async def test_help_lists_the_screens_keys_and_the_global_ones(samples):
    app = build(samples)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        for words in ("Rescan", "Help", "Quit", "This screen (Folder)", "Everywhere"):
            assert words in text
        await pilot.press("escape")
        assert isinstance(app.screen, FolderScreen)


@pytest.mark.asyncio
async def test_every_key_of_the_screen_is_also_a_palette_command(samples):
    app = build(samples)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        for title in ("Open", "Rescan", "Go to Jobs", "Go to Playground", "Help: keys", "Quit"):
            assert title in commands
        commands["Go to Playground"].callback()
        await pilot.pause()
        assert isinstance(app.screen, PlaygroundScreen)


@pytest.mark.asyncio
async def test_quitting_with_unsaved_edits_asks_first(samples):
    app = build(samples)
    async with app.run_test(size=(80, 24)) as pilot:
        ds = app.document(samples / "travel.jsonl")
        ds.delete(0)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")  # cancel: still running, still dirty
        await pilot.pause()
        assert app.is_running and ds.dirty
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
    assert not ds.dirty
    assert (samples / "travel.jsonl").read_bytes() == b"".join((DATA / "travel.jsonl").read_bytes().splitlines(keepends=True)[1:])


@pytest.mark.parametrize(
    "argv,expected",
    [
        ([], ("app", None)),
        (["data"], ("app", "data")),
        (["open", "validate"], ("app", "validate")),
        (["--profile", "lab", "data"], ("app", "data")),
        (["validate", "x.jsonl"], ("cli", None)),
        (["--version"], ("cli", None)),
        (["--profile", "lab", "profiles"], ("cli", None)),
    ],
)
def test_the_launcher_tells_paths_from_subcommands(argv, expected, monkeypatch):
    seen = []
    monkeypatch.setattr(launcher.cli, "main", lambda args: seen.append(("cli", None)) or 0)
    monkeypatch.setattr(launcher, "run_app", lambda path, flags: seen.append(("app", None if not argv or path.name not in argv else path.name)) or 0)
    launcher.main(argv)
    assert seen == [expected]
