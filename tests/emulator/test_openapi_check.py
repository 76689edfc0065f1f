"""The conformance harness itself: it passes what the document allows, catches what it does not,
and each known deviation covers exactly what it says."""

from __future__ import annotations

import orjson
import pytest

from core.emulator import Exchange
from tests.emulator import openapi_check


JOB = {
    "object": "fine_tuning.job", "id": "ftjob-abc", "created_at": 1, "error": None, "fine_tuned_model": None,
    "finished_at": None, "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8},
    "model": "gpt-4o-mini-2024-07-18", "organization_id": "org-tunedeck", "result_files": [], "status": "running",
    "trained_tokens": None, "training_file": "file-abc", "validation_file": None, "seed": 1,
}  # fmt: skip


def exchange(method: str, path: str, body: object, status: int = 200, content_type: str = "application/json") -> Exchange:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Exchange(method, path, {}, b"", "", status, {"Content-Type": content_type}, raw)


def test_a_conforming_job_passes_and_a_broken_one_is_named():
    assert openapi_check.problems(exchange("GET", "/v1/fine_tuning/jobs/ftjob-abc", JOB)) == []
    broken = {k: v for k, v in JOB.items() if k != "training_file"}
    (problem,) = openapi_check.problems(exchange("GET", "/v1/fine_tuning/jobs/ftjob-abc", broken))
    assert "GET /v1/fine_tuning/jobs/ftjob-abc -> 200" in problem and "training_file" in problem


def test_pausing_and_paused_are_the_only_extra_statuses_tolerated():
    for status in ("pausing", "paused"):
        assert openapi_check.problems(exchange("POST", "/v1/fine_tuning/jobs/ftjob-abc/pause", {**JOB, "status": status})) == []
    assert openapi_check.problems(exchange("GET", "/v1/fine_tuning/jobs/ftjob-abc", {**JOB, "status": "sleeping"}))


def test_error_bodies_are_checked_against_error_response():
    good = {"error": {"message": "No such File object: file-x", "type": "invalid_request_error", "param": "file_id", "code": None}}
    assert openapi_check.problems(exchange("GET", "/v1/files/file-x", good, 404)) == []
    assert openapi_check.problems(exchange("GET", "/v1/files/file-x", {"message": "flat"}, 404))


def test_streams_are_checked_chunk_by_chunk_and_must_end_with_done():
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    body = b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n"
    assert openapi_check.problems(exchange("POST", "/v1/chat/completions", body, content_type="text/event-stream")) == []
    unfinished = b"data: " + orjson.dumps(chunk) + b"\n\n"
    assert openapi_check.problems(exchange("POST", "/v1/chat/completions", unfinished, content_type="text/event-stream"))
    bad = b"data: " + orjson.dumps({**chunk, "object": "chat.completion"}) + b"\n\ndata: [DONE]\n\n"
    assert openapi_check.problems(exchange("POST", "/v1/chat/completions", bad, content_type="text/event-stream"))


def test_the_document_is_read_as_its_authors_meant_it():
    dpo = {**JOB, "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "learning_rate_multiplier": 0.5}}}}
    assert openapi_check.problems(exchange("GET", "/v1/fine_tuning/jobs/ftjob-abc", dpo)) == []
    zero = {**JOB, "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0}}}}
    assert openapi_check.problems(exchange("GET", "/v1/fine_tuning/jobs/ftjob-abc", zero))  # still exclusive


def test_the_other_deviations_cover_empty_file_lists_and_raw_content():
    empty = {"object": "list", "data": [], "has_more": False, "first_id": None, "last_id": None}
    assert openapi_check.problems(exchange("GET", "/v1/files", empty)) == []
    raw = exchange("GET", "/v1/files/file-x/content", b'{"a": 1}\n', content_type="application/octet-stream")
    assert openapi_check.problems(raw) == []
    assert set(openapi_check.KNOWN_DEVIATIONS) == {
        "job-status-pausing-paused", "file-list-empty-cursor", "file-content-raw",
        "document-nullable", "document-exclusive-bounds",
    }
