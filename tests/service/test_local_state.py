"""Local state: jobs and uploads are found again by a later process; the schema moves forward."""

import sqlite3

import pytest

from core.service.local_state import MIGRATIONS, SCHEMA_VERSION, JobRecord, LocalState, NewerSchema, SplitRecord


def test_jobs_survive_a_restart(tmp_path):
    path = tmp_path / "state.sqlite3"
    with LocalState(path) as state:
        state.record_job(JobRecord("acct", "ftjob-1", "gpt-4o-mini-2024-07-18", "file-t", "file-v", "/d/travel.jsonl", "abc", 0.8, 42, "travel", "queued", 100.0))
        state.record_job(JobRecord("acct", "ftjob-2", "gpt-4o-mini-2024-07-18", "file-t", created_at=200.0))
        state.record_job(JobRecord("other", "ftjob-3", "m", "file-x", created_at=300.0))
    with LocalState(path) as again:
        assert [j.job_id for j in again.jobs("acct")] == ["ftjob-2", "ftjob-1"]  # newest first, one account
        again.set_status("acct", "ftjob-1", "succeeded")
        job = again.job("acct", "ftjob-1")
        assert (job.dataset_path, job.split_ratio, job.split_seed, job.status) == ("/d/travel.jsonl", 0.8, 42, "succeeded")


def test_uploads_are_keyed_by_account_and_content(tmp_path):
    with LocalState(tmp_path / "s.sqlite3") as state:
        state.record_upload("acct", "sha-1", "file-1", "train.jsonl", 10)
        assert state.uploaded("acct", "sha-1") == "file-1"
        assert state.uploaded("other", "sha-1") is None
        state.forget_upload("acct", "file-1")
        assert state.uploaded("acct", "sha-1") is None


def test_schema_version_is_recorded_and_a_newer_file_is_refused(tmp_path):
    path = tmp_path / "s.sqlite3"
    with LocalState(path) as state:
        assert state.version == SCHEMA_VERSION
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(NewerSchema):
        LocalState(path)


def test_default_location_is_the_data_dir():
    with LocalState() as state:
        assert state.path.name == "tunedeck.sqlite3"
        assert "tunedeck-data" in str(state.path)


def test_an_old_file_is_migrated_forward_keeping_its_rows(tmp_path):
    path = tmp_path / "s.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])  # a file written by the first version
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO uploads VALUES ('acct', 'sha', 'file-1', 'a.jsonl', 3, 1.0)")
    db.commit()
    db.close()
    with LocalState(path) as state:
        assert state.version == SCHEMA_VERSION
        assert state.uploaded("acct", "sha") == "file-1"
        split = SplitRecord("d.jsonl", "dsha", 0.8, 42, "d.train.jsonl", "tsha", "d.validation.jsonl", "vsha")
        state.record_split(split)
        assert state.split_of("tsha").seed == 42
        assert state.split_of("other") is None
