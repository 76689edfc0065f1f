"""Pictures of the Playground: a reply mid-stream and two models side by side.

The chat stream is a fake here (STYLE.md: a fake stream injected into the screen), so the
pictures do not depend on timing; the behaviour itself is tested against the emulator in
test_playground.py. Each picture was looked at (rendered to text and PNG) before it was accepted.
"""

from __future__ import annotations

import asyncio

from core.service.chat import Delta, Done, Usage
from tests.tui.jobs_helpers import app_on, no_blink, until
from tui.screens.playground import PlaygroundScreen

TUNED = "ft:gpt-4o-mini-2024-07-18:acme:trips:AbC123"
REPLIES = {
    "gpt-4o-mini-2024-07-18": "Kyoto is lovely in **autumn**: the maples turn red in November.\n\n- Go early to Tofuku-ji\n- Book a ryokan ahead",
    TUNED: "Late March to early April for the cherry blossoms, or **mid-November** for the autumn leaves.",
}


def fake_stream(stop_after: int | None = None):
    """A chat stream that sends each model's reply in pieces; with `stop_after`, it then waits
    forever (a reply caught mid-stream)."""

    async def stream(conn, model, messages, **params):
        pieces = REPLIES[model].split(" ")
        for n, piece in enumerate(pieces):
            if stop_after is not None and n == stop_after:
                await asyncio.Event().wait()
            yield Delta(piece if n == len(pieces) - 1 else piece + " ")
        yield Done("stop", Usage(31, len(pieces)))

    return stream


async def asked(pilot, models: list[str], stream, question: str = "When should I visit Kyoto?") -> PlaygroundScreen:
    await pilot.press("3")
    await until(pilot, lambda: isinstance(pilot.app.screen, PlaygroundScreen), "the playground")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.settings.system, "the system prompt")
    screen.models = models
    await screen.action_clear()
    screen.stream = stream
    no_blink(screen)
    await pilot.press(*question, "enter")
    return screen


def test_snapshot_a_reply_mid_stream(snap_compare, emulator, clock):
    async def run_before(pilot) -> None:
        screen = await asked(pilot, ["gpt-4o-mini-2024-07-18"], fake_stream(stop_after=9))
        await until(pilot, lambda: screen.lanes[0].query("Turn")[-1].text.count(" ") >= 9, "nine words")
        await pilot.pause()

    assert snap_compare(app_on(emulator, clock), run_before=run_before, terminal_size=(80, 24))


def test_snapshot_two_models_side_by_side(snap_compare, emulator, clock):
    async def run_before(pilot) -> None:
        screen = await asked(pilot, ["gpt-4o-mini-2024-07-18", TUNED], fake_stream())
        await until(pilot, lambda: not screen.replying, "both replies")
        await pilot.pause()

    assert snap_compare(app_on(emulator, clock), run_before=run_before, terminal_size=(100, 30))
