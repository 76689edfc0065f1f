"""The profiles screen: create, edit, delete and set default through config.toml; test explains failures."""

from __future__ import annotations

import html
import re
import tomllib

import pytest

from core.emulator import Emulator
from core.service import profiles
from tests.tui.conftest import build
from tui.screens.confirm import ConfirmScreen
from tui.screens.profiles import ProfileForm, ProfilesScreen

SIZE = (80, 24)
KEY = "sk-secret-DO-NOT-SHOW-0123456789abcd"
OTHER_KEY = "sk-another-secret-key-9876wxyz"


def screen_text(app) -> str:
    """What the terminal shows, as plain text: the screenshot's text runs, line by line."""
    lines: dict[str, list[tuple[float, str]]] = {}
    for x, y, run in re.findall(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', app.export_screenshot()):
        lines.setdefault(y, []).append((float(x), html.unescape(run).replace("\xa0", " ")))
    return "\n".join("".join(run for _, run in sorted(runs)) for _, runs in sorted(lines.items(), key=lambda item: float(item[0])))


def config() -> dict:
    with open(profiles.config_path(), "rb") as f:
        return tomllib.load(f)


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def open_profiles(pilot) -> ProfilesScreen:
    await pilot.pause()
    pilot.app.push_screen(ProfilesScreen())
    await settle(pilot)
    return pilot.app.screen


async def fill(pilot, field: str, text: str) -> None:
    widget = pilot.app.screen.query_one(f"#{field}")
    widget.focus()
    widget.value = ""
    await pilot.press(*text)


async def select_row(pilot, name: str) -> None:
    table = pilot.app.screen.query_one("DataTable")
    table.focus()
    table.move_cursor(row=table.get_row_index(name))
    await pilot.pause()


@pytest.mark.asyncio
async def test_create_edit_default_delete_round_trip(tmp_path):
    app = build(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_profiles(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, ProfileForm)
        form = app.screen
        form.query_one("#kind").value = "compatible"
        await pilot.pause()
        await fill(pilot, "name", "lab")
        await fill(pilot, "base_url", "http://gpu-box:8000/v1")
        await fill(pilot, "api_key", KEY)
        assert KEY not in screen_text(app)  # typed masked
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert config()["profiles"]["lab"] == {"kind": "compatible", "base_url": "http://gpu-box:8000/v1", "api_key": KEY}
        text = screen_text(app)
        assert "lab" in text and "sk-…abcd" in text and KEY not in text, text

        # edit: a blank key keeps the old one; the URL changes
        await select_row(pilot, "lab")
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ProfileForm) and KEY not in screen_text(app)
        await fill(pilot, "base_url", "http://gpu-box:9000/v1")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert config()["profiles"]["lab"]["base_url"] == "http://gpu-box:9000/v1"
        assert config()["profiles"]["lab"]["api_key"] == KEY

        # a new key replaces it
        await pilot.press("e")
        await settle(pilot)
        await fill(pilot, "api_key", OTHER_KEY)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert config()["profiles"]["lab"]["api_key"] == OTHER_KEY
        assert OTHER_KEY not in screen_text(app) and "sk-…wxyz" in screen_text(app)

        # default
        await pilot.press("d")
        await settle(pilot)
        assert config()["default_profile"] == "lab"
        assert "★" in screen_text(app)

        # delete asks; Esc keeps it, y deletes it (and the default with it)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert "lab" in config()["profiles"]
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert "lab" not in config().get("profiles", {}) and "default_profile" not in config()
        assert "gpu-box" not in screen_text(app)


@pytest.mark.asyncio
async def test_the_form_says_what_is_missing(tmp_path):
    app = build(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_profiles(pilot)
        await pilot.press("n")
        await settle(pilot)
        app.screen.query_one("#kind").value = "azure"
        await pilot.pause()
        await fill(pilot, "name", "az")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ProfileForm)
        assert "needs azure_endpoint and api_version" in screen_text(app)
        assert not profiles.config_path().exists() or "az" not in config().get("profiles", {})


@pytest.mark.asyncio
async def test_test_explains_a_refused_key(tmp_path):
    with Emulator(state_dir=tmp_path / "emu", api_keys={"sk-the-right-one-0000"}) as emu:
        profiles.save_profile(profiles.Profile(kind="compatible", name="lab", base_url=emu.base_url, api_key=KEY))
        app = build(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await open_profiles(pilot)
            await select_row(pilot, "lab")
            await pilot.press("t")
            await settle(pilot)
            text = screen_text(app)
            assert "✗ lab: The API key was refused" in text
            assert KEY not in text


def test_snapshot_profiles_screen(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEDECK_CONFIG_DIR", "/tmp/tunedeck-snapshot-config")  # the path is on screen
    import shutil

    shutil.rmtree("/tmp/tunedeck-snapshot-config", ignore_errors=True)
    profiles.save_profile(profiles.Profile(kind="openai", name="work", api_key=KEY, organization="org-1"))
    profiles.save_profile(profiles.Profile(kind="compatible", name="lab", base_url="http://gpu-box:8000/v1"))
    profiles.save_profile(
        profiles.Profile(kind="azure", name="az", azure_endpoint="https://contoso.openai.azure.com", api_version="2024-10-21", api_key=OTHER_KEY)
    )
    profiles.set_default("work")

    async def opened(pilot) -> None:
        await open_profiles(pilot)

    assert snap_compare(build(tmp_path), terminal_size=SIZE, run_before=opened)


@pytest.mark.asyncio
async def test_use_now_switches_the_app_and_its_jobs_section_to_that_server(tmp_path):
    from core.clock import ManualClock
    from tests.tui.jobs_helpers import TRAVEL, start_job, until, write
    from tui.screens.jobs import JobsScreen

    clock = ManualClock()
    with Emulator(state_dir=tmp_path / "lab-server", clock=clock) as lab:
        job = await start_job(lab, clock, write(tmp_path, "t.jsonl", TRAVEL[:20]), suffix="on-lab", remember=False)
        profiles.save_profile(profiles.Profile(kind="compatible", name="lab", base_url=lab.base_url))
        app = build(tmp_path)
        app.watch_interval = 0.2
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")  # the built-in emulator's (empty) list first
            await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.jobs_feed.listed, "the first list")
            assert job.id not in app.screen.query_one("DataTable").rows
            await pilot.press("P")
            await pilot.pause(0.3)  # (not settle: the jobs feed's worker never completes)
            await select_row(pilot, "lab")
            await pilot.press("u")
            await pilot.pause(0.3)
            assert app.active.profile.name == "lab" and app.current_mode == "datasets"
            assert "profile lab" in str(app.screen.query_one("ProfileBar").render())
            await pilot.press("2")
            await until(pilot, lambda: isinstance(app.screen, JobsScreen) and job.id in app.screen.query_one("DataTable").rows, "the lab's job")
