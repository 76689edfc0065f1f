"""The dataset browser: rows and marks, moving between problems, search, filters, edits, pictures."""

from __future__ import annotations

import shutil
import sys
import types

import pytest
from textual.screen import Screen

from core.dataset import Validator, open_dataset, validate
from core.dataset.lines import scan
from tests.conftest import DATA
from tests.tui.conftest import build
from tui.screens.browser import BrowserScreen
from tui.screens.browser_open import StreamingRows
from tui.screens.browser_search import parse_filter
from tui.widgets.example_list import Layout, Verdicts
from tui.widgets.findings_panel import FindingsPanel

BROKEN = DATA / "broken.jsonl"
TRAVEL = DATA / "travel.jsonl"

# data/README.md, the table of broken.jsonl: lines with no finding of their own, lines with only
# warnings; every other record has an error (line 7 is blank: not a record).
CLEAN_LINES = {1, 2, 5, 22, 25}
WARNING_LINES = {26, 27, 28, 30}
MARK = {"error": "✗", "warning": "!", "ok": "·"}


async def settle(app, pilot) -> BrowserScreen:
    """Wait until the file is open and validated, and every result is on screen."""
    for _ in range(200):
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        if (
            isinstance(screen, BrowserScreen)
            and screen.report is not None
            and not screen._validating
            and not any(w.is_running for w in app.workers)
        ):
            await pilot.pause()
            return screen
    raise AssertionError("the browser never settled")


def rows_on_screen(screen: BrowserScreen) -> dict[int, str]:
    """Line number -> the text of its row, for every row drawn."""
    examples = screen.examples
    found = {}
    for y in range(1, examples.scrollable_content_region.height):
        text = examples.render_line(y).text
        if text.strip():
            found[int(text.split()[0])] = text
    return found


def cursor_line(screen: BrowserScreen) -> int:
    return screen.dataset.lineno(screen.examples.cursor_record)


def detail(screen: BrowserScreen) -> str:
    return str(screen.query_one("#browser-detail").render())


