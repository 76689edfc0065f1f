"""What TuneDeck remembers between runs: which bytes went up as which file, which jobs it started.

An SQLite file in the data dir (`tunedeck.sqlite3`). It lets a user who lost their SSH session
find every job they launched, and lets an upload be skipped when the same bytes already went up
under the same profile. The schema is versioned with `PRAGMA user_version`; each entry of
MIGRATIONS moves it one version up, in a transaction, so an old file is brought forward on open.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from core import paths

MIGRATIONS = [
    # 1: uploads and jobs with their provenance
    """
    CREATE TABLE uploads (
        profile TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        file_id TEXT NOT NULL,
        filename TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        uploaded_at REAL NOT NULL,
        PRIMARY KEY (profile, sha256)
    );
    CREATE TABLE jobs (
        profile TEXT NOT NULL,
        job_id TEXT NOT NULL,
        model TEXT NOT NULL,
        training_file TEXT NOT NULL,
        validation_file TEXT,
        dataset_path TEXT,
        dataset_sha256 TEXT,
        split_ratio REAL,
        split_seed INTEGER,
        suffix TEXT,
        status TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (profile, job_id)
    );
    """,
    # 2: splits, so a job launched on a split can be traced back to its dataset, ratio and seed
    """
    CREATE TABLE splits (
        dataset_path TEXT NOT NULL,
        dataset_sha256 TEXT NOT NULL,
        ratio REAL NOT NULL,
        seed INTEGER NOT NULL,
        train_path TEXT NOT NULL,
        train_sha256 TEXT NOT NULL,
        validation_path TEXT NOT NULL,
        validation_sha256 TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX splits_by_train ON splits (train_sha256);
    """,
    # 3: the local files a job was launched from, so a failure naming a line opens that line
    """
    ALTER TABLE jobs ADD COLUMN train_path TEXT;
    ALTER TABLE jobs ADD COLUMN validation_path TEXT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class NewerSchema(RuntimeError):
    """The file was written by a newer TuneDeck; refuse rather than damage it."""


@dataclass(frozen=True)
class JobRecord:
    profile: str
    job_id: str
    model: str
    training_file: str
    validation_file: str | None = None
    dataset_path: str | None = None
    dataset_sha256: str | None = None
    split_ratio: float | None = None
    split_seed: int | None = None
    suffix: str | None = None
    status: str | None = None
    created_at: float = 0.0
    train_path: str | None = None  # the local file uploaded as training_file
    validation_path: str | None = None


JOB_COLUMNS = ", ".join(JobRecord.__dataclass_fields__)


@dataclass(frozen=True)
class SplitRecord:
    dataset_path: str
    dataset_sha256: str
    ratio: float
    seed: int
    train_path: str
    train_sha256: str
    validation_path: str
    validation_sha256: str
    created_at: float = 0.0


class LocalState:
    def __init__(self, path: Path | None = None):
        self.path = path if path is not None else paths.data_dir() / "tunedeck.sqlite3"
        # One connection per object; the TUI uses it from worker threads, one at a time.
        self._db = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LocalState:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.version
        if version > SCHEMA_VERSION:
            raise NewerSchema(f"{self.path} has schema version {version}; this TuneDeck knows up to {SCHEMA_VERSION}")
        for number in range(version, SCHEMA_VERSION):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self.version == number:  # another process may have migrated meanwhile
                    for statement in MIGRATIONS[number].split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # uploads

    def record_upload(self, profile: str, sha256: str, file_id: str, filename: str, size: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?)",
            (profile, sha256, file_id, filename, size, time.time()),
        )

    def uploaded(self, profile: str, sha256: str) -> str | None:
        """The file id these bytes were uploaded as under this profile, if any."""
        row = self._db.execute("SELECT file_id FROM uploads WHERE profile = ? AND sha256 = ?", (profile, sha256)).fetchone()
        return row[0] if row else None

    def forget_upload(self, profile: str, file_id: str) -> None:
        self._db.execute("DELETE FROM uploads WHERE profile = ? AND file_id = ?", (profile, file_id))

    # splits

    def record_split(self, split: SplitRecord) -> None:
        values = (*[getattr(split, f) for f in SplitRecord.__dataclass_fields__][:-1], split.created_at or time.time())
        self._db.execute("INSERT INTO splits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)

    def split_of(self, train_sha256: str) -> SplitRecord | None:
        """The newest split that wrote a training file with these bytes."""
        row = self._db.execute("SELECT * FROM splits WHERE train_sha256 = ? ORDER BY created_at DESC LIMIT 1", (train_sha256,)).fetchone()
        return SplitRecord(*row) if row else None

    # jobs

    def record_job(self, job: JobRecord) -> None:
        columns = list(JobRecord.__dataclass_fields__)
        values = [getattr(job, c) for c in columns]
        values[columns.index("created_at")] = job.created_at or time.time()
        self._db.execute(f"INSERT OR REPLACE INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values)

    def set_status(self, profile: str, job_id: str, status: str) -> None:
        self._db.execute("UPDATE jobs SET status = ? WHERE profile = ? AND job_id = ?", (status, profile, job_id))

    def jobs(self, profile: str) -> list[JobRecord]:
        """Jobs started from here under this profile, newest first."""
        rows = self._db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE profile = ? ORDER BY created_at DESC", (profile,)).fetchall()
        return [JobRecord(*row) for row in rows]

    def job(self, profile: str, job_id: str) -> JobRecord | None:
        row = self._db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE profile = ? AND job_id = ?", (profile, job_id)).fetchone()
        return JobRecord(*row) if row else None


def remember_split(source: Path, split, state: LocalState | None = None) -> SplitRecord:
    """Record a written split (a `core.dataset.split.SplitPlan` with paths and hashes), so a job
    launched on it can name its dataset, ratio and seed. `source` is hashed as it is on disk."""
    import hashlib

    with open(source, "rb") as f:
        dataset_sha = hashlib.file_digest(f, "sha256").hexdigest()
    record = SplitRecord(
        str(source.resolve()), dataset_sha, split.ratio, split.seed,
        str(split.train.path.resolve()), split.train.sha256, str(split.validation.path.resolve()), split.validation.sha256,
    )  # fmt: skip
    if state is not None:
        state.record_split(record)
    else:
        with LocalState() as own:
            own.record_split(record)
    return record
