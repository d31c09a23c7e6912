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

from qbench.circuits import canonical as circuits
from qbench.results import records
from qbench.results.mlflow_sqlite import SQLITE, open_store

log = logging.getLogger("qbench")
DEFAULT_URI = "sqlite:///mlruns/mlflow.db"  # conf/config.yaml's tracking.uri, for commands without a config
DEFAULT_EXPERIMENT = "qbench"
IDS_FILE = "mlflow.json"          # in the sweep dir: store, experiment and parent run
POINT_FILE = "mlflow_run.json"    # in a point dir: written once the point's child run is complete
FINISHED_STATUSES = ("success", "skipped", "unavailable")  # child runs of these end FINISHED, others FAILED


def resolve_uri(uri: str) -> str:
    """Make a relative sqlite path absolute, so jobs in other working directories share the store."""
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        return SQLITE + str(Path(uri[len(SQLITE):]).resolve())
    return uri


def make_store_folder(uri: str) -> None:
    if uri.startswith(SQLITE):  # MLflow creates the database file, not its folder
        Path(uri[len(SQLITE):]).parent.mkdir(parents=True, exist_ok=True)


def _template_path() -> Path:
    from importlib.metadata import version  # not `import mlflow`: that alone costs 2 s

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qbench"
    return cache / f"mlflow-{version('mlflow')}-empty.db"


def _default_experiment_root() -> str:
    """Where MLflow puts the Default experiment's artifacts for a store made from this directory
    (resolve_uri_if_local('./mlruns') + '/0'; tests/test_mlflow_sqlite.py checks it against MLflow)."""
    return f"{Path.cwd().joinpath('mlruns').as_posix()}/0"


def _new_sqlite_store(path: Path) -> None:
    """Create an empty store at `path` by copying one made once per MLflow version.

    MLflow builds a new sqlite store by running its schema migrations (~2 s here); the
    result is the same empty database every time except the default experiment's
    artifact location, which is set here to what MLflow would have written from this
    directory. os.link publishes the copy only if no other process created the store first.
    """
    template = _template_path()
    if not template.exists():
        from mlflow.tracking import MlflowClient

        template.parent.mkdir(parents=True, exist_ok=True)
        building = template.with_name(f"{template.name}.{os.getpid()}.tmp")
        MlflowClient(tracking_uri=SQLITE + str(building)).search_experiments()  # runs the migrations
        os.replace(building, template)
    copy = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.copyfile(template, copy)
    try:
        with sqlite3.connect(copy) as db:
            db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                       (_default_experiment_root(),))
        db.close()
        os.link(copy, path)
    except FileExistsError:
        pass  # another process made it a moment ago: use theirs
    finally:
        copy.unlink(missing_ok=True)


