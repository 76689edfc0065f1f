"""The Playground's first slice against an emulator: a streamed reply, Escape stops it, errors
are said in the conversation, and Escape out of the box gives the section keys back."""

from __future__ import annotations

import pytest

from tests.tui.jobs_helpers import app_on, until
from tui.screens.playground import PlaygroundScreen, Turn

pytestmark = pytest.mark.asyncio


async def opened(pilot) -> PlaygroundScreen:
    await pilot.press("3")
    await until(pilot, lambda: isinstance(pilot.app.screen, PlaygroundScreen), "the playground")
    return pilot.app.screen


async def test_a_reply_streams_and_the_conversation_goes_on(emulator, clock):
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        await pilot.press(*"Best time to visit Japan?", "enter")
        await until(pilot, lambda: not screen.replying and len(screen.query(Turn)) == 2, "the first reply")
        await pilot.press(*"And in winter?", "enter")
        await until(pilot, lambda: not screen.replying and len(screen.query(Turn)) == 4, "the second reply")
        assert [m["role"] for m in screen.messages] == ["user", "assistant", "user", "assistant"]
        assert all(turn.text for turn in screen.query(Turn))
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert not screen.messages and not screen.query(Turn)


async def test_escape_stops_a_reply_and_an_unknown_model_is_said_in_the_chat(emulator, clock):
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        emulator.faults.add("POST /v1/chat/completions", "latency", latency=10)  # the server is slow to answer
        await pilot.press(*"Hello?", "enter")
        await until(pilot, lambda: screen.replying, "a reply under way")
        await pilot.press("escape")
        await until(pilot, lambda: not screen.replying, "stopped")
        reply = screen.query(Turn)[-1]
        assert reply.note == "stopped" and reply.text == ""
        emulator.faults.clear()
        model = screen.query_one("#playground-model")
        model.value = "ft:gpt-4o-mini-2024-07-18:nobody:gone:abc123"
        screen.query_one("#playground-prompt").focus()
        await pilot.press(*"Still there?", "enter")
        await until(pilot, lambda: not screen.replying and screen.query(Turn)[-1].has_class("-error"), "the error")
        assert "model" in screen.query(Turn)[-1].note.lower()
        assert screen.messages == []  # neither question was answered: neither is sent again


async def test_escape_out_of_the_box_gives_the_section_keys_back(emulator, clock):
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        await pilot.press("1")
        assert app.screen is screen and screen.query_one("#playground-prompt").value == "1"  # typed, as in any box
        await pilot.press("escape", "1")
        assert app.current_mode == "datasets"
