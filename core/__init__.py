"""TuneDeck's headless core: datasets, the service layer and the emulator. Never imports a UI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tunedeck")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
