"""A generation run: requests for examples, a few at a time, until enough are good; progress, tokens, cost.

    judge = Judge(file_records(ds), system=brief.system)            # in a worker thread
    candidates = await generate(conn, brief, 20, model="gpt-4.1-mini-2025-04-14", judge=judge,
                                on_candidate=lambda candidate, progress: ...)
    ds.extend(c.example for c in candidates if c.ok)

Asking. Each request asks for `per_request` examples (fewer near the end: never more than are
still missing, counting those in flight), `concurrency` requests at a time, until `n` candidates
are ok or `max_requests` requests were answered (default 3·⌈n/per_request⌉ + 2), so a brief
whose examples keep being dropped cannot spend without end. Requests differ: the seed topics go
round-robin, each carries a variation hint, and the user messages of the run's last ok
candidates are listed as ones not to repeat. A reply with more examples than needed: the ones
past `n` ok are not judged.

The answer format is requested as JSON through structured outputs (RESPONSE_FORMAT). A server
that refuses it (400 naming response_format or json_schema: older models, some compatible
servers) is asked again without it, for the rest of the run; the reply is then read by
parse_reply, which copes with prose, fences and JSONL.

Errors. AuthFailed, NotFound, PermissionDenied, ModelShutDown and every other refusal that is
not about the format stop the run: the error is raised (after the requests in flight are
cancelled). A transient failure (429, 5xx, a lost connection) has already been retried by the
SDK (twice, with back-off and the server's retry-after); the run counts it and goes on, and after
GIVE_UP_AFTER of them in a row it stops asking: the candidates so far are returned and the last
Progress says so (`gave_up`, and the failure in `error`). If no request was answered at all, the
error is raised instead.

Cancelling the task cancels the requests in flight; every candidate received before was given
to `on_candidate` already.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from core.service.chat import complete
from core.service.client import Connection
from core.service.errors import InvalidRequest, ModelShutDown, ServiceError
from core.service.together import run_together
from core.synthetic.brief import MAX_PER_REQUEST, RESPONSE_FORMAT, Brief, request
from core.synthetic.parse import parse_parts
from core.synthetic.prices import PRICES_AS_OF, cost, inference_price
from core.synthetic.review import Candidate, Judge, first_user_text, unreadable

__all__ = ["GIVE_UP_AFTER", "PRICES_AS_OF", "Candidates", "Progress", "generate", "inference_price", "regenerate"]

GIVE_UP_AFTER = 3  # transient failures in a row (each already retried by the SDK) before the run stops
AVOID = 30  # user messages of the run's ok candidates sent as "do not repeat" (the most recent)
REGENERATE_ATTEMPTS = 3  # requests regenerate() may make for one example that is ok


@dataclass(frozen=True)
class Progress:
    wanted: int
    received: int  # candidates so far, whatever their verdict
    ok: int
    invalid: int
    duplicates: int  # exact and near
    unreadable: int
    requests: int  # answered
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # USD at `prices.PRICES_AS_OF` prices; None when the model's price is unknown
    failed_requests: int = 0  # failed after the SDK's retries
    structured: bool = True  # whether the answer format is still sent as a JSON schema
    error: str | None = None  # the last request failure, for a person (it may have recovered since)
    gave_up: bool = False  # the run stopped asking: GIVE_UP_AFTER failures in a row


class Candidates(list):
    """The candidates of a run, in arrival order; `progress` is the run's last Progress."""

    progress: Progress


def _describe(error: ServiceError) -> str:
    return f"{error.title} — {error.hint}" if error.hint else error.title


def _refuses_format(error: ServiceError) -> bool:
    """Is this the server saying it does not take response_format (or a JSON schema)?"""
    if not isinstance(error, InvalidRequest) or isinstance(error, ModelShutDown):
        return False
    said = f"{error.title} {error.hint}".lower()
    return error.param == "response_format" or "response_format" in said or "json_schema" in said


