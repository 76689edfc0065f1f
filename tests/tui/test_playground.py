"""The Playground against an emulator: replies stream into Markdown, Escape stops them and gives
the message back, two models answer side by side, a dataset example is replayed next to its gold
answer (the tuned model gives it, its base does not), and a conversation is saved as an example."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from core.service import jobs
from core.service.client import connect
from tests.tui.jobs_helpers import TRAVEL, app_on, profile_of, start_job, until, write
from tui.screens.chat_models import ModelsScreen
from tui.screens.chat_save import SaveExampleScreen
from tui.screens.chat_settings import SettingsScreen
from tui.screens.playground import PlaygroundScreen
from tui.widgets.chat import Lane, Turn

pytestmark = pytest.mark.asyncio


async def opened(pilot) -> PlaygroundScreen:
    await pilot.press("3")
    await until(pilot, lambda: isinstance(pilot.app.screen, PlaygroundScreen), "the playground")
    return pilot.app.screen


def replies(lane: Lane) -> list[Turn]:
    return [turn for turn in lane.query(Turn) if turn.role == "assistant"]


async def tuned_model(emulator, clock, train) -> str:
    job = await start_job(emulator, clock, train, suffix="trips", epochs=3)
    clock.advance(3600)
    async with connect(profile_of(emulator).profile) as conn:
        done = await jobs.retrieve(conn, job.id)
    assert done.status == "succeeded", done.status
    return done.fine_tuned_model


async def test_a_reply_streams_into_markdown_and_the_conversation_goes_on(emulator, clock):
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        (lane,) = screen.lanes
        await pilot.press(*"Best time to visit Japan?", "enter")
        await until(pilot, lambda: not screen.replying and len(replies(lane)) == 1, "the first reply")
        await pilot.press(*"And in winter?", "enter")
        await until(pilot, lambda: not screen.replying and len(replies(lane)) == 2, "the second reply")
        assert [m["role"] for m in lane.messages] == ["user", "assistant", "user", "assistant"]
        first = replies(lane)[0]
        assert first.text and "tokens" in first.note and "tokens" in lane.figures
        shown = first.query_one("Markdown").source
        assert shown == first.text == lane.messages[1]["content"]
        await pilot.press("ctrl+l")
        await until(pilot, lambda: not screen.lanes[0].messages and not screen.query(Turn), "a new chat")


async def test_the_system_prompt_comes_from_the_dataset_and_settings_are_checked(emulator, clock):
    app = app_on(emulator, clock)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await until(pilot, lambda: screen.settings.system, "the system prompt taken from travel.jsonl")
        assert screen.settings.system == "You are a helpful travel assistant."  # what every travel example says
        assert "You are a helpful travel assistant." in str(screen.query_one("#playground-setup").render())
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings")
        app.screen.query_one("#settings-temperature").value = "7"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SettingsScreen)  # refused, and said why
        assert "outside 0 to 2" in str(app.screen.query_one("#settings-problem").render())
        app.screen.query_one("#settings-temperature").value = "0.2"
        app.screen.query_one("#settings-max-tokens").value = "300"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, "back in the playground")
        assert screen.settings.params() == {"temperature": 0.2, "max_tokens": 300}
        assert "temperature 0.2, max_tokens 300" in str(screen.query_one("#playground-setup").render())


async def test_escape_stops_the_replies_and_gives_the_message_back(emulator, clock):
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        emulator.faults.add("POST /v1/chat/completions", "latency", latency=10)  # the server is slow to answer
        await pilot.press(*"Hello?", "enter")
        await until(pilot, lambda: screen.replying, "a reply under way")
        assert screen.query_one("#playground-prompt").value == ""
        await pilot.press("escape")
        await until(pilot, lambda: not screen.replying, "stopped")
        (lane,) = screen.lanes
        assert replies(lane)[-1].note == "stopped" and replies(lane)[-1].text == ""
        assert lane.messages == []  # nothing came: the question is not part of the conversation
        assert screen.query_one("#playground-prompt").value == "Hello?"  # …and is back in the box


async def test_an_unknown_model_is_said_in_its_lane(emulator, clock):
    app = app_on(emulator, clock)
    app.playground_model = "ft:gpt-4o-mini-2024-07-18:nobody:gone:abc123"
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        await pilot.press(*"Still there?", "enter")
        (lane,) = screen.lanes
        await until(pilot, lambda: not screen.replying and replies(lane) and replies(lane)[-1].has_class("-error"), "the error")
        assert "model" in replies(lane)[-1].note.lower()
        assert lane.messages == []  # not answered: not sent again with the next message


async def test_two_models_answer_side_by_side_at_once(emulator, clock, tmp_path):
    tuned = await tuned_model(emulator, clock, write(tmp_path, "trips.jsonl", TRAVEL[:20]))
    app = app_on(emulator, clock)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ModelsScreen), "the model picker")
        picker = app.screen
        # The tuned model is offered first, with the job it came from.
        await until(pilot, lambda: picker.query_one("#offers").option_count, "the server's models")
        first = picker.query_one("#offers").get_option_at_index(0)
        assert first.id == tuned and "from ftjob-" in str(first.prompt)
        await pilot.press("tab")  # to box B
        picker.query_one("#slot-1").value = tuned
        await pilot.press("enter")
        await until(pilot, lambda: len(screen.lanes) == 2, "two lanes")
        base, ours = screen.lanes
        assert (base.model, ours.model) == ("gpt-4o-mini-2024-07-18", tuned)
        # Each answer takes 2 s: one after the other they would take 4 s.
        emulator.faults.add("POST /v1/chat/completions", "latency", latency=2.0, count=2)
        question = orjson.loads(TRAVEL[3])["messages"][1]["content"]
        screen.query_one("#playground-prompt").value = question
        started = time.monotonic()
        await pilot.press("enter")
        await until(pilot, lambda: not screen.replying, "both answered")
        assert time.monotonic() - started < 3.6  # they were asked at once
        trained = orjson.loads(TRAVEL[3])["messages"][2]["content"]
        assert replies(ours)[0].text == trained  # the emulator's tuned model gives its training answer
        assert replies(base)[0].text != trained
        assert "tokens" in base.figures and "tokens" in ours.figures
        assert [m["role"] for m in base.messages] == [m["role"] for m in ours.messages] == ["user", "assistant"]


async def test_replay_puts_base_and_tuned_next_to_the_gold_answer(emulator, clock, tmp_path):
    train = write(tmp_path, "trips.jsonl", TRAVEL[:20])
    tuned = await tuned_model(emulator, clock, train)
    app = app_on(emulator, clock, train)
    app.playground_model = tuned
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: app.screen.query("#replay-line"), "the replay question")
        assert app.screen.query_one("#replay-path").value == str(train)
        await pilot.press(*"7", "enter")
        await until(pilot, lambda: len(screen.query(Lane)) == 3 and not screen.replying and all(replies(lane) for lane in screen.lanes), "the replay")
        base, ours = screen.lanes
        gold = [lane for lane in screen.query(Lane) if lane.gold][0]
        expected = orjson.loads(TRAVEL[6])["messages"][-1]["content"]
        assert base.model == "gpt-4o-mini-2024-07-18" and ours.model == tuned
        assert gold.query_one(Turn).text == expected and "line 7" in gold.model
        assert replies(ours)[0].text == expected and replies(base)[0].text != expected
        # The example's own prompt was sent, its system prompt included, and is shown.
        assert [t.role for t in ours.query(Turn)] == ["system", "user", "assistant"]


async def test_a_conversation_is_saved_as_an_example_after_editing_the_reply(emulator, clock, tmp_path):
    data = write(tmp_path, "trips.jsonl", TRAVEL[:12])
    before = data.read_bytes()
    app = app_on(emulator, clock, data)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await until(pilot, lambda: screen.settings.system, "the system prompt")
        await pilot.press(*"Is Porto worth a day trip?", "enter")
        await until(pilot, lambda: not screen.replying and replies(screen.lanes[0]), "the reply")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SaveExampleScreen), "the save dialog")
        dialog = app.screen
        assert dialog.query_one("#save-path").value == str(data)
        dialog.query_one("#save-reply").text = ""
        await pilot.pause()
        assert "empty" in str(dialog.query_one("#save-problems").render())  # checked with the dataset rules
        dialog.query_one("#save-reply").text = "Yes: Porto is 3 hours from Lisbon by train; go early."
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen and data.read_bytes() != before, "the example saved")
    saved = data.read_bytes()
    assert saved.startswith(before)  # every line there before is kept byte for byte
    added = orjson.loads(saved[len(before):])
    assert added == {"messages": [
        {"role": "system", "content": "You are a helpful travel assistant."},
        {"role": "user", "content": "Is Porto worth a day trip?"},
        {"role": "assistant", "content": "Yes: Porto is 3 hours from Lisbon by train; go early."},
    ]}  # fmt: skip


async def test_escape_out_of_the_box_gives_the_section_keys_back(emulator, clock):
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        await pilot.press("1")
        assert app.screen is screen and screen.query_one("#playground-prompt").value == "1"  # typed, as in any box
        await pilot.press("escape", "1")
        assert app.current_mode == "datasets"


async def test_on_azure_the_playground_says_a_tuned_model_answers_through_its_deployment(tmp_path):
    from pydantic import SecretStr

    from core.service.profiles import Active, Profile
    from tests.tui.conftest import build

    azure = Profile(kind="azure", name="work", azure_endpoint="https://example.openai.azure.com", api_version="2024-10-21", api_key=SecretStr("k"))
    app = build(tmp_path, active=Active(azure, "test"))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        note = str(screen.query_one("#playground-note").render())
        assert "Azure" in note and "deployment" in note


async def test_r_in_the_browser_replays_the_highlighted_example(emulator, clock, tmp_path):
    from tui.screens.browser import BrowserScreen

    train = write(tmp_path, "trips.jsonl", TRAVEL[:20])
    tuned = await tuned_model(emulator, clock, train)
    app = app_on(emulator, clock, train)
    app.playground_model = tuned
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.examples.cursor_record is not None, "the browser")
        await pilot.press("down", "down", "r")
        await until(pilot, lambda: isinstance(app.screen, PlaygroundScreen) and not app.screen.replying and len(app.screen.query(Lane)) == 3, "the replay")
        gold = [lane for lane in app.screen.query(Lane) if lane.gold][0]
        assert "line 3" in gold.model and gold.query_one(Turn).text == orjson.loads(TRAVEL[2])["messages"][-1]["content"]


async def test_the_view_follows_a_long_reply_only_while_the_user_is_at_the_bottom(emulator, clock):
    from core.service.chat import Delta, Done

    more = asyncio.Event()

    async def long_reply(conn, model, messages, **params):
        for n in range(40):
            yield Delta(f"Line {n} of the plan.\n\n")
        await more.wait()
        for n in range(40, 60):
            yield Delta(f"Line {n} of the plan.\n\n")
        yield Done("stop", None)

    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        screen.stream = long_reply
        await pilot.press(*"Plan my trip", "enter")
        (lane,) = screen.lanes
        transcript = lane.transcript
        await until(pilot, lambda: "Line 39" in replies(lane)[0].text, "the first part")
        await pilot.pause(0.1)
        assert transcript.max_scroll_y > 0 and transcript.scroll_y == transcript.max_scroll_y  # following
        transcript.scroll_to(y=0, animate=False)  # the user goes up to read the start
        await pilot.pause(0.1)
        more.set()
        await until(pilot, lambda: not screen.replying, "the rest")
        await pilot.pause(0.1)
        assert transcript.scroll_y == 0  # left where the user is reading
        transcript.scroll_end(animate=False)  # back at the bottom: following again
        await pilot.pause(0.1)
        await pilot.press(*"Thanks", "enter")
        await until(pilot, lambda: not screen.replying and len(replies(lane)) == 2, "the second reply")
        await pilot.pause(0.1)
        assert transcript.scroll_y == transcript.max_scroll_y


async def test_a_failed_second_message_goes_back_into_the_box(emulator, clock):
    app = app_on(emulator, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        (lane,) = screen.lanes
        await pilot.press(*"Hello", "enter")
        await until(pilot, lambda: not screen.replying and len(replies(lane)) == 1, "the first reply")
        emulator.faults.add("POST /v1/chat/completions", "500", count=10)  # more than the SDK's retries
        await pilot.press(*"And then?", "enter")
        await until(pilot, lambda: not screen.replying and replies(lane)[-1].has_class("-error"), "the failure", tries=1000)
        assert screen.query_one("#playground-prompt").value == "And then?"
        assert [m["role"] for m in lane.messages] == ["user", "assistant"]  # the failed question is not kept


async def test_a_replay_survives_a_visit_to_the_settings(emulator, clock, tmp_path):
    train = write(tmp_path, "trips.jsonl", TRAVEL[:12])
    app = app_on(emulator, clock, train)
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        await app.replay_in_playground(train, 2, ["gpt-4.1-nano-2025-04-14"])
        screen = app.screen
        await until(pilot, lambda: not screen.replying and len(screen.query(Lane)) == 2, "the replay")
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "back")
        await pilot.pause(0.1)
        assert len(screen.query(Lane)) == 2 and any(lane.gold for lane in screen.query(Lane))


async def test_an_example_that_cannot_be_saved_leaves_the_dataset_as_it_was(emulator, clock, tmp_path):
    from core.dataset import ChangedOnDisk

    data = write(tmp_path, "trips.jsonl", TRAVEL[:12])
    app = app_on(emulator, clock, data)
    async with app.run_test(size=(80, 24)):
        ds = app.document(data)
        data.write_bytes(b"".join(TRAVEL[:11]))  # changed by someone else meanwhile
        example = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}
        with pytest.raises(ChangedOnDisk):
            app.add_example(data, example)
        assert len(ds) == 12 and not ds.dirty  # a second try would not add it twice
