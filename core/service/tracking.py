"""Everything known about the jobs of one profile, in one place, kept current by a Watcher.

The service's jobs list says what each job is now; TuneDeck's local state says where it came
from (which dataset, which split, which local files). A `JobBoard` merges the two into one
`JobView` per job and applies the watcher's updates to it, so the list, the detail screen and
`tunedeck jobs` all read the same figures: progress, timing, the overfitting alarm, why a job
failed and which line of which file it blames, and which actions its state allows.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from core.service import overfit
from core.service.jobs import is_terminal
from core.service.limits import ACTIVE
from core.service.local_state import JobRecord
from core.service.watch import Finished, Lost, MetricPoint, NewCheckpoint, NewEvent, StatusChanged, Update

RATE_POINTS = 20  # recent metric points that set the step rate of the estimated finish

_LINE = re.compile(r"\b[Ll]ine (\d+)\b")

# What to do about a failure, by the service's error code.
HINTS = {
    "invalid_training_file": "Fix the line in the editor, then launch again: the job was not charged.",
    "invalid_validation_file": "Fix the validation file in the editor, then launch again: the job was not charged.",
    "invalid_file_format": "The file is not valid JSONL for this method; run `tunedeck validate` on it.",
    "invalid_n_examples": "Add examples (at least 10), then launch again.",
    "exceeded_quota": "The account's quota is spent; check billing, then launch again.",
    "internal_error": "The service failed, not your data: launch again.",
}
DEFAULT_HINT = "Read the message above; the events list the steps the job went through."


class Logged(NamedTuple):
    """An event as a job's view keeps it: plain values, so that the tens of thousands a long run
    brings cost the garbage collector nothing (an SDK model is several tracked objects each, and
    the full collections that walked them held the screen for 100–300 ms at 50 jobs)."""

    id: str
    created_at: int
    level: str
    message: str
    type: str | None

    @classmethod
    def of(cls, event: FineTuningJobEvent) -> Logged:
        return cls(event.id, event.created_at, event.level, event.message, event.type)


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    hint: str
    param: str | None  # "training_file", "validation_file", or None
    line: int | None  # 1-based line of that file the message names
    path: Path | None  # the local file that line is in, when TuneDeck launched the job

    @property
    def openable(self) -> bool:
        return self.line is not None and self.path is not None and self.path.is_file()


@dataclass
class JobView:
    """One job: the service's latest word on it, its local record, and what watching it showed."""

    job_id: str
    job: FineTuningJob | None = None
    record: JobRecord | None = None
    events: list[Logged] = field(default_factory=list)  # oldest first
    points: list[MetricPoint] = field(default_factory=list)
    checkpoints: list[FineTuningJobCheckpoint] = field(default_factory=list)
    alarm: overfit.Overfitting | None = None
    lost: str | None = None  # why the job can no longer be watched
    _seen: set[str] = field(default_factory=set, repr=False)  # event and checkpoint ids applied
    _detector: overfit.Detector = field(default_factory=overfit.Detector, repr=False)

    # what the list shows

    @property
    def status(self) -> str:
        if self.job is not None:
            return self.job.status
        return (self.record.status if self.record else None) or "unknown"

    @property
    def terminal(self) -> bool:
        return is_terminal(self.status)

    @property
    def model(self) -> str:
        return self.job.model if self.job else self.record.model if self.record else ""

    @property
    def suffix(self) -> str | None:
        if self.record and self.record.suffix:
            return self.record.suffix
        name = self.fine_tuned_model or ""
        return name.split(":")[3] if name.count(":") >= 4 and name.split(":")[3] else None

    @property
    def created_at(self) -> float:
        return float(self.job.created_at) if self.job else self.record.created_at if self.record else 0.0

    @property
    def fine_tuned_model(self) -> str | None:
        return self.job.fine_tuned_model if self.job else None

    @property
    def trained_tokens(self) -> int | None:
        return self.job.trained_tokens if self.job else None

    @property
    def dataset(self) -> str | None:
        """The local dataset the job came from (before any split), else the training file id."""
        if self.record and self.record.dataset_path:
            return self.record.dataset_path
        return self.job.training_file if self.job else self.record.training_file if self.record else None

    @property
    def step(self) -> tuple[int, int | None] | None:
        """(step, total steps) of the newest metric point."""
        if not self.points:
            return None
        last = self.points[-1]
        return last.step, last.total_steps

    @property
    def epochs(self) -> int | None:
        n = getattr(self.job.hyperparameters, "n_epochs", None) if self.job and self.job.hyperparameters else None
        return n if isinstance(n, int) else None

    def progress(self) -> float | None:
        """Fraction of the steps done (1.0 once succeeded), None when unknown."""
        if self.status == "succeeded":
            return 1.0
        step = self.step
        if step is None or not step[1]:
            return 0.0 if self.status in ("validating_files", "queued") else None
        return min(1.0, step[0] / step[1])

    # timing

    @property
    def started_at(self) -> float | None:
        for event in self.events:
            if event.type == "metrics" or "job started" in event.message.lower():
                return float(event.created_at)
        return None

    @property
    def finished_at(self) -> float | None:
        return float(self.job.finished_at) if self.job and self.job.finished_at else None

    def elapsed(self, now: float) -> float | None:
        start = self.started_at
        if start is None:
            return None
        return max(0.0, (self.finished_at or now) - start)

    def estimated_finish(self) -> tuple[float, str] | None:
        """When the job should end, and who says so: "service" or "step rate"."""
        if self.terminal:
            return None
        if self.job is not None and self.job.estimated_finish:
            return float(self.job.estimated_finish), "service"
        recent = self.points[-RATE_POINTS:]
        if len(recent) < 2 or not recent[-1].total_steps:
            return None
        steps = recent[-1].step - recent[0].step
        seconds = recent[-1].created_at - recent[0].created_at
        if steps <= 0 or seconds <= 0:
            return None
        remaining = recent[-1].total_steps - recent[-1].step
        return recent[-1].created_at + remaining * seconds / steps, "step rate"

    # what went wrong

    def failure(self) -> Failure | None:
        error = self.job.error if self.job is not None else None
        if self.status != "failed" or error is None:
            return None if self.status != "failed" else Failure("", "The job failed without a reason.", DEFAULT_HINT, None, None, None)
        code, message, param = error.code or "", error.message or "The job failed.", error.param
        found = _LINE.search(message)
        line = int(found.group(1)) if found else None
        if param is None and line is not None:
            param = "validation_file" if "validation file" in message.lower() else "training_file"
        return Failure(code, message, HINTS.get(code, DEFAULT_HINT), param, line, self._local_file(param))

    def _local_file(self, param: str | None) -> Path | None:
        if self.record is None:
            return None
        name = self.record.validation_path if param == "validation_file" else self.record.train_path
        return Path(name) if name else None

    # what the user may do

    def refusal(self, action: str) -> str | None:
        """Why `action` (cancel, pause, resume, results, copy) is not possible now, or None."""
        status = self.status
        if action == "cancel":
            return None if status in ACTIVE else f"a {status} job cannot be cancelled"
        if action == "pause":
            return None if status == "running" else f"only a running job can be paused; this one is {status}"
        if action == "resume":
            return None if status == "paused" else f"only a paused job can be resumed; this one is {status}"
        if action == "results":
            return None if self.job is not None and self.job.result_files else "the result file comes when the job succeeds"
        if action == "copy":
            return None if self.fine_tuned_model else "the tuned model is named when the job succeeds"
        raise ValueError(f"unknown action {action!r}")

    # updates

    def apply(self, update: Update) -> None:
        if isinstance(update, (StatusChanged, Finished)):
            self.job = update.job
        # A job's history can reach the view twice (read once for its screen while the live
        # watch catches up): what was applied already is not applied again.
        elif isinstance(update, NewEvent):
            if update.event.id not in self._seen:
                self._seen.add(update.event.id)
                self.events.append(Logged.of(update.event))
        elif isinstance(update, MetricPoint):
            if self.points and update.step <= self.points[-1].step:
                return
            self.points.append(update)
            if self.alarm is None:
                self.alarm = self._detector.add(update)
        elif isinstance(update, NewCheckpoint):
            if update.checkpoint.id not in self._seen:
                self._seen.add(update.checkpoint.id)
                self.checkpoints.append(update.checkpoint)
        elif isinstance(update, Lost):
            self.lost = f"{update.error.title}: {update.error.hint}" if update.error.hint else update.error.title


