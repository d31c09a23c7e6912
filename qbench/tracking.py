"""MLflow tracking: one parent run per sweep, one child run per point.

In a sweep the process that launches it is the store's only writer: a `SweepTracker`
thread there creates the store, the experiment and the parent run (ids in
`<sweep_dir>/mlflow.json`), then logs each point as a child run as soon as its
result.json appears, whatever the launcher (joblib workers, SLURM nodes on a shared
filesystem). Jobs never import MLflow (1.5 s each) and never contend for sqlite's one
writer lock. A single run (no sweep) logs itself.

Tracking never fails a run: an MLflow error is logged as a warning and the
result.json on disk stays the source of truth; a point left unlogged (the launching
process died) is logged by the next launch into that sweep.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import sqlite3
import threading
import time
from pathlib import Path

from qbench import circuits, records

log = logging.getLogger("qbench")
IDS_FILE = "mlflow.json"          # in the sweep dir: store, experiment and parent run
POINT_FILE = "mlflow_run.json"    # in a point dir: written once the point's child run is complete
FINISHED_STATUSES = ("success", "skipped", "unavailable")  # child runs of these end FINISHED, others FAILED


SQLITE = "sqlite:///"


def resolve_uri(uri: str) -> str:
    """Make a relative sqlite path absolute, so jobs in other working directories share the store."""
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        return SQLITE + str(Path(uri[len(SQLITE):]).resolve())
    return uri


def _make_store_folder(uri: str) -> None:
    if uri.startswith(SQLITE):  # MLflow creates the database file, not its folder
        Path(uri[len(SQLITE):]).parent.mkdir(parents=True, exist_ok=True)


def _template_path() -> Path:
    import mlflow

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qbench"
    return cache / f"mlflow-{mlflow.__version__}-empty.db"


def _new_sqlite_store(path: Path) -> None:
    """Create an empty store at `path` by copying one made once per MLflow version.

    MLflow builds a new sqlite store by running its schema migrations (~2 s here); the
    result is the same empty database every time except the default experiment's
    artifact location, which is set here to what MLflow would have written from this
    directory. os.link publishes the copy only if no other process created the store first.
    """
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.tracking import MlflowClient
    from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local

    template = _template_path()
    if not template.exists():
        template.parent.mkdir(parents=True, exist_ok=True)
        building = template.with_name(f"{template.name}.{os.getpid()}.tmp")
        MlflowClient(tracking_uri=SQLITE + str(building)).search_experiments()  # runs the migrations
        os.replace(building, template)
    copy = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.copyfile(template, copy)
    try:
        with sqlite3.connect(copy) as db:
            default_root = append_to_uri_path(resolve_uri_if_local(DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH), "0")
            db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", (default_root,))
        db.close()
        os.link(copy, path)
    except FileExistsError:
        pass  # another process made it a moment ago: use theirs
    finally:
        copy.unlink(missing_ok=True)


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    _make_store_folder(uri)
    if uri.startswith(SQLITE) and not Path(uri[len(SQLITE):]).exists():
        _new_sqlite_store(Path(uri[len(SQLITE):]))
    return MlflowClient(tracking_uri=uri)


def _retry(call, attempts: int = 6):
    """sqlite allows one writer: concurrent jobs may see 'database is locked' for a moment."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - MLflow wraps sqlite errors in several types
            if attempt == attempts - 1 or "locked" not in str(exc).lower():
                raise
            time.sleep(0.1 * 2**attempt)


