"""What a fresh worker per point costs: forked from the fork server, spawned, or none (in-process).

Runs the same small point (GHZ, 4 qubits, 1 warm-up, `repetitions` timed runs) N times through
qbench's runner, as a 2-worker joblib sweep's job would (1 thread), three ways:
- forked: a fork server started as the CLI starts it (`forkserver.start_for`), one fork per point;
- spawned: no fork server (SLURM jobs, QuEST, LRET, the GPU): `python -m qbench.execution.workers`
  per point, which imports the library itself (outside the timed window and the timeout);
- in-process: `execution.isolation=none`, the Hydra job's own process (no hard timeout).
The median wall time of a whole run_point per way, and what the worker's start adds to it.

    .venv/bin/python bench/isolation_overhead.py [--points 20] [--backend cirq]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from hydra import compose, initialize_config_module

from qbench import environment
from qbench.app.hydra_internals import args_parser
from qbench.cli.preflight import preflight
from qbench.execution import forkserver
from qbench.execution.runner import run_point

WAYS = ("forked", "spawned", "in-process")


def measure(backend: str, way: str, points: int, repetitions: int) -> dict:
    isolation = "none" if way == "in-process" else "process"
    overrides = [f"backend={backend}", "circuit=ghz", "n_qubits=4", f"execution.isolation={isolation}",
                 "execution.warmup_runs=1", f"execution.repetitions={repetitions}", "tracking.enabled=false"]
    with initialize_config_module("qbench.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    if way == "forked":  # as `python -m qbench -m ... hydra/launcher=joblib hydra.launcher.n_jobs=2` starts it
        expansion, problem = preflight(args_parser().parse_args(
            ["-m", *overrides, "n_qubits=4,5", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]))
        assert problem is None, problem
        forkserver.start_for(expansion.points)
    walls, imports, workers = [], [], set()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(points + 1):
                start = time.perf_counter()
                record = run_point(cfg, Path(tmp) / f"p{i}", "bench", concurrency=2)
                walls.append(time.perf_counter() - start)
                imports.append(record["metrics"]["import_seconds"])
                workers.add(record["environment"]["worker"])
                assert record["status"] == "success", record["reason"]
    finally:
        forkserver.stop()
    assert workers == {way}, workers
    # The first run imports the library (in-process, or in the fork server): a sweep pays that once.
    first_counts = way == "spawned"
    return {"run_wall_ms": 1e3 * statistics.median(walls if first_counts else walls[1:]),
            "import_ms": 1e3 * statistics.median(imports if first_counts else imports[1:]),
            "first_run_wall_ms": 1e3 * walls[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--backend", action="append")
    parser.add_argument("--out", default="bench/results/isolation_overhead.json")
    args = parser.parse_args()
    rows = []
    for backend in args.backend or ["cirq", "qiskit-aer", "stim", "quest-v3"]:
        ways = WAYS if backend != "quest-v3" else ("spawned",)  # QuEST's helper process: never forked
        row = {"backend": backend, **{way: measure(backend, way, args.points, args.repetitions) for way in ways}}
        if "in-process" in row:
            base = row["in-process"]["run_wall_ms"]
            for way in ("forked", "spawned"):
                row[way]["overhead_ms"] = row[way]["run_wall_ms"] - base
        rows.append(row)
        print(f"{backend:<11} " + "  ".join(
            f"{way} {row[way]['run_wall_ms']:8.1f} ms" + (f" (+{row[way]['overhead_ms']:.1f})" if "overhead_ms" in row[way] else "")
            + (f" import {row[way]['import_ms']:.0f} ms" if way == "spawned" else "") for way in ways), flush=True)
    result = {"benchmark": "isolation_overhead", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpu": environment.cpu_model(), "cores": environment.machine()["cpu_cores"],
                          "python": platform.python_version()},
              "points": args.points, "repetitions": args.repetitions, "rows": rows,
              "command": " ".join([".venv/bin/python", *sys.argv])}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