def _retry(call, attempts: int = 6):
    """sqlite allows one writer: concurrent jobs may see 'database is locked' for a moment."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - MLflow wraps sqlite errors in several types
            if attempt == attempts - 1 or "locked" not in str(exc).lower():
                raise
            time.sleep(0.1 * 2**attempt)


class MlflowClientStore:
    """What qbench writes, through MLflow's client: any tracking URI (mlflow_sqlite.SqliteStore is
    the same for a local sqlite store, without importing MLflow)."""

    def __init__(self, uri: str):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        self.tracking_uri = uri

    def experiment_id(self, name: str, artifact_location: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        if self.tracking_uri.startswith(("http://", "https://")):
            return self.client.create_experiment(name)  # a server decides where artifacts live
        return self.client.create_experiment(name, artifact_location=artifact_location)

    def running_runs(self, experiment_id: str) -> list[tuple[str, dict]]:
        return [(run.info.run_id, run.data.tags) for run in self.client.search_runs(
            [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000)]

    def create_run(self, experiment_id: str, run_name: str, tags: dict) -> str:
        return _retry(lambda: self.client.create_run(experiment_id, run_name=run_name, tags=tags)).info.run_id

    def set_tags(self, run_id: str, tags: dict) -> None:
        for key, value in tags.items():
            _retry(lambda: self.client.set_tag(run_id, key, value))

    def set_status(self, run_id: str, status: str, terminated: bool = True) -> None:
        if terminated:
            _retry(lambda: self.client.set_terminated(run_id, status))
        else:
            _retry(lambda: self.client.update_run(run_id, status=status))

    def log_run(self, experiment_id: str, run_name: str, tags: dict, params: dict, metrics: list[tuple],
                artifacts: dict, status: str) -> str:
        from mlflow.entities import Metric, Param

        run_id = self.create_run(experiment_id, run_name, tags)
        params = [Param(k, str(v)) for k, v in params.items()]
        metrics = [Metric(*metric) for metric in metrics]
        for start in range(0, max(len(params), len(metrics)), 100):  # MLflow's batch limit per call
            _retry(lambda: self.client.log_batch(run_id, metrics=metrics[start:start + 100],
                                                 params=params[start:start + 100]))
        for name, content in artifacts.items():
            if isinstance(content, Path):
                _retry(lambda: self.client.log_artifact(run_id, str(content)))
            else:
                _retry(lambda: self.client.log_text(run_id, content, name))
        self.set_status(run_id, status)
        return run_id

    def log_runs(self, runs: list[dict]) -> list:
        """log_run for each run: its run id, or the exception that stopped it."""
        outcomes = []
        for run in runs:
            try:
                outcomes.append(self.log_run(**run))
            except Exception as exc:  # noqa: BLE001 - reported to the caller, the others are kept
                outcomes.append(exc)
        return outcomes


def _ensure_store(uri: str) -> str:
    make_store_folder(uri)
    if uri.startswith(SQLITE) and not Path(uri[len(SQLITE):]).exists():
        _new_sqlite_store(Path(uri[len(SQLITE):]))
    return uri


def _store(uri: str):
    """The writer for `uri` (made if missing): qbench's direct sqlite writer where it applies, else MLflow's client."""
    return open_store(_ensure_store(uri)) or MlflowClientStore(uri)


def _client(uri: str):
    """MLflow's own client on `uri` (made if missing), for reading: export, close_stale."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=_ensure_store(uri))


def experiment_id(store, name: str, artifact_location: str) -> str:
    location = artifact_location
    if "://" not in location:
        location = Path(location).resolve().as_uri()
    return store.experiment_id(name, location)


def _owner_tags() -> dict:
    return {"qbench.host": socket.gethostname(), "qbench.pid": str(os.getpid())}


def close_stale_runs(store, exp_id: str) -> int:
    """End RUNNING runs whose launching process on this host is gone: KILLED. Returns how many."""
    closed = 0
    host = socket.gethostname()
    for run_id, tags in store.running_runs(exp_id):
        if tags.get("qbench.host") != host:
            continue  # another machine's sweep may still be alive; leave it alone
        try:
            os.kill(int(tags.get("qbench.pid", "0")), 0)
            continue
        except (ProcessLookupError, ValueError):
            pass
        except PermissionError:
            continue
        store.set_status(run_id, "KILLED")
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
        store = _store(uri)
        exp_id = experiment_id(store, tracking_cfg.experiment, tracking_cfg.artifact_location)
        close_stale_runs(store, exp_id)
        previous = records.read(ids_path)
        if previous and previous.get("uri") == uri:
            parent = previous["parent_run_id"]
            store.set_status(parent, "RUNNING", terminated=False)
            store.set_tags(parent, _owner_tags())
        else:
            parent = store.create_run(exp_id, benchmark_id, {"qbench.kind": "sweep", "benchmark_id": benchmark_id,
                                                             "qbench.sweep_dir": str(sweep_dir.resolve()),
                                                             **_owner_tags()})
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
        store = _store(ids["uri"])
        store.set_tags(ids["parent_run_id"], {"failed_points": str(failed)})
        store.set_status(ids["parent_run_id"], "FINISHED")
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


