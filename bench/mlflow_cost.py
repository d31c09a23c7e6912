"""What MLflow's client costs qbench's sweep tracker: the store's creation and each child run.

Each phase runs in a fresh process (as the launching process of a sweep does), logging through
qbench.results.tracking exactly as the SweepTracker does (point_run + log_run), wall and CPU:

1. `import mlflow` (MlflowClient);
2. a NEW sqlite store: the client's first call runs MLflow's schema migrations, then the
   experiment (with its kind tag) and a parent run;
3. an EXISTING store opened again (a resumed sweep, a second sweep in the same folder);
4. N child runs into that store, synchronous and with MLflow's asynchronous log_batch, with
   the time of every client call (create_run, log_batch, log_artifact, log_text,
   set_terminated, delete_run when a point is logged again);
5. with --server: the same N child runs against a real `mlflow server` on 127.0.0.1.

    .venv/bin/python bench/mlflow_cost.py [--points 45] [--rounds 3] [--server]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLS = ("create_run", "log_batch", "log_artifact", "log_text", "set_terminated", "delete_run")


def _record(n: int) -> dict:
    """A success record shaped as qbench writes it (a GHZ point, 3 timed repetitions)."""
    return {"schema_version": "1.0", "run_id": f"r{n:04d}", "benchmark_id": "bench_cost", "backend": "stim",
            "status": "success", "attempts": 1,
            "config": {"n_qubits": 4 + n % 9 * 2, "circuit_type": "ghz", "noise_model": "none", "noise_strength": 0.0,
                       "shots": 1000, "seed": 42, "depth": None, "circuit_seed": None},
            "metrics": {"execution_time_seconds": 0.001, "execution_times_seconds": [0.001, 0.0011, 0.0009],
                        "dry_run_seconds": 0.002, "build_seconds": 0.0001, "convert_seconds": 0.0002,
                        "fidelity": 1.0, "gate_count": 10, "two_qubit_gate_count": 9, "circuit_depth": 10,
                        "memory_peak_mb": 1.0, "num_qubits_simulated": 4, "throughput_shots_per_second": 1e6},
            "measurements": {"histogram": {"0000": 500, "1111": 500}, "total_shots": 1000},
            "timestamps": {"started_at": "2026-12-01T08:00:00.000+00:00",
                           "completed_at": "2026-12-01T08:00:00.100+00:00"}}


def _task_config(n: int) -> dict:
    """A composed task config of the size qbench's is (28 params once flattened)."""
    return {"backend": {"_target_": "qbench.backends.stim_backend.StimBackend", "name": "stim", "device": "CPU",
                        "precision": "single", "method": "tableau", "threads": None},
            "circuit": {"name": "ghz", "depth": None, "seed": None, "qasm_file": None},
            "noise": {"name": "none", "model": "none", "strength": 0.0},
            "execution": {"name": "default", "warmup_runs": 1, "repetitions": 3, "min_time": 0.0, "timeout_per_run": 600,
                          "retries": 1, "memory_limit_gb": None, "threads": None, "isolate": True, "pin_heap": False},
            "n_qubits": 4 + n % 9 * 2, "shots": 1000, "seed": 42,
            "tracking": {"enabled": True, "uri": "sqlite:///mlruns/mlflow.db", "experiment": "qbench",
                         "artifact_location": "mlruns/artifacts"}}


class Cfg:  # the tracking node of conf/config.yaml
    enabled, experiment, artifact_location = True, "qbench", "mlruns/artifacts"

    def __init__(self, uri: str):
        self.uri = uri


def _timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.thread_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.thread_time() - cpu


