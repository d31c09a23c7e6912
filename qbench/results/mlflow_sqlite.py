"""qbench's runs written straight into an MLflow sqlite store, without importing MLflow.

Importing MLflow and opening a store through it costs ~3 CPU-seconds, and each child run
~60 ms more (SQLAlchemy, one transaction per call): more than half of what a small sweep
costs on top of its simulations. A qbench run is a handful of plain rows (runs, tags,
params, metrics, latest_metrics) and files under the run's artifact folder, so for a local
sqlite store whose schema revision is one listed in VERIFIED_REVISIONS, `SqliteStore`
writes them with the standard library, one transaction per run, exactly as MLflow's
SqlAlchemyStore and local artifact repository do (tests/test_mlflow_sqlite.py logs the same
runs both ways and compares every row and file). Any other store (a server, another
database, a schema this module was not checked against) goes through MLflow's client.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import sqlite3
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path
from urllib.parse import unquote, urlparse

# MLflow's schema heads this writer was compared against, row for row (MLflow 3.17.2).
VERIFIED_REVISIONS = frozenset({"dc11669786a5"})
SQLITE = "sqlite:///"
WORKSPACE = "default"               # MLflow's workspace for everything created without one
# MLflow's own limits and key rule (mlflow/utils/validation.py), so a bad key fails here as it would there.
MAX_KEY_LENGTH, MAX_PARAM_LENGTH, MAX_TAG_LENGTH = 250, 6000, 8000
VALID_KEY = re.compile(r"^[/\w.\- :]*$")
FLOAT_MAX = 1.7976931348623157e308  # MLflow stores +-inf as +-the largest double


def _now_ms() -> int:
    return int(time.time() * 1000)


def schema_revision(path: Path) -> str | None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    except (sqlite3.Error, TypeError):
        return None


def open_store(uri: str) -> "SqliteStore | None":
    """A SqliteStore for `uri` if it is an existing local sqlite store of a verified schema, else None."""
    if not uri.startswith(SQLITE):
        return None
    path = Path(uri[len(SQLITE):])
    return SqliteStore(uri, path) if path.exists() and schema_revision(path) in VERIFIED_REVISIONS else None


def _local_path(artifact_uri: str) -> Path | None:
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and artifact_uri.startswith("/"):
        return Path(artifact_uri)
    return None


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not VALID_KEY.match(key):
        raise ValueError(f"invalid MLflow key {key!r}: at most {MAX_KEY_LENGTH} characters of letters, digits, "
                         "'_', '-', '.', ' ', '/' and ':'")


def _metric_value(value: float) -> tuple[float, int]:
    """(stored value, is_nan), as SqlAlchemyStore.sanitize_metric_value stores them."""
    if math.isnan(value):
        return 0.0, 1
    if math.isinf(value):
        return (FLOAT_MAX if value > 0 else -FLOAT_MAX), 0
    return float(value), 0


class SqliteStore:
    """The subset of tracking a qbench sweep needs (see tracking.MlflowClientStore for the same over MLflow)."""

    def __init__(self, uri: str, path: Path):
        self.tracking_uri, self.path = uri, path

    def _connect(self) -> sqlite3.Connection:
        # timeout: sqlite has one writer; another process logging waits its turn, as under MLflow
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def _write(self, work):
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

    def experiment_id(self, name: str, artifact_location: str) -> str:
        """The active experiment `name`, created (with this artifact location) if there is none."""
        def work(db):
            found = db.execute("SELECT experiment_id, lifecycle_stage FROM experiments WHERE name = ? AND "
                               "workspace = ?", (name, WORKSPACE)).fetchone()
            if found:
                if found[1] != "active":
                    raise ValueError(f"MLflow experiment '{name}' is deleted; restore it or choose another name")
                return str(found[0])
            now = _now_ms()
            cursor = db.execute("INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
                                "last_update_time, workspace) VALUES (?, ?, 'active', ?, ?, ?)",
                                (name, artifact_location, now, now, WORKSPACE))
            return str(cursor.lastrowid)
        return self._write(work)

    def running_runs(self, experiment_id: str) -> list[tuple[str, dict]]:
        with closing(self._connect()) as db:
            runs = [row[0] for row in db.execute("SELECT run_uuid FROM runs WHERE experiment_id = ? AND status = "
                                                 "'RUNNING' AND lifecycle_stage = 'active'", (int(experiment_id),))]
            return [(run, dict(db.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run,)).fetchall()))
                    for run in runs]

    def _insert_run(self, db, experiment_id: str, run_name: str, tags: dict) -> tuple[str, str]:
        found = db.execute("SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = ?",
                           (int(experiment_id),)).fetchone()
        if found is None or found[1] != "active":
            raise ValueError(f"MLflow experiment {experiment_id} does not exist or is deleted")
        run_id = uuid.uuid4().hex
        artifact_uri = f"{found[0].rstrip('/')}/{run_id}/artifacts"
        db.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
                   "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time) "
                   "VALUES (?, ?, 'UNKNOWN', '', '', 'unknown', 'RUNNING', ?, NULL, '', 'active', ?, ?, NULL)",
                   (run_id, run_name, _now_ms(), artifact_uri, int(experiment_id)))
        self._set_tags(db, run_id, {**tags, "mlflow.runName": run_name})
        return run_id, artifact_uri

    @staticmethod
    def _set_tags(db, run_id: str, tags: dict) -> None:
        for key in tags:
            _check_key(key)
        db.executemany("INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                       [(key, str(value)[:MAX_TAG_LENGTH], run_id) for key, value in tags.items()])

    def create_run(self, experiment_id: str, run_name: str, tags: dict) -> str:
        return self._write(lambda db: self._insert_run(db, experiment_id, run_name, tags))[0]

    def set_tags(self, run_id: str, tags: dict) -> None:
        self._write(lambda db: self._set_tags(db, run_id, tags))

    def set_status(self, run_id: str, status: str, terminated: bool = True) -> None:
        """RUNNING again (a resumed sweep), or ended with this status (end time now)."""
        if terminated:
            self._write(lambda db: db.execute("UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                                              (status, _now_ms(), run_id)))
        else:
            self._write(lambda db: db.execute("UPDATE runs SET status = ? WHERE run_uuid = ?", (status, run_id)))

    def log_run(self, experiment_id: str, run_name: str, tags: dict, params: dict, metrics: list[tuple],
                artifacts: dict, status: str) -> str:
        """One finished run in one transaction: tags, params, metrics (key, value, timestamp ms, step),
        artifacts ({file name: local path or text}), then its end status. Returns the run id."""
        return self._write(lambda db: self._log_run(db, experiment_id, run_name, tags, params, metrics, artifacts,
                                                    status))

    def log_runs(self, runs: list[dict]) -> list:
        """Several finished runs (each log_run's arguments as a dict) in one transaction, one disk sync
        instead of one per run. Each run is all or nothing on its own (a savepoint): a run that fails is
        rolled back alone and its exception takes its place in the returned run ids."""
        def work(db):
            outcomes = []
            for run in runs:
                db.execute("SAVEPOINT qbench_run")
                try:
                    outcomes.append(self._log_run(db, **run))
                except Exception as exc:  # noqa: BLE001 - reported to the caller, the others are kept
                    db.execute("ROLLBACK TO qbench_run")
                    outcomes.append(exc)
                db.execute("RELEASE qbench_run")
            return outcomes
        return self._write(work)

    def _log_run(self, db, experiment_id: str, run_name: str, tags: dict, params: dict, metrics: list[tuple],
                 artifacts: dict, status: str) -> str:
        run_id, artifact_uri = self._insert_run(db, experiment_id, run_name, tags)
        for key in params:
            _check_key(key)
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                       [(key, str(value)[:MAX_PARAM_LENGTH], run_id) for key, value in params.items()])
        rows, latest = [], {}
        for key, value, timestamp, step in metrics:
            _check_key(key)
            stored, is_nan = _metric_value(value)
            rows.append((key, stored, timestamp, run_id, step, is_nan))
            # latest_metrics: the newest by (step, timestamp, value), as MLflow keeps it
            if key not in latest or (step, timestamp, stored) > latest[key][:3]:
                latest[key] = (step, timestamp, stored, is_nan)
        db.executemany("INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                       "VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       [(key, stored, timestamp, step, is_nan, run_id)
                        for key, (step, timestamp, stored, is_nan) in latest.items()])
        self._write_artifacts(artifact_uri, artifacts)
        db.execute("UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?", (status, _now_ms(), run_id))
        return run_id

    @staticmethod
    def _write_artifacts(artifact_uri: str, artifacts: dict) -> None:
        """Files as MLflow's local artifact repository lays them out, each written whole (temp + rename)."""
        folder = _local_path(artifact_uri)
        if folder is None:  # s3://, a proxied server...: MLflow's artifact repository knows how
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            repository = get_artifact_repository(artifact_uri)
            with tempfile.TemporaryDirectory() as staging:
                for name, content in artifacts.items():
                    if not isinstance(content, Path):
                        (Path(staging) / name).write_text(content)
                    repository.log_artifact(str(content if isinstance(content, Path) else Path(staging) / name))
            return
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in artifacts.items():
            partial = folder / f".{name}.{uuid.uuid4().hex}.tmp"
            if isinstance(content, Path):
                shutil.copyfile(content, partial)
            else:
                partial.write_text(content)
            os.replace(partial, folder / name)
