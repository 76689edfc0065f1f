"""A batch run: every case asked of up to three models, a few requests at a time, resumable, saved as JSONL.

    cases, skipped = read_cases("valid.jsonl")
    answers = await evaluate(conn, cases, ["gpt-4o-mini", tuned], Path("valid.eval.jsonl"), on_answer=show)

Results file. Answers are appended (and flushed) as they arrive, so a killed run leaves every
finished answer on disk; the file format is `core.evaluate.results`. A run first rewrites the
file — header, then the answers it keeps — into a temp file beside it and renames that over it,
which also drops a half-written last line left by a kill.

Resume. When `out` already holds results, its header must match the run: the same models (in
any order) and the same `params`. The source file may have changed since: each answer carries a
digest of its question, and an answer is kept only when its case (line number, messages, tools)
is unchanged and it has no error; kept answers are scored again against the current gold answer
(a corrected gold answer needs no new request). Failed and missing pairs are asked again. A
header that does not match raises `ResultsMismatch`: start over with `fresh=True` or write
elsewhere. With `fresh=True` the old file is replaced only once the new run has its first
answer, so a run that cannot start at all (a bad key, a server that is down) keeps the old results.

Errors. A request that fails after the SDK's retries becomes an Answer with `error`, and the run
goes on, except:
- a refused key (AuthFailed) stops the run: nothing else would work; the error is raised;
- a model the server does not know, has shut down or will not serve (NotFound, ModelShutDown,
  PermissionDenied) is asked once: its other cases are recorded as failed, "not asked", with the
  same error, rather than sent hundreds of times (`UNAVAILABLE` lists these types);
- after `GIVE_UP_AFTER` transient failures in a row (5xx, 429, lost connection) with no answer
  in between, the server is taken to be down: the remaining pairs are recorded as not asked.
Failed pairs are asked again by the next run on the same file.

Cancelling the task cancels the requests in flight; the file keeps every answer received.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import aiofiles
import aiofiles.os

from core.evaluate import MAX_MODELS
from core.evaluate.cases import Case
from core.evaluate.results import (
    Answer,
    ResultsMismatch,
    Stored,
    answer_line,
    check_header,
    header_line,
    json_params,
    parse,
    prompt_digest,
)
from core.evaluate.scores import score
from core.service.chat import complete
from core.service.client import Connection
from core.service.errors import AuthFailed, ModelShutDown, NotFound, PermissionDenied, ServiceError
from core.service.launch import sha256_of
from core.service.together import run_together

__all__ = ["Answer", "GIVE_UP_AFTER", "MAX_MODELS", "NOT_ASKED", "Progress", "ResultsMismatch", "UNAVAILABLE", "evaluate"]

GIVE_UP_AFTER = 10
NOT_ASKED = "not asked"  # how the error of a pair that was never sent begins
UNAVAILABLE = (NotFound, ModelShutDown, PermissionDenied)  # the model, not the request, is the problem


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    failed: int
    resumed: int  # answers found in the results file from an earlier run


def _describe(error: ServiceError) -> str:
    return f"{error.title} — {error.hint}" if error.hint else error.title


def _since(started: float) -> float:
    """Seconds since `started`, to the 0.1 ms the results file keeps (so an answer read back is equal)."""
    return round((time.perf_counter() - started) * 1000, 1) / 1000


async def _stored(out: Path) -> Stored | None:
    try:
        async with aiofiles.open(out, "rb") as f:
            data = await f.read()
    except FileNotFoundError:
        return None
    return parse(data, out)


class _ResultsFile:
    """The results file being written: a temp file beside `out`, renamed over it when it is time."""

    def __init__(self, out: Path, defer: bool):
        self.out = out
        self.defer = defer  # keep the old file until the first answer (fresh=True over old results)
        self.temp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
        self.placed = False
        self.lock = asyncio.Lock()
        self.file = None

    async def open(self, start: bytes) -> None:
        opening = asyncio.ensure_future(aiofiles.open(self.temp, "wb"))
        try:
            self.file = await asyncio.shield(opening)
        finally:
            if self.file is None:  # cancelled while a thread creates the file: have it, to remove it
                with contextlib.suppress(BaseException):
                    self.file = await opening
        await self.file.write(start)
        await self.file.flush()
        await asyncio.to_thread(os.fsync, self.file.fileno())  # renamed over old results: they must be on disk
        if not self.defer:
            await self._place()

    async def _place(self) -> None:
        # Marked first and shielded: a cancel here must not have close() remove what is being renamed.
        self.placed = True
        await asyncio.shield(aiofiles.os.replace(self.temp, self.out))

    async def write(self, line: bytes, *, answered: bool) -> None:
        async with self.lock:  # one line at a time; each is one write, whole or (after a kill) cut short
            await self.file.write(line)
            await self.file.flush()
            if answered and not self.placed:
                await self._place()

    async def close(self) -> None:
        if self.file is not None:
            await self.file.close()
        if not self.placed:  # a fresh run with no answer at all: the old results stay
            try:
                await aiofiles.os.remove(self.temp)
            except FileNotFoundError:
                pass


class _Run:
    """The state of one run that its workers share: answers so far, and what the server has shown."""

    def __init__(self, conn: Connection, params: dict, results: _ResultsFile, total: int, resumed: int, on_answer):
        self.conn = conn
        self.params = params
        self.results = results
        self.on_answer = on_answer
        self.answers: dict[tuple[int, str], Answer] = {}
        self.total, self.resumed, self.failed = total, resumed, 0
        self.unavailable: dict[str, ServiceError] = {}
        self.failing = 0  # transient failures in a row
        self.last_failure: ServiceError | None = None

    def record(self, answer: Answer) -> None:
        self.answers[answer.line, answer.model] = answer
        self.failed += answer.error is not None
        if self.on_answer is not None:
            self.on_answer(answer, Progress(len(self.answers), self.total, self.failed, self.resumed))

    async def ask(self, case: Case, model: str) -> Answer:
        error = self.unavailable.get(model)
        if error is None and self.failing >= GIVE_UP_AFTER:
            error = self.last_failure
        if error is not None:
            why = f"{model} is not available" if model in self.unavailable else f"the {self.failing} requests before it failed"
            return Answer(case.line, model, "", 0.0, None, None, f"{NOT_ASKED} ({why}): {_describe(error)}", None, type(error).__name__)
        started = time.perf_counter()
        try:
            text, done = await complete(self.conn, model, case.prompt, **{**case.params, **self.params})
        except AuthFailed:  # nothing else would work either
            raise
        except ServiceError as error:
            if isinstance(error, UNAVAILABLE):
                self.unavailable.setdefault(model, error)
            if error.transient:
                self.failing += 1
                self.last_failure = error
            return Answer(case.line, model, "", _since(started), None, None, _describe(error), None, type(error).__name__)
        latency = _since(started)
        self.failing = 0
        usage = done.usage
        return Answer(case.line, model, text, latency, usage.prompt_tokens if usage else None,
                      usage.completion_tokens if usage else None, None, score(text, case.gold))  # fmt: skip

    async def work(self, queue: deque[tuple[Case, str]], digests: dict[int, str]) -> None:
        while queue:
            case, model = queue.popleft()
            answer = await self.ask(case, model)
            await self.results.write(answer_line(answer, case.gold, digests[case.line]), answered=answer.error is None)
            self.record(answer)


async def evaluate(
    conn: Connection,
    cases: list[Case],
    models: list[str],
    out: Path,
    *,
    concurrency: int = 4,
    params: dict | None = None,
    on_answer: Callable[[Answer, Progress], None] | None = None,
    fresh: bool = False,
    source: str | Path | None = None,
) -> list[Answer]:
    """Ask every case of every model, `concurrency` requests at a time; the answers, scored.

    `params` (temperature, max_tokens, top_p, seed…) go with every request, after the case's own
    (tools). `on_answer(answer, progress)` runs on the event loop for every answer, the ones kept
    from an earlier run first; keep it cheap. `source` is the file the cases come from, named in
    the results' header with its hash. Returns every answer, in case order then model order.
    Raises ValueError for a bad call, ResultsMismatch (see the module docstring), OSError when
    the results file cannot be written, AuthFailed when the key is refused.
    """
    models = list(models)
    if not models or len(models) > MAX_MODELS:
        raise ValueError(f"evaluate 1 to {MAX_MODELS} models, not {len(models)}")
    if len(set(models)) != len(models):
        raise ValueError("a model is named twice")
    if concurrency < 1:
        raise ValueError("concurrency is at least 1")
    out = Path(out)
    params = json_params(params)
    digests = {case.line: prompt_digest(case) for case in cases}
    by_line = {case.line: case for case in cases}

    kept: list[Answer] = []
    if not fresh:
        stored = await _stored(out)
        if stored is not None and stored.header is not None:
            check_header(stored.header, models, params, out)
            for answer, digest in stored.answers:
                case = by_line.get(answer.line)
                if answer.error is None and case is not None and answer.model in models and digest == digests[case.line]:
                    kept.append(replace(answer, score=score(answer.text, case.gold)))
    order = {(case.line, model): k for k, (case, model) in enumerate((c, m) for c in cases for m in models)}
    kept.sort(key=lambda a: order[a.line, a.model])

    header = {
        "source": str(source) if source is not None else None,
        "source_sha256": await asyncio.to_thread(sha256_of, Path(source)) if source is not None else None,
        "models": models,
        "params": params,
    }
    start = header_line(header) + b"".join(answer_line(a, by_line[a.line].gold, digests[a.line]) for a in kept)
    results = _ResultsFile(out, defer=fresh and await aiofiles.os.path.exists(out))
    run = _Run(conn, params, results, total=len(order), resumed=len(kept), on_answer=on_answer)
    try:
        await results.open(start)
        for answer in kept:
            run.record(answer)
        have = set(run.answers)
        queue = deque((case, model) for case in cases for model in models if (case.line, model) not in have)
        await run_together([run.work(queue, digests) for _ in range(min(concurrency, len(queue)))])
    finally:
        await results.close()
    return [run.answers[pair] for pair in sorted(run.answers, key=order.__getitem__)]
