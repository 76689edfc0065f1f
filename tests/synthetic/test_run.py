"""generate() and regenerate() against the emulator: progress, tokens, the malformed fault, a server without structured outputs, errors."""

import asyncio

import orjson
import pytest

from core.dataset import open_dataset
from core.service.client import Connection, make_client
from core.service.errors import NotFound, ServerError
from core.service.profiles import Profile
from core.synthetic.brief import RESPONSE_FORMAT, Brief
from core.synthetic.prices import cost, inference_price
from core.synthetic.review import Judge, file_records
from core.synthetic.run import GIVE_UP_AFTER, Progress, generate, regenerate
from tests.conftest import DATA
from tests.synthetic.conftest import GENERATOR, chat_bodies, chat_statuses

BRIEF = Brief(task="a travel assistant that plans short city trips", system="You are TripPal, a concise travel planner.",
              topics=("visas", "packing", "museums"))  # fmt: skip


@pytest.mark.asyncio
async def test_a_run_reaches_n_ok_examples_reporting_progress_and_tokens(conn, emulator):
    judge = Judge()
    seen: list[tuple[int, Progress]] = []
    after_request: list[Progress] = []
    candidates = await generate(conn, BRIEF, 12, model=GENERATOR, judge=judge,
                                on_candidate=lambda c, p: seen.append((c.number, p)), on_progress=after_request.append)  # fmt: skip
    progress = candidates.progress
    assert progress.ok == 12 == sum(c.ok for c in candidates) and progress.wanted == 12
    assert progress.received == len(candidates) == len(seen) and [n for n, _ in seen] == [c.number for c in candidates]
    assert [c.number for c in candidates] == list(range(1, len(candidates) + 1))
    assert [p.received for _, p in seen] == list(range(1, len(candidates) + 1))  # one callback per candidate, in order
    assert progress.duplicates + progress.invalid + progress.unreadable == len(candidates) - 12
    bodies = chat_bodies(emulator)
    assert progress.requests == len(bodies) == len(after_request) and progress.failed_requests == 0
    assert all(b["response_format"] == RESPONSE_FORMAT and b["model"] == GENERATOR for b in bodies)
    assert progress.structured and progress.error is None
    # tokens: the emulator's usage, shared out over each request's candidates without losing any
    assert progress.prompt_tokens > 0 and progress.completion_tokens > 0
    assert sum(c.prompt_tokens for c in candidates) == progress.prompt_tokens
    assert sum(c.completion_tokens for c in candidates) == progress.completion_tokens
    assert progress.cost == pytest.approx(cost(GENERATOR, progress.prompt_tokens, progress.completion_tokens)) and progress.cost > 0
    for c in candidates:
        if c.ok:
            assert c.example["messages"][0] == {"role": "system", "content": BRIEF.system}
    users = [b["messages"][1]["content"] for b in bodies]  # the topics go round-robin
    assert sorted(u.split(".")[0].split("about ")[1] for u in users[:3]) == ["museums", "packing", "visas"]  # sent at once


@pytest.mark.asyncio
async def test_later_requests_list_the_questions_already_written(conn, emulator):
    candidates = await generate(conn, BRIEF, 6, model=GENERATOR, judge=Judge(), per_request=3, concurrency=1)
    first, second = chat_bodies(emulator)[:2]
    assert "already written" not in first["messages"][0]["content"]
    written = [c.example["messages"][1]["content"] for c in candidates[:3] if c.ok]
    assert written and all(orjson.dumps(q).decode() in second["messages"][0]["content"] for q in written)


@pytest.mark.asyncio
async def test_requests_ask_only_for_what_is_missing(conn, emulator):
    candidates = await generate(conn, BRIEF, 7, model=GENERATOR, judge=Judge(), per_request=5, concurrency=3)
    asked = [int(b["messages"][1]["content"].split()[1]) for b in chat_bodies(emulator)]
    # never more than are missing, in flight included: the first two go out together (5, then
    # the 2 still missing), and which of them reaches the server first is up to the network
    assert sorted(asked[:2]) == [2, 5] and all(1 <= k <= 5 for k in asked)
    assert candidates.progress.ok == 7


@pytest.mark.asyncio
async def test_malformed_replies_lose_only_their_cut_example_and_the_file_keeps_every_byte(conn, emulator, tmp_path):
    path = tmp_path / "travel.jsonl"
    original = (DATA / "travel.jsonl").read_bytes().replace(b"\n", b"\r\n", 3)  # a few CRLF lines: kept as they are
    path.write_bytes(original)
    emulator.faults.add("POST /v1/chat/completions", "malformed", count=2)
    with open_dataset(path) as ds:
        judge = Judge(file_records(ds), system=BRIEF.system)
        candidates = await generate(conn, BRIEF, 12, model=GENERATOR, judge=judge, concurrency=1)
        unreadable = [c for c in candidates if c.verdict == "unreadable"]
        assert [c.problems for c in unreadable] == [("reply cut short after 4 examples",)] * 2
        assert all(c.raw.startswith('{"messages"') and c.example is None for c in unreadable)
        assert candidates.progress.unreadable == 2 and candidates.progress.ok == 12
        good = [c.example for c in candidates if c.ok]
        ds.extend(good)
        ds.save()
    data = path.read_bytes()
    assert data.startswith(original) and data[len(original) :].count(b"\n") == 12
    assert [orjson.loads(line) for line in data[len(original) :].splitlines()] == good


