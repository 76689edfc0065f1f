"""One tiny model and one trainer for the module: the training process imports torch once."""

from __future__ import annotations

import os
import time

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may come from a hub; the model is made here
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

KEY = "sk-test-trainer"
MODEL = "tiny-chat"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    pytest.importorskip("peft")
    from tests.trainer.tiny import build

    return build(tmp_path_factory.mktemp("models") / "tiny-chat")


@pytest.fixture(scope="session")
def models_config(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "models.toml"
    path.write_text(f'[models.{MODEL}]\npath = "{tiny_model}"\nmax_length = 256\n')
    return path


@pytest.fixture(scope="module")
def trainer(models_config, tmp_path_factory):
    from core.trainer import config
    from core.trainer.trainer import Trainer

    from tests.emulator import openapi_check

    server = Trainer(config.load(models_config), tmp_path_factory.mktemp("trainer-state"), threads=1, record=True).start()
    yield server
    server.stop()
    openapi_check.assert_conform(server.exchanges)  # every answer the tests saw, against the OpenAPI document


@pytest.fixture(scope="module")
def sdk(trainer):
    import openai

    with openai.OpenAI(base_url=trainer.base_url, api_key=KEY, max_retries=0, timeout=120) as client:
        yield client


def wait_for(predicate, timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
