"""One exception family for everything remote: a short title, and a hint a person can act on.

`translate()` maps every exception class of the openai SDK (and the server's error codes, where
they say more than the HTTP status) to one of these, so callers catch `ServiceError` alone and
the TUI can show `title` and `hint` without knowing what went wrong underneath.
"""

from __future__ import annotations

import re


class ServiceError(Exception):
    """A remote call failed. `transient` errors are worth retrying later; others are not."""

    transient = False

    def __init__(self, title: str, hint: str = "", *, status: int | None = None, code: str | None = None, param: str | None = None):
        super().__init__(f"{title} — {hint}" if hint else title)
        self.title = title
        self.hint = hint
        self.status = status
        self.code = code
        self.param = param


class ProfileError(ServiceError):
    """The profiles file or a profile choice is wrong; the hint says how to fix it."""


class AuthFailed(ServiceError):
    pass


class PermissionDenied(ServiceError):
    pass


class NotFound(ServiceError):
    pass


class InvalidRequest(ServiceError):
    pass


class FileNotReady(InvalidRequest):
    pass


class TrainingFileRejected(InvalidRequest):
    """The service refused a training or validation file; `line` names the example when known."""

    def __init__(self, title: str, hint: str = "", *, line: int | None = None, **kw):
        super().__init__(title, hint, **kw)
        self.line = line


class ModelNotFineTunable(InvalidRequest):
    pass


class ModelShutDown(InvalidRequest):
    pass


class JobLimitReached(ServiceError):
    pass


class RateLimited(ServiceError):
    transient = True

    def __init__(self, title: str, hint: str = "", *, retry_after: float | None = None, **kw):
        super().__init__(title, hint, **kw)
        self.retry_after = retry_after


class ServerError(ServiceError):
    transient = True


class ConnectionLost(ServiceError):
    transient = True


class Timeout(ConnectionLost):
    pass


class BadResponse(ServiceError):
    """The server answered with something that is not the API's shape."""


_LINE = re.compile(r"\b[Ll]ine (\d+)")


def _body_error(exc) -> tuple[str, str | None, str | None]:
    """(message, code, param) from an OpenAI-style error envelope, whatever the server sent."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict):
        message = body.get("message") or exc.message
        return str(message), body.get("code"), body.get("param")
    return exc.message, getattr(exc, "code", None), getattr(exc, "param", None)


def _retry_after(exc) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate(exc: BaseException, *, base_url: str | None = None) -> ServiceError:
    """The ServiceError that says, for a person, what `exc` from the SDK means."""
    import openai  # here, not at the top: the app starts faster without the SDK (≈0.6 s)

    if isinstance(exc, ServiceError):
        return exc
    where = f" at {base_url}" if base_url else ""
    if isinstance(exc, openai.APITimeoutError):
        return Timeout("The server did not answer in time", f"the request{where} timed out; it will be retried")
    if isinstance(exc, openai.APIConnectionError):
        return ConnectionLost(
            f"Cannot reach the server{where}",
            "check the network and the profile's base URL; TuneDeck keeps retrying",
        )
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc, where)
    if isinstance(exc, openai.APIResponseValidationError):
        return BadResponse("The server's answer does not have the API's shape", f"is the base URL{where} an OpenAI-compatible API?")
    if isinstance(exc, openai.OpenAIError):
        return ServiceError("The OpenAI client refused the call", str(exc))
    return ServiceError("Unexpected error", f"{type(exc).__name__}: {exc}")


def _from_status(exc, where: str) -> ServiceError:
    import openai

    message, code, param = _body_error(exc)
    status = exc.status_code
    kw = {"status": status, "code": code, "param": param}
    lowered = message.lower()
    if isinstance(exc, openai.AuthenticationError):
        return AuthFailed("The API key was refused", f"check the profile's key{where} ({message})", **kw)
    if isinstance(exc, openai.PermissionDeniedError):
        return PermissionDenied("Not allowed", message, **kw)
    if isinstance(exc, openai.RateLimitError):
        if "daily" in lowered or "job" in lowered and "limit" in lowered or code in ("daily_rate_limit_exceeded", "job_limit_reached"):
            return JobLimitReached("The service's job limit is reached", message, **kw)
        return RateLimited("The server asks us to slow down", message, retry_after=_retry_after(exc), **kw)
    if isinstance(exc, openai.InternalServerError):
        return ServerError(f"The server failed ({status})", "a temporary problem on the server's side; it will be retried", **kw)
    if isinstance(exc, openai.NotFoundError):
        if code == "model_not_found" or "model" in lowered:
            return NotFound("Unknown model", message, **kw)
        return NotFound("Not found", message, **kw)
    if isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError, openai.ConflictError)):
        return _bad_request(message, code, param, kw)
    if status >= 500:
        return ServerError(f"The server failed ({status})", message, **kw)
    return ServiceError(f"The server refused the request ({status})", message, **kw)


def _bad_request(message: str, code: str | None, param: str | None, kw: dict) -> ServiceError:
    lowered = message.lower()
    if "not ready" in lowered or "still being processed" in lowered or code == "file_not_ready":
        return FileNotReady("The file is not processed yet", "wait a few seconds and try again", **kw)
    if "shut down" in lowered or "deprecated" in lowered or code == "model_shut_down":
        return ModelShutDown("The model is shut down", message, **kw)
    if "fine-tun" in lowered and ("not available" in lowered or "does not support" in lowered or "not supported" in lowered):
        return ModelNotFineTunable("The model cannot be fine-tuned here", message, **kw)
    if param in ("training_file", "validation_file", "file") or "jsonl" in lowered or code in ("invalid_training_file", "invalid_file_format"):
        match = _LINE.search(message)
        return TrainingFileRejected("The file was rejected", message, line=int(match.group(1)) if match else None, **kw)
    return InvalidRequest("The server refused the request", message, **kw)
