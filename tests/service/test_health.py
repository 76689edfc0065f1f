"""The connection check explains each failure the way a person can fix it, and never shows the key."""

from __future__ import annotations

import socket

import pytest
from aiohttp import web
from pydantic import SecretStr

from core.emulator import Emulator
from core.service.health import check
from core.service.profiles import Profile

pytestmark = pytest.mark.asyncio

GOOD, BAD = "sk-good-0123456789abcdef", "sk-wrong-0123456789wxyz"


@pytest.fixture
def guarded(tmp_path):
    with Emulator(state_dir=tmp_path / "emu", api_keys={GOOD}) as emu:
        yield emu


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


async def stub(status: int, message: str, *, paths=("/v1/models",)):
    """A server that answers every request under `paths` with one error, and lists nothing else."""

    async def refuse(request):
        return web.json_response({"error": {"message": message, "type": "invalid_request_error", "code": None}}, status=status)

    async def models(request):
        return web.json_response({"object": "list", "data": []})

    app = web.Application()
    app.router.add_route("GET", "/v1/models", refuse if "/v1/models" in paths else models)
    app.router.add_route("GET", "/v1/fine_tuning/jobs", refuse)
    app.router.add_route("GET", "/openai/models", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


async def test_ok_with_the_right_key(guarded):
    health = await check(Profile(kind="compatible", name="lab", base_url=guarded.base_url, api_key=SecretStr(GOOD)))
    assert health.ok and health.models > 0
    assert guarded.base_url in health.title


async def test_bad_key_is_explained_and_never_shown(guarded):
    health = await check(Profile(kind="compatible", name="lab", base_url=guarded.base_url, api_key=SecretStr(BAD)))
    assert health.problem == "bad-key" and health.status == 401
    assert "key was refused" in health.title
    assert BAD not in health.title + health.hint


async def test_connection_refused_says_check_the_url():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    health = await check(Profile(kind="compatible", name="lab", base_url=url), timeout=5)
    assert health.problem == "unreachable"
    assert url in health.title and "check the URL" in health.hint


async def test_a_base_url_without_v1_is_a_wrong_url(guarded):
    url = guarded.base_url.removesuffix("/v1")
    health = await check(Profile(kind="compatible", name="lab", base_url=url, api_key=SecretStr(GOOD)))
    assert health.problem == "wrong-url" and health.status == 404
    assert "/v1" in health.hint


async def test_no_fine_tuning_permission():
    runner, root = await stub(403, "You have insufficient permissions for this operation.", paths=())
    try:
        health = await check(Profile(kind="compatible", name="lab", base_url=root + "/v1", api_key=SecretStr(GOOD)))
    finally:
        await runner.cleanup()
    assert health.problem == "no-fine-tuning" and health.status == 403
    assert "insufficient permissions" in health.hint


async def test_no_permission_to_list_models():
    runner, root = await stub(403, "Forbidden")
    try:
        health = await check(Profile(kind="compatible", name="lab", base_url=root + "/v1", api_key=SecretStr(GOOD)))
    finally:
        await runner.cleanup()
    assert health.problem == "no-permission"


async def test_azure_api_version_too_old():
    runner, root = await stub(400, "The api-version '2023-05-15' is not supported for fine-tuning. Use 2024-10-21 or later.")
    try:
        profile = Profile(kind="azure", name="az", azure_endpoint=root, api_version="2023-05-15", api_key=SecretStr(GOOD))
        health = await check(profile)
    finally:
        await runner.cleanup()
    assert health.problem == "api-version"
    assert "newer api_version" in health.hint and GOOD not in health.hint


async def test_an_incomplete_profile_says_what_is_missing():
    health = await check(Profile(kind="azure", name="az", api_key=SecretStr(GOOD)))
    assert health.problem == "profile" and "azure_endpoint" in health.title
