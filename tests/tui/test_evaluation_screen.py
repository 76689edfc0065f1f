"""The batch evaluation screen against an emulator: a run with its totals (the tuned model beats
its base on its own training file), every example beside its gold answer, ordering by
disagreement, a stop kept and resumed, and the way back to the Playground."""

from __future__ import annotations

import orjson
import pytest
from textual.widgets import DataTable

from core.evaluate.report import load_results
from tests.tui.jobs_helpers import TRAVEL, app_on, until, write
from tests.tui.test_playground import tuned_model
from tui.screens.evaluation import EvaluationScreen
from tui.screens.playground import PlaygroundScreen
from tui.widgets.tables import highlighted_key

pytestmark = pytest.mark.asyncio
BASE = "gpt-4o-mini-2024-07-18"


async def evaluation(pilot, path, models) -> EvaluationScreen:
    await pilot.press("3")
    await until(pilot, lambda: isinstance(pilot.app.screen, PlaygroundScreen), "the playground")
    pilot.app.screen.models = models
    await pilot.press("ctrl+b")
    await until(pilot, lambda: isinstance(pilot.app.screen, EvaluationScreen), "the evaluation screen")
    screen = pilot.app.screen
    screen.query_one("#eval-file").value = str(path)
    return screen


def cells(table: DataTable, row: int) -> list[str]:
    return [str(cell) for cell in table.get_row_at(row)]


async def test_a_run_scores_both_models_and_shows_each_example_beside_its_gold_answer(emulator, clock, tmp_path):
    train = write(tmp_path, "trips.jsonl", TRAVEL[:12])
    tuned = await tuned_model(emulator, clock, train)
    app = app_on(emulator, clock, train)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await evaluation(pilot, train, [BASE, tuned])
        assert screen.query_one("#eval-out").value == str(tmp_path / "trips.eval.jsonl")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: not screen.running and screen.answers and not screen._redraw_due, "the run")
        assert "Done: 24 answers" in str(screen.query_one("#eval-status").render())
        totals = screen.query_one("#eval-totals", DataTable)
        base, ours = cells(totals, 0), cells(totals, 1)
        assert base[0] == f"A {BASE}" and ours[0].startswith("B …") and tuned.endswith(ours[0][3:])  # long names by their end
        assert ours[1] == "100%" and float(ours[2]) == 1.0  # on its own training data the tuned model is exact
        assert float(base[2]) < 0.3 and base[5] == "0"
        examples = screen.query_one("#eval-examples", DataTable)
        assert examples.row_count == 12
        # The highlighted example: gold answer, then each model's, with its scores.
        detail = " ".join(str(s.render()) for s in screen.query(".eval-answer"))
        gold = orjson.loads(TRAVEL[0])["messages"][-1]["content"]
        assert "line 1" in detail and detail.count(gold) == 2 and "exact ✓" in detail and "not exact" in detail
        # Ordered by disagreement: the biggest F1 spread first.
        await pilot.press("d")
        spreads = [float(cells(examples, row)[-1]) for row in range(examples.row_count)]
        assert spreads == sorted(spreads, reverse=True)
        assert highlighted_key(examples) == cells(examples, 0)[0]  # read from the top: the biggest spread
        # `p` replays the highlighted example in the Playground with the same models.
        await pilot.press("down")
        first_line = int(highlighted_key(examples))
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PlaygroundScreen) and any(lane.gold for lane in app.screen.query("Lane")), "the replay")
        assert f"line {first_line}" in [lane for lane in app.screen.query("Lane") if lane.gold][0].model
    header, answers = load_results(tmp_path / "trips.eval.jsonl")
    assert sorted(header["models"]) == sorted([BASE, tuned]) and len(answers) == 24


async def test_a_stopped_run_keeps_its_answers_and_resumes_with_the_rest(emulator, clock, tmp_path):
    data = write(tmp_path, "trips.jsonl", TRAVEL[:30])
    app = app_on(emulator, clock, data)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await evaluation(pilot, data, [BASE])
        screen.query_one("#eval-concurrency").value = "1"
        emulator.faults.add("POST /v1/chat/completions", "latency", latency=0.2)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(screen.answers) >= 3, "a few answers")
        await pilot.press("escape")  # stops the run; the screen stays
        await until(pilot, lambda: not screen.running, "stopped")
        assert isinstance(app.screen, EvaluationScreen)
        assert "ctrl+r resumes" in str(screen.query_one("#eval-status").render())
        emulator.faults.clear()
        _, kept = load_results(tmp_path / "trips.eval.jsonl")
        assert 3 <= len(kept) < 30
        await pilot.press("ctrl+r")
        await until(pilot, lambda: not screen.running and len(screen.answers) == 30, "the rest")
        assert screen.progress.resumed == len(kept)
        assert f"({len(kept)} from the earlier run)" in str(screen.query_one("#eval-status").render())
        await pilot.press("escape")  # not running: back to the Playground
        await until(pilot, lambda: isinstance(app.screen, PlaygroundScreen), "back")
    _, answers = load_results(tmp_path / "trips.eval.jsonl")
    assert sorted(a.line for a in answers) == list(range(1, 31))


async def test_other_models_on_the_same_results_file_ask_before_starting_over(emulator, clock, tmp_path):
    data = write(tmp_path, "trips.jsonl", TRAVEL[:4])
    app = app_on(emulator, clock, data)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await evaluation(pilot, data, [BASE])
        await pilot.press("ctrl+r")
        await until(pilot, lambda: not screen.running and len(screen.answers) == 4, "a first run")
        await pilot.press("ctrl+e")  # the form again
        screen.query_one("#eval-model-0").value = "gpt-4.1-nano-2025-04-14"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: app.screen is not screen, "the question")
        await pilot.press("y")
        await until(pilot, lambda: not screen.running and len(screen.answers) == 4 and {m for _, m in screen.answers} == {"gpt-4.1-nano-2025-04-14"}, "the new run")
    header, _ = load_results(tmp_path / "trips.eval.jsonl")
    assert header["models"] == ["gpt-4.1-nano-2025-04-14"]
