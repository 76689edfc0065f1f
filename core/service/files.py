"""Uploading training files: progress, the Uploads API for big files, reuse of identical bytes.

    file = await upload(conn, "train.jsonl", progress=print, state=LocalState())
    file = await wait_processed(conn, file.id)

The file is read through aiofiles, so the event loop stays free while a large file is read.
Files up to FILES_API_LIMIT go up in one request (what every compatible server understands);
larger ones through the Uploads API in PART_SIZE parts. Bytes already uploaded under the same
account (by content hash, recorded in local state) are not sent again if the server still has
them.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiofiles
from openai.types import FileObject

from core.service.client import Connection
from core.service.errors import NotFound, ServiceError, TrainingFileRejected, translate
from core.service.local_state import LocalState

FILES_API_LIMIT = 512 * 1024 * 1024  # the Files API's limit for one request
PART_SIZE = 64 * 1024 * 1024  # the Uploads API's largest part
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class UploadProgress:
    stage: str  # "hashing" | "sending" | "processing" | "reused" | "done"
    done: int  # bytes
    total: int


ProgressCallback = Callable[[UploadProgress], None]


class _Sending(io.BytesIO):
    """The request body, reporting how much of it the HTTP client has read (= sent)."""

    def __init__(self, data: bytes, report: Callable[[int], None]):
        super().__init__(data)
        self._report = report
        self._high = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if self.tell() > self._high:  # a retried request reads again from 0: never go backwards
            self._high = self.tell()
            self._report(self._high)
        return chunk


async def sha256_of(path: Path, progress: ProgressCallback | None = None, *, keep: bool = False) -> tuple[str, bytes | None]:
    """The file's sha256 (and its bytes when `keep`), read without blocking the loop."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    chunks: list[bytes] | None = [] if keep else None
    done = 0
    async with aiofiles.open(path, "rb") as f:
        while chunk := await f.read(READ_CHUNK):
            digest.update(chunk)
            if chunks is not None:
                chunks.append(chunk)
            done += len(chunk)
            if progress:
                progress(UploadProgress("hashing", done, size))
    return digest.hexdigest(), (b"".join(chunks) if chunks is not None else None)


async def upload(
    conn: Connection,
    path: str | Path,
    *,
    purpose: str = "fine-tune",
    progress: ProgressCallback | None = None,
    state: LocalState | None = None,
    files_api_limit: int = FILES_API_LIMIT,
    part_size: int = PART_SIZE,
) -> FileObject:
    """Upload `path` (or find it already uploaded) and return the service's File."""
    path = Path(path)
    size = path.stat().st_size
    small = size <= files_api_limit
    sha256, data = await sha256_of(path, progress, keep=small)
    account = conn.profile.identity
    if state is not None:
        reused = await _reusable(conn, state, account, sha256)
        if reused is not None:
            if progress:
                progress(UploadProgress("reused", size, size))
            return reused
    report = (lambda n: progress(UploadProgress("sending", n, size))) if progress else (lambda n: None)
    try:
        if small:
            file = await conn.client.files.create(file=(path.name, _Sending(data, report), "application/jsonl"), purpose=purpose)
        else:
            file = await _upload_in_parts(conn, path, size, purpose, part_size, report)
    except Exception as exc:
        raise translate(exc, base_url=conn.base_url) from exc
    if state is not None:
        state.record_upload(account, sha256, file.id, path.name, size)
    if progress:
        progress(UploadProgress("done", size, size))
    return file


async def _reusable(conn: Connection, state: LocalState, account: str, sha256: str) -> FileObject | None:
    file_id = state.uploaded(account, sha256)
    if file_id is None:
        return None
    try:
        file = await conn.client.files.retrieve(file_id)
    except Exception as exc:
        error = translate(exc, base_url=conn.base_url)
        if isinstance(error, NotFound):  # deleted on the server since: upload again
            state.forget_upload(account, file_id)
            return None
        raise error from exc
    if file.status == "error":
        state.forget_upload(account, file_id)
        return None
    return file


async def _upload_in_parts(conn: Connection, path: Path, size: int, purpose: str, part_size: int, report: Callable[[int], None]) -> FileObject:
    upload = await conn.client.uploads.create(bytes=size, filename=path.name, mime_type="text/jsonl", purpose=purpose)
    part_ids = []
    md5 = hashlib.md5(usedforsecurity=False)
    sent = 0
    try:
        async with aiofiles.open(path, "rb") as f:
            while chunk := await f.read(part_size):
                md5.update(chunk)
                part = await conn.client.uploads.parts.create(upload.id, data=chunk)
                part_ids.append(part.id)
                sent += len(chunk)
                report(sent)
        completed = await conn.client.uploads.complete(upload.id, part_ids=part_ids, md5=md5.hexdigest())
    except BaseException:
        try:
            await conn.once.uploads.cancel(upload.id)
        except Exception:
            pass  # the upload expires by itself within the hour; the first error is the one to show
        raise
    if completed.file is None:
        raise ServiceError("The upload completed without a file", f"upload {upload.id} of {path.name}")
    return completed.file


async def wait_processed(
    conn: Connection,
    file_id: str,
    *,
    poll: float = 1.0,
    timeout: float = 900.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    progress: ProgressCallback | None = None,
) -> FileObject:
    """Poll until the service has processed the file; a file it rejects raises with its reason."""
    waited = 0.0
    while True:
        try:
            file = await conn.client.files.retrieve(file_id)
        except Exception as exc:
            raise translate(exc, base_url=conn.base_url) from exc
        if file.status == "processed":
            return file
        if file.status == "error":
            details = getattr(file, "status_details", None) or "no details given"
            raise TrainingFileRejected(f"The service rejected {file.filename}", str(details))
        if progress:
            progress(UploadProgress("processing", 0, file.bytes))
        if waited >= timeout:
            raise ServiceError(f"{file.filename} is still not processed after {timeout:.0f} s", "try again later; the upload is kept")
        await sleep(poll)
        waited += poll
