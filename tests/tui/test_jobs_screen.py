"""The Jobs section against an emulator on a test clock: the list, a job watched live, actions,
failures opening their line, the overfitting alarm, notifications, and a restart after a drop."""

from __future__ import annotations

import asyncio
import csv
import re

import pytest
from textual.widgets import DataTable, RichLog

from tests.conftest import REPO
from tests.tui.jobs_helpers import POLL, TRAVEL, app_on, broken_roles, several_states, start_job, until, write
from tui.screens.confirm import ConfirmScreen
from tui.screens.job import JobScreen
from tui.screens.jobs import JobsScreen

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def shown_events(log: RichLog) -> list[str]:
    """The log's events (a long one wraps onto more lines; each starts with its time)."""
    return [line.text for line in log.lines if re.match(r"\d\d:\d\d:\d\d ", line.text)]


def notices(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def count_bells(app) -> list[int]:
    rung = [0]
    original = app.bell

    def bell() -> None:
        rung[0] += 1
        original()

    app.bell = bell
    return rung


async def jobs_listed(pilot) -> JobsScreen:
    await pilot.press("2")
    await until(pilot, lambda: isinstance(pilot.app.screen, JobsScreen) and pilot.app.jobs_feed.listed, "the jobs list")
    await pilot.pause()
    return pilot.app.screen


async def job_opened(pilot, job_id: str) -> JobScreen:
    screen = await jobs_listed(pilot)
    table = screen.query_one(DataTable)
    await until(pilot, lambda: job_id in table.rows, "the job's row")
    table.move_cursor(row=table.get_row_index(job_id))
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, JobScreen), "the job screen")
    return pilot.app.screen


async def test_the_list_shows_every_state_newest_first_and_filters(emulator, clock, tmp_path):
    made = await several_states(emulator, clock, tmp_path)
    app = app_on(emulator, clock)
    async with app.run_test(size=(120, 24)) as pilot:
        screen = await jobs_listed(pilot)
        table = screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 5, "five rows")
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        statuses = [str(row[0]).split(" ", 1)[1] for row in rows]
        assert statuses == ["running", "paused", "cancelled", "failed", "succeeded"]
        assert [row[-1] for row in rows] == [made[s] for s in statuses]
        succeeded = rows[-1]
        assert succeeded[1] == "trips" and succeeded[3] == "done" and succeeded[4] == "trips.jsonl"
        assert str(succeeded[7]).startswith("ft:gpt-4o-mini-2024-07-18:") and succeeded[6]  # tuned model, tokens
        await until(pilot, lambda: "/" in str(table.get_row_at(0)[3]), "the running job's progress")
        await pilot.press("f")  # active only
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["▶ running", "‖ paused"]
        await pilot.press("f", "f")  # succeeded, then failed
        assert table.row_count == 1 and table.get_row_at(0)[-1] == made["failed"]
        await pilot.press("f", "f", "o")  # all, oldest first
        assert table.get_row_at(0)[-1] == made["succeeded"]


async def test_a_job_watched_from_validation_to_success(emulator, clock, tmp_path):
    train = write(tmp_path, "trips.jsonl", TRAVEL[:40])
    valid = write(tmp_path, "valid.jsonl", TRAVEL[40:])
    job = await start_job(emulator, clock, train, valid, suffix="trips", epochs=2)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        bells = count_bells(app)
        screen = await job_opened(pilot, job.id)
        await until(pilot, lambda: screen.view.status == "validating_files", "the first look")
        seen = ["validating_files"]
        for _ in range(40):  # 2.5 emulated seconds at a time, with time to poll in between
            clock.advance(2.5)
            await pilot.pause(1.5 * POLL)
            seen.append(screen.view.status)
            if screen.view.status == "succeeded":
                break
        await until(pilot, lambda: screen.view.status == "succeeded", "success")
        assert [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]][:3] == ["validating_files", "queued", "running"]
        view = screen.view
        assert [p.step for p in view.points] == list(range(1, 81))  # 40 examples × 2 epochs
        assert [c.step_number for c in view.checkpoints] == [40, 80]
        log = screen.query_one("#job-events", RichLog)
        checkpoints = screen.query_one("#job-checkpoints", DataTable)
        # The screen draws what arrived a moment later (changes are drawn together).
        await until(pilot, lambda: len(shown_events(log)) == len(view.events) and checkpoints.row_count == 2, "all drawn")
        assert len(shown_events(log)) == len(view.events) > 80
        assert "The job has successfully completed" in shown_events(log)[-1]
        assert [checkpoints.get_row_at(i)[0] for i in range(checkpoints.row_count)] == ["40", "80"]
        await pilot.pause(0.1)
        assert [n for n in notices(app) if n.startswith("Job succeeded")] == [f"Job succeeded: trips ({job.id}) succeeded: {view.fine_tuned_model}"]
        assert bells[0] == 1  # once, however many polls followed


