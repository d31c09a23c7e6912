"""The launching process's one MLflow writer for a sweep (see qbench.results.tracking)."""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from qbench.results import records, tracking

log = logging.getLogger("qbench")


def _now_ms() -> int:
    return int(time.time() * 1000)


def task_config(point_dir: Path, record: dict) -> dict:
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
    """A low-priority thread that creates the store, the experiment and the sweep's parent run (starting
    when the sweep did), logs every point as its result.json appears, and at `finish` logs what is left
    and ends the parent at the sweep's end. A point logged again replaces its earlier child run.
    Any MLflow failure is one warning; a server that does not answer turns tracking off for the sweep."""

    POLL_SECONDS = 0.25
    SYNCHRONOUS = True  # MLflow's async log_batch bought nothing here: bench/mlflow_cost.py

    def __init__(self, tracking_cfg, sweep_dir: Path, benchmark_id: str):
        self.tracking_cfg, self.sweep_dir, self.benchmark_id = tracking_cfg, Path(sweep_dir), benchmark_id
        self.started_ms = _now_ms()  # Hydra calls on_multirun_start before any job starts
        self.ids: dict | None = None
        self._mlflow = None
        self._children: dict[str, list[str]] = {}  # point folder name -> live child runs under the parent
        self._seen: dict[Path, float] = {}          # result.json -> mtime already looked at
        self._end: tuple | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qbench-mlflow", daemon=True)

    def start(self) -> "SweepTracker":
        if self.tracking_cfg.enabled:
            self._thread.start()
        return self

    def finish(self, failed_points: int = 0, status: str = "FINISHED") -> None:
        """Log what is left, end the parent run now (the sweep's end), then return (the thread ends)."""
        self._end = (failed_points, _now_ms(), status)
        self._stop.set()
        if self._thread.is_alive():
            self._raise_priority()
            self._thread.join()

    def _raise_priority(self) -> None:
        """No timed run is left to protect: the backlog the busy sweep left is logged at the launching
        process's own priority, where the OS lets a thread raise its priority again (root, RLIMIT_NICE)."""
        try:
            os.setpriority(os.PRIO_PROCESS, self._thread.native_id, os.getpriority(os.PRIO_PROCESS, 0))
        except (AttributeError, OSError, TypeError):
            pass  # an ordinary user: the thread stays at nice 19, which only matters on a busy machine

    def _off(self, why: str, exc: Exception) -> None:
        log.warning("MLflow tracking off for this sweep (%s): %s; the records are written as always", why, exc)
        self.ids = None

    def _run(self) -> None:
        tracking.lower_this_threads_priority()
        try:
            self._open()
        except Exception as exc:  # noqa: BLE001 - tracking never fails a run
            return self._off("could not start", exc)
        while self.ids is not None:
            stopping = self._stop.is_set()  # read before the scan: a result written during it is caught next round
            self.log_new_results()
            if stopping:
                break
            self._stop.wait(self.POLL_SECONDS)
        if self.ids is not None and self._end is not None:
            failed, ended_ms, status = self._end
            try:
                tracking.end_sweep(self._mlflow, self.ids, failed, ended_ms, status)
            except Exception as exc:  # noqa: BLE001
                log.warning("MLflow: could not close the sweep's run: %s", exc)

    def _open(self) -> None:
        self._mlflow = tracking.client(tracking.resolve_uri(self.tracking_cfg.uri))
        previous = records.read(self.sweep_dir / tracking.IDS_FILE)
        self.ids = tracking.start_sweep(self._mlflow, self.tracking_cfg, self.sweep_dir, self.benchmark_id,
                                        self.started_ms)
        if previous and previous.get("parent_run_id") == self.ids["parent_run_id"]:  # a resume: earlier children
            for run in tracking.all_runs(self._mlflow, self.ids["experiment_id"],
                                         f"tags.`mlflow.parentRunId` = '{self.ids['parent_run_id']}'"):
                self._children.setdefault(run.info.run_name, []).append(run.info.run_id)

    def log_new_results(self) -> None:
        """Every result finished since the last look, each as one child run."""
        for path in records.find_results(self.sweep_dir):
            if self.ids is None:
                return
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if self._seen.get(path) == mtime:
                continue
            self._seen[path] = mtime
            record = records.read(path)
            if record is None or tracking.is_logged(path.parent, record):
                continue
            try:
                self.log_point(path.parent, record)
            except Exception as exc:  # noqa: BLE001 - tracking must never fail a run
                if tracking.is_remote(self._mlflow.tracking_uri):  # every further call would wait as long
                    return self._off("the server failed", exc)
                log.warning("MLflow: could not log %s: %s", path.parent, exc)

    def log_point(self, point_dir: Path, record: dict) -> str:
        """The point's child run, replacing (deleting) any earlier one of the same point under this parent.
        The new one is complete before the old ones go, and the point counts as logged only after both:
        a crash between steps leaves it to be logged again, never lost."""
        parent = self.ids["parent_run_id"]
        run = tracking.point_run(task_config(point_dir, record), record, point_dir)
        run_id = tracking.log_run(self._mlflow, self.ids["experiment_id"], parent, run, self.SYNCHRONOUS)
        for earlier in self._children.get(run["run_name"], []):
            self._mlflow.delete_run(earlier)
        self._children[run["run_name"]] = [run_id]
        tracking.mark_logged(point_dir, record, run_id, parent)
        return run_id
