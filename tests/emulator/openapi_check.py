"""Checks recorded emulator exchanges against the public OpenAPI document, with openapi-core.

The document (3 MB) is parsed once per test session. Its only server is the public one, so each
exchange is validated as if it had been sent to https://api.openai.com/v1/... . Successful JSON
bodies are validated against their operation's response; streamed chat chunks one by one against
`CreateChatCompletionStreamResponse`; error bodies against `ErrorResponse` (most operations declare
only a 200). Where the real service and the document disagree, the emulator follows the service;
each difference, and each place the document itself needs a repair, is listed in KNOWN_DEVIATIONS
— here and nowhere else.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from core.emulator import Exchange

# A verbatim copy kept in the repository (see openapi/README.md), checked against its hash so a
# changed document is noticed rather than silently validated against.
SPEC = Path(__file__).resolve().parent / "openapi" / "openapi.yaml"
SPEC_SHA256 = "db5d7478feae10b4d331834c60d9765a8aa042e38419f9b1694288c11aa8ebc8"
PUBLIC_HOST = "https://api.openai.com"


def _walk(value, visit: Callable[[dict], None]) -> None:
    if isinstance(value, dict):
        visit(value)
        for item in value.values():
            _walk(item, visit)
    elif isinstance(value, list):
        for item in value:
            _walk(item, visit)


def _job_status(body: dict) -> None:
    if body.get("object") == "fine_tuning.job" and body.get("status") in ("pausing", "paused"):
        body["status"] = "running"


def _nullable_as_31(node: dict) -> None:
    # `nullable: true` is OpenAPI 3.0; in a 3.1 document it means nothing, so say it the 3.1 way.
    for key, value in list(node.items()):
        if isinstance(value, dict) and value.get("nullable") is True:
            inner = {k: v for k, v in value.items() if k != "nullable"}
            node[key] = {"anyOf": [inner, {"type": "null"}]}
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        items = node.get(key)
        if isinstance(items, list):
            for index, value in enumerate(items):
                if isinstance(value, dict) and value.get("nullable") is True:
                    inner = {k: v for k, v in value.items() if k != "nullable"}
                    items[index] = {"anyOf": [inner, {"type": "null"}]}


def _exclusive_bounds_as_31(node: dict) -> None:
    # OpenAPI 3.0 writes `minimum: 0, exclusiveMinimum: true`; 3.1 writes `exclusiveMinimum: 0`. Read
    # the 3.0 way by a 3.1 validator, `true` is the number 1, and beta 0.2 would be "too small".
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(node.get(exclusive), bool):
            if node.pop(exclusive) and bound in node:
                node[exclusive] = node.pop(bound)


def _empty_file_list(body: dict) -> None:
    if body.get("object") == "list" and body.get("data") == [] and "first_id" in body:
        body["first_id"] = body["first_id"] or ""
        body["last_id"] = body["last_id"] or ""


@dataclass(frozen=True)
class Deviation:
    """Where the emulator, like the service, answers differently from the document, or the document
    says something other than what its authors meant."""

    where: str
    what: str
    adjust: Callable[[dict], None] | None = None  # makes a parsed answer acceptable to the document
    repair: Callable[[dict], None] | None = None  # corrects a node of the document itself, on load


KNOWN_DEVIATIONS: dict[str, Deviation] = {
    "job-status-pausing-paused": Deviation(
        "FineTuningJob.status",
        "The service reports `pausing` and `paused` (the document has /pause and /resume) but the status "
        "enum omits them; clients must tolerate them. Checked as `running`.",
        adjust=_job_status,
    ),
    "file-list-empty-cursor": Deviation(
        "ListFilesResponse.first_id / last_id",
        "`null` when the list is empty (there is no first or last file); the document requires strings. "
        "Checked as empty strings.",
        adjust=_empty_file_list,
    ),
    "file-content-raw": Deviation(
        "GET /files/{file_id}/content",
        "The service answers the file's raw bytes (application/octet-stream); the document declares an "
        "application/json string. Checked as a string of the bytes.",
    ),
    "document-nullable": Deviation(
        "every schema with `nullable: true` (e.g. a stream chunk's finish_reason, Upload.file)",
        "The 3.1 document still uses the 3.0 keyword `nullable`, which 3.1 ignores, so `finish_reason: null` "
        "on every chunk but the last (as the service sends and the SDK expects) would be refused. Repaired "
        "on load as `anyOf: [schema, {type: null}]`.",
        repair=_nullable_as_31,
    ),
    "document-exclusive-bounds": Deviation(
        "FineTuneDPOHyperparameters.beta, *.learning_rate_multiplier",
        "The 3.1 document uses the 3.0 boolean `exclusiveMinimum: true`, which a 3.1 validator reads as the "
        "number 1, refusing beta 0.2 or a learning rate multiplier of 0.5. Repaired on load as "
        "`exclusiveMinimum: 0`.",
        repair=_exclusive_bounds_as_31,
    ),
}

def _raw_body(exchange: Exchange) -> bool:
    """GET /v1/files/{file_id}/content: see KNOWN_DEVIATIONS["file-content-raw"]."""
    parts = exchange.path.split("/")
    return exchange.method == "GET" and len(parts) == 5 and parts[2] == "files" and parts[4] == "content"


@functools.lru_cache(maxsize=1)
def openapi():
    """The document as an openapi-core app, parsed once per process."""
    import yaml
    from openapi_core import Config, OpenAPI

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is 5x faster on 3 MB
    raw = SPEC.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SPEC_SHA256, f"{SPEC} is not the document the deviations were written for"
    document = yaml.load(raw, Loader=loader)
    for deviation in KNOWN_DEVIATIONS.values():
        if deviation.repair is not None:
            _walk(document, deviation.repair)
    # No validation of the document itself: ContainerResource's duplicated `required` entries
    # make a strict validator reject the whole file (see its README).
    config = Config(spec_validator_cls=None, extra_media_type_deserializers={"text/event-stream": orjson.loads})
    return OpenAPI.from_dict(document, config=config)


@functools.lru_cache(maxsize=1)
def _error_validator():
    from openapi_core.validation.schemas import oas31_schema_validators_factory

    app = openapi()
    return oas31_schema_validators_factory.create(app.spec, app.spec / "components" / "schemas" / "ErrorResponse")


def _adjusted(body: object) -> object:
    for deviation in KNOWN_DEVIATIONS.values():
        if deviation.adjust is not None:
            _walk(body, deviation.adjust)
    return body


def _validate(exchange: Exchange, status: int, body: bytes, content_type: str) -> None:
    from openapi_core.testing import MockRequest, MockResponse

    request = MockRequest(PUBLIC_HOST, exchange.method, exchange.path, args=exchange.query,
                          data=exchange.request_body, content_type=exchange.request_content_type)
    openapi().validate_response(request, MockResponse(body, status_code=status, content_type=content_type))


def _explain(exc: Exception) -> str:
    details = [str(e).split("\n")[0] for e in getattr(exc.__cause__, "schema_errors", ()) or ()]
    return f"{type(exc).__name__}: {exc}" + (f" [{'; '.join(details)}]" if details else "")


def problems(exchange: Exchange) -> list[str]:
    """Why this exchange does not conform to the document (after the known deviations); [] if it does."""
    where = f"{exchange.method} {exchange.path} -> {exchange.status}"
    if exchange.status == 0:  # dropped on purpose: no answer to check
        return []
    try:
        if exchange.status >= 400:
            _error_validator().validate(orjson.loads(exchange.response_body))
        elif exchange.streamed:
            text = exchange.response_body.decode("utf-8")
            frames = [line[len("data: "):] for line in text.split("\n\n") if line.startswith("data: ")]
            if not frames or frames[-1] != "[DONE]":
                return [f"{where}: the stream does not end with data: [DONE]"]
            for frame in frames[:-1]:
                chunk = orjson.dumps(_adjusted(orjson.loads(frame)))
                _validate(exchange, exchange.status, chunk, "text/event-stream")
        elif _raw_body(exchange):
            body = orjson.dumps(exchange.response_body.decode("utf-8", errors="replace"))
            _validate(exchange, exchange.status, body, "application/json")
        else:
            body = orjson.dumps(_adjusted(orjson.loads(exchange.response_body)))
            _validate(exchange, exchange.status, body, "application/json")
    except Exception as exc:  # every failure is a finding about this exchange, not a crash of the check
        return [f"{where}: {_explain(exc)}"]
    return []


def assert_conform(exchanges: list[Exchange]) -> int:
    """Validate every exchange; raise AssertionError listing each one that does not conform.

    Returns how many exchanges were checked.
    """
    found = [problem for exchange in exchanges for problem in problems(exchange)]
    assert not found, "emulator answers that do not conform to the OpenAPI document:\n" + "\n".join(found)
    return len(exchanges)
