"""Fine-tuning jobs: create (never twice), list, retrieve, cancel, pause, resume, events,
checkpoints and result files — one code path for every server that speaks the API.

Creating a job costs money, so it is sent without retries. When it fails in a way that leaves
us not knowing whether the server created the job (the connection dropped, a 5xx, a timeout),
we look for the job by a request token we put in its metadata before trying again.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, field
from typing import Literal

from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from core.service.client import Connection
from core.service.errors import ConnectionLost, ServerError, ServiceError, translate
from core.service.limits import TERMINAL
from core.service.local_state import JobRecord, LocalState

REQUEST_KEY = "tunedeck_request"  # metadata key holding the token that finds a job we created
METADATA_LIMIT = 16
CREATE_ATTEMPTS = 3

Auto = Literal["auto"]


@dataclass
class JobRequest:
    """What the user asked for; `None` hyperparameters are left to the service ("auto")."""

    model: str
    training_file: str
    validation_file: str | None = None
    method: Literal["supervised", "dpo"] = "supervised"
    n_epochs: int | Auto | None = None
    batch_size: int | Auto | None = None
    learning_rate_multiplier: float | Auto | None = None
    beta: float | Auto | None = None  # DPO only
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    integrations: list[dict] | None = None

    def hyperparameters(self) -> dict:
        values = {"n_epochs": self.n_epochs, "batch_size": self.batch_size, "learning_rate_multiplier": self.learning_rate_multiplier}
        if self.method == "dpo":
            values["beta"] = self.beta
        return {k: v for k, v in values.items() if v is not None}

    def body(self, token: str | None) -> dict:
        """Keyword arguments of `fine_tuning.jobs.create`."""
        metadata = dict(self.metadata)
        if token is not None:
            metadata[REQUEST_KEY] = token
        kwargs: dict = {
            "model": self.model,
            "training_file": self.training_file,
            "method": {"type": self.method, self.method: {"hyperparameters": self.hyperparameters()}},
        }
        optional = {"validation_file": self.validation_file, "suffix": self.suffix, "seed": self.seed, "integrations": self.integrations}
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        if metadata:
            kwargs["metadata"] = metadata
        return kwargs


def is_terminal(status: str) -> bool:
    return status in TERMINAL


async def create(conn: Connection, request: JobRequest, *, state: LocalState | None = None, provenance: dict | None = None) -> FineTuningJob:
    """Create the job exactly once, and record it in local state."""
    # The token needs a free metadata slot; without one an ambiguous failure cannot be resolved,
    # so it is reported instead of retried.
    token = secrets.token_hex(8) if len(request.metadata) < METADATA_LIMIT else None
    body = request.body(token)
    job = None
    for attempt in range(CREATE_ATTEMPTS):
        try:
            job = await conn.once.fine_tuning.jobs.create(**body)
            break
        except Exception as exc:
            error = translate(exc, base_url=conn.base_url)
            if not isinstance(error, (ConnectionLost, ServerError)):
                raise error from exc  # the server said no: nothing was created
            if token is None:
                raise ServiceError(
                    "Could not tell whether the job was created",
                    f"{error.title}; look at the jobs list before launching again",
                ) from exc
            job = await find_by_token(conn, token)
            if job is not None:
                break
            if attempt == CREATE_ATTEMPTS - 1:
                raise error from exc
    if state is not None:
        info = provenance or {}
        state.record_job(
            JobRecord(
                profile=conn.profile.identity,
                job_id=job.id,
                model=request.model,
                training_file=request.training_file,
                validation_file=request.validation_file,
                dataset_path=info.get("dataset_path"),
                dataset_sha256=info.get("dataset_sha256"),
                split_ratio=info.get("split_ratio"),
                split_seed=info.get("split_seed"),
                suffix=request.suffix,
                status=job.status,
                created_at=float(job.created_at),
                train_path=info.get("train_path"),
                validation_path=info.get("validation_path"),
            )
        )
    return job


async def find_by_token(conn: Connection, token: str) -> FineTuningJob | None:
    """The job created with this request token, if the server has it (recent jobs only)."""
    try:
        page = await conn.client.fine_tuning.jobs.list(metadata={REQUEST_KEY: token}, limit=100)
    except Exception as exc:
        raise ServiceError("Could not tell whether the job was created", f"{translate(exc).title}; look at the jobs list before launching again") from exc
    # A server that ignores the metadata filter returns every job: filter here too.
    for job in page.data:
        if (job.metadata or {}).get(REQUEST_KEY) == token:
            return job
    return None


async def _call(conn: Connection, coro_factory):
    try:
        return await coro_factory()
    except Exception as exc:
        raise translate(exc, base_url=conn.base_url) from exc


async def retrieve(conn: Connection, job_id: str, *, client=None) -> FineTuningJob:
    client = client or conn.client
    return await _call(conn, lambda: client.fine_tuning.jobs.retrieve(job_id))


async def list_page(conn: Connection, *, limit: int = 20, after: str | None = None) -> tuple[list[FineTuningJob], bool]:
    """One page of jobs, newest first, and whether there are more."""
    kwargs = {"limit": limit} | ({"after": after} if after else {})
    page = await _call(conn, lambda: conn.client.fine_tuning.jobs.list(**kwargs))
    return list(page.data), bool(page.has_more)


async def list_all(conn: Connection, *, page_size: int = 50, most: int = 1000) -> list[FineTuningJob]:
    """Every job, newest first, following the cursor (at most `most`)."""
    jobs: list[FineTuningJob] = []
    after = None
    while len(jobs) < most:
        page, more = await list_page(conn, limit=page_size, after=after)
        jobs.extend(page)
        if not more or not page:
            break
        after = page[-1].id
    return jobs[:most]


async def cancel(conn: Connection, job_id: str) -> FineTuningJob:
    return await _call(conn, lambda: conn.client.fine_tuning.jobs.cancel(job_id))


async def pause(conn: Connection, job_id: str) -> FineTuningJob:
    return await _call(conn, lambda: conn.client.fine_tuning.jobs.pause(job_id))


async def resume(conn: Connection, job_id: str) -> FineTuningJob:
    return await _call(conn, lambda: conn.client.fine_tuning.jobs.resume(job_id))


async def events_page(conn: Connection, job_id: str, *, limit: int = 100, after: str | None = None, client=None) -> tuple[list[FineTuningJobEvent], bool]:
    """One page of events, newest first (the service's order), and whether older ones remain."""
    client = client or conn.client
    kwargs = {"limit": limit} | ({"after": after} if after else {})
    page = await _call(conn, lambda: client.fine_tuning.jobs.list_events(job_id, **kwargs))
    return list(page.data), bool(page.has_more)


async def checkpoints(conn: Connection, job_id: str, *, client=None) -> list[FineTuningJobCheckpoint]:
    client = client or conn.client
    page = await _call(conn, lambda: client.fine_tuning.jobs.checkpoints.list(job_id, limit=100))
    return list(page.data)


async def result_csv(conn: Connection, file_id: str) -> str:
    """A result file as CSV text; the service stores it base64-encoded, others may not."""
    response = await _call(conn, lambda: conn.client.files.content(file_id))
    return decode_result(response.content)


def decode_result(content: bytes) -> str:
    stripped = content.strip()
    try:
        decoded = base64.b64decode(stripped, validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, ValueError):
        return content.decode("utf-8", "replace")
    return text if "," in text else content.decode("utf-8", "replace")
