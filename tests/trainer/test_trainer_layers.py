"""The trainer's heavy libraries stay out of `core` and out of the CLI until a job trains; without
them `tunedeck trainer` says how to install them."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import core
from tests.conftest import REPO

HEAVY = ("torch", "transformers", "peft", "trl", "accelerate")


def test_core_and_the_command_line_import_no_training_library():
    modules = sorted(m.name for m in pkgutil.walk_packages(core.__path__, "core."))
    assert "core.trainer.trainer" in modules and "core.cli.trainer_commands" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from core.cli import build_parser\n"
        "build_parser().parse_args(['trainer', '--port', '0', '--models', 'm.toml'])\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_the_trainer_without_the_extra_says_how_to_install_it(tmp_path):
    # None in sys.modules makes an import fail as if the package were not installed.
    script = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from core.cli import main\n"
        f"sys.exit(main(['trainer', '--port', '0', '--state', {str(tmp_path)!r}]))\n"
    )
    env = {"TUNEDECK_CONFIG_DIR": str(tmp_path / "c"), "TUNEDECK_DATA_DIR": str(tmp_path / "d"),
           "TUNEDECK_STATE_DIR": str(tmp_path / "s"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, env=env,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 2
    assert "torch not installed" in result.stderr and "pip install torch==2.13.0" in result.stderr
    assert "tunedeck[trainer]" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_or_broken_models_config_is_a_usage_error(tmp_path):
    import importlib.util

    if any(importlib.util.find_spec(name) is None for name in ("torch", "transformers", "peft")):
        return  # covered by the test above
    broken = tmp_path / "models.toml"
    broken.write_text("[models.tiny]\npath = 'nowhere'\n")
    for config, wanted in ((tmp_path / "absent.toml", "cannot read the models config"), (broken, "not a Hugging Face model folder")):
        result = subprocess.run([sys.executable, "-m", "core", "trainer", "--port", "0", "--models", str(config),
                                 "--state", str(tmp_path / "state")], cwd=REPO, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=60)
        assert result.returncode == 2 and wanted in result.stderr and "Traceback" not in result.stderr, result.stderr
