"""An answer, and the results file that keeps answers: JSONL, a header line, then one answer a line.

    {"tunedeck_eval": 1, "source": "data/x.jsonl", "source_sha256": "…", "models": [...], "params": {...}}
    {"line": 3, "model": "…", "answer": "…", "gold": "…", "latency_ms": 812.4, "prompt_tokens": 41,
     "completion_tokens": 17, "error": null, "error_type": null,
     "scores": {"exact": true, "f1": 1.0, "similarity": 1.0, "json_valid": null}, "prompt_sha256": "…"}

`prompt_sha256` is a digest of what was sent for the case (its messages and per-example params):
a resumed run keeps an answer only while its question is unchanged. Reading is lenient, because
a run killed mid-write leaves half a line at the end: lines that are not answers are left out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from core.evaluate.cases import Case
from core.evaluate.scores import Score

FORMAT = 1  # the header's "tunedeck_eval": bumped when an old reader could misread the file


class ResultsError(Exception):
    """A results file that cannot be used as asked; `title` says what, `hint` what to do."""

    def __init__(self, title: str, hint: str = ""):
        super().__init__(f"{title} ({hint})" if hint else title)
        self.title = title
        self.hint = hint


class ResultsMismatch(ResultsError):
    """The results file was written for other models or parameters."""


@dataclass(frozen=True)
class Answer:
    line: int
    model: str
    text: str
    latency: float  # seconds, request to last byte
    prompt_tokens: int | None
    completion_tokens: int | None
    error: str | None  # ServiceError title (+ hint) when the request failed after the SDK's retries
    score: Score | None  # None when error
    # The ServiceError class ("NotFound", "RateLimited", …), so a UI or the CLI can tell a model
    # the server does not know from a request that failed; None when answered.
    error_type: str | None = None


@dataclass(frozen=True)
class Stored:
    """A results file as read: its header and, per answer, the digest of the question it answers."""

    header: dict | None  # None for an empty file
    answers: list[tuple[Answer, str | None]]
    damaged: int  # lines that were not answers (a half-written last line, hand edits)


def prompt_digest(case: Case) -> str:
    data = orjson.dumps({"prompt": case.prompt, "params": case.params}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()


def json_params(params: dict | None) -> dict:
    """Request params as the header keeps them: None values dropped ("not sent"), JSON types."""
    return orjson.loads(orjson.dumps({k: v for k, v in (params or {}).items() if v is not None}))


def check_header(header: dict, models: list[str], params: dict, out: Path | str) -> None:
    """Raise ResultsMismatch unless results with this header can be resumed by a run of `models`
    (in any order) with `params` (as `json_params` gives them)."""
    had_models, had_params = header.get("models"), header.get("params")
    if isinstance(had_models, list) and set(had_models) == set(models) and had_params == params:
        return
    was = ", ".join(map(str, had_models)) if isinstance(had_models, list) else "unknown models"
    if isinstance(had_params, dict) and had_params:
        was += "; " + ", ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in had_params.items())
    raise ResultsMismatch(
        f"{out} holds results for other models or parameters ({was})",
        "start it over with fresh=True, or choose another results file",
    )


def header_line(header: dict) -> bytes:
    return orjson.dumps({"tunedeck_eval": FORMAT, **header}) + b"\n"


def answer_line(answer: Answer, gold: str, digest: str | None) -> bytes:
    s = answer.score
    scores = None if s is None else {"exact": s.exact, "f1": s.f1, "similarity": s.similarity, "json_valid": s.json_valid}
    return orjson.dumps({
        "line": answer.line, "model": answer.model, "answer": answer.text, "gold": gold,
        "latency_ms": round(answer.latency * 1000, 1), "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens, "error": answer.error, "error_type": answer.error_type,
        "scores": scores, "prompt_sha256": digest,
    }) + b"\n"  # fmt: skip


def _count(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not a token count")
    return value


def _answer(value: dict) -> tuple[Answer, str | None]:
    """An answer line read back; ValueError/KeyError/TypeError when it is not one."""
    scores = value["scores"]
    score = None
    if scores is not None:
        valid = scores["json_valid"]
        score = Score(bool(scores["exact"]), float(scores["f1"]), float(scores["similarity"]), None if valid is None else bool(valid))
    line, model, text, error = value["line"], value["model"], value["answer"], value.get("error")
    if not isinstance(line, int) or isinstance(line, bool) or not isinstance(model, str) or not isinstance(text, str):
        raise ValueError("not an answer")
    if error is not None and not isinstance(error, str) or error is None and score is None:
        raise ValueError("an answer has either an error or scores")
    digest = value.get("prompt_sha256")
    answer = Answer(
        line=line, model=model, text=text, latency=float(value.get("latency_ms") or 0) / 1000,
        prompt_tokens=_count(value.get("prompt_tokens")), completion_tokens=_count(value.get("completion_tokens")),
        error=error, score=None if error is not None else score, error_type=value.get("error_type") if error is not None else None,
    )  # fmt: skip
    return answer, digest if isinstance(digest, str) else None


def parse(data: bytes, path: Path | str) -> Stored:
    """A results file's bytes read back. Raises ResultsError when they are not a results file."""
    lines = data.split(b"\n")
    first = next((k for k, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return Stored(None, [], 0)
    try:
        header = orjson.loads(lines[first])
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or not isinstance(header.get("tunedeck_eval"), int):
        raise ResultsError(f"{path} is not a TuneDeck results file", "choose another results file, or start it over (fresh)")
    if header["tunedeck_eval"] > FORMAT:
        raise ResultsError(f"{path} was written by a newer TuneDeck", "update TuneDeck, or choose another results file")
    by_pair: dict[tuple[int, str], tuple[Answer, str | None]] = {}
    damaged = 0
    for raw in lines[first + 1 :]:
        if not raw.strip():
            continue
        try:
            answer, digest = _answer(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError):
            damaged += 1
            continue
        by_pair[answer.line, answer.model] = (answer, digest)  # a later line for the same pair wins
    return Stored(header, list(by_pair.values()), damaged)


def read(path: Path | str) -> Stored:
    """A results file read back (synchronous: the results view calls it from a worker thread)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file", "check the path") from None
    except IsADirectoryError:
        raise ResultsError(f"{path} is a folder", "choose a results file") from None
    return parse(data, path)


def default_out(source: Path) -> Path:
    """`<stem>.eval.jsonl` beside the examples (stem: the name without `.jsonl`, as `split` names)."""
    stem = source.name[: -len(".jsonl")] if source.name.endswith(".jsonl") else source.stem
    return source.with_name(f"{stem}.eval.jsonl")
