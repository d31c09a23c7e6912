"""qbench's direct sqlite writer against MLflow's own client: the same calls leave the same rows and files.

Both writers log the same sweep (experiment, parent run, child runs with NaN/inf/stepped
metrics and artifacts, a resumed parent, a killed run) into copies of the same empty store;
every row of every table and every artifact file must then match, up to run ids and clocks.
"""
from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from qbench.results import mlflow_sqlite
from qbench.results import tracking

TIME_COLUMNS = {"start_time", "end_time", "creation_time", "last_update_time", "timestamp"}


def _log_sweep(store, tmp: Path, artifact_root: Path) -> list[str]:
    result = tmp / "result.json"
    result.write_text('{"status": "success"}')
    exp = store.experiment_id("qbench-test", artifact_root.as_uri())
    assert store.experiment_id("qbench-test", artifact_root.as_uri()) == exp  # found, not created twice
    parent = store.create_run(exp, "bench_1", {"qbench.kind": "sweep", "qbench.pid": "1"})
    child = store.log_run(exp, "cirq_4q", {"mlflow.parentRunId": parent, "backend": "cirq"},
                          {"n_qubits": "4", "backend.name": "cirq"},
                          [("execution_time_seconds", 0.25, 1000, 0), ("nan_metric", math.nan, 1000, 0),
                           ("inf_metric", math.inf, 1000, 0), ("neg_inf", -math.inf, 1000, 0),
                           ("rep", 3.0, 1000, 0), ("rep", 1.0, 1000, 1), ("rep", 2.0, 1000, 2)],
                          {"result.json": result, "circuit.qasm": "OPENQASM 2.0;\n"}, "FINISHED")
    failed = store.log_run(exp, "stim_4q", {"mlflow.parentRunId": parent}, {}, [], {}, "FAILED")
    store.set_status(parent, "RUNNING", terminated=False)
    store.set_tags(parent, {"qbench.pid": "2", "failed_points": "1"})
    store.set_status(parent, "FINISHED")
    killed = store.create_run(exp, "dead", {"qbench.host": "elsewhere"})
    assert [run for run, _ in store.running_runs(exp)] == [killed]
    store.set_status(killed, "KILLED")
    assert store.running_runs(exp) == []
    return [parent, child, failed, killed]