def experiment_id(client, name: str, artifact_location: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    if client.tracking_uri.startswith(("http://", "https://")):
        return client.create_experiment(name)  # a server decides where artifacts live
    location = artifact_location
    if "://" not in location:
        location = Path(location).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def _owner_tags() -> dict:
    return {"qbench.host": socket.gethostname(), "qbench.pid": str(os.getpid())}


def close_stale_runs(client, exp_id: str) -> int:
    """End RUNNING runs whose launching process on this host is gone: KILLED. Returns how many."""
    closed = 0
    host = socket.gethostname()
    for run in client.search_runs([exp_id], filter_string="attributes.status = 'RUNNING'", max_results=1000):
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
        _retry(lambda: client.set_terminated(run.info.run_id, "KILLED"))
        closed += 1
    if closed:
        log.info("MLflow: %d run(s) left RUNNING by a dead sweep marked KILLED", closed)
    return closed


def start_sweep(tracking_cfg, sweep_dir: Path, benchmark_id: str) -> dict | None:
    """Create (or reuse, on a resumed sweep) the parent run; write its ids into the sweep dir."""
    if not tracking_cfg.enabled:
        return None
    sweep_dir = Path(sweep_dir)
    ids_path = sweep_dir / IDS_FILE
    try:
        uri = resolve_uri(tracking_cfg.uri)
        client = _client(uri)
        exp_id = experiment_id(client, tracking_cfg.experiment, tracking_cfg.artifact_location)
        close_stale_runs(client, exp_id)
        previous = records.read(ids_path)
        if previous and previous.get("uri") == uri:
            parent = previous["parent_run_id"]
            client.update_run(parent, status="RUNNING")
            for key, value in _owner_tags().items():
                client.set_tag(parent, key, value)
        else:
            parent = client.create_run(exp_id, run_name=benchmark_id,
                                       tags={"qbench.kind": "sweep", "benchmark_id": benchmark_id,
                                             "qbench.sweep_dir": str(sweep_dir.resolve()), **_owner_tags()}).info.run_id
        ids = {"uri": uri, "experiment_id": exp_id, "parent_run_id": parent}
        records.write_atomic(ids_path, ids)
        return ids
    except Exception as exc:  # noqa: BLE001
        log.warning("MLflow tracking disabled for this sweep: %s", exc)
        return None


def end_sweep(sweep_dir: Path, failed: int) -> None:
    ids = records.read(Path(sweep_dir) / IDS_FILE)
    if not ids:
        return
    try:
        client = _client(ids["uri"])
        _retry(lambda: client.set_tag(ids["parent_run_id"], "failed_points", str(failed)))
        _retry(lambda: client.set_terminated(ids["parent_run_id"], "FINISHED"))
    except Exception as exc:  # noqa: BLE001
        log.warning("MLflow: could not close the sweep's run: %s", exc)


def _identity(record: dict) -> list:
    """Which result a child run logged: a rerun of the same point has the same run_id, not the same end."""
    return [record.get("run_id"), record.get("timestamps", {}).get("completed_at")]


def is_logged(output_dir: Path, record: dict) -> bool:
    logged = records.read(Path(output_dir) / POINT_FILE)
    return bool(logged) and logged.get("result") == _identity(record)


def flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def log_point(tracking_cfg, task_cfg: dict, record: dict, output_dir: Path, sweep_dir: Path | None) -> str | None:
    """Log one finished point as a child run (or a standalone run outside a sweep)."""
    if not tracking_cfg.enabled:
        return None
    try:
        from mlflow.entities import Metric, Param, RunTag

        ids = records.read(Path(sweep_dir) / IDS_FILE) if sweep_dir else None
        if ids is None:  # single run: this process is the only writer, create what is missing
            uri = resolve_uri(tracking_cfg.uri)
            client = _client(uri)
            exp_id, parent = experiment_id(client, tracking_cfg.experiment, tracking_cfg.artifact_location), None
        else:
            client, exp_id, parent = _client(ids["uri"]), ids["experiment_id"], ids["parent_run_id"]
        cfg = record.get("config", {})
        tags = {"backend": record.get("backend"), "circuit": cfg.get("circuit_type"), "n_qubits": cfg.get("n_qubits"),
                "noise": cfg.get("noise_model"), "noise_strength": cfg.get("noise_strength"),
                "status": record["status"], "benchmark_id": record.get("benchmark_id"),
                "qbench.run_id": record.get("run_id"), "reason": (record.get("reason") or "")[:4000],
                **_owner_tags()}
        if parent:
            tags["mlflow.parentRunId"] = parent
        run_id = _retry(lambda: client.create_run(exp_id, run_name=Path(output_dir).name,
                                                  tags={k: str(v) for k, v in tags.items()})).info.run_id
        now = int(time.time() * 1000)
        params = [Param(k, str(v)[:6000]) for k, v in flatten(task_cfg).items()]
        metrics = [Metric(k, float(v), now, 0) for k, v in record.get("metrics", {}).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)]
        metrics += [Metric("execution_time_repetition", float(v), now, step)
                    for step, v in enumerate(record.get("metrics", {}).get("execution_times_seconds") or [])]
        for start in range(0, max(len(params), len(metrics)), 100):  # MLflow's batch limit per call
            _retry(lambda: client.log_batch(run_id, metrics=metrics[start:start + 100],
                                            params=params[start:start + 100], tags=[RunTag("qbench.logged", "1")]))
        result_path = Path(output_dir) / records.RESULT_FILE
        if result_path.exists():
            _retry(lambda: client.log_artifact(run_id, str(result_path)))
        if cfg.get("circuit_type") in circuits.FAMILIES and cfg.get("n_qubits"):
            circuit = circuits.build(cfg["circuit_type"], cfg["n_qubits"], cfg.get("depth"), cfg.get("circuit_seed"))
            _retry(lambda: client.log_text(run_id, circuit.to_qasm(), "circuit.qasm"))
        status = "FINISHED" if record["status"] in FINISHED_STATUSES else "FAILED"
        _retry(lambda: client.set_terminated(run_id, status))
        records.write_atomic(Path(output_dir) / POINT_FILE, {"run_id": run_id, "result": _identity(record)})
        return run_id
    except Exception as exc:  # noqa: BLE001 - tracking must never fail a run
        log.warning("MLflow: could not log %s: %s", output_dir, exc)
        return None


