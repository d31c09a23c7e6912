"""MLflow tracking: one parent run per sweep, one child run per point, through MLflow's client.

In a sweep the process that launches it is the store's only writer: a
`qbench.results.sweep_tracker.SweepTracker` thread there creates the store, the
experiment and the parent run (ids in `<sweep_dir>/mlflow.json`), then logs each point
as a child run as soon as its result.json appears, whatever the launcher (joblib
workers, SLURM nodes on a shared filesystem). Jobs never import MLflow and never
contend for sqlite's one writer lock. A single run (no sweep) logs itself.

Everything goes through `mlflow.tracking.MlflowClient`: qbench never writes MLflow's
tables. A point logged again (rerun-failed, a resume) replaces its earlier child run
(`delete_run`, MLflow's soft delete), so a sweep has one live child per point.

Tracking never fails a run: an MLflow error is logged as a warning and the
result.json on disk stays the source of truth; a point left unlogged (the launching
process died) is logged by the next launch into that sweep.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

from qbench.circuits import canonical as circuits
from qbench.results import records
from qbench.results.mlflow_store import (SQLITE, Unreachable, all_runs, client, experiment_id, is_remote,  # noqa: F401
                                         make_store_folder, resolve_uri)

log = logging.getLogger("qbench")
DEFAULT_URI = "sqlite:///mlruns/mlflow.db"  # conf/config.yaml's tracking.uri, for commands without a config
DEFAULT_EXPERIMENT = "qbench"               # conf/config.yaml's tracking.experiment, likewise
IDS_FILE = "mlflow.json"          # in the sweep dir: store, experiment and parent run
POINT_FILE = "mlflow_run.json"    # in a point dir: written once the point's child run is complete
FINISHED_STATUSES = ("success", "skipped", "unavailable")  # child runs of these end FINISHED, others FAILED
MAX_PARAMS_TAGS, MAX_METRICS = 100, 1000    # MLflow's log_batch limits per call


def owner_tags() -> dict:
    return {"qbench.host": socket.gethostname(), "qbench.pid": str(os.getpid())}


def close_stale_runs(mlflow, exp_id: str) -> int:
    """End RUNNING runs whose launching process on this host is gone: KILLED. Returns how many."""
    closed = 0
    host = socket.gethostname()
    for run in all_runs(mlflow, exp_id, "attributes.status = 'RUNNING'"):
        tags = run.data.tags
        if tags.get("qbench.host") != host:
            continue  # another machine's sweep may still be alive; leave it alone
        try:
            os.kill(int(tags.get("qbench.pid", "0")), 0)
            continue
        except (ProcessLookupError, ValueError):
            pass
        except PermissionError:
            continue
        mlflow.set_terminated(run.info.run_id, "KILLED")
        closed += 1
    if closed:
        log.info("MLflow: %d run(s) left RUNNING by a dead sweep marked KILLED", closed)
    return closed


def tag_batch(tags: dict) -> list:
    from mlflow.entities import RunTag

    return [RunTag(key, str(value)) for key, value in tags.items()]


def _live_parent(mlflow, previous: dict | None, uri: str, exp_id: str) -> str | None:
    """The parent run named by an earlier launch's mlflow.json, if it still exists in this store."""
    if not previous or previous.get("uri") != uri:
        return None
    try:
        run = mlflow.get_run(previous["parent_run_id"])
    except Exception:  # noqa: BLE001 - the store was deleted or replaced: MLflow says RESOURCE_DOES_NOT_EXIST
        return None
    if run.info.lifecycle_stage != "active" or run.info.experiment_id != exp_id:
        return None
    return run.info.run_id


def start_sweep(mlflow, tracking_cfg, sweep_dir: Path, benchmark_id: str, started_ms: int) -> dict:
    """Create the sweep's parent run, starting when the sweep did, or reuse the one of an earlier launch
    into this folder if it still exists; write its ids into the sweep dir. Returns the ids."""
    sweep_dir = Path(sweep_dir)
    uri = mlflow.tracking_uri
    exp_id = experiment_id(mlflow, tracking_cfg.experiment, tracking_cfg.artifact_location)
    close_stale_runs(mlflow, exp_id)
    parent = _live_parent(mlflow, records.read(sweep_dir / IDS_FILE), uri, exp_id)
    if parent:
        mlflow.update_run(parent, status="RUNNING")
        mlflow.log_batch(parent, tags=tag_batch(owner_tags()))
    else:
        parent = mlflow.create_run(exp_id, start_time=started_ms, run_name=benchmark_id, tags={
            "qbench.kind": "sweep", "benchmark_id": benchmark_id, "qbench.sweep_dir": str(sweep_dir.resolve()),
            **owner_tags()}).info.run_id
    ids = {"uri": uri, "experiment_id": exp_id, "parent_run_id": parent}
    try:
        records.write_atomic(sweep_dir / IDS_FILE, ids)
    except OSError:  # e.g. a full disk: a parent no launch can find again must not stay RUNNING
        mlflow.set_terminated(parent, "FAILED")
        raise
    return ids