def _point_run(exp_id: str, parent: str | None, task_cfg: dict, record: dict, output_dir: Path) -> dict:
    """A finished point as the arguments of a store's log_run: a child run of `parent` (or standalone)."""
    cfg = record.get("config", {})
    tags = {"backend": record.get("backend"), "circuit": cfg.get("circuit_type"), "n_qubits": cfg.get("n_qubits"),
            "noise": cfg.get("noise_model"), "noise_strength": cfg.get("noise_strength"),
            "status": record["status"], "benchmark_id": record.get("benchmark_id"),
            "qbench.run_id": record.get("run_id"), "reason": (record.get("reason") or "")[:4000],
            **_owner_tags()}
    if parent:
        tags["mlflow.parentRunId"] = parent
    now = int(time.time() * 1000)
    params = {k: str(v)[:6000] for k, v in flatten(task_cfg).items()}
    metrics = [(k, float(v), now, 0) for k, v in record.get("metrics", {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    metrics += [("execution_time_repetition", float(v), now, step)
                for step, v in enumerate(record.get("metrics", {}).get("execution_times_seconds") or [])]
    artifacts = {}
    result_path = Path(output_dir) / records.RESULT_FILE
    if result_path.exists():
        artifacts[records.RESULT_FILE] = result_path
    circuit = circuits.build_from_record(cfg)  # QASM files and MQT Bench too, from config.circuit_options
    if circuit is not None:
        artifacts["circuit.qasm"] = circuit.to_qasm()
    return {"experiment_id": exp_id, "run_name": Path(output_dir).name,
            "tags": {k: str(v) for k, v in tags.items()}, "params": params, "metrics": metrics,
            "artifacts": artifacts, "status": "FINISHED" if record["status"] in FINISHED_STATUSES else "FAILED"}


def log_point(tracking_cfg, task_cfg: dict, record: dict, output_dir: Path) -> str | None:
    """Log a single run (no sweep) as a standalone run."""
    if not tracking_cfg.enabled:
        return None
    return log_points(tracking_cfg, [(task_cfg, record, Path(output_dir))], None)[0]


def log_points(tracking_cfg, points: list[tuple[dict, dict, Path]], sweep_dir: Path | None) -> list[str | None]:
    """Log finished points, each (task config, record, output dir), in one write: their run ids (None where
    one could not be logged; tracking never fails a run)."""
    if not tracking_cfg.enabled or not points:
        return [None] * len(points)
    try:
        ids = records.read(Path(sweep_dir) / IDS_FILE) if sweep_dir else None
        if ids is None:  # single run: this process is the only writer, create what is missing
            store = _store(resolve_uri(tracking_cfg.uri))
            exp_id, parent = experiment_id(store, tracking_cfg.experiment, tracking_cfg.artifact_location), None
        else:
            store, exp_id, parent = _store(ids["uri"]), ids["experiment_id"], ids["parent_run_id"]
        outcomes = store.log_runs([_point_run(exp_id, parent, *point) for point in points])
    except Exception as exc:  # noqa: BLE001 - tracking must never fail a run
        outcomes = [exc] * len(points)
    run_ids = []
    for (_, record, output_dir), outcome in zip(points, outcomes):
        try:
            if isinstance(outcome, Exception):
                raise outcome
            records.write_atomic(Path(output_dir) / POINT_FILE, {"run_id": outcome, "result": _identity(record)})
            run_ids.append(outcome)
        except Exception as exc:  # noqa: BLE001
            log.warning("MLflow: could not log %s: %s", output_dir, exc)
            run_ids.append(None)
    return run_ids


def lower_this_threads_priority() -> None:
    """The launching process's own background work (MLflow logging, warming up the charts) must not
    take CPU from timed runs on a busy machine: nice 19 for the calling thread (Linux nice is per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def _task_config(point_dir: Path, record: dict) -> dict:
    """The job's composed config (Hydra saves it before the run), else the record's own config."""
    import yaml
    from omegaconf import OmegaConf

    saved = Path(point_dir) / ".hydra" / "config.yaml"
    try:
        # libyaml reads what OmegaConf wrote as OmegaConf.load would, in a tenth of the time
        loaded = yaml.load(saved.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return OmegaConf.to_container(OmegaConf.create(loaded), resolve=True)
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
        lower_this_threads_priority()
        if start_sweep(self.tracking_cfg, self.sweep_dir, self.benchmark_id) is None:
            return
        while True:
            stopping = self._stop.is_set()  # read before the scan: a result written during it is caught next round
            self.log_new_results()
            if stopping:
                return
            self._stop.wait(self.POLL_SECONDS)

    def log_new_results(self) -> None:
        """Every result finished since the last look, logged in one write (one disk sync for them all)."""
        new = []
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
            new.append((_task_config(path.parent, record), record, path.parent))
        log_points(self.tracking_cfg, new, self.sweep_dir)


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
    return close_stale_runs(_store(uri), found.experiment_id) if found else 0
