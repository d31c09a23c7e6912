"""What process isolation costs per run, once workers are warm (issue: isolated workers).

Runs the same small point (GHZ, 4 qubits, `repetitions` timed runs) N times through
qbench's runner with `execution.isolation=process` and with `none` (in the Hydra
job's own process), and compares the median wall time of a whole run.

    .venv/bin/python bench/isolation_overhead.py [--points 40] [--backend cirq]
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
from qbench.execution.runner import run_point


def measure(backend: str, isolation: str, points: int, repetitions: int) -> list[float]:
    with initialize_config_module("qbench.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"backend={backend}", "circuit=ghz", "n_qubits=4",
                                           f"execution.isolation={isolation}", "execution.warmup_runs=1",
                                           f"execution.repetitions={repetitions}", "tracking.enabled=false"])
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(points + 1):
            start = time.perf_counter()
            record = run_point(cfg, Path(tmp) / f"p{i}", "bench")
            walls.append(time.perf_counter() - start)
            assert record["status"] == "success", record["reason"]
    return walls[1:]  # the first run starts the worker and imports the library


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=40)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--backend", action="append")
    parser.add_argument("--out", default="bench/results/isolation_overhead.json")
    args = parser.parse_args()
    rows = []
    for backend in args.backend or ["cirq", "qiskit-aer", "stim"]:
        isolated = measure(backend, "process", args.points, args.repetitions)
        in_process = measure(backend, "none", args.points, args.repetitions)
        row = {"backend": backend, "isolated_median_ms": 1e3 * statistics.median(isolated),
               "in_process_median_ms": 1e3 * statistics.median(in_process)}
        row["overhead_ms"] = row["isolated_median_ms"] - row["in_process_median_ms"]
        rows.append(row)
        print(f"{backend:<11} isolated {row['isolated_median_ms']:7.2f} ms  in-process "
              f"{row['in_process_median_ms']:7.2f} ms  overhead {row['overhead_ms']:6.2f} ms per run")
    result = {"benchmark": "isolation_overhead", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpu": environment.cpu_model(), "cores": environment.machine()["cpu_cores"],
                          "python": platform.python_version()},
              "points": args.points, "repetitions": args.repetitions, "goal_ms": 30, "rows": rows,
              "command": " ".join([".venv/bin/python", *sys.argv])}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0 if all(r["overhead_ms"] <= 30 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