async def test_cancel_asks_first_then_the_service_confirms(emulator, clock, tmp_path):
    job = await start_job(emulator, clock, write(tmp_path, "t.jsonl", TRAVEL[:40]), suffix="trips")
    clock.advance(30)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await job_opened(pilot, job.id)
        await until(pilot, lambda: screen.view.status == "running", "running")
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # kept
        await pilot.pause(0.1)
        assert screen.view.status == "running"
        await pilot.press("c", "y")
        await until(pilot, lambda: screen.view.status == "cancelled", "cancelled")
        await pilot.press("c")  # refused now, and says why
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("cannot be cancelled" in n for n in notices(app))


async def test_pause_then_resume(emulator, clock, tmp_path):
    job = await start_job(emulator, clock, write(tmp_path, "t.jsonl", TRAVEL[:40]), suffix="trips")
    clock.advance(30)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await job_opened(pilot, job.id)
        await until(pilot, lambda: screen.view.status == "running", "running")
        await pilot.press("r")  # not paused: refused with the reason
        await pilot.pause()
        assert any("only a paused job can be resumed" in n for n in notices(app))
        await pilot.press("p", "y")
        await until(pilot, lambda: screen.view.status in ("pausing", "paused"), "pausing")
        clock.advance(5)
        await until(pilot, lambda: screen.view.status == "paused", "paused")
        step = screen.view.step
        clock.advance(30)
        await pilot.pause(0.2)
        assert screen.view.step == step  # no training while paused
        await pilot.press("r", "y")
        clock.advance(10)
        await until(pilot, lambda: screen.view.status == "running" and screen.view.step > step, "training again")


async def test_a_failure_names_its_line_and_o_opens_it_in_the_editor(emulator, clock, tmp_path):
    from tui.screens.editor import EditorScreen

    path = broken_roles(tmp_path)
    job = await start_job(emulator, clock, path, suffix="roles")
    clock.advance(30)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await job_opened(pilot, job.id)
        await until(pilot, lambda: screen.view.status == "failed", "failed")
        await pilot.pause()
        failure = str(screen.query_one("#job-failure").render())
        assert "invalid_training_file" in failure and "Line 5" in failure and "o: open line 5 of roles.jsonl" in failure
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, EditorScreen), "the editor")
        assert app.screen.index == 4 and app.screen.ds.path == path.resolve()


async def test_the_alarm_rings_once_on_an_overfitting_run_and_not_on_a_healthy_one(emulator, clock, tmp_path):
    valid = write(tmp_path, "valid.jsonl", TRAVEL[40:])
    overfitting = await start_job(emulator, clock, write(tmp_path, "ten.jsonl", TRAVEL[:10]), valid, suffix="ten", epochs=10)
    healthy = await start_job(emulator, clock, write(tmp_path, "forty.jsonl", TRAVEL[:40]), valid, suffix="forty", epochs=3)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        bells = count_bells(app)
        await jobs_listed(pilot)
        for _ in range(30):
            clock.advance(10)
            await pilot.pause(0.06)
        board = app.jobs_feed.board
        await until(pilot, lambda: board.views[healthy.id].terminal and board.views[overfitting.id].terminal, "both ended")
        assert board.views[overfitting.id].alarm is not None and board.views[healthy.id].alarm is None
        alarms = [n for n in notices(app) if n.startswith("Overfitting")]
        assert len(alarms) == 1 and "ten" in alarms[0] and "rose" in alarms[0]
        assert bells[0] == 1 + 2  # the alarm, then each job's end


async def test_the_log_keeps_the_users_place_and_search_narrows_it(emulator, clock, tmp_path):
    job = await start_job(emulator, clock, write(tmp_path, "t.jsonl", TRAVEL[:40]), suffix="trips")
    clock.advance(30)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await job_opened(pilot, job.id)
        log = screen.query_one("#job-events", RichLog)
        await until(pilot, lambda: len(shown_events(log)) > 30, "events")
        await pilot.pause(0.1)
        assert log.scroll_y == log.max_scroll_y > 0  # following the end
        log.scroll_to(y=0, animate=False)
        clock.advance(10)
        await until(pilot, lambda: len(shown_events(log)) > 50, "more events")
        await pilot.pause(0.1)
        assert log.scroll_y == 0  # scrolled up: new events do not move the page
        await pilot.press("slash")
        await pilot.press(*"checkpoint", "enter")
        await pilot.pause()
        assert shown_events(log) and all("Checkpoint" in line for line in shown_events(log))
        await pilot.press("escape")
        assert len(shown_events(log)) == len(screen.view.events)


