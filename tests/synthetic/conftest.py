"""Generation against a real emulator on loopback, on a clock the test drives; every answer checked against the OpenAPI document."""

from __future__ import annotations

import json


from tests.remote import clock, conn, emulator  # noqa: F401  (fixtures)

KEY = "sk-test-generate-000000000"
GENERATOR = "gpt-4.1-mini-2025-04-14"


def chat_bodies(emulator) -> list[dict]:
    """The body of each chat request the emulator received, in order (retries included)."""
    return [
        json.loads(x.request_body)
        for x in list(emulator.exchanges)
        if x.method == "POST" and x.path == "/v1/chat/completions" and x.request_body
    ]


def chat_statuses(emulator) -> list[int]:
    return [x.status for x in list(emulator.exchanges) if x.method == "POST" and x.path == "/v1/chat/completions"]