def end_sweep(mlflow, ids: dict, failed: int, ended_ms: int, status: str = "FINISHED") -> None:
    mlflow.log_batch(ids["parent_run_id"], tags=tag_batch({"failed_points": failed}))
    mlflow.set_terminated(ids["parent_run_id"], status, end_time=ended_ms)


def _identity(record: dict) -> list:
    """Which result a child run logged: a rerun of the same point has the same run_id, not the same end."""
    return [record.get("run_id"), record.get("timestamps", {}).get("completed_at")]


def is_logged(output_dir: Path, record: dict) -> bool:
    """Whether this record is in MLflow: logged, and (in a sweep) under the parent its mlflow.json names now
    (a parent made again after mlruns/ was deleted has none of the earlier children)."""
    logged = records.read(Path(output_dir) / POINT_FILE)
    if not logged or logged.get("result") != _identity(record):
        return False
    sweep = records.read(Path(output_dir).parent / IDS_FILE)
    return not sweep or logged.get("parent_run_id") == sweep.get("parent_run_id")


def flat_params(data: dict, prefix: str = "") -> dict:
    """Nested config -> {'a.b': value}, MLflow's param names."""
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_params(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _ms(stamp: str | None, default: int) -> int:
    try:
        return int(datetime.fromisoformat(stamp).timestamp() * 1000)
    except (TypeError, ValueError):
        return default


def point_run(task_cfg: dict, record: dict, output_dir: Path) -> dict:
    """A finished point as a child run: its name, times, tags, params, metrics, artifacts and end status."""
    from mlflow.entities import Metric, Param

    cfg = record.get("config", {})
    now = int(time.time() * 1000)
    stamps = record.get("timestamps") or {}
    ended = _ms(stamps.get("completed_at"), now)
    tags = {"backend": record.get("backend"), "circuit": cfg.get("circuit_type"), "n_qubits": cfg.get("n_qubits"),
            "noise": cfg.get("noise_model"), "noise_strength": cfg.get("noise_strength"),
            "status": record["status"], "benchmark_id": record.get("benchmark_id"),
            "qbench.run_id": record.get("run_id"), "reason": (record.get("reason") or "")[:4000]}
    metrics = [Metric(k, float(v), ended, 0) for k, v in record.get("metrics", {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    metrics += [Metric("execution_time_repetition", float(v), ended, step)
                for step, v in enumerate(record.get("metrics", {}).get("execution_times_seconds") or [])]
    artifacts = {}
    result_path = Path(output_dir) / records.RESULT_FILE
    if result_path.exists():
        artifacts[records.RESULT_FILE] = result_path
    circuit = circuits.build_from_record(cfg)  # QASM files and MQT Bench too, from config.circuit_options
    if circuit is not None:
        artifacts["circuit.qasm"] = circuit.to_qasm()
    return {"run_name": Path(output_dir).name, "start_ms": _ms(stamps.get("started_at"), ended), "end_ms": ended,
            "tags": tag_batch(tags), "params": [Param(k, str(v)[:6000]) for k, v in flat_params(task_cfg).items()],
            "metrics": metrics, "artifacts": artifacts,
            "status": "FINISHED" if record["status"] in FINISHED_STATUSES else "FAILED"}


def log_run(mlflow, exp_id: str, parent: str | None, run: dict, synchronous: bool = True) -> str:
    """One child run through the client: created (parent link and owner), one log_batch of its tags, params
    and metrics (more only past MLflow's per-call limits), its artifacts, ended at the point's own end."""
    created = {**owner_tags(), **({"mlflow.parentRunId": parent} if parent else {})}
    run_id = mlflow.create_run(exp_id, start_time=run["start_ms"], tags=created, run_name=run["run_name"]).info.run_id
    tags, params, metrics = run["tags"], run["params"], run["metrics"]
    pending = []
    while tags or params or metrics:
        batch = mlflow.log_batch(run_id, metrics=metrics[:MAX_METRICS], params=params[:MAX_PARAMS_TAGS],
                                 tags=tags[:MAX_PARAMS_TAGS], synchronous=synchronous)
        pending.append(batch)
        tags, params, metrics = tags[MAX_PARAMS_TAGS:], params[MAX_PARAMS_TAGS:], metrics[MAX_METRICS:]
    for name, content in run["artifacts"].items():  # copied while an asynchronous batch is written
        if isinstance(content, Path):
            mlflow.log_artifact(run_id, str(content))
        else:
            mlflow.log_text(run_id, content, name)
    for batch in pending:
        if batch is not None:
            batch.wait()  # raises what the batch raised
    mlflow.set_terminated(run_id, run["status"], end_time=run["end_ms"])
    return run_id


def log_point(tracking_cfg, task_cfg: dict, record: dict, output_dir: Path) -> str | None:
    """Log a single run (no sweep) as a standalone run, from the job itself (it is the store's only writer).
    Its run id, or None (a warning: tracking never fails a run)."""
    if not tracking_cfg.enabled:
        return None
    try:
        mlflow = client(resolve_uri(tracking_cfg.uri))
        exp_id = experiment_id(mlflow, tracking_cfg.experiment, tracking_cfg.artifact_location)
        run_id = log_run(mlflow, exp_id, None, point_run(task_cfg, record, output_dir))
        mark_logged(output_dir, record, run_id, None)
        return run_id
    except Exception as exc:  # noqa: BLE001 - tracking must never fail a run
        log.warning("MLflow: could not log %s: %s", output_dir, exc)
        return None


def mark_logged(output_dir: Path, record: dict, run_id: str, parent: str | None) -> None:
    records.write_atomic(Path(output_dir) / POINT_FILE,
                         {"run_id": run_id, "parent_run_id": parent, "result": _identity(record)})


def lower_this_threads_priority() -> None:
    """The launching process's own background work (MLflow logging, warming up the charts) must not
    take CPU from timed runs on a busy machine: nice 19 for the calling thread (Linux nice is per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def _reading_client(uri: str):
    """MLflow's client for export/close_stale: None where there is no local store (none is made)."""
    uri = resolve_uri(uri)
    if uri.startswith(SQLITE) and not Path(uri[len(SQLITE):]).exists():
        return None
    return client(uri)


def export_sweep(uri: str, experiment: str, outputs: Path, sweep: str | None = None) -> Path:
    """Download the result.json of every live child of the experiment's newest sweep (or of the sweep
    whose parent run is named `sweep`, e.g. bench_20261201_101500) into outputs/mlflow_<sweep>/<point>/,
    so the summarizer (and qbench compare) can read an MLflow-only sweep."""
    try:
        mlflow = _reading_client(uri)
    except Unreachable as exc:
        raise LookupError(str(exc)) from None
    found = mlflow.get_experiment_by_name(experiment) if mlflow else None
    if found is None:
        raise LookupError(f"no MLflow experiment named '{experiment}' at {uri}")
    named = f" and attributes.run_name = '{sweep}'" if sweep else ""
    sweeps = mlflow.search_runs([found.experiment_id], filter_string="tags.`qbench.kind` = 'sweep'" + named,
                                order_by=["attributes.start_time DESC"], max_results=1)
    if not sweeps:
        raise LookupError(f"experiment '{experiment}' has no qbench sweep" + (f" named '{sweep}'" if sweep else ""))
    parent = sweeps[0]
    target = Path(outputs) / f"mlflow_{parent.info.run_name}"
    for child in all_runs(mlflow, found.experiment_id, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"):
        point_dir = target / child.info.run_name
        point_dir.mkdir(parents=True, exist_ok=True)
        mlflow.download_artifacts(child.info.run_id, records.RESULT_FILE, str(point_dir))
    return target


def runs_page(uri: str, experiment: str, base: str) -> str:
    """The UI address of the experiment's runs table. MLflow 3.17's UI picks its view from its own
    GenAI/Model-training switch (remembered per browser, GenAI by default), not from the experiment's
    kind tag: `workflowType=machine_learning` in the address selects the runs table."""
    try:
        mlflow = _reading_client(uri)
        found = mlflow.get_experiment_by_name(experiment) if mlflow else None
    except Exception:  # noqa: BLE001 - no store yet, or one MLflow cannot read: the home page then
        found = None
    if found is None:
        return f"{base}/#/experiments?workflowType=machine_learning"
    return f"{base}/#/experiments/{found.experiment_id}?workflowType=machine_learning"


def close_stale(uri: str, experiment: str) -> int:
    """For `qbench summarize`: mark runs of dead sweeps KILLED (creates no store where there is none)."""
    mlflow = _reading_client(uri)
    found = mlflow.get_experiment_by_name(experiment) if mlflow else None
    return close_stale_runs(mlflow, found.experiment_id) if found else 0
