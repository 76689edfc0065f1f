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


class Restartable:
    """The module's trainer, as the tests see it; `restart()` stops it and starts a new one on the
    same state folder and port, as a restarted `tunedeck trainer` would be, so the SDK client
    and the tests after it go on unchanged."""

    def __init__(self, models: dict, state_dir):
        self.models, self.state_dir = models, state_dir
        self.current = self._make(port=0)
        self.seen: list = []  # exchanges of the trainers stopped so far

    def _make(self, port: int):
        from core.trainer.trainer import Trainer

        return Trainer(self.models, self.state_dir, port=port, threads=1, record=True).start()

    def restart(self) -> None:
        self.current.stop()
        self.seen += self.current.exchanges
        self.current = self._make(port=self.current.port)

    def __getattr__(self, name):
        return getattr(self.current, name)


@pytest.fixture(scope="module")
def trainer(models_config, tmp_path_factory):
    from core.trainer import config

    from tests.emulator import openapi_check

    server = Restartable(config.load(models_config), tmp_path_factory.mktemp("trainer-state"))
    yield server
    server.current.stop()
    openapi_check.assert_conform(server.seen + server.exchanges)  # every answer the tests saw, against the OpenAPI document


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