def _lower_this_threads_priority() -> None:
    """Logging must not take CPU from timed runs on a busy machine (Linux nice is per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def _task_config(point_dir: Path, record: dict) -> dict:
    """The job's composed config (Hydra saves it before the run), else the record's own config."""
    from omegaconf import OmegaConf

    saved = Path(point_dir) / ".hydra" / "config.yaml"
    try:
        return OmegaConf.to_container(OmegaConf.load(saved), resolve=True)
    except Exception:  # noqa: BLE001 - a lost job may have no config saved
        return record.get("config", {})


class SweepTracker:
    """The launching process's MLflow writer for one sweep (see the module docstring)."""

    POLL_SECONDS = 0.25

    def __init__(self, tracking_cfg, sweep_dir: Path, benchmark_id: str):
        self.tracking_cfg, self.sweep_dir, self.benchmark_id = tracking_cfg, Path(sweep_dir), benchmark_id
        self._seen: dict[Path, float] = {}  # result.json -> mtime already looked at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qbench-mlflow", daemon=True)

    def start(self) -> "SweepTracker":
        if self.tracking_cfg.enabled:
            self._thread.start()
        return self

    def finish(self) -> None:
        """Log what is left, then return (the thread ends)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        _lower_this_threads_priority()
        if start_sweep(self.tracking_cfg, self.sweep_dir, self.benchmark_id) is None:
            return
        while True:
            stopping = self._stop.is_set()  # read before the scan: a result written during it is caught next round
            self.log_new_results()
            if stopping:
                return
            self._stop.wait(self.POLL_SECONDS)

    def log_new_results(self) -> None:
        for path in records.find_results(self.sweep_dir):
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if self._seen.get(path) == mtime:
                continue
            self._seen[path] = mtime
            record = records.read(path)
            if record is None or is_logged(path.parent, record):
                continue
            log_point(self.tracking_cfg, _task_config(path.parent, record), record, path.parent, self.sweep_dir)


def export_sweep(uri: str, experiment: str, outputs: Path, parent_run_id: str | None = None) -> Path:
    """Download the result.json of every child of a sweep's parent run (default: the newest sweep)
    into outputs/mlflow_<sweep>/<point>/, so the summarizer can read an MLflow-only sweep."""
    client = _client(resolve_uri(uri))
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise LookupError(f"no MLflow experiment named '{experiment}' at {uri}")
    if parent_run_id is None:
        sweeps = client.search_runs([found.experiment_id], filter_string="tags.`qbench.kind` = 'sweep'",
                                    order_by=["attributes.start_time DESC"], max_results=1)
        if not sweeps:
            raise LookupError(f"experiment '{experiment}' has no qbench sweep")
        parent = sweeps[0]
    else:
        parent = client.get_run(parent_run_id)
    target = Path(outputs) / f"mlflow_{parent.info.run_name}"
    children = client.search_runs([found.experiment_id], max_results=50000,
                                  filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    for child in children:
        point_dir = target / child.info.run_name
        point_dir.mkdir(parents=True, exist_ok=True)
        client.download_artifacts(child.info.run_id, records.RESULT_FILE, str(point_dir))
    return target


def close_stale(uri: str, experiment: str) -> int:
    """For `qbench summarize`: mark runs of dead sweeps KILLED (creates no store where there is none)."""
    uri = resolve_uri(uri)
    if uri.startswith(SQLITE) and not Path(uri[len(SQLITE):]).exists():
        return 0
    client = _client(uri)
    found = client.get_experiment_by_name(experiment)
    return close_stale_runs(client, found.experiment_id) if found else 0


def ui(argv: list[str]) -> int:
    """`qbench ui [URI]`: the MLflow UI on this machine's store (127.0.0.1 only)."""
    uri = resolve_uri(argv[0] if argv else "sqlite:///mlruns/mlflow.db")
    _make_store_folder(uri)
    command = ["mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1"]
    print(" ".join(command), flush=True)
    os.execvp(command[0], command)
