"""Files too big for the Files API go through the Uploads API in parts, checked as the service checks them."""

from __future__ import annotations

import hashlib

import openai
import pytest

from tests.emulator.helpers import advance_until, travel

BASE = "gpt-4o-mini-2024-07-18"
LIMIT = 4096  # a small Files API limit, so travel.jsonl (20 KB) needs the Uploads API


@pytest.fixture
def emulator(emulators):
    return emulators(max_file_bytes=LIMIT)


def parts_of(data: bytes, size: int = LIMIT) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.asyncio
async def test_the_files_api_sends_big_files_to_the_uploads_api(client):
    with pytest.raises(openai.BadRequestError) as raised:
        await client.files.create(file=("travel.jsonl", travel()), purpose="fine-tune")
    assert raised.value.code == "file_too_large" and "Uploads API" in raised.value.message


@pytest.mark.asyncio
async def test_parts_sent_in_any_order_are_joined_in_the_order_given(client, clock):
    data = travel()
    upload = await client.uploads.create(bytes=len(data), filename="travel.jsonl", mime_type="application/jsonl",
                                         purpose="fine-tune")
    assert upload.status == "pending" and upload.file is None
    chunks = parts_of(data)
    sent = {}
    for index in reversed(range(len(chunks))):  # parts may arrive in any order
        part = await client.uploads.parts.create(upload.id, data=chunks[index])
        assert part.upload_id == upload.id
        sent[index] = part.id
    done = await client.uploads.complete(upload.id, part_ids=[sent[i] for i in range(len(chunks))],
                                         md5=hashlib.md5(data).hexdigest())
    assert done.status == "completed" and done.file.bytes == len(data) and done.file.filename == "travel.jsonl"
    assert (await client.files.content(done.file.id)).read() == data
    clock.advance(1)
    job = await client.fine_tuning.jobs.create(model=BASE, training_file=done.file.id)
    assert (await advance_until(client, clock, job.id)).status == "succeeded"


@pytest.mark.asyncio
async def test_the_sdk_chunked_upload_helper_works(client):
    upload = await client.uploads.upload_file_chunked(file=travel(), bytes=len(travel()), filename="travel.jsonl",
                                                      mime_type="application/jsonl", purpose="fine-tune",
                                                      part_size=LIMIT)
    assert upload.status == "completed" and upload.file.bytes == len(travel())


@pytest.mark.asyncio
async def test_uploads_refuse_wrong_sizes_checksums_content_and_late_parts(client):
    data = travel()

    async def started():
        return await client.uploads.create(bytes=len(data), filename="t.jsonl", mime_type="application/jsonl",
                                           purpose="fine-tune")

    short = await started()
    part = await client.uploads.parts.create(short.id, data=data[:100])
    with pytest.raises(openai.BadRequestError) as raised:
        await client.uploads.complete(short.id, part_ids=[part.id])
    assert raised.value.code == "upload_size_mismatch"

    checked = await started()
    part = await client.uploads.parts.create(checked.id, data=data)
    with pytest.raises(openai.BadRequestError) as raised:
        await client.uploads.complete(checked.id, part_ids=[part.id], md5="0" * 32)
    assert raised.value.code == "md5_mismatch"
    with pytest.raises(openai.BadRequestError):
        await client.uploads.complete(checked.id, part_ids=["part_not_mine"])

    broken = b'{"messages": []}\n' + b"oops\n"
    bad = await client.uploads.create(bytes=len(broken), filename="b.jsonl", mime_type="application/jsonl",
                                      purpose="fine-tune")
    part = await client.uploads.parts.create(bad.id, data=broken)
    with pytest.raises(openai.BadRequestError) as raised:
        await client.uploads.complete(bad.id, part_ids=[part.id])
    assert "Line 2 is not a dictionary" in raised.value.message

    cancelled = await client.uploads.cancel(checked.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.BadRequestError) as raised:
        await client.uploads.parts.create(checked.id, data=b"late")
    assert raised.value.code == "invalid_upload_status"
    with pytest.raises(openai.NotFoundError):
        await client.uploads.cancel("upload_nope")
