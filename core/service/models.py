"""Which models a profile offers to talk to: tuned models and checkpoints first, each with its job.

The playground lists these; the service's own list says nothing about where a tuned model came
from, so the jobs TuneDeck knows (the Jobs section's board) supply that, and their checkpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from core.dataset.base_models import ALIASES, MODELS
from core.service.client import Connection
from core.service.errors import ServiceError, translate

CHECKPOINT_JOBS = 5  # the most recent succeeded jobs whose checkpoints are asked for


@dataclass(frozen=True)
class Offer:
    model: str  # what to send as `model`
    kind: Literal["tuned", "checkpoint", "base"]
    job_id: str | None = None
    detail: str = ""  # for a person: "suffix travel", "step 40"

    @property
    def label(self) -> str:
        origin = f"  {self.detail}" if self.detail else ""
        job = f"  from {self.job_id}" if self.job_id else ""
        return f"{self.model}{origin}{job}"


def offers(listed: Iterable[str], jobs: Iterable, checkpoints: Mapping[str, Iterable] | None = None) -> list[Offer]:
    """Each job's tuned model followed by its checkpoints (newest job first, latest step first),
    then tuned models of unknown origin, then base models (the ones TuneDeck knows first). `jobs` are FineTuningJob-like
    objects (id, fine_tuned_model, user_provided_suffix, created_at); `checkpoints` maps a job id
    to its checkpoints (fine_tuned_model_checkpoint, step_number)."""
    listed = list(dict.fromkeys(listed))
    tuned: list[Offer] = []
    known: set[str] = set()
    for job in sorted(jobs, key=lambda j: -(getattr(j, "created_at", 0) or 0)):
        model = getattr(job, "fine_tuned_model", None)
        if model and model not in known:
            suffix = getattr(job, "user_provided_suffix", None)
            tuned.append(Offer(model, "tuned", job.id, f"suffix {suffix}" if suffix else ""))
            known.add(model)
        for point in sorted((checkpoints or {}).get(job.id, ()), key=lambda c: -c.step_number):
            name = point.fine_tuned_model_checkpoint
            if name and name not in known:
                tuned.append(Offer(name, "checkpoint", job.id, f"step {point.step_number}"))
                known.add(name)
    strays = [Offer(m, "tuned") for m in listed if m.startswith("ft:") and m not in known]
    ours = set(MODELS) | set(ALIASES)
    base = sorted((m for m in listed if not m.startswith("ft:")), key=lambda m: (m not in ours, m))
    return tuned + strays + [Offer(m, "base") for m in base]


async def list_offers(conn: Connection, jobs: Iterable) -> list[Offer]:
    """The server's models with what the jobs say about them. Checkpoints are asked for the most
    recent succeeded jobs only (one request each, concurrently); one that fails is left out."""
    from core.service import jobs as job_calls

    jobs = list(jobs)
    try:
        page = await conn.client.models.list()
        listed = [m.id async for m in page]
    except Exception as exc:
        raise translate(exc, base_url=conn.base_url) from exc
    recent = sorted((j for j in jobs if j.status == "succeeded"), key=lambda j: -(j.created_at or 0))[:CHECKPOINT_JOBS]

    async def points(job_id: str):
        try:
            return job_id, await job_calls.checkpoints(conn, job_id)
        except ServiceError:
            return job_id, []

    found = dict(await asyncio.gather(*(points(j.id) for j in recent)))
    return offers(listed, jobs, found)
