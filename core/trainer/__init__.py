"""A self-hosted trainer behind the OpenAI fine-tuning and chat API: the emulator's HTTP layer and
state, with real LoRA training (transformers + PEFT) and real generation on this machine.

torch, transformers and peft are imported only when a job trains or a model answers, so `core`
imports without them; `missing()` says which are absent and `INSTALL_HINT` how to add them.
"""

from __future__ import annotations

import importlib.util

LIBRARIES = ("torch", "transformers", "peft")
INSTALL_HINT = (
    "The trainer needs the optional 'trainer' extra (torch, transformers, peft). Install it with:\n"
    "  pip install torch==2.13.0        # on these machines: the local CPU build; elsewhere any torch>=2.4\n"
    "  pip install 'tunedeck[trainer]'  # or, in a checkout: pip install -e '.[trainer]'"
)


def missing() -> list[str]:
    """The trainer's libraries that cannot be imported here."""
    absent = []
    for name in LIBRARIES:
        try:
            if importlib.util.find_spec(name) is None:
                absent.append(name)
        except (ImportError, ValueError):
            absent.append(name)
    return absent
