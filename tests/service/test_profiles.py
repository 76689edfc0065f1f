"""Profiles: where they are stored, how the active one is chosen, and that keys never leak."""

import os
import stat

import pytest
from pydantic import SecretStr

from core.service import profiles
from core.service.client import make_client
from core.service.profiles import Profile, ProfileError, resolve

KEY = "sk-proj-0123456789abcdefSECRET9876"


def save(name: str, **fields) -> Profile:
    profile = Profile(name=name, **fields)
    profiles.save_profile(profile)
    return profile


def test_no_credentials_means_the_built_in_emulator():
    active = resolve(environ={})
    assert active.profile.embedded
    assert "emulator" in active.source
    assert "imitation" in active.profile.describe()


def test_config_file_is_private_and_round_trips():
    save("work", kind="openai", api_key=SecretStr(KEY), organization="org-1")
    path = profiles.config_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = profiles.load().profiles["work"]
    assert loaded.name == "work" and loaded.organization == "org-1"
    assert loaded.api_key.get_secret_value() == KEY


def test_selection_order(monkeypatch):
    save("work", kind="openai", api_key=SecretStr(KEY))
    save("lab", kind="compatible", base_url="http://gpu:8000/v1")
    profiles.set_default("lab")
    assert resolve(environ={}).profile.name == "lab"  # the config's default beats the emulator
    sdk = {"OPENAI_BASE_URL": "http://other:9000/v1", "OPENAI_API_KEY": KEY}
    on_the_fly = resolve(environ=sdk)
    assert (on_the_fly.profile.kind, on_the_fly.profile.base_url) == ("compatible", "http://other:9000/v1")
    assert resolve(environ={"OPENAI_API_KEY": KEY}).profile.kind == "openai"
    assert resolve(environ={**sdk, "TUNEDECK_PROFILE": "work"}).profile.name == "work"  # env var beats SDK vars
    assert resolve("emulator", environ={**sdk, "TUNEDECK_PROFILE": "work"}).profile.embedded  # the flag beats all


def test_environment_overrides_the_file():
    save("work", kind="openai", api_key=SecretStr("sk-from-the-file-000000"))
    active = resolve("work", environ={"OPENAI_API_KEY": KEY, "OPENAI_PROJECT_ID": "proj-9"})
    assert active.profile.api_key.get_secret_value() == KEY
    assert active.profile.project == "proj-9"


def test_tunedeck_environment_reaches_nested_profile_fields(monkeypatch):
    save("lab", kind="compatible", base_url="http://gpu:8000/v1")
    monkeypatch.setenv("TUNEDECK_PROFILES__LAB__BASE_URL", "http://gpu2:8000/v1")
    assert profiles.load().profiles["lab"].base_url == "http://gpu2:8000/v1"


def test_unknown_profile_names_the_known_ones():
    save("work", kind="openai", api_key=SecretStr(KEY))
    with pytest.raises(ProfileError) as caught:
        resolve("wrok", environ={})
    assert "wrok" in caught.value.title and "work" in caught.value.hint


def test_a_broken_config_file_says_where():
    profiles.config_path().write_text('[profiles.x]\nkind = "ftp"\n')
    with pytest.raises(ProfileError) as caught:
        profiles.load()
    assert "profiles.x.kind" in caught.value.title


def test_keys_are_never_shown_in_full():
    profile = Profile(kind="openai", name="work", api_key=SecretStr(KEY))
    assert profile.masked_key() == "sk-…9876"
    for text in (repr(profile), str(profile), profile.describe(), profile.identity, str(profile.model_dump())):
        assert KEY not in text and "SECRET" not in text


def test_saving_does_not_write_keys_that_came_from_the_environment(monkeypatch):
    save("work", kind="openai")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    save("lab", kind="compatible", base_url="http://gpu:8000/v1")
    assert KEY not in profiles.config_path().read_text()


def test_identity_separates_accounts_without_holding_the_key():
    a = Profile(kind="openai", name="a", api_key=SecretStr(KEY))
    b = Profile(kind="openai", name="b", api_key=SecretStr(KEY))
    c = Profile(kind="openai", name="c", api_key=SecretStr(KEY + "x"))
    assert a.identity == b.identity != c.identity


@pytest.mark.parametrize(
    "profile,missing",
    [
        (Profile(kind="openai", name="p"), "key"),
        (Profile(kind="compatible", name="p"), "base_url"),
        (Profile(kind="azure", name="p", api_key=SecretStr(KEY)), "azure_endpoint"),
    ],
)
def test_incomplete_profiles_say_what_is_missing(profile, missing):
    with pytest.raises(ProfileError) as caught:
        make_client(profile)
    assert missing in caught.value.title


def test_azure_profile_builds_the_azure_client():
    import openai

    profile = Profile(kind="azure", name="az", api_key=SecretStr(KEY), azure_endpoint="https://x.openai.azure.com", api_version="2025-04-01-preview")
    client = make_client(profile)
    assert isinstance(client, openai.AsyncAzureOpenAI)
    assert os.environ.get("OPENAI_API_KEY") is None
