"""The example editor: fix a line and save it alone, undo/redo, messages, JSON errors, leaving safely.

Flows that involve the rest of TuneDeck (saving from the app, the quit prompt, the registry of open
files, the snapshot) run in the real app; the others host the editor alone, which starts faster.
"""

from __future__ import annotations

import shutil

import orjson
import pytest
from textual._xterm_parser import XTermParser
from textual.app import App

from core.clock import ManualClock
from core.dataset import journal, open_dataset
from core.dataset.base_models import lookup
from core.dataset.rules import check_line
from core.dataset.tokens import Counter
from tests.conftest import DATA
from tests.tui.conftest import build
from tui.screens.editor import ChangedOnDiskScreen, EditorScreen, Field, FindingsLine, MessageCard, NewExampleScreen, UnparsedScreen
from tui.screens.quit import QuitScreen
from tui.screens.recovery import RecoveryScreen, journaled, offer_recovery, start_journal


@pytest.fixture
def sample(tmp_path):
    """`sample(name)`: a copy of data/NAME in its own folder (the app opens on the folder)."""

    def copy(name: str):
        folder = tmp_path / "datasets"
        folder.mkdir(exist_ok=True)
        return shutil.copy(DATA / name, folder / name)

    return copy


async def settle(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def open_editor(app, pilot, path, index: int) -> EditorScreen:
    await settle(app, pilot)
    screen = EditorScreen(app.document(path), index)
    await app.push_screen(screen)
    await settle(app, pilot)
    return screen


async def from_terminal(app, pilot, data: str) -> None:
    """Keys as a real terminal sends them, through Textual's own parser.

    `pilot.press("alt+r")` sends no character, but a terminal's ESC r arrives as alt+r *with* the
    character "r", which a focused text box would type unless the binding has priority.
    """
    parser = XTermParser()
    for event in [*parser.feed(data), *parser.feed("")]:
        app._driver.send_message(event)
        await pilot.pause()


def index_of(ds, needle: bytes) -> int:
    return next(i for i in range(len(ds)) if needle in ds.raw(i))


ARRAY_LINE = b'[{"role": "user"'  # in broken.jsonl: a JSON array, not an object; only the raw view shows it


class Host(App):
    """The editor alone, on a document the test opens (`needle`: edit the first record holding it)."""

    def __init__(self, path, index: int = 0, *, needle: bytes | None = None) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.animation_level = "none"
        self.ds = open_dataset(path)
        self.editor = EditorScreen(self.ds, index_of(self.ds, needle) if needle else index)

    def on_mount(self) -> None:
        self.push_screen(self.editor)


def messages(ds, i: int) -> list[dict]:
    return ds[i]["messages"]


def box(screen: EditorScreen, kind: str, *where) -> Field:
    """A box of a chat example: box(screen, "content", 2), box(screen, "args", 2, 0), box(screen, "raw")."""
    key = (kind,) if kind == "raw" else (kind, ("messages",), *where) if where else (kind, (kind,))
    found = screen.field(*key)
    assert found is not None, key
    return found


@pytest.mark.asyncio
async def test_fix_an_unknown_role_and_save_changes_that_line_only(sample):
    path = sample("broken.jsonl")
    original = path.read_bytes()
    app = build(path.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        ds = app.document(path)
        i = index_of(ds, b'"role": "bot"')
        screen = await open_editor(app, pilot, path, i)
        card = screen.card(2)
        assert card.has_class("-error")
        assert "unknown-role" in str(card.query_one(FindingsLine).render())
        assert app.focused is box(screen, "content", 2)  # the editor opens on the first error

        await from_terminal(app, pilot, "\x1br")  # alt+r: the role chooser, not an "r" typed
        await pilot.press("a")  # role: assistant
        await settle(app, pilot)
        assert not screen.card(2).has_class("-error")
        assert ds.dirty and messages(ds, i)[2]["role"] == "assistant"

        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert not ds.dirty

    lineno = original[: original.index(b'"role": "bot"')].count(b"\n")
    old, new = original.split(b"\n"), path.read_bytes().split(b"\n")
    assert len(old) == len(new)
    assert [k for k in range(len(old)) if old[k] != new[k]] == [lineno]
    fixed = check_line(new[lineno], Counter("o200k_base"), lookup(None))
    assert not any(code == "unknown-role" for code, *_ in fixed.problems or [])
    assert orjson.loads(new[lineno])["messages"][2]["content"] == orjson.loads(old[lineno])["messages"][2]["content"]


@pytest.mark.asyncio
async def test_typing_is_one_undo_step_and_undo_redo_cover_every_edit(sample):
    path = sample("travel.jsonl")
    app = Host(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ds, screen = app.ds, app.editor
        before = messages(ds, 0)[0]["content"]
        await pilot.press("H", "i")
        assert messages(ds, 0)[0]["content"] == "Hi" + before
        assert ds.edits == 1  # two keys, one undoable edit

        box(screen, "content", 2).focus()
        await pilot.press("alt+w")  # assistant weight 1 -> 0
        await settle(app, pilot)
        assert messages(ds, 0)[2]["weight"] == 0

        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert "weight" not in messages(ds, 0)[2]
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert not ds.dirty
        assert box(screen, "content", 0).text == before

        await pilot.press("ctrl+y", "ctrl+y")
        await settle(app, pilot)
        assert messages(ds, 0)[0]["content"] == "Hi" + before
        assert messages(ds, 0)[2]["weight"] == 0
        assert box(screen, "content", 0).text == "Hi" + before


@pytest.mark.asyncio
async def test_add_reorder_and_delete_messages(sample):
    path = sample("travel.jsonl")
    app = Host(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ds, screen = app.ds, app.editor
        original = messages(ds, 0)
        box(screen, "content", 1).focus()  # the user's message

        await pilot.press("alt+n")  # after a user message comes the assistant
        await settle(app, pilot)
        assert app.focused is box(screen, "content", 2)
        await pilot.press("D")
        assert messages(ds, 0)[2] == {"role": "assistant", "content": "D"}
        assert len(screen.query(MessageCard)) == 4

        await pilot.press("alt+up")
        await settle(app, pilot)
        assert [m["content"] for m in messages(ds, 0)][1] == "D"
        assert app.focused is box(screen, "content", 1)

        await pilot.press("alt+d")
        await settle(app, pilot)
        assert messages(ds, 0) == original
        assert len(screen.query(MessageCard)) == 3

        for _ in range(4):  # delete, move, typing, add
            await pilot.press("ctrl+z")
            await settle(app, pilot)
        assert not ds.dirty


@pytest.mark.asyncio
async def test_bad_tool_arguments_show_a_json_syntax_error_at_once(sample):
    path = sample("tools.jsonl")
    app = Host(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ds, screen = app.ds, app.editor
        args = box(screen, "args", 2, 0)
        good = args.text
        args.focus()
        await pilot.press("x")
        await settle(app, pilot)
        error = args.parent.query_one(".json-error")
        assert error.display and "line 1, column 1" in str(error.render())
        card = screen.card(2)
        assert "tool-arguments-invalid-json" in str(card.query_one(FindingsLine).render())
        # Arguments are a string: what was typed is in the document, flagged, not held back.
        assert messages(ds, 0)[2]["tool_calls"][0]["function"]["arguments"] == "x" + good

        await pilot.press("backspace")
        await settle(app, pilot)
        assert not error.display and not card.has_class("-error")
        assert not ds.dirty


@pytest.mark.asyncio
async def test_bad_tools_json_is_held_back_and_leaving_asks(sample):
    path = sample("tools.jsonl")
    app = Host(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ds, screen = app.ds, app.editor
        tools = box(screen, "tools")
        tools.focus()
        await pilot.press("x")
        await settle(app, pilot)
        assert tools.parent.query_one(".json-error").display
        assert not ds.dirty  # JSON that does not parse cannot go into the document
        await pilot.press("alt+n")  # would redraw the example: refused while that text is pending
        assert len(screen.query(MessageCard)) == 5 and tools.text.startswith("x")

        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, UnparsedScreen)
        await pilot.press("escape")  # keep editing
        await settle(app, pilot)
        assert app.screen is screen and app.focused is tools

        await pilot.press("backspace", "escape")
        await settle(app, pilot)
        assert app.screen is not screen  # nothing pending: leaves at once


@pytest.mark.asyncio
async def test_leaving_with_changes_keeps_them_in_the_document(sample):
    path = sample("travel.jsonl")
    original = path.read_bytes()
    app = build(path.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        ds = app.document(path)
        screen = await open_editor(app, pilot, path, 0)
        await pilot.press("1", "question_mark")  # typed: the app's keys 1 and ? do not fire in a text box
        assert app.screen is screen
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is not screen
        assert ds.dirty and messages(ds, 0)[0]["content"].startswith("1?")
        assert path.read_bytes() == original

        await pilot.press("ctrl+q")  # the app knows there is something to save
        await settle(app, pilot)
        assert isinstance(app.screen, QuitScreen)


@pytest.mark.asyncio
async def test_the_raw_view_turns_an_invalid_line_into_an_example(sample):
    path = sample("broken.jsonl")
    app = Host(path, needle=ARRAY_LINE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ds, screen = app.ds, app.editor
        i = screen.index
        raw = box(screen, "raw")
        assert app.focused is raw and not screen.query(MessageCard)

        await pilot.press("x", "escape")  # invalid and leaving: asked, then kept as it is typed
        await settle(app, pilot)
        assert isinstance(app.screen, UnparsedScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("backspace")

        raw.insert('{"messages": ', (0, 0))  # as a paste would
        raw.move_cursor(raw.document.end)
        await pilot.press("}")
        await settle(app, pilot)
        assert [m["role"] for m in messages(ds, i)] == ["user", "assistant"]

        await pilot.press("f2")  # now the cards can show it
        await settle(app, pilot)
        assert len(screen.query(MessageCard)) == 2

        await pilot.press("ctrl+s")
        await settle(app, pilot)
    assert path.read_bytes().split(b"\n")[i].startswith(b'{"messages":[{"role":"user"')


@pytest.mark.asyncio
async def test_raw_json_that_is_no_longer_an_object_is_not_dropped_silently(sample):
    path = sample("travel.jsonl")
    app = Host(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ds, screen = app.ds, app.editor
        await pilot.press("f2")
        raw = box(screen, "raw")
        raw.load_text(f"[{raw.text}]")  # valid JSON, but an array: it cannot be the example
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, UnparsedScreen)
        assert not ds.dirty


@pytest.mark.asyncio
async def test_an_invalid_raw_line_can_be_kept_as_typed(sample):
    path = sample("broken.jsonl")
    app = Host(path, needle=ARRAY_LINE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ds, screen = app.ds, app.editor
        i = screen.index
        before = ds.raw(i)
        await pilot.press("x", "escape")
        await settle(app, pilot)
        await pilot.press("k")
        await settle(app, pilot)
        assert not isinstance(app.screen, (UnparsedScreen, EditorScreen))
        assert ds.raw(i) == b"x" + before and ds.dirty


@pytest.mark.asyncio
async def test_example_level_new_copy_move_delete_and_undo(sample):
    path = sample("travel.jsonl")
    app = Host(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ds, screen = app.ds, app.editor
        n, first = len(ds), ds.raw(0)

        await pilot.press("ctrl+n")
        await settle(app, pilot)
        assert isinstance(app.screen, NewExampleScreen)
        await pilot.press("e")  # empty template, after this one
        await settle(app, pilot)
        assert len(ds) == n + 1 and screen.index == 1
        template = messages(ds, 1)
        assert [m["role"] for m in template] == ["system", "user", "assistant"]
        assert template[0]["content"] == messages(ds, 0)[0]["content"]  # the shared system prompt

        await pilot.press("ctrl+n", "c")  # a copy of it
        await settle(app, pilot)
        assert screen.index == 2 and ds.raw(2) == ds.raw(1)

        await pilot.press("ctrl+up")
        await settle(app, pilot)
        assert screen.index == 1
        await pilot.press("f8")
        await settle(app, pilot)
        assert len(ds) == n + 1

        for _ in range(4):
            await pilot.press("ctrl+z")
            await settle(app, pilot)
        assert not ds.dirty and len(ds) == n and ds.raw(0) == first
        assert screen.index == 0


@pytest.mark.asyncio
async def test_changed_on_disk_offers_save_elsewhere_or_cancel(sample):
    path = sample("travel.jsonl")
    app = build(path.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        ds = app.document(path)
        start_journal(ds)
        await open_editor(app, pilot, path, 0)
        await pilot.press("M")
        assert journal.journal_path(path).exists()
        theirs = path.read_bytes() + b'{"messages": [{"role": "user", "content": "theirs"}]}\n'
        path.write_bytes(theirs)

        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, ChangedOnDiskScreen)
        await pilot.press("escape")  # cancel: nothing written, nothing lost
        await settle(app, pilot)
        assert ds.dirty and path.read_bytes() == theirs

        await pilot.press("ctrl+s")
        await settle(app, pilot)
        await pilot.press("enter")  # save elsewhere, to the suggested travel.edited.jsonl
        await settle(app, pilot)
        target = path.with_name("travel.edited.jsonl")
        assert not ds.dirty and ds.path == target
        assert path.read_bytes() == theirs
        assert orjson.loads(target.read_bytes().split(b"\n")[0])["messages"][0]["content"].startswith("M")
        assert app.documents[target.resolve()] is ds and path.resolve() not in app.documents
        assert not journal.journal_path(path).exists()  # those edits are saved (elsewhere) now


@pytest.mark.asyncio
async def test_changed_on_disk_reload_asks_twice_then_reads_the_file_again(sample):
    path = sample("travel.jsonl")
    app = Host(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ds, screen = app.ds, app.editor
        journal.attach(ds)
        await pilot.press("M")
        path.write_bytes(b'{"messages": [{"role": "user", "content": "theirs"}]}\n')
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert isinstance(app.screen, ChangedOnDiskScreen)  # the first press only warns
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert app.screen is screen
        assert not ds.dirty and len(ds) == 1 and messages(ds, 0)[0]["content"] == "theirs"
        assert box(screen, "content", 0).text == "theirs"
        assert journaled(ds) and not journal.journal_path(path).exists()


@pytest.mark.asyncio
async def test_recovery_offers_back_the_edits_of_a_crashed_session(sample):
    path = sample("travel.jsonl")
    crashed = open_dataset(path)
    journal.attach(crashed)
    crashed.delete(0)  # journaled, never saved
    app = App()
    async with app.run_test(size=(80, 24)) as pilot:
        ds = open_dataset(path)
        answers: list[str] = []
        assert offer_recovery(app, ds, answers.append)
        await settle(app, pilot)
        assert isinstance(app.screen, RecoveryScreen)
        await pilot.press("r")
        await settle(app, pilot)
        assert answers == ["restored"]
        assert len(ds) == len(crashed) and ds.dirty and journaled(ds)
        assert not offer_recovery(app, ds)  # once per document


@pytest.mark.asyncio
async def test_recovery_discard_and_nothing_to_recover(sample):
    path = sample("travel.jsonl")
    crashed = open_dataset(path)
    journal.attach(crashed)
    crashed.delete(0)
    app = App()
    async with app.run_test(size=(80, 24)) as pilot:
        ds = open_dataset(path)
        answers: list[str] = []
        offer_recovery(app, ds, answers.append)
        await settle(app, pilot)
        await pilot.press("d")
        await settle(app, pilot)
        assert answers == ["discarded"] and not ds.dirty
        assert not journal.journal_path(path).exists() and journaled(ds)

        other = open_dataset(sample("tools.jsonl"))
        heard: list = []
        other.listen(heard.append)  # someone listens already (the browser does): kept
        assert not offer_recovery(app, other, answers.append)  # no journal: journaling starts at once
        assert answers[-1] == "none" and journaled(other)
        other.delete(0)
        assert heard == [other] and journal.journal_path(other.path).exists()


def test_snapshot_editor_on_a_tool_calling_example(snap_compare, tmp_path):
    folder = tmp_path / "datasets"
    folder.mkdir()
    path = shutil.copy(DATA / "tools.jsonl", folder / "tools.jsonl")
    app = build(folder)

    async def run_before(pilot) -> None:
        await settle(app, pilot)
        await app.push_screen(EditorScreen(app.document(path), 0))
        await settle(app, pilot)
        for area in app.screen.query(Field):
            area.cursor_blink = False
        box(app.screen, "args", 2, 0).focus()
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
