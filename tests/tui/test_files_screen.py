"""The Files and models panel against an emulator on a test clock: what it lists, deleting a file
or a tuned model after asking, a refused delete, and a picture at 80×24."""

from __future__ import annotations

import hashlib

import pytest
from textual.widgets import DataTable

from core.service.client import RETRIES, connect
from core.service.local_state import LocalState
from tests.conftest import REPO
from tests.tui.jobs_helpers import TRAVEL, app_on, profile_of, start_job, steady_ids, until, write
from tui.screens.confirm import ConfirmScreen
from tui.screens.files import FilesScreen, fit, size_text
from tui.screens.jobs import JobsScreen


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def notices(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def tuned_job(emulator, clock, folder, *, succeeded: bool = True):
    """A job named "trips" trained on trips.jsonl and checked on trips-valid.jsonl; ended when asked."""
    train = write(folder, "trips.jsonl", TRAVEL[:20])
    valid = write(folder, "trips-valid.jsonl", TRAVEL[40:])
    job = await start_job(emulator, clock, train, valid, suffix="trips", epochs=1)
    clock.advance(600 if succeeded else 5)
    return job


async def panel(pilot, *, via_jobs: bool = True) -> FilesScreen:
    """Jobs (2), then Files & models (F), read and with the jobs that used each file known;
    or the panel alone, straight after start-up, before anything connected."""
    app = pilot.app
    if via_jobs:
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.jobs_feed.listed, "the jobs list")
        await pilot.press("F")
    else:
        assert app.jobs_feed.conn is None
        app.push_screen(FilesScreen())
    await until(pilot, lambda: isinstance(app.screen, FilesScreen) and app.screen.read_once and not app.screen.doing, "the files read")
    await pilot.pause()
    return app.screen


def rows(table: DataTable) -> dict[str, list[str]]:
    return {key.value: [str(cell) for cell in table.get_row(key)] for key in table.rows}


async def on_server(emulator) -> tuple[set[str], set[str]]:
    """(file ids, tuned model ids) the server lists now."""
    async with connect(profile_of(emulator).profile) as conn:
        files = {f.id async for f in conn.client.files.list()}
        models = {m.id async for m in conn.client.models.list() if m.id.startswith("ft:")}
    return files, models


def highlight(table: DataTable, key: str) -> None:
    table.focus()
    table.move_cursor(row=table.get_row_index(key), animate=False)


@pytest.mark.asyncio
async def test_the_panel_lists_files_with_the_jobs_that_used_them_and_the_tuned_model(emulator, clock, tmp_path):
    job = await tuned_job(emulator, clock, tmp_path)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await panel(pilot)
        view = app.jobs_feed.board.views[job.id]
        assert view.status == "succeeded" and view.fine_tuned_model
        files = rows(screen.query_one("#files-table", DataTable))
        (results,) = view.job.result_files  # the job's per-step metrics, a file of its own
        assert files == {
            results: ["step_metrics.csv", files[results][1], "fine-tune-results", files[results][3], "trips", "processed"],
            job.validation_file: ["trips-valid.jsonl", size_text(len(b"".join(TRAVEL[40:]))), "fine-tune", "10 min ago", "trips", "processed"],
            job.training_file: ["trips.jsonl", size_text(len(b"".join(TRAVEL[:20]))), "fine-tune", "10 min ago", "trips", "processed"],
        }
        assert files[job.training_file][1] == "8.7 kB" and list(files)[0] == results  # newest first
        models = rows(screen.query_one("#models-table", DataTable))
        assert list(models) == [view.fine_tuned_model]
        assert models[view.fine_tuned_model][2] == "trips"
        status = str(screen.query_one("#files-status").render())
        assert status.startswith("3 files · 1 tuned model")


