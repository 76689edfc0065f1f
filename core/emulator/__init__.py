"""An offline imitation of the OpenAI fine-tuning service, served over HTTP on loopback."""

from core.emulator.emulator import Emulator, serve
from core.emulator.faults import Fault, Faults
from core.emulator.server import Exchange
from core.emulator.state import SCHEMA_VERSION, StateError

__all__ = ["Emulator", "Exchange", "Fault", "Faults", "SCHEMA_VERSION", "StateError", "serve"]
