"""The /files and /uploads routes: storing bytes, refusing what the service refuses, serving content."""

from __future__ import annotations

import asyncio
import hashlib

import orjson
from aiohttp import web

from core.dataset import lines
from core.emulator.errors import ApiError, invalid, not_found
from core.emulator.ids import new_id
from core.emulator.multipart import parse_form
from core.emulator.service import UPLOAD_LIFETIME, Service, service_of
from core.emulator.wire import json_response, list_object, page, query_int, read_json, string_field

FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision")
MAX_UPLOAD_BYTES = 8 * 1024**3  # the Uploads API's limit for a whole file
MAX_PART_BYTES = 64 * 1024**2  # and for one part
MULTIPART_SLACK = 1024 * 1024  # form headers around the bytes


def not_jsonl_lines(content: bytes) -> int | None:
    """The 1-based line of the first record that is not a JSON object, or None when all are."""
    index = lines.scan(content)
    for k, start in enumerate(index.starts):
        try:
            value = orjson.loads(lines.content(content, start))
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            return index.lineno(k)
    return None


async def check_fine_tune_content(content: bytes) -> None:
    """Refuse a fine-tune upload that is not JSONL of objects, in the service's words."""
    line = await asyncio.to_thread(not_jsonl_lines, content)
    if line is not None:
        raise invalid(
            "Expected file to have JSONL format, where every line is a valid JSON dictionary. "
            f"Line {line} is not a dictionary.",
            "file",
            "invalid_file_format",
        )


def too_large(size: int, limit: int) -> ApiError:
    return invalid(
        f"File is too large ({size} bytes): the Files API accepts files up to {limit} bytes. "
        "Upload larger files in parts with the Uploads API (POST /v1/uploads).",
        "file",
        "file_too_large",
    )


# -- /files -----------------------------------------------------------------------------------


async def create_file(request: web.Request) -> web.Response:
    service = service_of(request)
    size = request.content_length
    if size is not None and size > service.max_file_bytes + MULTIPART_SLACK:
        raise too_large(size, service.max_file_bytes)
    form = parse_form(await request.read(), request.headers.get("Content-Type", ""))
    purpose = form["purpose"].text().strip() if "purpose" in form else None
    if not purpose:
        raise invalid("Missing required parameter: 'purpose'.", "purpose", "missing_required_parameter")
    if purpose not in FILE_PURPOSES:
        raise invalid(f"Invalid value for 'purpose': {purpose!r}. Supported values are: {', '.join(FILE_PURPOSES)}.",
                      "purpose", "invalid_value")
    upload = form.get("file")
    if upload is None:
        raise invalid("Missing required parameter: 'file'.", "file", "missing_required_parameter")
    if len(upload.data) > service.max_file_bytes:
        raise too_large(len(upload.data), service.max_file_bytes)
    if purpose == "fine-tune":
        await check_fine_tune_content(upload.data)
    return json_response(await _keep_file(service, upload.data, upload.filename or "file", purpose))


async def _keep_file(service: Service, content: bytes, filename: str, purpose: str) -> dict:
    """Write the bytes (off the event loop, outside the lock: they can be large), then record the file."""
    file_id = new_id("file-")
    await asyncio.to_thread(service.store.put_blob, "files", file_id, content)
    now = service.now()
    with service.store.changing() as data:
        record = service.add_file(data, file_id, len(content), filename=filename, purpose=purpose, created_at=now)
        return service.file_object(record, now)


async def list_files(request: web.Request) -> web.Response:
    service = service_of(request)
    purpose = request.query.get("purpose")
    limit = query_int(request, "limit", 10_000, 1, 10_000)
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid(f"Invalid value for 'order': {order!r}. Supported values are: 'asc' and 'desc'.", "order", "invalid_value")
    after = request.query.get("after")
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        records = [r for r in data["files"].values() if purpose in (None, "", r["purpose"])]
        records.sort(key=lambda r: r["created_at"])  # stable: upload order at a tie
        if order == "desc":
            records.reverse()
        objects = [service.file_object(r, now) for r in records]
    chosen, has_more = page(objects, after, limit)
    return json_response(list_object(chosen, has_more, ids=True))


