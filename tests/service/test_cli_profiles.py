"""`tunedeck profiles` and `--profile`: which server is active and why, and no key ever printed."""

import json

from core.service import profiles
from core.service.profiles import Profile
from tests.test_cli import OK, USAGE, cli

KEY = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX4321"


def test_no_credentials_means_the_emulator_and_says_so(tmp_path):
    out = cli(tmp_path, "profiles", "--json")
    assert out.returncode == OK, out.stderr
    active = json.loads(out.stdout)["active"]
    assert (active["kind"], active["offline"], active["key"]) == ("emulator", True, None)
    assert "emulator" in active["source"] and "imitation" in active["server"]


def test_sdk_environment_selects_a_profile_and_the_key_stays_masked(tmp_path):
    out = cli(tmp_path, "profiles", "--json", env={"OPENAI_API_KEY": KEY})
    active = json.loads(out.stdout)["active"]
    assert (active["kind"], active["source"], active["key"]) == ("openai", "OPENAI_API_KEY", "sk-…4321")
    plain = cli(tmp_path, "profiles", env={"OPENAI_API_KEY": KEY})
    for text in (out.stdout, out.stderr, plain.stdout, plain.stderr):
        assert KEY not in text


def test_the_flag_beats_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEDECK_CONFIG_DIR", str(tmp_path / "tunedeck" / "config"))
    profiles.save_profile(Profile(kind="compatible", name="lab", base_url="http://gpu:8000/v1"))
    out = cli(tmp_path, "--profile", "lab", "profiles", "--json", env={"OPENAI_API_KEY": KEY, "TUNEDECK_PROFILE": "emulator"})
    active = json.loads(out.stdout)["active"]
    assert (active["name"], active["source"]) == ("lab", "--profile")


def test_an_unknown_profile_is_a_usage_error_naming_the_known_ones(tmp_path):
    out = cli(tmp_path, "--profile", "nope", "profiles")
    assert out.returncode == USAGE
    assert "No profile named 'nope'" in out.stderr and "emulator" in out.stderr
    assert "Traceback" not in out.stderr