@pytest.mark.asyncio
async def test_a_server_without_structured_outputs_is_asked_again_without_them(conn, emulator):
    # The gpt-3.5-turbo snapshots take json_object only: the service refuses a json_schema with a 400.
    candidates = await generate(conn, BRIEF, 6, model="gpt-3.5-turbo-0125", judge=Judge())
    assert candidates.progress.ok == 6 and not candidates.progress.structured
    bodies, statuses = chat_bodies(emulator), chat_statuses(emulator)
    refused = [k for k, status in enumerate(statuses) if status == 400]
    assert refused and all("response_format" in bodies[k] for k in refused)
    assert all("response_format" not in b for k, b in enumerate(bodies) if k not in refused)
    assert candidates.progress.requests == len(bodies) - len(refused)  # a refusal costs nothing and is not counted


@pytest.mark.asyncio
async def test_a_brief_whose_examples_all_break_a_rule_stops_after_max_requests(conn, emulator):
    brief = Brief(task="a travel assistant", system="You are <|endoftext|> a bot.")  # a special token: every example is invalid
    candidates = await generate(conn, brief, 4, model=GENERATOR, judge=Judge(), per_request=2)
    progress = candidates.progress
    assert progress.ok == 0 and progress.invalid == len(candidates) > 0
    assert progress.requests == len(chat_bodies(emulator)) == 3 * 2 + 2  # 3·⌈n/per_request⌉ + 2
    assert candidates[0].problems[0].startswith("error: messages[0].content: contains the special token <|endoftext|>")
    fewer = await generate(conn, brief, 4, model=GENERATOR, judge=Judge(), max_requests=1)
    assert fewer.progress.requests == 1


@pytest.mark.asyncio
async def test_an_unknown_model_stops_the_run(conn, emulator):
    with pytest.raises(NotFound):
        await generate(conn, BRIEF, 5, model="gpt-nope", judge=Judge())
    assert len(chat_bodies(emulator)) <= 3  # the workers in flight, not a retry loop


@pytest.mark.asyncio
async def test_a_server_that_keeps_failing_is_given_up_on(emulator):
    profile = Profile(kind="emulator", name="test", base_url=emulator.base_url)
    conn = Connection(profile, make_client(profile, max_retries=0))  # as after the SDK's retries, without their waits
    try:
        emulator.faults.add("POST /v1/chat/completions", "500", count=1)
        candidates = await generate(conn, BRIEF, 5, model=GENERATOR, judge=Judge(), concurrency=1)
        assert candidates.progress.ok == 5 and candidates.progress.failed_requests == 1
        assert candidates.progress.error.startswith("The server failed (500)") and not candidates.progress.gave_up
        down = emulator.faults.add("POST /v1/chat/completions", "500", count=0)  # not yet
        broke = await generate(conn, BRIEF, 9, model=GENERATOR, judge=Judge(), per_request=3, concurrency=1,
                               on_candidate=lambda c, p: setattr(down, "count", None))  # down after the first reply  # fmt: skip
        assert broke.progress.gave_up and broke.progress.requests == 1 and broke.progress.failed_requests == GIVE_UP_AFTER
        assert 0 < broke.progress.ok < 9  # what came before is returned
        with pytest.raises(ServerError):  # nothing was ever answered: the error itself
            await generate(conn, BRIEF, 5, model=GENERATOR, judge=Judge(), concurrency=2)
        assert chat_statuses(emulator).count(500) == 1 + 2 * GIVE_UP_AFTER
    finally:
        await conn.client.close()


@pytest.mark.asyncio
async def test_cancelling_a_run_keeps_what_was_reported(conn, emulator):
    seen = []
    emulator.faults.add("POST /v1/chat/completions", "latency", latency=0.3)
    task = asyncio.create_task(generate(conn, BRIEF, 40, model=GENERATOR, judge=Judge(), per_request=2, concurrency=2,
                                        on_candidate=lambda c, p: seen.append(c)))  # fmt: skip
    while len(seen) < 2:
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 2 <= len(seen) < 40


@pytest.mark.asyncio
async def test_regenerate_replaces_a_rejected_candidate_under_its_number(conn, emulator):
    judge = Judge()
    candidates = await generate(conn, BRIEF, 5, model=GENERATOR, judge=judge)
    rejected = next(c for c in candidates if c.ok)
    fresh = await regenerate(conn, BRIEF, model=GENERATOR, judge=judge, number=rejected.number,
                             avoid=[c.example["messages"][1]["content"] for c in candidates if c.ok])  # fmt: skip
    assert fresh.number == rejected.number and fresh.ok and fresh.example != rejected.example
    assert fresh.prompt_tokens > 0 and fresh.completion_tokens > 0
    assert "Write 1 training example" in chat_bodies(emulator)[-1]["messages"][1]["content"]
    # the rejected one no longer blocks its look-alikes; the new one does
    assert judge.judge(rejected.example, "", 99).ok
    assert judge.judge(fresh.example, "", 100).problems == (f"same as candidate {fresh.number}",)


def test_inference_prices_are_known_for_the_usual_models_and_tuned_ones_priced_as_their_base():
    assert inference_price("gpt-4o-mini") == inference_price("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert inference_price("gpt-4o-2024-08-06") == (2.50, 10.00) and inference_price("gpt-4.1-mini-2025-04-14") == (0.40, 1.60)
    assert inference_price("ft:gpt-4o-mini-2024-07-18:org::abc123") == (0.15, 0.60)
    assert inference_price("ft:gpt-4o-mini-2024-07-18:org::abc123:ckpt-step-40") == (0.15, 0.60)
    assert inference_price("llama-3-70b") is None and cost("llama-3-70b", 10, 10) is None
    assert cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
