"""The playground's rules in core: which models are offered first, what typed settings mean, and
the training example a conversation becomes."""

from __future__ import annotations

from types import SimpleNamespace

from core.service.conversation import ChatSettings, as_example, example_problems, has_errors, parse_settings
from core.service.models import offers

TUNED = "ft:gpt-4o-mini-2024-07-18:acme:trips:AbC123"


def job(id, model, created_at, suffix=None, status="succeeded"):
    return SimpleNamespace(id=id, fine_tuned_model=model, created_at=created_at, user_provided_suffix=suffix, status=status)


def checkpoint(step, name):
    return SimpleNamespace(step_number=step, fine_tuned_model_checkpoint=name)


def test_tuned_models_and_their_checkpoints_come_first_with_their_job():
    older = "ft:gpt-4o-mini-2024-07-18:acme:old:Zz9"
    listed = ["gpt-4o-mini-2024-07-18", "whisper-1", older, TUNED, "ft:gpt-4.1-nano-2025-04-14:acme::stray"]
    jobs = [job("ftjob-old", older, 100), job("ftjob-new", TUNED, 200, "trips"), job("ftjob-run", None, 300, status="running")]
    points = {"ftjob-new": [checkpoint(10, TUNED + ":ckpt-step-10"), checkpoint(20, TUNED + ":ckpt-step-20")]}
    offered = offers(listed, jobs, points)
    assert [(o.model, o.kind, o.job_id) for o in offered] == [
        (TUNED, "tuned", "ftjob-new"),  # the newest job's model first
        (TUNED + ":ckpt-step-20", "checkpoint", "ftjob-new"),  # then its checkpoints, latest step first
        (TUNED + ":ckpt-step-10", "checkpoint", "ftjob-new"),
        (older, "tuned", "ftjob-old"),
        ("ft:gpt-4.1-nano-2025-04-14:acme::stray", "tuned", None),  # listed, from no job TuneDeck knows
        ("gpt-4o-mini-2024-07-18", "base", None),  # base models TuneDeck knows before the others
        ("whisper-1", "base", None),
    ]
    assert offered[0].label == f"{TUNED}  suffix trips  from ftjob-new"


def test_typed_settings_are_checked_and_blank_means_the_servers_default():
    assert parse_settings("Be brief.", "", "", "") == ChatSettings("Be brief.")
    assert ChatSettings("Be brief.").params() == {}
    parsed = parse_settings("", "0.7", "256", "0.9")
    assert parsed.params() == {"temperature": 0.7, "max_tokens": 256, "top_p": 0.9}
    assert parse_settings("", "hot", "", "") == "temperature: 'hot' is not a number (0 to 2)"
    assert parse_settings("", "2.5", "", "") == "temperature: 2.5 is outside 0 to 2"
    assert parse_settings("", "", "0", "") == "max tokens: at least 1"
    assert parse_settings("", "", "", "0") == "top-p: 0.0 is outside (0, 1]"


def test_the_system_prompt_is_sent_unless_the_conversation_has_its_own():
    settings = ChatSettings("Be brief.")
    asked = [{"role": "user", "content": "Hi"}]
    assert settings.sent(asked) == [{"role": "system", "content": "Be brief."}, *asked]
    replayed = [{"role": "system", "content": "You plan trips."}, *asked]
    assert settings.sent(replayed) == replayed


def test_a_conversation_becomes_an_example_the_rules_accept():
    example = as_example("Be brief.", [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello.", "refusal": None}])
    assert example == {"messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
    ]}  # fmt: skip
    assert example_problems(example) == []
    unanswered = as_example("", [{"role": "user", "content": "Hi"}])
    problems = example_problems(unanswered)
    assert has_errors(problems) and problems[0].startswith("error: messages: no assistant message")


def test_a_model_tunedeck_does_not_know_is_launched_as_named_only_on_a_compatible_server(tmp_path):
    from core.service.launch import LaunchForm, Refused, plan
    from core.service.local_state import LocalState
    from core.service.profiles import Active, Profile
    from tests.conftest import DATA

    form = LaunchForm(train=DATA / "travel.jsonl", model="qwen-small")
    with LocalState(tmp_path / "state.db") as state:
        own = plan(form, Active(Profile(kind="compatible", name="trainer", base_url="http://127.0.0.1:8089/v1"), "test"), state)
        refused = plan(form, Active(Profile(kind="emulator", name="emulator"), "test"), state)
    assert not isinstance(own, Refused) and own.request.model == "qwen-small" and not own.priced
    assert "no price known" in own.confirmation() and "does not know qwen-small" in own.confirmation()
    assert isinstance(refused, Refused) and "unknown model 'qwen-small'" in refused.message
