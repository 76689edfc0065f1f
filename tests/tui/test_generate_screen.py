"""Generating examples from the dataset browser, against an emulator: candidates come in checked,
each is accepted, edited, rejected or regenerated with one key, and only accepted ones enter the
dataset — as one undoable edit of its document, with every line already there kept."""

from __future__ import annotations

import orjson
import pytest
from textual.widgets import DataTable

from tests.tui.jobs_helpers import TRAVEL, app_on, until, write
from tui.screens.browser import BrowserScreen
from tui.screens.generate import EditCandidateScreen, GenerateScreen
from tui.widgets.tables import highlighted_key

pytestmark = pytest.mark.asyncio


async def generating(pilot, count: int = 6) -> GenerateScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and getattr(app.screen, "dataset", None) is not None, "the browser")
    await pilot.press("G")
    await until(pilot, lambda: isinstance(app.screen, GenerateScreen) and app.screen.judge is not None, "the generate screen, file read")
    screen = app.screen
    assert screen.query_one("#gen-system").value == "You are a helpful travel assistant."  # the file's own
    screen.query_one("#gen-task").value = "a travel assistant answering short practical questions about cities"
    screen.query_one("#gen-topics").value = "Lisbon, Kyoto, Oaxaca"
    screen.query_one("#gen-count").value = str(count)
    await pilot.press("ctrl+r")
    status = lambda: str(screen.query_one("#gen-status").render())  # noqa: E731
    try:
        await until(pilot, lambda: not screen.running and status().startswith(("Done", "Stopped")), "done", tries=1500)
    except AssertionError as never:
        raise AssertionError(f"{never}; running={screen.running}, status: {status()!r}") from None
    return screen


def verdicts(screen: GenerateScreen) -> dict[int, str]:
    return {number: c.verdict for number, c in screen.candidates.items()}


async def test_candidates_are_reviewed_one_key_each_and_only_accepted_ones_enter(emulator, clock, tmp_path):
    data = write(tmp_path, "trips.jsonl", TRAVEL[:12])
    app = app_on(emulator, clock, data)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await generating(pilot)
        assert sum(v == "ok" for v in verdicts(screen).values()) >= 6
        status = str(screen.query_one("#gen-status").render())
        assert status.startswith("Done: ") and "tokens" in status and "dropped" in status
        # A candidate the run sent is shown after the run ended: the line still says it is done.
        from tui.screens.generate import Arrived

        last = max(screen.candidates)
        screen.post_message(Arrived(screen.candidates[last], screen.progress))
        await pilot.pause()
        assert str(screen.query_one("#gen-status").render()) == status
        ds = app.document(data)
        table = screen.query_one("#gen-candidates", DataTable)
        ok = [n for n, v in verdicts(screen).items() if v == "ok"]
        table.move_cursor(row=table.get_row_index(str(ok[0])))
        await pilot.press("a")  # accept: into the document at once
        assert screen.candidates[ok[0]].verdict == "accepted" and len(ds) == 13
        assert orjson.loads(ds.raw(12)) == screen.candidates[ok[0]].example
        table.move_cursor(row=table.get_row_index(str(ok[1])))
        await pilot.press("x")  # reject: never enters
        assert screen.candidates[ok[1]].verdict == "rejected"
        await pilot.press("A")  # every other ok one, as one edit
        added = len(ok) - 2
        assert len(ds) == 13 + added and ds.dirty
        assert all(screen.candidates[n].verdict == "accepted" for n in ok if n != ok[1])
        ds.undo()  # one undo takes the batch back
        assert len(ds) == 13
    assert data.read_bytes() == b"".join(TRAVEL[:12])  # nothing saved behind the user's back


async def test_an_edited_candidate_is_checked_again_and_regenerate_replaces_one(emulator, clock, tmp_path):
    data = write(tmp_path, "trips.jsonl", TRAVEL[:12])
    app = app_on(emulator, clock, data)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await generating(pilot, count=3)
        table = screen.query_one("#gen-candidates", DataTable)
        number = int(highlighted_key(table))
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EditCandidateScreen), "the editor")
        broken = dict(screen.candidates[number].example)
        broken["messages"] = [m for m in broken["messages"] if m["role"] != "assistant"]  # nothing left to learn
        app.screen.query_one("#edit-candidate-text").text = orjson.dumps(broken).decode()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen and screen.candidates[number].verdict == "invalid", "checked again")
        assert any("no assistant message" in p for p in screen.candidates[number].problems)
        await pilot.press("a")  # refused: an invalid example never enters
        assert len(app.document(data)) == 12
        await pilot.press("g")
        await until(pilot, lambda: screen.candidates[number].verdict not in ("invalid", "regenerating"), "a new candidate in its place")
        assert screen.candidates[number].example != broken


async def test_malformed_output_is_reported_and_the_good_examples_still_come(emulator, clock, tmp_path):
    data = write(tmp_path, "trips.jsonl", TRAVEL[:12])
    emulator.faults.add("POST /v1/chat/completions", "malformed", count=1)  # the first reply is cut short
    app = app_on(emulator, clock, data)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await generating(pilot, count=6)
        found = verdicts(screen)
        assert "unreadable" in found.values() and sum(v == "ok" for v in found.values()) >= 6
        unreadable = next(c for c in screen.candidates.values() if c.verdict == "unreadable")
        assert unreadable.problems and "unreadable" in str(screen.query_one("#gen-status").render())


async def test_model_written_text_is_never_read_as_markup_and_a_failed_regenerate_gives_the_candidate_back(emulator, clock, tmp_path):
    from core.synthetic.review import Candidate
    from tui.screens.generate import Arrived

    data = write(tmp_path, "trips.jsonl", TRAVEL[:12])
    app = app_on(emulator, clock, data)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await generating(pilot, count=2)
        odd = {"messages": [{"role": "user", "content": "[/INST] What is [City] like?"}, {"role": "assistant", "content": "Lovely."}]}
        screen.post_message(Arrived(Candidate(99, odd, orjson.dumps(odd).decode(), "ok", ())))
        await pilot.pause(0.1)
        table = screen.query_one("#gen-candidates", DataTable)
        assert str(table.get_cell("99", "asks")) == "[/INST] What is [City] like?"  # drawn as written, app alive
        table.move_cursor(row=table.get_row_index("99"))
        emulator.faults.add("POST /v1/chat/completions", "500", count=20)
        await pilot.press("g")
        await until(pilot, lambda: screen.candidates[99].verdict == "ok", "the candidate back as it was", tries=1500)
        assert screen.candidates[99].example == odd
