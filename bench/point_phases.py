"""Where one forked point's time goes, piece by piece, one stream alone (no sweep around it).

Starts the fork servers as the CLI does for a 2-worker joblib sweep of BACKEND at N qubits (1
thread a point), then runs the point through qbench's runner `--points` times in a row and
reports the median (first 3 dropped) of: the whole run_point, its overhead (wall minus dry run,
warm-up and timed runs), the job's pieces (its checks, asking the server for a worker, the
worker's whole call, the record write) and the worker's own (`convert_seconds`,
`verify_seconds`, the dry run and the median timed run, page faults per timed run).

    .venv/bin/python bench/point_phases.py qsim 8 [--points 25]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qbench.app.hydra_internals import args_parser  # noqa: E402
from qbench.cli.preflight import preflight  # noqa: E402
from qbench.execution import forkserver, pool, runner, workers  # noqa: E402

JOB_PIECES = [(runner, "check_point"), (runner, "precheck"), (runner, "run_isolated"),
              (runner.records, "write_atomic"), (pool.forkserver, "fork_worker"), (workers.Worker, "call")]


def timed(pieces: dict, owner, name: str) -> None:
    """Wrap owner.name so that every call's wall time is kept under `name`."""
    function = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            pieces.setdefault(name, []).append(time.perf_counter() - start)
    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend")
    parser.add_argument("n_qubits", type=int)
    parser.add_argument("--points", type=int, default=25)
    args = parser.parse_args()
    expansion, problem = preflight(args_parser().parse_args([
        "-m", f"backend={args.backend}", f"n_qubits={args.n_qubits}", "circuit=ghz", "shots=1000",
        "execution.min_time=0", "execution.max_repetitions=3", "execution.heap=default", "tracking.enabled=false",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]))
    if problem is not None:
        sys.exit(f"bench/point_phases.py: {problem}")
    cfg = runner.records.task_config(expansion.points[0].cfg)
    forkserver.start_for(expansion.points)
    pieces: dict[str, list[float]] = {}  # seconds
    faults: list[float] = []
    for owner, name in JOB_PIECES:
        timed(pieces, owner, name)
    try:
        with tempfile.TemporaryDirectory() as folder:
            for _ in range(args.points):
                start = time.perf_counter()
                record = runner.run_point(cfg, Path(folder), "point_phases", 2)
                wall = time.perf_counter() - start
                assert record["status"] == "success", record["reason"]
                m = record["metrics"]
                work = m["dry_run_seconds"] + sum(m["execution_times_seconds"]) + m["warmup_seconds"]
                for name, value in (("run_point", wall), ("overhead", m["wall_seconds"] - work),
                                    ("convert_seconds", m["convert_seconds"]), ("verify_seconds", m["verify_seconds"]),
                                    ("dry_run_seconds", m["dry_run_seconds"]),
                                    ("execution_time_seconds", m["execution_time_seconds"])):
                    pieces.setdefault(name, []).append(value)
                faults.append(m["execution_page_faults_per_run"])
    finally:
        forkserver.stop()
    print(f"{args.backend} {args.n_qubits} q, medians of {args.points - 3} points:")
    for name, values in pieces.items():
        print(f"  {name:24s} {1e3 * statistics.median(values[3:]):9.2f} ms")
    print(f"  {'page faults per timed run':24s} {statistics.median(faults[3:]):9.0f}")


if __name__ == "__main__":
    main()
