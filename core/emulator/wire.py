"""Reading requests and writing answers the way the service does: JSON bodies, query numbers, lists."""

from __future__ import annotations

import orjson
from aiohttp import web

from core.emulator.errors import bad_json, invalid


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


async def read_json(request: web.Request) -> dict:
    """The request's JSON object; anything else is the service's "could not parse" 400."""
    raw = await request.read()
    try:
        value = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise bad_json() from None
    if not isinstance(value, dict):
        raise bad_json()
    return value


def query_int(request: web.Request, name: str, default: int, low: int = 1, high: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"Invalid '{name}': expected an integer, but got {raw[:40]!r} instead.", name, "invalid_type") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(f"Invalid '{name}': {value}; it must be {bound}.", name, "integer_out_of_range")
    return value


def list_object(data: list[dict], has_more: bool | None = None, *, ids: bool = False) -> dict:
    """`{"object": "list", "data": [...]}` with the cursor fields the operation declares."""
    body: dict = {"object": "list", "data": data}
    if ids:
        body["first_id"] = data[0]["id"] if data else None
        body["last_id"] = data[-1]["id"] if data else None
    if has_more is not None:
        body["has_more"] = has_more
    return body


def page(items: list[dict], after: str | None, limit: int) -> tuple[list[dict], bool]:
    """Cursor pagination as the service does it: up to `limit` items after the one with id `after`.

    An unknown cursor gives an empty page rather than an error, so a client that paged past
    something deleted stops instead of failing.
    """
    start = 0
    if after:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    return items[start : start + limit], start + limit < len(items)


def string_field(body: dict, name: str, *, required: bool = False, max_length: int | None = None) -> str | None:
    """A string parameter, checked with the service's wording for missing, mistyped and too long."""
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"Missing required parameter: '{name}'.", name, "missing_required_parameter")
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid type for '{name}': expected a string, but got {json_type(value)} instead.", name, "invalid_type")
    if max_length is not None and len(value) > max_length:
        raise invalid(
            f"Invalid '{name}': string too long. Expected a string with maximum length {max_length}, "
            f"but got a string with length {len(value)} instead.",
            name,
            "string_above_max_length",
        )
    return value


def json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string" if isinstance(value, str) else "null"




# Per-request values the front door and the routes share. Typed keys exist from aiohttp 3.13 (which
# warns about plain strings); the pyproject allows 3.10, where plain strings are the way.
_key = getattr(web, "RequestKey", lambda name, _type: name)
STANDARD_HEADERS = _key("standard_headers", dict)  # x-request-id and the like, for every answer
STREAMED_BODY = _key("streamed_body", bytes)  # what a streamed answer sent, for the recorder
