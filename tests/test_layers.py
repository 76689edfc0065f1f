"""core/ never imports the UI toolkit: a script can do everything with core alone."""

import pkgutil
import subprocess
import sys

import core
from tests.conftest import REPO


def test_core_imports_neither_textual_nor_rich():
    modules = sorted(m.name for m in pkgutil.walk_packages(core.__path__, "core."))
    assert "core.dataset.store" in modules and "core.cli" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(leaked))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_the_command_line_loads_the_sdk_only_for_remote_work():
    # Importing openai takes over a second: `tunedeck validate` and `--help` must not wait for it.
    script = (
        "import sys\n"
        "from core.cli import build_parser\n"
        "build_parser().parse_args(['validate', 'data/travel.jsonl'])\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'aiohttp'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