def phase(name: str, uri: str, work: Path, points: int, synchronous: bool) -> dict:
    out: dict = {}
    wall, cpu = time.perf_counter(), time.process_time()
    from mlflow.tracking import MlflowClient  # noqa: F401
    out["import_s"], out["import_cpu_s"] = time.perf_counter() - wall, time.process_time() - cpu
    from qbench.results import tracking

    if name == "create":
        os.chdir(work)
        (client, w1, c1) = _timed(tracking.client, uri)
        (_, w2, c2) = _timed(client.search_experiments)  # the first call: migrations on a new store
        (ids, w3, c3) = _timed(tracking.start_sweep, client, Cfg(uri), work / "sweep", "bench_cost",
                               int(time.time() * 1000))
        out.update(store_s=w1 + w2, store_cpu_s=c1 + c2, experiment_and_parent_s=w3, experiment_and_parent_cpu_s=c3)
        return out
    os.chdir(work)
    (client, w1, c1) = _timed(tracking.client, uri)
    (ids, w2, c2) = _timed(tracking.start_sweep, client, Cfg(uri), work / "sweep", "bench_cost", int(time.time() * 1000))
    out.update(open_s=w1 + w2, open_cpu_s=c1 + c2)
    if name == "open":
        return out
    calls: dict[str, list[float]] = {c: [] for c in CALLS}
    for call in CALLS:  # time every client call qbench makes, through the public client
        original = getattr(client, call)

        def wrapper(*a, _original=original, _call=call, **k):
            start = time.perf_counter()
            try:
                return _original(*a, **k)
            finally:
                calls[_call].append(time.perf_counter() - start)
        setattr(client, call, wrapper)
    runs = []
    for n in range(points):
        point = work / "sweep" / f"stim_{n}"
        point.mkdir(parents=True, exist_ok=True)
        (point / "result.json").write_text(json.dumps(_record(n)))
        runs.append(tracking.point_run(_task_config(n), _record(n), point))
    first, wall, cpu = None, time.perf_counter(), time.thread_time()
    for run in runs:
        rid = tracking.log_run(client, ids["experiment_id"], ids["parent_run_id"], run, synchronous)
        first = first or rid
    out["child_s"] = (time.perf_counter() - wall) / points
    out["child_cpu_s"] = (time.thread_time() - cpu) / points
    (_, out["delete_run_s"], _) = _timed(client.delete_run, first)  # a point logged again: the earlier child goes
    out["calls_ms"] = {c: round(1000 * statistics.median(t), 2) for c, t in calls.items() if t}
    return out


def _child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--phase", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _server(work: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port",
                               str(port), "--backend-store-uri", f"sqlite:///{work / 'server.db'}",
                               "--artifacts-destination", str(work / "server-artifacts"), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                              env=dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"))
    base, deadline = f"http://127.0.0.1:{port}", time.time() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/health", timeout=2)
            return server, base
        except OSError:
            if time.time() > deadline:
                os.killpg(server.pid, signal.SIGKILL)
                raise SystemExit("mlflow server did not start")
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=45)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", action="store_true")
    parser.add_argument("--phase", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, uri, work, points, synchronous = args.phase
        print(json.dumps(phase(name, uri, Path(work), int(points), synchronous == "sync")))
        return
    rounds = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="qbench-mlflow-cost-") as work:
            uri = f"sqlite:///{work}/mlruns/mlflow.db"
            row = {"create": _child(["create", uri, work, "0", "sync"]), "open": _child(["open", uri, work, "0", "sync"]),
                   "sync": _child(["log", uri, work, str(args.points), "sync"]),
                   "async": _child(["log", uri, work, str(args.points), "async"])}
            if args.server:
                server, base = _server(Path(work))
                try:
                    row["server"] = _child(["log", base, work, str(args.points), "sync"])
                finally:
                    os.killpg(server.pid, signal.SIGTERM)
                    server.wait(timeout=30)
            rounds.append(row)
            print(json.dumps(row), file=sys.stderr)

    def med(side: str, key: str) -> float:
        return statistics.median(r[side][key] for r in rounds)

    print(f"MLflow {__import__('importlib.metadata').metadata.version('mlflow')}, {args.rounds} rounds (medians), "
          f"{args.points} child runs per round")
    print(f"import mlflow:                         {med('create', 'import_s'):6.2f} s wall, "
          f"{med('create', 'import_cpu_s'):5.2f} s CPU")
    print(f"new sqlite store (migrations):         {med('create', 'store_s'):6.2f} s wall, "
          f"{med('create', 'store_cpu_s'):5.2f} s CPU")
    print(f"  + experiment, kind tag, parent run:  {med('create', 'experiment_and_parent_s'):6.3f} s wall")
    print(f"existing store opened + parent reused: {med('open', 'open_s'):6.3f} s wall, "
          f"{med('open', 'open_cpu_s'):5.3f} s CPU")
    for side in ("sync", "async", "server"):
        if side in rounds[0]:
            print(f"child run ({side:6s}):                  {1000 * med(side, 'child_s'):6.1f} ms wall, "
                  f"{1000 * med(side, 'child_cpu_s'):5.1f} ms CPU (this thread); delete_run "
                  f"{1000 * med(side, 'delete_run_s'):.1f} ms; per call (ms): {rounds[-1][side]['calls_ms']}")


if __name__ == "__main__":
    main()
