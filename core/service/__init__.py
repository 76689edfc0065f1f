"""The remote side, provider-neutral: profiles, the SDK client, files, jobs, the watcher, chat.

Async, no UI imports. Every failure is a `ServiceError` with a title and a hint.
"""

from core.service.client import Connection, connect
from core.service.errors import ServiceError
from core.service.profiles import Active, Profile, ProfileError, resolve

__all__ = ["Active", "Connection", "Profile", "ProfileError", "ServiceError", "connect", "resolve"]
