"""Does a point's time depend on what ran before it in the same process? (qbench/execution/heap.py)

Times the plain loop's own library call for one point (default cirq, GHZ 16 qubits, 1000 shots)
in fresh processes, four ways: first thing in the process, or after a 20-qubit Aer run; with
glibc's default heap (`execution.heap=default`), or with the pinned thresholds and a heap release
before the point (`execution.heap=pinned`). Each way runs in --processes fresh processes,
interleaved; medians. qbench's default avoids the dependence by a fresh worker per point: its
"first thing in the process" row is what every point sees.

    .venv/bin/python bench/allocator_history.py            # writes bench/results/allocator_history.json
    .venv/bin/python bench/allocator_history.py --point qsim:18
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = [(before, pinned) for pinned in (False, True) for before in (None, "qiskit-aer:20")]


def build(point: str):
    import plain_loop

    name, n_qubits = point.split(":")
    return plain_loop.LIBRARIES[name](int(n_qubits))


def child(point: str, before: str | None, pinned: bool, repetitions: int) -> None:
    """One fresh process: maybe a big run first, then the point timed as qbench times it."""
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    from qbench.execution import heap

    if before:
        earlier = build(before)
        earlier(), earlier()
    call = build(point)
    if pinned:
        heap.prepare("pinned")  # thresholds pinned, free heap released
    call(), call()  # dry run, warm-up
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    print(json.dumps(statistics.median(times)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--point", default="cirq:16", help="backend:n_qubits of the plain loop (default cirq:16)")
    parser.add_argument("--processes", type=int, default=5, help="fresh processes per way (default 5)")
    parser.add_argument("--repetitions", type=int, default=15, help="timed calls per process (default 15)")
    parser.add_argument("--child", nargs=3, metavar=("POINT", "BEFORE", "PINNED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        point, before, pinned = args.child
        child(point, None if before == "-" else before, pinned == "1", args.repetitions)
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    seconds: dict[tuple, list[float]] = {case: [] for case in CASES}
    for _ in range(args.processes):  # interleaved: a slow spell of the machine hits every way
        for before, pinned in CASES:
            done = subprocess.run([sys.executable, __file__, "--repetitions", str(args.repetitions), "--child",
                                   args.point, before or "-", "1" if pinned else "0"],
                                  capture_output=True, text=True, env=env, check=True)
            seconds[(before, pinned)].append(json.loads(done.stdout.splitlines()[-1]))
    rows = []
    for (before, pinned), values in seconds.items():
        rows.append({"heap": "pinned (qbench)" if pinned else "glibc default", "run_before": before or "nothing",
                     "median_ms": 1e3 * statistics.median(values), "per_process_ms": [1e3 * v for v in values]})
        print(f"{rows[-1]['heap']:<16} after {rows[-1]['run_before']:<14} {rows[-1]['median_ms']:7.2f} ms "
              f"({', '.join(f'{v:.2f}' for v in rows[-1]['per_process_ms'])})")
    out = ROOT / "bench" / "results" / "allocator_history.json"
    out.write_text(json.dumps({
        "benchmark": "allocator_history", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": f"python bench/allocator_history.py --point {args.point} --processes {args.processes} "
                   f"--repetitions {args.repetitions}",
        "point": args.point, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