def _share(total: int, parts: int) -> list[int]:
    """`total` split over `parts` as evenly as whole numbers allow; the shares add up to it."""
    base, extra = divmod(total, parts)
    return [base + (k < extra) for k in range(parts)]


class _Run:
    """What the workers of one run share: counts, the format decision, the candidates so far."""

    def __init__(self, conn: Connection, brief: Brief, n: int, model: str, judge: Judge, temperature: float | None,
                 on_candidate, on_progress):  # fmt: skip
        self.conn, self.brief, self.n, self.model, self.judge = conn, brief, n, model, judge
        self.temperature = temperature
        self.on_candidate, self.on_progress = on_candidate, on_progress
        self.candidates = Candidates()
        self.structured = True
        self.asked = 0  # requests started and not failed: what max_requests counts
        self.sent = 0  # requests started: the next one's number picks its topic and variation hint
        self.answered = 0
        self.failed = 0
        self.failing = 0  # failures in a row
        self.last_error: ServiceError | None = None
        self.pending = 0  # examples asked for by requests in flight
        self.ok = 0
        self.counts = {"invalid": 0, "duplicate": 0, "near-duplicate": 0, "unreadable": 0}
        self.prompt_tokens = self.completion_tokens = 0
        self.avoid: list[str] = []
        self.next_number = judge.last_number + 1
        self.changed = asyncio.Condition()

    def progress(self) -> Progress:
        return Progress(
            wanted=self.n, received=len(self.candidates), ok=self.ok, invalid=self.counts["invalid"],
            duplicates=self.counts["duplicate"] + self.counts["near-duplicate"], unreadable=self.counts["unreadable"],
            requests=self.answered, prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
            cost=cost(self.model, self.prompt_tokens, self.completion_tokens), failed_requests=self.failed,
            structured=self.structured, error=_describe(self.last_error) if self.last_error else None,
            gave_up=self.failing >= GIVE_UP_AFTER,
        )  # fmt: skip

    async def ask(self, messages: list[dict]) -> tuple[str, object]:
        """One request, with the format while the server takes it; ServiceError when it fails."""
        params = {} if self.temperature is None else {"temperature": self.temperature}
        while True:
            structured = self.structured
            try:
                if structured:
                    return await complete(self.conn, self.model, messages, response_format=RESPONSE_FORMAT, **params)
                return await complete(self.conn, self.model, messages, **params)
            except InvalidRequest as error:
                if structured and _refuses_format(error):
                    self.structured = False  # for every later request of the run too
                    continue
                raise

    def take(self, text: str, usage) -> None:
        """Judge the examples of one reply and report each; the request's tokens are shared among them."""
        parts = parse_parts(text)
        prompts = _share(usage.prompt_tokens if usage else 0, len(parts))
        completions = _share(usage.completion_tokens if usage else 0, len(parts))
        self.prompt_tokens += sum(prompts)
        self.completion_tokens += sum(completions)
        for part, prompt_tokens, completion_tokens in zip(parts, prompts, completions):
            if self.ok >= self.n:
                break  # more examples than asked for: the extras are not judged
            number = self.next_number
            self.next_number += 1
            if part.reason is not None:
                candidate = unreadable(number, part.raw, part.reason)
            else:
                candidate = self.judge.judge(part.value, part.raw, number)
            candidate = replace(candidate, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
            self.record(candidate)

    def record(self, candidate: Candidate) -> None:
        self.candidates.append(candidate)
        if candidate.ok:
            self.ok += 1
            said = first_user_text(candidate.example)
            if said:
                self.avoid = [*self.avoid, said][-AVOID:]
        else:
            self.counts[candidate.verdict] += 1
        if self.on_candidate is not None:
            self.on_candidate(candidate, self.progress())

    async def work(self, per_request: int, max_requests: int) -> None:
        while True:
            async with self.changed:
                while True:
                    if self.ok >= self.n or self.asked >= max_requests or self.failing >= GIVE_UP_AFTER:
                        return
                    want = min(per_request, self.n - self.ok - self.pending)
                    if want > 0:
                        break
                    await self.changed.wait()  # enough are asked for: wait to see if they come
                k = self.sent
                self.sent += 1
                self.asked += 1
                self.pending += want
            messages = request(self.brief, want, topic=self.brief.topic(k), avoid=self.avoid, variation=k)
            try:
                try:
                    text, done = await self.ask(messages)
                except ServiceError as error:
                    if not error.transient:
                        raise
                    self.failed += 1
                    self.failing += 1
                    self.last_error = error
                    self.asked -= 1  # a failed request does not count against max_requests
                else:
                    self.answered += 1
                    self.failing = 0
                    self.take(text, done.usage)
                if self.on_progress is not None:
                    self.on_progress(self.progress())
            finally:
                async with self.changed:
                    self.pending -= want
                    self.changed.notify_all()


def _default_max_requests(n: int, per_request: int) -> int:
    return 3 * math.ceil(n / per_request) + 2


async def generate(
    conn: Connection,
    brief: Brief,
    n: int,
    *,
    model: str,
    judge: Judge,
    temperature: float | None = None,
    per_request: int = 5,
    concurrency: int = 3,
    max_requests: int | None = None,
    on_candidate: Callable[[Candidate, Progress], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Candidates:
    """Ask `model` for examples of `brief` until `n` are ok (see the module docstring for when it stops).

    Every candidate is judged by `judge` (its `system` is set to the brief's) as it arrives and
    given to `on_candidate(candidate, progress)` on the event loop; `on_progress(progress)` runs
    after every request, answered or failed. Returns every candidate, in arrival order, numbered
    on from the judge's last number; `.progress` is the final count. Raises ValueError for a bad
    call, and ServiceError as the module docstring says.
    """
    if n < 1:
        raise ValueError("ask for at least one example")
    if not 1 <= per_request <= MAX_PER_REQUEST:
        raise ValueError(f"per_request is 1 to {MAX_PER_REQUEST}")
    if concurrency < 1:
        raise ValueError("concurrency is at least 1")
    request(brief, 1, topic=None)  # a brief that cannot be asked fails here, before anything is sent
    limit = max_requests if max_requests is not None else _default_max_requests(n, per_request)
    if limit < 1:
        raise ValueError("max_requests is at least 1")
    judge.system = brief.system
    run = _Run(conn, brief, n, model, judge, temperature, on_candidate, on_progress)
    await run_together([run.work(per_request, limit) for _ in range(min(concurrency, limit))])
    if run.answered == 0 and run.last_error is not None:
        raise run.last_error
    run.candidates.progress = run.progress()
    return run.candidates


async def regenerate(
    conn: Connection,
    brief: Brief,
    *,
    model: str,
    judge: Judge,
    number: int,
    temperature: float | None = None,
    avoid: Sequence[str] = (),
) -> Candidate:
    """One new example in place of candidate `number` (rejected on the review screen): judged, same number.

    Asks again, up to REGENERATE_ATTEMPTS requests, while the new one is not ok (a duplicate, say);
    the last one is returned, with the tokens of every attempt. `avoid`: user messages not to
    repeat (the accepted candidates', say). Raises ServiceError when a request fails.
    """
    judge.forget(number)
    judge.system = brief.system
    run = _Run(conn, brief, 1, model, judge, temperature, None, None)
    candidate = None
    prompt_tokens = completion_tokens = 0
    for attempt in range(REGENERATE_ATTEMPTS):
        messages = request(brief, 1, topic=brief.topic(number - 1), avoid=list(avoid), variation=number + attempt)
        text, done = await run.ask(messages)
        if done.usage is not None:
            prompt_tokens += done.usage.prompt_tokens
            completion_tokens += done.usage.completion_tokens
        parts = parse_parts(text)
        part = next((p for p in parts if p.reason is None), parts[0])
        if part.reason is not None:
            candidate = unreadable(number, part.raw, part.reason)
        else:
            candidate = judge.judge(part.value, part.raw, number)
        if candidate.ok:
            break
    return replace(candidate, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
