"""The remote side, provider-neutral: profiles, the SDK client, files, jobs, the watcher, chat.

Async, no UI imports. Every failure is a `ServiceError` with a title and a hint. The names below
are loaded on first use, so importing profiles (as the app does at start) does not import the
openai SDK.
"""

from importlib import import_module

_WHERE = {
    "Active": "core.service.profiles",
    "Profile": "core.service.profiles",
    "ProfileError": "core.service.errors",
    "ServiceError": "core.service.errors",
    "resolve": "core.service.profiles",
    "Connection": "core.service.client",
    "connect": "core.service.client",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'core.service' has no attribute {name!r}")
