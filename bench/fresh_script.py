"""qbench's time for each point against a fresh hand-written script for that point (issue 18.1).

The design's 45-point GHZ sweep (bench/sweep_overhead.py's SWEEP: cirq, qiskit-aer, qsim,
pennylane, stim x n_qubits 4..20 step 2, 1000 shots, 1 warm-up, 3 timed runs, joblib launcher with
2 workers, 1 thread each), in interleaved rounds of three sides:

- fresh: each point of --qubits timed by `bench/plain_loop.py --point` in a fresh process of its
  own, one after another, glibc's default heap: what a user's own script for that configuration
  measures (library imported, circuit built with its API, dry run, warm-up, median of 3);
- qbench: the sweep through `python -m qbench` (execution.heap=default: glibc's own heap, a fresh
  fork of the pre-imported parent per point);
- pinned: the same sweep with execution.heap=pinned (glibc's thresholds fixed).

The order of the sides is reversed every other round. Per point and side: the median over the
rounds of each round's median-of-3, their IQR, min and max; ratio = qbench median / fresh median.
Goal: every point of >= 10 ms within 10 %.

    .venv/bin/python bench/fresh_script.py --rounds 5     # writes bench/results/fresh_script.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from plain_loop import LIBRARIES  # noqa: E402
from sweep_overhead import SWEEP  # noqa: E402

SIDES = ("fresh", "qbench", "pinned")


def fresh_side(points: list[tuple[str, int]]) -> dict:
    times = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for backend, n_qubits in points:
        done = subprocess.run([sys.executable, str(ROOT / "bench" / "plain_loop.py"), "--point", f"{backend}:{n_qubits}"],
                              capture_output=True, text=True, env=env, check=True)
        times[(backend, n_qubits)] = json.loads(done.stdout.splitlines()[-1])["median_seconds"]
    return times


def qbench_side(heap: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-m", "qbench", *SWEEP, f"execution.heap={heap}"], cwd=tmp,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        records = [json.loads(p.read_text()) for p in Path(tmp).glob("outputs/bench_*/*/result.json")]
    assert len(records) == 45 and all(r["status"] == "success" for r in records)
    assert {r["environment"]["heap"] for r in records} == {heap} and {r["environment"]["worker"] for r in records} == {"forked"}
    return {(r["backend"], r["config"]["n_qubits"]): r["metrics"]["execution_time_seconds"] for r in records}


def spread(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "iqr": q[2] - q[0], "min": min(values), "max": max(values),
            "per_round": values}


def main() -> int:
    from qbench import environment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qubits", default="14,16,18,20",
                        help="sizes timed by fresh scripts (default 14-20: every point of >= 10 ms is among them)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.qubits.split(",")]
    points = [(backend, n) for backend in LIBRARIES for n in sizes]
    rounds = []
    for number in range(args.rounds):
        order = SIDES if number % 2 == 0 else SIDES[::-1]
        measured, started = {}, time.perf_counter()
        for side in order:
            measured[side] = fresh_side(points) if side == "fresh" else qbench_side("default" if side == "qbench" else "pinned")
        rounds.append(measured)
        print(f"round {number + 1}/{args.rounds} ({' -> '.join(order)}): {time.perf_counter() - started:.0f} s", flush=True)
    rows = []
    for key in points:
        row = {"backend": key[0], "n_qubits": key[1]}
        for side in SIDES:
            row[side] = spread([r[side][key] for r in rounds])
        row["ratio_qbench_over_fresh"] = row["qbench"]["median"] / row["fresh"]["median"]
        row["ratio_pinned_over_fresh"] = row["pinned"]["median"] / row["fresh"]["median"]
        row["checked"] = row["fresh"]["median"] >= 0.010
        rows.append(row)
    checked = [r for r in rows if r["checked"]]
    within = [r for r in checked if abs(r["ratio_qbench_over_fresh"] - 1) <= 0.10]
    pinned_within = [r for r in checked if abs(r["ratio_pinned_over_fresh"] - 1) <= 0.10]
    result = {
        "benchmark": "fresh_script", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": environment.cpu_model(), "cores": environment.machine()["cpu_cores"],
                    "python": platform.python_version(), "load_average_at_end": os.getloadavg()},
        "command": "python bench/fresh_script.py " + " ".join(sys.argv[1:]),
        "sweep": "python -m qbench " + " ".join(SWEEP) + " execution.heap=default|pinned", "rounds": len(rounds),
        "points_checked": len(checked), "qbench_within_10_percent": len(within),
        "pinned_within_10_percent": len(pinned_within), "points": rows,
    }
    out = ROOT / "bench" / "results" / "fresh_script.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"{'point':<16}{'fresh ms':>10}{'qbench ms':>11}{'ratio':>8}{'pinned ms':>11}{'ratio':>8}")
    for r in rows:
        print(f"{r['backend']:<11}{r['n_qubits']:>3}q {1e3 * r['fresh']['median']:9.2f} {1e3 * r['qbench']['median']:10.2f} "
              f"{r['ratio_qbench_over_fresh']:7.3f} {1e3 * r['pinned']['median']:10.2f} {r['ratio_pinned_over_fresh']:7.3f}"
              f"{'' if r['checked'] else '   (< 10 ms)'}")
    print(f"points >= 10 ms within 10 % of a fresh script: qbench (heap=default) {len(within)}/{len(checked)}, "
          f"heap=pinned {len(pinned_within)}/{len(checked)}")
    return 0 if len(within) == len(checked) else 1


if __name__ == "__main__":
    sys.exit(main())