async def retrieve_file(request: web.Request) -> web.Response:
    service = service_of(request)
    now = service.now()
    with service.store.reading() as data:
        service.settle(data, now)
        record = service.find_file(data, request.match_info["file_id"])
        return json_response(service.file_object(record, now))


async def delete_file(request: web.Request) -> web.Response:
    service = service_of(request)
    file_id = request.match_info["file_id"]
    with service.store.changing() as data:
        service.find_file(data, file_id)
        del data["files"][file_id]
        if not service.file_in_use(data, file_id):
            service.store.drop_blob("files", file_id)
    return json_response({"id": file_id, "object": "file", "deleted": True})


async def file_content(request: web.Request) -> web.Response:
    service = service_of(request)
    file_id = request.match_info["file_id"]
    with service.store.reading() as data:
        service.settle(data, service.now())
        service.find_file(data, file_id)
    content = service.store.get_blob("files", file_id)
    if content is None:
        raise not_found(f"No such File object: {file_id}", "file_id")
    return web.Response(body=content, content_type="application/octet-stream")


# -- /uploads ---------------------------------------------------------------------------------


def _upload_object(service: Service, upload: dict, data: dict, now: float) -> dict:
    record = data["files"].get(upload.get("file_id") or "")
    return {
        "id": upload["id"],
        "object": "upload",
        "bytes": upload["bytes"],
        "created_at": int(upload["created_at"]),
        "expires_at": int(upload["expires_at"]),
        "filename": upload["filename"],
        "purpose": upload["purpose"],
        "status": _upload_status(upload, now),
        "file": service.file_object(record, now) if record else None,
    }


def _upload_status(upload: dict, now: float) -> str:
    if upload["status"] == "pending" and now >= upload["expires_at"]:
        return "expired"
    return upload["status"]


def _find_upload(data: dict, upload_id: str) -> dict:
    upload = data["uploads"].get(upload_id)
    if upload is None:
        raise not_found(f"No such Upload object: {upload_id}", "upload_id")
    return upload


def _must_be_pending(upload: dict, now: float) -> None:
    status = _upload_status(upload, now)
    if status != "pending":
        raise invalid(f"Upload {upload['id']} is {status}; only a pending Upload accepts this.", "upload_id", "invalid_upload_status")


async def create_upload(request: web.Request) -> web.Response:
    service = service_of(request)
    body = await read_json(request)
    filename = string_field(body, "filename", required=True)
    purpose = string_field(body, "purpose", required=True)
    string_field(body, "mime_type", required=True)
    if purpose not in UPLOAD_PURPOSES:
        raise invalid(f"Invalid value for 'purpose': {purpose!r}. Supported values are: {', '.join(UPLOAD_PURPOSES)}.",
                      "purpose", "invalid_value")
    size = body.get("bytes")
    if isinstance(size, bool) or not isinstance(size, int):
        raise invalid("Missing or invalid 'bytes': expected the file's size as an integer.", "bytes", "invalid_type")
    if not 0 <= size <= MAX_UPLOAD_BYTES:
        raise invalid(f"Invalid 'bytes': {size}; an Upload holds at most {MAX_UPLOAD_BYTES} bytes.", "bytes", "integer_out_of_range")
    now = service.now()
    upload = {
        "id": new_id("upload_"),
        "bytes": size,
        "created_at": now,
        "expires_at": now + UPLOAD_LIFETIME,
        "filename": filename,
        "purpose": purpose,
        "status": "pending",
        "parts": [],
        "file_id": None,
    }
    with service.store.changing() as data:
        data["uploads"][upload["id"]] = upload
        return json_response(_upload_object(service, upload, data, now))