@pytest.mark.asyncio
async def test_deleting_a_file_asks_first_then_forgets_the_upload(emulator, clock, tmp_path):
    job = await tuned_job(emulator, clock, tmp_path, succeeded=False)
    identity = profile_of(emulator).profile.identity
    sha = hashlib.sha256(b"".join(TRAVEL[:20])).hexdigest()
    with LocalState() as state:  # as a launch records its upload
        state.record_upload(identity, sha, job.training_file, "trips.jsonl", len(b"".join(TRAVEL[:20])))
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await panel(pilot)
        table = screen.query_one("#files-table", DataTable)
        highlight(table, job.training_file)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        question = app.screen
        assert "trips.jsonl" in question.title_text and question.danger
        assert "Used by jobs: trips." in question.body and "upload it again" in question.body
        await pilot.press("escape")  # kept
        await pilot.pause(0.1)
        assert app.screen is screen and job.training_file in table.rows
        assert job.training_file in (await on_server(emulator))[0]
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("y")
        await until(pilot, lambda: job.training_file not in table.rows and not screen.doing, "the row gone")
        assert set(table.rows) == {job.validation_file}
        assert job.training_file not in (await on_server(emulator))[0]
        assert any(n.startswith("File deleted: trips.jsonl") for n in notices(app))
    with LocalState() as state:
        assert state.uploaded(identity, sha) is None


@pytest.mark.asyncio
async def test_deleting_a_tuned_model_asks_first_and_removes_it(emulator, clock, tmp_path):
    job = await tuned_job(emulator, clock, tmp_path)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await panel(pilot)
        model = app.jobs_feed.board.views[job.id].fine_tuned_model
        table = screen.query_one("#models-table", DataTable)
        await pilot.press("tab")  # from the files to the models
        assert app.focused is table and model in table.rows
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert model in app.screen.body and "Made by job trips." in app.screen.body and "no longer be chatted with" in app.screen.body
        await pilot.press("y")
        await until(pilot, lambda: table.row_count == 0 and not screen.doing, "the model gone")
        assert model not in (await on_server(emulator))[1]
        assert job.id in app.jobs_feed.board.views  # its job stays
        assert "Tuned models · none yet" in str(screen.query_one("#models-title").render())
        await pilot.press("escape")
        assert isinstance(app.screen, JobsScreen)


@pytest.mark.asyncio
async def test_a_refused_delete_is_reported_and_the_row_stays(emulator, clock, tmp_path):
    job = await tuned_job(emulator, clock, tmp_path, succeeded=False)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await panel(pilot, via_jobs=False)  # the panel connects by itself
        table = screen.query_one("#files-table", DataTable)
        assert set(table.rows) == {job.training_file, job.validation_file}
        fault = emulator.faults.add("DELETE /v1/files/*", "500", count=RETRIES + 1)  # every try the client makes
        highlight(table, job.training_file)
        await pilot.press("x", "y")
        await until(pilot, lambda: any("not deleted" in n for n in notices(app)), "the error", tries=600)
        assert fault.fired == RETRIES + 1
        error = next(n for n in app._notifications if "not deleted" in n.title)
        assert error.severity == "error" and error.title.startswith("trips.jsonl not deleted: The server failed (500)")
        assert job.training_file in table.rows and not screen.doing
        assert job.training_file in (await on_server(emulator))[0]
        await pilot.press("x", "y")  # the fault is spent: now it goes
        await until(pilot, lambda: job.training_file not in table.rows, "deleted on a second try")


def test_snapshot_two_files_and_a_tuned_model(snap_compare, emulator, clock, tmp_path, monkeypatch):
    steady_ids(monkeypatch)

    async def listed(pilot) -> None:
        await tuned_job(emulator, clock, tmp_path)
        await panel(pilot)
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app_on(emulator, clock), terminal_size=(80, 24), run_before=listed)


def test_sizes_read_in_decimal_units_and_long_names_keep_both_ends():
    assert [size_text(n) for n in (0, 999, 1000, 12_345, 999_949, 999_950, 1_400_000, 3 * 10**9)] == [
        "0 B", "999 B", "1.0 kB", "12.3 kB", "999.9 kB", "1.0 MB", "1.4 MB", "3.0 GB",
    ]  # fmt: skip
    assert fit("customer-support-train-2024-v3.jsonl", 20) == "customer-…4-v3.jsonl" and len(fit("x" * 40, 20)) == 20
    assert fit("short.jsonl", 20) == "short.jsonl"
