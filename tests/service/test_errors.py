"""Every SDK exception becomes a ServiceError with a title and a hint a person can act on."""

import httpx2
import openai
import pytest

from core.service import errors

REQUEST = httpx2.Request("POST", "http://127.0.0.1:1/v1/fine_tuning/jobs")


def status_error(cls, status: int, message: str, *, code=None, param=None, headers=None):
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": param}}
    response = httpx2.Response(status, json=body, request=REQUEST, headers=headers or {})
    return cls(message, response=response, body=body)


CASES = [
    (openai.APIConnectionError(request=REQUEST), errors.ConnectionLost, True),
    (openai.APITimeoutError(request=REQUEST), errors.Timeout, True),
    (status_error(openai.AuthenticationError, 401, "Incorrect API key provided: sk-…abcd"), errors.AuthFailed, False),
    (
        openai.OAuthError(response=httpx2.Response(401, request=REQUEST), body={"error": "invalid_grant", "error_description": "token expired"}),
        errors.AuthFailed,
        False,
    ),
    (status_error(openai.PermissionDeniedError, 403, "not allowed"), errors.PermissionDenied, False),
    (status_error(openai.NotFoundError, 404, "The model `x` does not exist", code="model_not_found"), errors.NotFound, False),
    (status_error(openai.RateLimitError, 429, "slow down", headers={"retry-after": "7"}), errors.RateLimited, True),
    (status_error(openai.RateLimitError, 429, "Daily job limit reached for this organization", code="daily_rate_limit_exceeded"), errors.JobLimitReached, False),
    (status_error(openai.InternalServerError, 503, "overloaded"), errors.ServerError, True),
    (status_error(openai.BadRequestError, 400, "File file-1 is not ready", code="file_not_ready"), errors.FileNotReady, False),
    (status_error(openai.BadRequestError, 400, "Model gpt-4 is not available for fine-tuning or does not exist."), errors.ModelNotFineTunable, False),
    (status_error(openai.BadRequestError, 400, "The model gpt-3.5-turbo-0613 has been shut down."), errors.ModelShutDown, False),
    (
        status_error(openai.BadRequestError, 400, "Expected file to have JSONL format, where every line is a valid JSON dictionary. Line 7 is not a dictionary.", param="file"),
        errors.TrainingFileRejected,
        False,
    ),
    (status_error(openai.ConflictError, 409, "conflict"), errors.InvalidRequest, False),
    (status_error(openai.UnprocessableEntityError, 422, "bad"), errors.InvalidRequest, False),
    (openai.APIResponseValidationError(httpx2.Response(200, request=REQUEST), None), errors.BadResponse, False),
    (openai.OpenAIError("no key"), errors.ServiceError, False),
]


@pytest.mark.parametrize("exc,kind,transient", CASES, ids=[type(c[0]).__name__ + "-" + c[1].__name__ for c in CASES])
def test_sdk_exceptions_map_to_a_person_readable_error(exc, kind, transient):
    error = errors.translate(exc, base_url="http://127.0.0.1:1/v1")
    assert type(error) is kind
    assert error.title and error.hint
    assert error.transient is transient


def test_every_sdk_exception_class_is_covered():
    covered = {type(c[0]) for c in CASES}
    public = {
        getattr(openai, name)
        for name in dir(openai)
        if isinstance(getattr(openai, name), type) and issubclass(getattr(openai, name), openai.APIError)
    }
    public -= {openai.APIError, openai.APIStatusError}  # abstract bases, never raised themselves
    missing = {cls.__name__ for cls in public if not any(issubclass(c, cls) for c in covered)}
    assert not missing


def test_retry_after_and_line_are_kept():
    limited = errors.translate(CASES[6][0])
    assert limited.retry_after == 7.0
    rejected = errors.translate(CASES[12][0])
    assert rejected.line == 7