async def press(pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.pause()


@pytest.fixture
def broken_copy(tmp_path):
    path = tmp_path / "broken.jsonl"
    shutil.copy(BROKEN, path)
    return path


# ----------------------------------------------------------------- rows


@pytest.mark.asyncio
async def test_rows_and_marks_match_the_validator():
    app = build(BROKEN)
    async with app.run_test(size=(130, 40)) as pilot:
        screen = await settle(app, pilot)
        rows = rows_on_screen(screen)
        report = validate(open_dataset(BROKEN))
        assert sorted(rows) == [n for n in range(1, 31) if n != 7]
        for line, text in rows.items():
            expected = "ok" if line in CLEAN_LINES else "warning" if line in WARNING_LINES else "error"
            severities = {f.severity for f in report.for_line(line)}
            assert expected == ("error" if "error" in severities else "warning" if severities else "ok"), line
            assert text.split()[1] == MARK[expected], text
        # Token counts are the validator's; roles are read from the example.
        for k, tokens in enumerate(report.columns.tokens):
            line = screen.dataset.lineno(k)
            if tokens and report.columns.kind[k]:
                assert rows[line].rstrip().endswith(f"{tokens:,}"), rows[line]
        assert "S U A U A" in rows[2] and "S U P" in rows[25] and "S U ? U A" in rows[13]
        assert "Is the Eurail pass worth it" in rows[2]
        status = str(screen.query_one("#browser-status").render())
        assert "29 examples" in status and f"{report.valid_examples} valid" in status


@pytest.mark.asyncio
async def test_first_error_then_next_and_previous_problem():
    app = build(BROKEN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await settle(app, pilot)
        assert cursor_line(screen) == 1 and "no problems · first error: line 3 invalid-json (e)" in detail(screen)
        await press(pilot, "e")
        assert cursor_line(screen) == 3 and "invalid-json" in detail(screen)
        await press(pilot, "right_square_bracket")
        assert cursor_line(screen) == 4 and "not-an-object" in detail(screen)
        await press(pilot, "right_square_bracket")
        assert cursor_line(screen) == 6  # line 5 is clean
        await press(pilot, "left_square_bracket", "left_square_bracket")
        assert cursor_line(screen) == 3
        await press(pilot, "end")
        assert cursor_line(screen) == 30 and "duplicate-example" in detail(screen)
        await press(pilot, "right_square_bracket")  # nothing below: stays, says so
        assert cursor_line(screen) == 30
        await press(pilot, "left_square_bracket")
        assert cursor_line(screen) == 29


@pytest.mark.asyncio
async def test_go_to_line():
    app = build(BROKEN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await settle(app, pilot)
        await press(pilot, "g", "2", "2")  # typed into the list's header row; 2 is not "Jobs" here
        assert "go to line: 22" in screen.examples.render_line(0).text and app.screen is screen
        await press(pilot, "enter")
        assert cursor_line(screen) == 22 and 22 in rows_on_screen(screen)
        assert "first user message" in screen.examples.render_line(0).text
        await press(pilot, "g", "7", "enter")  # the blank line: the next example
        assert cursor_line(screen) == 8
        await press(pilot, "g", "escape")
        assert cursor_line(screen) == 8 and app.screen is screen


@pytest.mark.asyncio
async def test_search_counts_matches_and_moves_between_them():
    app = build(BROKEN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await settle(app, pilot)
        await press(pilot, "slash", *"PARIS")
        await settle(app, pilot)
        # The raw lines are a fair oracle here: no JSON key of this file contains "paris".
        expected = [n for n, line in enumerate(BROKEN.read_bytes().split(b"\n"), 1) if b"paris" in line.lower()]
        assert [screen.dataset.lineno(r) for r in screen.search.found] == expected == [4, 14, 19]
        assert "/PARIS: 3 matches" in str(screen.query_one("#browser-status").render())
        await press(pilot, "enter")
        assert cursor_line(screen) == 4
        await press(pilot, "n", "n")
        assert cursor_line(screen) == 19
        await press(pilot, "N")
        assert cursor_line(screen) == 14
        await press(pilot, "escape")  # clears the search
        assert screen.search is None and screen.examples.matches is None


@pytest.mark.asyncio
async def test_filter_by_code_by_severity_and_by_roles():
    app = build(BROKEN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await settle(app, pilot)

        def shown() -> list[int]:
            return [screen.dataset.lineno(r) for r in screen.examples.view]

        await press(pilot, "F", *"unknown-role", "enter")
        assert shown() == [13, 14] and sorted(rows_on_screen(screen)) == [13, 14]
        await press(pilot, "escape")
        assert screen.examples.view is None and screen.examples.count == 29
        await press(pilot, "F", *"warnings", "enter")  # every example with a warning (14 has an error too)
        assert shown() == sorted({f.line for f in screen.report.warnings if f.line}) == [14, 26, 27, 28, 30]
        await press(pilot, "F", *"S U A", "enter")
        await settle(app, pilot)
        single_turn = [n for n in rows_on_screen(screen)]
        assert shown() == single_turn and 1 in single_turn and 2 not in single_turn and 25 not in single_turn
        assert all(" S U A " in rows_on_screen(screen)[n] for n in single_turn)
    assert parse_filter("errors")[0] == "codes" and parse_filter("* T *") == ("roles", "* T *")
    assert isinstance(parse_filter("no such code"), str)


@pytest.mark.asyncio
async def test_findings_are_grouped_by_code_and_lead_to_their_examples():
    app = build(BROKEN)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await settle(app, pilot)
        panel = screen.query_one(FindingsPanel)
        groups = {code: len(items) for code, items in screen.findings.ordered_groups()}
        assert groups == {code: len(items) for code, items in screen.report.by_code().items()}
        assert next(iter(groups)) == "invalid-json"  # errors first, in the order they occur
        panel.focus()
        await press(pilot, "down", "enter")  # the finding under invalid-json
        assert cursor_line(screen) == 3
        target = next(p for p in range(panel.count) if panel._item(p) == ("mixed-formats", 0))
        panel.action_cursor(target - panel.cursor)
        await press(pilot, "enter")  # a whole-file finding: its related line
        assert cursor_line(screen) == 25
        await press(pilot, "up")
        await press(pilot, "enter")  # the mixed-formats header: filter by the code
        assert screen.filter == ("codes", frozenset({"mixed-formats"}))


# ----------------------------------------------------------------- following edits


@pytest.mark.asyncio
async def test_the_list_follows_edits(broken_copy):
    app = build(broken_copy)
    async with app.run_test(size=(130, 40)) as pilot:
        screen = await settle(app, pilot)
        ds = app.documents[broken_copy.resolve()]
        assert ds is screen.dataset
        ds.delete(0)
        await pilot.pause()
        rows = rows_on_screen(screen)
        assert "Is the Eurail pass" in rows[1] and "What's the best time to visit Portugal" not in "".join(rows.values())
        await settle(app, pilot)
        rows = rows_on_screen(screen)
        assert rows[1].split()[1] == "·" and rows[2].split()[1] == "✗"  # marks moved with their rows
        assert "Portugal" not in "".join(rows.values()) and "modified" in str(screen.query_one("#browser-status").render())
        ds.undo()
        await settle(app, pilot)
        rows = rows_on_screen(screen)
        assert "Portugal" in rows[1] and "Eurail" in rows[2] and rows[3].split()[1] == "✗"
        ds.move(0, 5)
        await pilot.pause()
        rows = rows_on_screen(screen)
        assert "Eurail" in rows[1] and "Portugal" in rows[ds.lineno(5)]
        layout = Layout(ds.pieces())
        assert [layout.key(i) for i in range(len(ds))] == [ds.identity(i) for i in range(len(ds))]
        assert all(layout.index(ds.identity(i)) == i for i in range(len(ds)))


@pytest.mark.asyncio
async def test_enter_opens_the_editor_and_the_browser_catches_up(broken_copy, monkeypatch):
    opened = []

    class FakeEditor(Screen):
        """Stands in for tui.screens.editor: fixes the example, then leaves."""

        def __init__(self, dataset, index, *, model):
            super().__init__()
            opened.append((dataset, index, model))
            self.dataset, self.index = dataset, index

        def on_mount(self) -> None:
            fixed = {"messages": [{"role": "system", "content": "You are a helpful travel assistant."}, {"role": "user", "content": "Fixed?"}, {"role": "assistant", "content": "Yes."}]}
            self.dataset.replace(self.index, fixed)
            self.dismiss()

    monkeypatch.setitem(sys.modules, "tui.screens.editor", types.SimpleNamespace(EditorScreen=FakeEditor))
    app = build(broken_copy)
    async with app.run_test(size=(130, 40)) as pilot:
        screen = await settle(app, pilot)
        await press(pilot, "e")
        assert rows_on_screen(screen)[3].split()[1] == "✗"
        await press(pilot, "enter")
        screen = await settle(app, pilot)
        assert opened == [(screen.dataset, 2, screen.model.name)]
        row = rows_on_screen(screen)[3]
        assert row.split()[1] == "·" and "Fixed?" in row
        assert not any(f.code == "invalid-json" for f in screen.report.findings)


# ----------------------------------------------------------------- layout and keys


@pytest.mark.asyncio
async def test_at_80_by_24_the_panels_open_on_demand():
    app = build(BROKEN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await settle(app, pilot)
        panel = screen.query_one(FindingsPanel)
        assert not panel.display and screen.examples.has_focus
        await press(pilot, "f")
        assert panel.display and panel.has_focus and screen.examples.size.height >= 8
        await press(pilot, "f")
        assert not panel.display and screen.examples.has_focus
        await press(pilot, "question_mark")
        help_text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        for words in ("Next problem", "Search the text", "Go to line", "Filter:", "Findings panel", "Stats panel", "This screen (Browser)"):
            assert words in help_text


def scroll_bar(screen: BrowserScreen) -> list[bool]:
    """For each screen row of the list: is the scroll bar's thumb drawn there?"""
    examples = screen.examples
    return [list(examples.render_line(y))[-1].style.reverse is True for y in range(examples.size.height)]


@pytest.fixture
def long_file(tmp_path):
    """300 examples: many pages at 80×24."""
    path = tmp_path / "long.jsonl"
    lines = (TRAVEL.read_bytes().splitlines() * 7)[:300]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.asyncio
async def test_the_scroll_bar_shows_where_the_view_is_and_the_mouse_moves_it(long_file):
    from textual import events

    app = build(long_file)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await settle(app, pilot)
        examples = screen.examples
        height = examples.size.height
        thumb = scroll_bar(screen)
        assert thumb[0] and not thumb[-1] and sum(thumb) == 1  # 300 rows in 20: a one-cell thumb, at the top
        await press(pilot, "end")
        assert scroll_bar(screen)[-1] and sum(scroll_bar(screen)) == 1
        await press(pilot, "home")

        def wheel(kind):
            x, y = examples.region.x + 5, examples.region.y + 5
            examples.post_message(kind(examples, 5, 5, 0, 0, 0, False, False, False, screen_x=x, screen_y=y))

        wheel(events.MouseScrollDown)
        await pilot.pause()
        assert examples.scroll_offset.y > 0 and cursor_line(screen) == 1  # the view moves, the cursor stays
        wheel(events.MouseScrollUp)
        await pilot.pause()
        assert examples.scroll_offset.y == 0

        # A click on the bar, half way down: half way through the file.
        await pilot.click(examples, offset=(examples.size.width - 1, height // 2))
        await pilot.pause()
        middle = cursor_line(screen)
        assert 120 < middle < 180 and middle in rows_on_screen(screen)
        assert thumb.index(True) < scroll_bar(screen).index(True) < height - 1
        # Every row is as wide as the list, its text stopping where the bar starts; the long
        # messages of this file are cut before it.
        bar_width = examples.styles.scrollbar_size_vertical
        for y in range(height):
            segments = list(examples.render_line(y))
            assert segments[-1].text == " " * bar_width, y
            assert sum(segment.cell_length for segment in segments[:-1]) == examples.size.width - bar_width, y
        assert any("…" in examples.render_line(y).text for y in range(1, height))


@pytest.mark.asyncio
async def test_no_scroll_bar_when_every_row_fits():
    app = build(TRAVEL)
    async with app.run_test(size=(120, 60)) as pilot:
        screen = await settle(app, pilot)
        assert len(screen.dataset) + 1 < screen.examples.size.height
        assert not any(scroll_bar(screen))
        assert screen.examples.render_line(1).text.rstrip().endswith(tuple("0123456789"))  # tokens in the last column


# ----------------------------------------------------------------- the pieces underneath


def test_a_row_shows_text_on_one_line_with_controls_made_visible():
    import random

    from tui.widgets import example_list

    assert example_list.one_line("Hi\tthere\r\n\x1b[31mred\x7f  ok ") == "Hi there ␛[31mred␡ ok"
    # The quick path for printable text gives what replacing every control would.
    alphabet = ["a", "B", " ", "  ", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\u00a0", "\u3000", "東", "😀", "é", "\u2028"]
    rng = random.Random(4)
    for _ in range(3000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        expected = " ".join(text[: example_list.TEXT_LIMIT].translate(example_list._CONTROLS).split())
        assert example_list.one_line(text) == expected, repr(text)
    long = "word " * 200
    assert len(example_list.one_line(long)) < example_list.TEXT_LIMIT


def test_ranges_checked_so_far_give_the_same_marks_as_the_report():
    ds = open_dataset(BROKEN)
    verdicts = Verdicts()
    report = Validator(ds).run(workers=1, on_chunk=lambda source, lo, columns: verdicts.add_chunk(id(source), lo, columns))
    final = Verdicts()
    flagged = {k: "error" if any(f.severity == "error" for f in report.for_line(ds.lineno(k))) else "warning" for k in report.columns.problems}
    final.finish(Layout(ds.pieces()), report.columns, flagged)
    for i in range(len(ds)):
        partial, done = verdicts.at(ds.identity(i)), final.at(ds.identity(i))
        assert partial == done or ds.lineno(i) == 30, ds.lineno(i)  # the duplicate is a whole-file rule
    assert verdicts.at(("line", b"{}")) == (None, None)  # never checked


def test_rows_can_be_read_while_the_index_streams_in():
    ds = open_dataset(TRAVEL)
    with open(TRAVEL, "rb") as f:
        index = scan(f.read())
    rows = StreamingRows(TRAVEL, index)
    rows.count = len(index) - 1  # the last record's end is not known while streaming
    try:
        assert [rows[i] for i in range(rows.count)] == [ds[i] for i in range(rows.count)]
        assert rows.record_at_line(12) == ds.record_at_line(12)
    finally:
        rows.close()


# ----------------------------------------------------------------- pictures


async def settled(pilot) -> None:
    await settle(pilot.app, pilot)


def test_snapshot_clean_file(snap_compare):
    assert snap_compare(build(TRAVEL), terminal_size=(120, 32), run_before=settled)


def test_snapshot_broken_file_with_findings(snap_compare):
    assert snap_compare(build(BROKEN), terminal_size=(120, 32), run_before=settled, press=["e"])


def test_snapshot_80x24(snap_compare):
    assert snap_compare(build(BROKEN), terminal_size=(80, 24), run_before=settled)


def test_snapshot_80x24_findings_open(snap_compare):
    assert snap_compare(build(BROKEN), terminal_size=(80, 24), run_before=settled, press=["e", "f"])
