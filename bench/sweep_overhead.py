"""qbench's own cost and the honesty of its numbers, against a plain hand-written loop.

1. runs bench/plain_loop.py (one process, no qbench) and times it from the shell's view;
2. runs the same 45-point GHZ sweep through qbench, as a user would: joblib launcher with
   2 workers, MLflow on, 1 warm-up, 3 timed repetitions, 1000 shots;
3. runs the same sweep again with `tracking.enabled=false`, to show what MLflow costs;
4. compares wall times and CPU-seconds, the per-run fixed overhead (a run's wall time minus
   its timed work), and, for every point taking at least 10 ms, qbench's
   execution_time_seconds against the plain loop's median for the same library call (goal:
   within 10 %).

    .venv/bin/python bench/sweep_overhead.py        # writes bench/results/sweep_overhead.json
"""
from __future__ import annotations

import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["-m", "backend=cirq,qiskit-aer,qsim,pennylane,stim", "circuit=ghz", "n_qubits=range(4,22,2)", "shots=1000",
         "execution.warmup_runs=1", "execution.repetitions=3", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


def timed(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, done


def children_cpu_seconds() -> float:
    """CPU seconds (user + system) of every finished child process so far, their children included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from qbench import environment

    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cpu = children_cpu_seconds()
        plain_wall, plain = timed([sys.executable, str(ROOT / "bench" / "plain_loop.py"), "--out",
                                   str(tmp / "plain.json")], ROOT)
        assert plain.returncode == 0, plain.stderr
        plain_cpu, cpu = children_cpu_seconds() - cpu, children_cpu_seconds()
        qbench_wall, run = timed([sys.executable, "-m", "qbench", *SWEEP], tmp)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        qbench_cpu, cpu = children_cpu_seconds() - cpu, children_cpu_seconds()
        # The same sweep without MLflow, into another folder: what tracking itself costs.
        untracked_wall, untracked = timed([sys.executable, "-m", "qbench", *SWEEP, "tracking.enabled=false",
                                           "hydra.sweep.dir=untracked"], tmp)
        assert untracked.returncode == 0, untracked.stdout[-3000:] + untracked.stderr[-3000:]
        untracked_cpu = children_cpu_seconds() - cpu
        baseline = {(r["backend"], r["n_qubits"]): r for r in json.loads((tmp / "plain.json").read_text())["rows"]}
        records = [json.loads(p.read_text()) for p in tmp.glob("outputs/bench_*/*/result.json")]

    points, overheads = [], []
    for record in sorted(records, key=lambda r: (r["backend"], r["config"]["n_qubits"])):
        m = record["metrics"]
        plain_row = baseline[(record["backend"], record["config"]["n_qubits"])]
        timed_work = m["dry_run_seconds"] + sum(m["execution_times_seconds"]) + m["execution_time_seconds"]  # + warm-up
        overheads.append(m["wall_seconds"] - timed_work)
        row = {"backend": record["backend"], "n_qubits": record["config"]["n_qubits"],
               "qbench_seconds": m["execution_time_seconds"], "plain_seconds": plain_row["median_seconds"],
               "run_wall_seconds": m["wall_seconds"], "run_overhead_seconds": m["wall_seconds"] - timed_work}
        row["ratio"] = row["qbench_seconds"] / row["plain_seconds"]
        row["checked"] = row["plain_seconds"] >= 0.010
        points.append(row)
    checked = [p for p in points if p["checked"]]
    outside = [p for p in checked if abs(p["ratio"] - 1) > 0.10]
    result = {
        "benchmark": "sweep_overhead", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": environment.cpu_model(), "cores": environment.machine()["cpu_cores"],
                    "ram_gb": environment.machine()["ram_gb"], "python": platform.python_version()},
        "command": "python -m qbench " + " ".join(SWEEP),
        "plain_loop_wall_seconds": plain_wall, "qbench_wall_seconds": qbench_wall,
        "wall_ratio_qbench_over_plain": qbench_wall / plain_wall,
        "plain_loop_cpu_seconds": plain_cpu, "qbench_cpu_seconds": qbench_cpu,
        "qbench_without_mlflow_wall_seconds": untracked_wall, "qbench_without_mlflow_cpu_seconds": untracked_cpu,
        "wall_ratio_without_mlflow": untracked_wall / plain_wall,
        "run_overhead_median_seconds": statistics.median(overheads),
        "timing_points_checked": len(checked), "timing_points_outside_10_percent": outside, "points": points,
    }
    (out / "sweep_overhead.json").write_text(json.dumps(result, indent=2))
    print(f"plain loop {plain_wall:.1f} s ({plain_cpu:.1f} CPU s), qbench {qbench_wall:.1f} s ({qbench_cpu:.1f} CPU s), "
          f"ratio {qbench_wall / plain_wall:.2f}; without MLflow {untracked_wall:.1f} s ({untracked_cpu:.1f} CPU s), "
          f"ratio {untracked_wall / plain_wall:.2f}; "
          f"per-run overhead median {1e3 * statistics.median(overheads):.1f} ms; "
          f"{len(checked) - len(outside)}/{len(checked)} points >= 10 ms within 10 % of the plain loop")
    for p in outside:
        print(f"  outside: {p['backend']} {p['n_qubits']}q qbench {1e3 * p['qbench_seconds']:.2f} ms "
              f"vs plain {1e3 * p['plain_seconds']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