async def test_results_are_saved_as_csv(emulator, clock, tmp_path, monkeypatch):
    job = await start_job(emulator, clock, write(tmp_path, "t.jsonl", TRAVEL[:20]), suffix="short", epochs=1)
    clock.advance(200)
    monkeypatch.chdir(tmp_path)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await job_opened(pilot, job.id)
        await until(pilot, lambda: screen.view.status == "succeeded" and screen.view.events, "the history")
        await pilot.press("d")
        await until(pilot, lambda: (tmp_path / "short-results.csv").exists(), "the CSV")
        rows = list(csv.DictReader((tmp_path / "short-results.csv").open()))
        assert [int(r["step"]) for r in rows] == list(range(1, 21))
        await pilot.press("y")
        assert any(screen.view.fine_tuned_model in n for n in notices(app) if n.startswith("Copied"))


async def test_after_a_drop_every_job_is_back_and_one_that_ended_meanwhile_is_announced(emulator, clock, tmp_path):
    job = await start_job(emulator, clock, write(tmp_path, "t.jsonl", TRAVEL[:20]), suffix="short", epochs=1)
    clock.advance(15)
    first = app_on(emulator, clock)
    async with first.run_test(size=(80, 24)) as pilot:
        await jobs_listed(pilot)
        await until(pilot, lambda: first.jobs_feed.board.views[job.id].status == "running", "running")
    clock.advance(600)  # the SSH session was gone ten minutes
    again = app_on(emulator, clock)
    async with again.run_test(size=(80, 24)) as pilot:
        # Not even on the Jobs section: the remembered running job is looked after from the start.
        await until(pilot, lambda: any(n.startswith("Job succeeded") for n in notices(again)), "the announcement", tries=200)
        assert isinstance(again.screen, type(again.screen)) and not isinstance(again.screen, JobsScreen)
        screen = await jobs_listed(pilot)
        assert job.id in screen.query_one(DataTable).rows


async def test_a_lost_connection_is_reported_and_the_watch_goes_on(emulator, clock, tmp_path):
    job = await start_job(emulator, clock, write(tmp_path, "t.jsonl", TRAVEL[:40]), suffix="trips")
    clock.advance(20)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await job_opened(pilot, job.id)
        await until(pilot, lambda: screen.view.points, "first points")
        emulator.faults.add("GET /v1/fine_tuning/jobs/*", "503", count=3)
        clock.advance(5)
        await until(pilot, lambda: app.jobs_feed.status.startswith("reconnecting"), "reconnecting shown")
        await until(pilot, lambda: app.jobs_feed.status == "live", "live again", tries=600)
        steps = [p.step for p in screen.view.points]
        assert steps == list(range(1, steps[-1] + 1))  # nothing lost, nothing twice
        await asyncio.sleep(0)


async def test_g_opens_a_checkpoint_in_the_playground_and_it_answers(emulator, clock, tmp_path):
    from tui.screens.playground import PlaygroundScreen, Turn

    job = await start_job(emulator, clock, write(tmp_path, "t.jsonl", TRAVEL[:20]), suffix="short", epochs=3)
    clock.advance(300)
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await job_opened(pilot, job.id)
        await until(pilot, lambda: screen.query_one("#job-checkpoints", DataTable).row_count == 3, "the checkpoints")
        await pilot.press("k", "down")  # the second of three: not the final model
        checkpoint = screen.view.checkpoints[1].fine_tuned_model_checkpoint
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, PlaygroundScreen), "the playground")
        assert app.screen.models == [checkpoint] and app.current_mode == "playground"
        await pilot.press(*"Best time to visit Japan?", "enter")
        await until(pilot, lambda: not app.screen.replying and len(app.screen.query(Turn)) == 2, "the reply")
        user, reply = app.screen.query(Turn)
        assert user.text == "Best time to visit Japan?"
        assert reply.text and reply.has_class("-assistant") and "tokens" in reply.note  # streamed, with its usage
        assert any(reply.text in line.decode() for line in TRAVEL[:20])  # the emulated model answers from its data