def _dump(db_path: Path, run_ids: list[str], folder: Path) -> dict:
    """Every row of every table, run ids replaced by their position, `folder` and clock columns by markers."""
    names = {run: f"<run{i}>" for i, run in enumerate(run_ids)}
    names[folder.as_uri()] = "<folder>"
    dump = {}
    with sqlite3.connect(db_path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            columns = [c[0] for c in cursor.description]
            rows = []
            for row in cursor:
                cells = []
                for column, value in zip(columns, row):
                    if column in TIME_COLUMNS and value is not None:
                        value = "<time>"
                    elif isinstance(value, str):
                        for run, name in names.items():
                            value = value.replace(run, name)
                    cells.append(value)
                rows.append(tuple(cells))
            dump[table] = sorted(rows, key=repr)
    return dump


def _files(root: Path, run_ids: list[str]) -> dict:
    names = {run: f"<run{i}>" for i, run in enumerate(run_ids)}
    files = {}
    for path in root.rglob("*"):
        if path.is_file():
            relative = str(path.relative_to(root))
            for run, name in names.items():
                relative = relative.replace(run, name)
            files[relative] = path.read_bytes()
    return files


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = tmp_path / "made" / "mlflow.db"
    made.parent.mkdir()
    tracking._new_sqlite_store(made)  # builds the per-version template first if this machine has none
    return made


def test_the_installed_mlflow_schema_is_one_the_writer_was_checked_against(empty_store):
    revision = mlflow_sqlite.schema_revision(empty_store)
    assert revision in mlflow_sqlite.VERIFIED_REVISIONS, (
        f"MLflow's schema is now {revision}: run this test module, compare, then add it to VERIFIED_REVISIONS")


def test_default_experiment_root_is_what_mlflow_would_write(empty_store):
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local

    assert tracking._default_experiment_root() == append_to_uri_path(
        resolve_uri_if_local(DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH), "0")


def test_direct_writer_leaves_the_same_rows_and_files_as_mlflow(empty_store, tmp_path):
    dumps, files = [], []
    for name in ("api", "direct"):
        db = tmp_path / name / "mlflow.db"
        db.parent.mkdir()
        db.write_bytes(empty_store.read_bytes())
        uri = f"sqlite:///{db}"
        store = tracking.MlflowClientStore(uri) if name == "api" else mlflow_sqlite.open_store(uri)
        assert isinstance(store, tracking.MlflowClientStore if name == "api" else mlflow_sqlite.SqliteStore)
        artifacts = tmp_path / name / "artifacts"
        run_ids = _log_sweep(store, tmp_path / name, artifacts)
        dumps.append(_dump(db, run_ids, tmp_path / name))
        files.append(_files(artifacts, run_ids))
    for table in dumps[0]:
        assert dumps[1][table] == dumps[0][table], table
    assert files[1] == files[0]
    assert set(files[0]) == {"<run1>/artifacts/result.json", "<run1>/artifacts/circuit.qasm"}


def test_what_the_direct_writer_logs_reads_back_through_mlflow(empty_store):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{empty_store}"
    parent, child, failed, killed = _log_sweep(mlflow_sqlite.open_store(uri), empty_store.parent,
                                               empty_store.parent / "artifacts")
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(child)
    assert run.info.status == "FINISHED" and run.info.run_name == "cirq_4q"
    assert run.data.metrics["rep"] == 2.0  # the latest step
    assert run.data.metrics["execution_time_seconds"] == 0.25 and math.isnan(run.data.metrics["nan_metric"])
    assert run.data.params == {"n_qubits": "4", "backend.name": "cirq"}
    assert run.data.tags["mlflow.parentRunId"] == parent
    assert [m.value for m in client.get_metric_history(child, "rep")] == [3.0, 1.0, 2.0]
    assert sorted(a.path for a in client.list_artifacts(child)) == ["circuit.qasm", "result.json"]
    assert client.get_run(failed).info.status == "FAILED" and client.get_run(killed).info.status == "KILLED"
    children = client.search_runs([run.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    assert {r.info.run_id for r in children} == {child, failed}


def test_a_bad_key_writes_nothing(empty_store):
    store = mlflow_sqlite.open_store(f"sqlite:///{empty_store}")
    exp = store.experiment_id("qbench-test", (empty_store.parent / "a").as_uri())
    with pytest.raises(ValueError, match="invalid MLflow key"):
        store.log_run(exp, "bad", {}, {"bad\nkey": "1"}, [], {}, "FINISHED")
    with sqlite3.connect(empty_store) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0  # the transaction rolled back


def test_a_batch_keeps_its_good_runs_and_drops_a_bad_one_whole(empty_store):
    store = mlflow_sqlite.open_store(f"sqlite:///{empty_store}")
    exp = store.experiment_id("qbench-test", (empty_store.parent / "a").as_uri())

    def run(name, params):
        return {"experiment_id": exp, "run_name": name, "tags": {"backend": name}, "params": params,
                "metrics": [("m", 1.0, 0, 0)], "artifacts": {"note.txt": name}, "status": "FINISHED"}

    first, bad, last = store.log_runs([run("first", {"a": "1"}), run("bad", {"bad\nkey": "1"}), run("last", {"b": "2"})])
    assert isinstance(bad, ValueError) and "invalid MLflow key" in str(bad)
    with sqlite3.connect(empty_store) as db:
        assert sorted(db.execute("SELECT name, status FROM runs")) == [("first", "FINISHED"), ("last", "FINISHED")]
        assert sorted(db.execute("SELECT value FROM tags WHERE key = 'backend'")) == [("first",), ("last",)]
        assert db.execute("SELECT COUNT(*) FROM params").fetchone()[0] == 2
        assert {run_id for (run_id,) in db.execute("SELECT run_uuid FROM metrics")} == {first, last}


def test_other_stores_go_through_mlflow(empty_store, tmp_path):
    assert mlflow_sqlite.open_store("http://127.0.0.1:5000") is None
    assert mlflow_sqlite.open_store(f"sqlite:///{tmp_path / 'absent.db'}") is None
    with sqlite3.connect(empty_store) as db:
        db.execute("UPDATE alembic_version SET version_num = 'not-verified'")
    assert mlflow_sqlite.open_store(f"sqlite:///{empty_store}") is None
    with pytest.raises(Exception, match="out-of-date database schema"):  # MLflow's own check, not ours
        tracking._store(f"sqlite:///{empty_store}")
