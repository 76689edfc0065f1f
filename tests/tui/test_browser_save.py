"""The browser after a save: nothing is checked again, and what it shows is the saved file's verdict."""

from __future__ import annotations

import shutil

import pytest

from core.dataset import open_dataset, rules, validate
from tests.conftest import DATA
from tests.tui.conftest import build
from tests.tui.test_browser import MARK, rows_on_screen, settle


@pytest.mark.asyncio
async def test_a_save_keeps_the_results_and_the_marks_follow_the_new_lines(tmp_path, monkeypatch):
    path = tmp_path / "broken.jsonl"
    shutil.copy(DATA / "broken.jsonl", path)
    app = build(path)
    async with app.run_test(size=(130, 40)) as pilot:
        screen = await settle(app, pilot)
        ds = screen.dataset
        ds.delete(0)  # every line below moves up
        ds.move(3, 10)
        await settle(app, pilot)
        calls = []
        real = rules.check_line
        monkeypatch.setattr(rules, "check_line", lambda raw, counter, model: calls.append(raw) or real(raw, counter, model))
        before = screen.report
        ds.save()
        screen = await settle(app, pilot)
        assert screen.report is not before and calls == []
        monkeypatch.setattr(rules, "check_line", real)
        with open_dataset(path) as saved:
            expected = validate(saved)
        assert [f.to_json() for f in screen.report.findings] == [f.to_json() for f in expected.findings]
        for line, text in rows_on_screen(screen).items():
            severities = {f.severity for f in expected.for_line(line)}
            mark = "error" if "error" in severities else "warning" if severities else "ok"
            assert text.split()[1] == MARK[mark], text
