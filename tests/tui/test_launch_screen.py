"""The launch screen against an emulator over HTTP: form → confirmation → job, live checks, failures, pictures.

Each picture was looked at (rendered to text) before it was accepted (tests/tui/__snapshots__/).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openai
import pytest
from openai.types import Model
from pydantic import SecretStr
from textual.widgets import Input, RadioButton, Static

from core.emulator import Emulator
from core.service.profiles import Active, Profile
from tests.conftest import REPO
from tests.tui.conftest import build
from tui.screens.job import JobScreen
from tui.screens.launch import ConfirmLaunchScreen, LaunchScreen, model_options, parse_metadata

SIZE = (80, 24)
TRAVEL = Path("data/travel.jsonl")  # relative to the repo: what the screen shows is the same everywhere
PREFERENCES = Path("data/preferences.jsonl")


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.fixture
def emulator(tmp_path):
    # The real clock sped up: a file is processed 1 emulated second (1 ms) after its upload, so the
    # screen's wait for processing (real sleeps between polls) ends at the first poll.
    with Emulator(state_dir=tmp_path / "emulator", speed=1000) as emu:
        yield emu


def active_on(emu: Emulator, *, key: str | None = None, name: str = "emulator") -> Active:
    return Active(Profile(kind="emulator", name=name, base_url=emu.base_url, api_key=SecretStr(key) if key else None), "test")


async def settle(pilot) -> LaunchScreen:
    """Until the models are listed, the file read and the estimate matches the form."""
    app = pilot.app
    for _ in range(200):
        await pilot.pause(0.02)
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = next(s for s in app.screen_stack if isinstance(s, LaunchScreen))
        if screen.plan_result is not None and screen._debounce is None and screen.file_format is not None and not any(
            w.is_running for w in app.workers
        ):
            return screen
    raise AssertionError("the launch screen never settled")


async def opened(pilot, train: Path = TRAVEL) -> LaunchScreen:
    await pilot.pause()
    pilot.app.push_screen(LaunchScreen(train))
    return await settle(pilot)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def until(pilot, condition, what: str, tries: int = 400) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.025)
    raise AssertionError(f"never: {what}")


# -- the whole path -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_form_to_confirmation_to_a_job_on_the_emulator(emulator):
    app = build(Path("data"), active=active_on(emulator))
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        screen.query_one("#epochs", Input).value = "2"
        screen.query_one("#suffix", Input).value = "trips"
        screen.query_one("#metadata", Input).value = "team=travel, run=first"
        await settle(pilot)
        await pilot.press("ctrl+enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmLaunchScreen), "the confirmation")
        confirmation = app.screen.confirmation
        for expected in (
            "profile     emulator — Emulator at",
            "training    data/travel.jsonl (48 valid examples)",
            "model       gpt-4o-mini-2024-07-18",
            "method      supervised",
            "epochs      2",
            "batch size  auto",
            "lr mult.    auto",
            "suffix      trips",
            "team=travel, run=first",
        ):
            assert expected in confirmation
        assert str(app.screen.query_one("#confirm-text", Static).render()) == confirmation.rstrip("\n")  # verbatim
        await pilot.press("y")
        # Straight to the job's live view, in the Jobs section, with where it came from.
        await until(pilot, lambda: isinstance(app.screen, JobScreen), "the job's live view")
        assert app.current_mode == "jobs"
        live = app.screen
        await until(pilot, lambda: live.view.events, "its first events")
        shown = str(live.query_one("#job-title", Static).render())
        assert live.view.dataset == str((REPO / "data/travel.jsonl").resolve()) and live.view.suffix == "trips"

    jobs = openai.OpenAI(base_url=emulator.base_url, api_key="test").fine_tuning.jobs.list().data
    assert len(jobs) == 1
    job = jobs[0]
    assert job.id in shown
    assert job.model == "gpt-4o-mini-2024-07-18"
    assert job.hyperparameters.n_epochs == 2
    assert job.metadata["team"] == "travel" and job.metadata["run"] == "first"
    assert "tunedeck_dataset_sha256" in job.metadata


@pytest.mark.asyncio
async def test_cancelling_the_confirmation_sends_nothing(emulator):
    app = build(Path("data"), active=active_on(emulator))
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("L")
        await until(pilot, lambda: isinstance(app.screen, ConfirmLaunchScreen), "the confirmation")
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen)
    client = openai.OpenAI(base_url=emulator.base_url, api_key="test")
    assert client.fine_tuning.jobs.list().data == [] and client.files.list().data == []


@pytest.mark.asyncio
async def test_the_estimate_follows_the_epochs(emulator):
    app = build(Path("data"), active=active_on(emulator))
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        before = text_of(screen, "#cost")
        assert "× 3 epochs (auto)" in before and "prices of" in before
        assert "auto = 3 for 48 examples" in text_of(screen, "#epochs-hint")
        screen.query_one("#epochs").focus()
        await pilot.press("6")
        await settle(pilot)
        after = text_of(screen, "#cost")
        assert "× 6 epochs" in after and after != before


@pytest.mark.asyncio
async def test_dpo_is_unavailable_on_a_supervised_file_and_says_why(emulator):
    app = build(Path("data"), active=active_on(emulator))
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        assert screen.query_one("#method-dpo", RadioButton).disabled
        assert "preference" in text_of(screen, "#method-hint") and "chat" in text_of(screen, "#method-hint")
        assert screen.query_one("#beta", Input).disabled


@pytest.mark.asyncio
async def test_dpo_is_offered_on_a_preference_file(emulator):
    app = build(Path("data"), active=active_on(emulator))
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, PREFERENCES)
        dpo = screen.query_one("#method-dpo", RadioButton)
        assert not dpo.disabled
        dpo.value = True
        await settle(pilot)
        assert not screen.query_one("#beta", Input).disabled
        assert screen.plan_result.request.method == "dpo"


@pytest.mark.asyncio
async def test_a_suffix_too_long_is_refused_live(emulator):
    app = build(Path("data"), active=active_on(emulator))
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        screen.query_one("#suffix", Input).value = "x" * 65
        await settle(pilot)
        hint = screen.query_one("#suffix-hint", Static)
        assert hint.has_class("-bad") and "65/64" in str(hint.render())
        assert "the suffix is 65 characters" in text_of(screen, "#cost")
        await pilot.press("ctrl+enter")
        await settle(pilot)
        assert isinstance(app.screen, LaunchScreen)  # no confirmation for a refused form


@pytest.mark.asyncio
async def test_metadata_limits_are_checked_live(emulator):
    app = build(Path("data"), active=active_on(emulator))
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        screen.query_one("#metadata", Input).value = "k=" + "v" * 513
        await settle(pilot)
        assert screen.query_one("#metadata-hint", Static).has_class("-bad")
        assert "values at most 512" in text_of(screen, "#cost")


@pytest.mark.asyncio
async def test_a_refused_key_shows_the_error_and_keeps_the_form(tmp_path):
    with Emulator(state_dir=tmp_path / "emulator", speed=1000, api_keys={"the-right-key"}) as emu:
        app = build(Path("data"), active=active_on(emu, key="a-wrong-key"))
        async with app.run_test(size=SIZE) as pilot:
            screen = await opened(pilot)
            assert "could not list emulator's models" in text_of(screen, "#model-note")  # fell back to the table
            screen.query_one("#suffix", Input).value = "kept"
            await settle(pilot)
            await pilot.press("ctrl+enter")
            await until(pilot, lambda: isinstance(app.screen, ConfirmLaunchScreen), "the confirmation")
            await pilot.press("y")
            await until(pilot, lambda: screen.query_one("#launch-error").has_class("-shown"), "the error")
            error = text_of(screen, "#launch-error")
            assert "The API key was refused" in error and "nothing was uploaded" in error
            assert app.screen is screen and not screen.query_one("#form").disabled
            assert screen.query_one("#suffix", Input).value == "kept"


def test_models_are_listed_tunable_first_with_their_shutdown_dates():
    today = dt.date(2026, 9, 21)
    models = [
        Model(id="ft:gpt-4o-mini-2024-07-18:org::abc", created=0, object="model", owned_by="org"),
        Model(id="whisper-1", created=0, object="model", owned_by="system"),
        Model(id="gpt-3.5-turbo-0613", created=0, object="model", owned_by="system", shutdown_date="2026-10-01"),
        Model(id="gpt-4o-mini-2024-07-18", created=0, object="model", owned_by="system"),
        Model(id="gpt-3.5-turbo-1106", created=0, object="model", owned_by="system", shutdown_date="2026-01-01"),
    ]
    options, others = model_options(models, today)
    assert [value for _, value in options] == [
        "gpt-3.5-turbo-0613", "gpt-3.5-turbo-1106", "gpt-4o-mini-2024-07-18", "ft:gpt-4o-mini-2024-07-18:org::abc",
    ]
    labels = {value: label.plain for label, value in options}
    assert "⚠ shuts down 2026-10-01 (in 10 days)" in labels["gpt-3.5-turbo-0613"]
    assert "⚠ shut down 2026-01-01" in labels["gpt-3.5-turbo-1106"]
    assert "continue training" in labels["ft:gpt-4o-mini-2024-07-18:org::abc"]
    assert others == 1


def test_metadata_pairs_are_parsed_and_checked():
    assert parse_metadata("a=1, b = two") == {"a": "1", "b": "two"}
    assert "key=value" in parse_metadata("oops").message
    assert "at most 13" in parse_metadata(", ".join(f"k{i}=v" for i in range(14))).message


# -- pictures -------------------------------------------------------------------------------------


def _quiet(pilot) -> None:
    pilot.app.clear_notifications()


def test_snapshot_launch_form_with_the_estimate(snap_compare):
    # The built-in emulator: its description is the same on every machine (no port on screen).
    async def filled(pilot) -> None:
        screen = await opened(pilot)
        screen.query_one("#suffix", Input).value = "travel-v1"
        screen.query_one("#metadata", Input).value = "team=travel"
        await settle(pilot)
        _quiet(pilot)

    assert snap_compare(build(Path("data")), terminal_size=SIZE, run_before=filled)


def test_snapshot_confirmation(snap_compare):
    async def confirming(pilot) -> None:
        screen = await opened(pilot)
        screen.query_one("#epochs", Input).value = "2"
        screen.query_one("#suffix", Input).value = "travel-v1"
        screen.query_one("#metadata", Input).value = "team=travel"
        await settle(pilot)
        await pilot.press("ctrl+enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmLaunchScreen), "the confirmation")
        await pilot.pause()
        _quiet(pilot)

    assert snap_compare(build(Path("data")), terminal_size=SIZE, run_before=confirming)


def test_snapshot_upload_in_progress(snap_compare, emulator):
    emulator.faults.add("POST /v1/files", "latency", latency=30)  # the upload is held at the server

    async def uploading(pilot) -> None:
        screen = await opened(pilot)
        await pilot.press("ctrl+enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmLaunchScreen), "the confirmation")
        await pilot.press("y")
        stage = lambda: text_of(screen, "#progress-stage")  # noqa: E731
        await until(pilot, lambda: stage().startswith("Uploading") and stage().split()[1] == stage().split()[3], "all bytes sent")
        await pilot.pause()
        _quiet(pilot)

    assert snap_compare(build(Path("data"), active=active_on(emulator)), terminal_size=SIZE, run_before=uploading)


def test_snapshot_connection_error(snap_compare):
    # Port 9 (discard) is closed on loopback: the same address, and message, on every machine.
    nowhere = Active(Profile(kind="emulator", name="offline", base_url="http://127.0.0.1:9/v1"), "test")

    async def failed(pilot) -> None:
        screen = await opened(pilot)
        await pilot.press("ctrl+enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmLaunchScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: screen.query_one("#launch-error").has_class("-shown"), "the error", tries=1200)
        await pilot.pause()
        _quiet(pilot)

    assert snap_compare(build(Path("data"), active=nowhere), terminal_size=SIZE, run_before=failed)


def test_a_compatible_servers_own_models_are_offered():
    import datetime as dt
    from types import SimpleNamespace

    from tui.screens.launch import model_options

    listed = [SimpleNamespace(id="qwen-small"), SimpleNamespace(id="gpt-4o-mini-2024-07-18")]
    today = dt.date(2026, 11, 25)
    assert [v for _, v in model_options(listed, today)[0]] == ["gpt-4o-mini-2024-07-18"]
    assert [v for _, v in model_options(listed, today, unlisted_ok=True)[0]] == ["gpt-4o-mini-2024-07-18", "qwen-small"]