async def add_upload_part(request: web.Request) -> web.Response:
    service = service_of(request)
    upload_id = request.match_info["upload_id"]
    now = service.now()
    with service.store.reading() as data:
        _must_be_pending(_find_upload(data, upload_id), now)
    form = parse_form(await request.read(), request.headers.get("Content-Type", ""))
    part = form.get("data")
    if part is None:
        raise invalid("Missing required parameter: 'data'.", "data", "missing_required_parameter")
    if len(part.data) > MAX_PART_BYTES:
        raise invalid(f"A part holds at most {MAX_PART_BYTES} bytes; this one has {len(part.data)}.", "data", "part_too_large")
    part_id = new_id("part_")
    await asyncio.to_thread(service.store.put_blob, "parts", part_id, part.data)
    with service.store.changing() as data:
        upload = _find_upload(data, upload_id)
        _must_be_pending(upload, now)
        upload["parts"].append({"id": part_id, "created_at": now, "bytes": len(part.data)})
    return json_response({"id": part_id, "object": "upload.part", "created_at": int(now), "upload_id": upload_id})


async def complete_upload(request: web.Request) -> web.Response:
    service = service_of(request)
    upload_id = request.match_info["upload_id"]
    body = await read_json(request)
    part_ids = body.get("part_ids")
    if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
        raise invalid("Missing required parameter: 'part_ids' (the ordered list of Part ids).", "part_ids", "missing_required_parameter")
    md5 = string_field(body, "md5")
    now = service.now()
    with service.store.reading() as data:
        upload = dict(_find_upload(data, upload_id))
        _must_be_pending(upload, now)
    known = {part["id"] for part in upload["parts"]}
    unknown = [p for p in part_ids if p not in known]
    if unknown:
        raise invalid(f"Part {unknown[0]} does not belong to Upload {upload_id}.", "part_ids", "invalid_part_ids")
    content = await asyncio.to_thread(_joined_parts, service, part_ids)  # up to 8 GB: off the event loop
    if len(content) != upload["bytes"]:
        raise invalid(
            f"The parts hold {len(content)} bytes, but the Upload was created for {upload['bytes']} bytes.",
            "part_ids",
            "upload_size_mismatch",
        )
    if md5 and await asyncio.to_thread(lambda: hashlib.md5(content).hexdigest()) != md5.lower():
        raise invalid("The md5 checksum of the uploaded bytes does not match 'md5'.", "md5", "md5_mismatch")
    if upload["purpose"] == "fine-tune":
        await check_fine_tune_content(content)
    file_id = new_id("file-")
    await asyncio.to_thread(service.store.put_blob, "files", file_id, content)
    with service.store.changing() as data:
        upload = _find_upload(data, upload_id)
        _must_be_pending(upload, now)
        record = service.add_file(data, file_id, len(content), filename=upload["filename"],
                                  purpose=upload["purpose"], created_at=now)
        upload["status"] = "completed"
        upload["file_id"] = record["id"]
        parts, upload["parts"] = upload["parts"], []
        answer = _upload_object(service, upload, data, now)
    for part in parts:
        service.store.drop_blob("parts", part["id"])
    return json_response(answer)


def _joined_parts(service: Service, part_ids: list[str]) -> bytes:
    chunks = []
    for part_id in part_ids:
        chunk = service.store.get_blob("parts", part_id)
        if chunk is None:
            raise invalid(f"Part {part_id} has no content.", "part_ids", "invalid_part_ids")
        chunks.append(chunk)
    return b"".join(chunks)


async def cancel_upload(request: web.Request) -> web.Response:
    service = service_of(request)
    upload_id = request.match_info["upload_id"]
    now = service.now()
    with service.store.changing() as data:
        upload = _find_upload(data, upload_id)
        _must_be_pending(upload, now)
        upload["status"] = "cancelled"
        parts, upload["parts"] = upload["parts"], []
        answer = _upload_object(service, upload, data, now)
    for part in parts:
        service.store.drop_blob("parts", part["id"])
    return json_response(answer)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/files", create_file),
        web.get("/v1/files", list_files),
        web.get("/v1/files/{file_id}", retrieve_file),
        web.delete("/v1/files/{file_id}", delete_file),
        web.get("/v1/files/{file_id}/content", file_content),
        web.post("/v1/uploads", create_upload),
        web.post("/v1/uploads/{upload_id}/parts", add_upload_part),
        web.post("/v1/uploads/{upload_id}/complete", complete_upload),
        web.post("/v1/uploads/{upload_id}/cancel", cancel_upload),
    ]