class JobBoard:
    """Every job of one profile, by id."""

    def __init__(self) -> None:
        self.views: dict[str, JobView] = {}
        self._announced: set[str] = set()

    def announce(self, view: JobView) -> bool:
        """True the first time an ended job is announced: the user hears of each end once."""
        if not view.terminal or view.job_id in self._announced:
            return False
        self._announced.add(view.job_id)
        return True

    def view(self, job_id: str) -> JobView:
        return self.views.setdefault(job_id, JobView(job_id))

    def merge(self, listed: Iterable[FineTuningJob], records: Iterable[JobRecord], watched: Collection[str] = ()) -> list[JobView]:
        """Take the service's list and the local records; return the jobs the records last saw
        active that the service now says have ended (they finished while TuneDeck was closed).

        For the `watched` jobs the watcher's copy is kept: a list read that started before a
        pause or a poll would otherwise put an older status back for a moment."""
        for record in records:
            self.view(record.job_id).record = record
        ended: list[JobView] = []
        for job in listed:
            view = self.view(job.id)
            before = view.job.status if view.job else view.record.status if view.record else None
            if view.job is None or (not view.terminal and job.id not in watched):
                view.job = job
            if before in ACTIVE and is_terminal(job.status):
                ended.append(view)
        return ended

    def apply(self, update: Update) -> JobView | None:
        job_id = getattr(update, "job_id", None) or (update.job.id if isinstance(update, (StatusChanged, Finished)) else None)
        if job_id is None:
            return None  # Reconnecting / Reconnected concern the connection, not a job
        view = self.view(job_id)
        view.apply(update)
        return view

    def rows(self, status: str | None = None) -> list[JobView]:
        """Newest first; only jobs with this status when given."""
        views = (v for v in self.views.values() if status is None or v.status == status)
        return sorted(views, key=lambda v: v.created_at, reverse=True)

    def active(self) -> list[str]:
        """The jobs worth watching: not ended, and not lost."""
        return [v.job_id for v in self.views.values() if not v.terminal and v.status != "unknown" and v.lost is None]
