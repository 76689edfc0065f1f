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
