"""Is a timing difference between qbench and the plain loop in the call, or in the moment it ran?

For the sweep's points, times the plain loop's own library call (bench/plain_loop.py) and qbench's
adapter (the backend's packaged config, 1 thread, its `prepare` then `run`) in ONE process,
interleaved, after the same dry run and warm-up. Equal medians here mean both sides time the same
work, and a difference seen in bench/sweep_overhead.py came from the machine at that moment.

    .venv/bin/python bench/same_call.py                       # every point of >= 10 ms
    .venv/bin/python bench/same_call.py --point cirq:16       # one point
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"  # as the plain loop and qbench's two workers have it
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import plain_loop  # noqa: E402  (after the thread setting)
import yaml  # noqa: E402

from qbench.circuits import canonical as circuits  # noqa: E402
from qbench.backends.base import RunSpec  # noqa: E402
from qbench.backends.registry import instantiate_backend  # noqa: E402

DEFAULT_POINTS = [(b, n) for b in plain_loop.LIBRARIES for n in (14, 16, 18, 20)]


def qbench_call(backend_name: str, n_qubits: int):
    config = yaml.safe_load((ROOT / "qbench" / "conf" / "backend" / f"{backend_name}.yaml").read_text())
    backend = instantiate_backend(config)
    backend.load()
    spec = RunSpec(shots=plain_loop.SHOTS, seed=plain_loop.SEED, threads=1,
                   noise={"name": "none", "strength": 0.0, "method": "auto"})
    prepared = backend.prepare(circuits.build("ghz", n_qubits, None, plain_loop.SEED), spec)
    return lambda: backend.run(prepared)


def compare(backend_name: str, n_qubits: int, rounds: int) -> dict:
    calls = {"plain": plain_loop.LIBRARIES[backend_name](n_qubits), "qbench": qbench_call(backend_name, n_qubits)}
    for call in calls.values():  # dry run and warm-up, as both protocols have them
        call()
        call()
    times = {side: [] for side in calls}
    for _ in range(rounds):
        for side, call in calls.items():
            start = time.perf_counter()
            call()
            times[side].append(time.perf_counter() - start)
    plain, ours = statistics.median(times["plain"]), statistics.median(times["qbench"])
    return {"backend": backend_name, "n_qubits": n_qubits, "plain_seconds": plain, "qbench_seconds": ours,
            "ratio": ours / plain, "rounds": rounds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--point", action="append", help="BACKEND:N_QUBITS (repeatable); default: the sweep's "
                                                         "points of 14-20 qubits")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved timed calls per side")
    args = parser.parse_args()
    points = [(p.split(":")[0], int(p.split(":")[1])) for p in args.point] if args.point else DEFAULT_POINTS
    rows = []
    for backend_name, n_qubits in points:
        row = compare(backend_name, n_qubits, args.rounds)
        if args.point or row["plain_seconds"] >= 0.010:
            rows.append(row)
            print(f"{backend_name:<11} {n_qubits:>2}q plain {1e3 * row['plain_seconds']:8.2f} ms  "
                  f"qbench {1e3 * row['qbench_seconds']:8.2f} ms  ratio {row['ratio']:.3f}", flush=True)
    out = ROOT / "bench" / "results" / "same_call.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "same_call", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "command": "python bench/same_call.py " + " ".join(sys.argv[1:]), "points": rows},
                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
