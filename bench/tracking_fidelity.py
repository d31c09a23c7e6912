"""Does MLflow's writer change the timings? The design's 45-point GHZ sweep, tracked and untracked.

Runs the sweep in pairs, MLflow on (into a store made by a first, unmeasured sweep) and off, in
alternating order, and reports for every point of at least 10 ms the median of its timed runs on
each side, their ratio and in how many pairs the tracked side was slower, plus each side's wall.
Without an effect the ratios scatter around 1 and "slower" is about half the pairs.

    .venv/bin/python bench/tracking_fidelity.py [--pairs 6] [--launcher basic|joblib]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from sweep_overhead import SWEEP as DESIGN_SWEEP, timed  # bench/, the script's own folder

ROOT = Path(__file__).resolve().parent.parent
SWEEP = [arg for arg in DESIGN_SWEEP if not arg.startswith("hydra")]  # its points, without its launcher
LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}


def sweep(tmp: Path, folder: str, extra: list[str]) -> tuple[float, dict]:
    """One sweep into tmp/folder: its wall and {(backend, n_qubits): execution_time_seconds}."""
    wall, done = timed([sys.executable, "-m", "qbench", *SWEEP, *extra, f"hydra.sweep.dir={folder}"], tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    times = {}
    for path in (tmp / folder).glob("*/result.json"):
        record = json.loads(path.read_text())
        times[(record["backend"], record["config"]["n_qubits"])] = record["metrics"]["execution_time_seconds"]
    return wall, times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--launcher", choices=sorted(LAUNCHERS), default="basic")
    args = parser.parse_args()
    launcher = LAUNCHERS[args.launcher]
    walls: dict[str, list[float]] = {"tracked": [], "untracked": []}
    times: dict[str, list[dict]] = {"tracked": [], "untracked": []}
    with tempfile.TemporaryDirectory() as tmp:
        sweep(Path(tmp), "store", launcher)  # makes the MLflow store: the measured sweeps only open it
        for pair in range(args.pairs):
            order = ["tracked", "untracked"] if pair % 2 == 0 else ["untracked", "tracked"]
            for side in order:
                extra = launcher + ([] if side == "tracked" else ["tracking.enabled=false"])
                wall, point_times = sweep(Path(tmp), f"{side}{pair}", extra)
                walls[side].append(wall)
                times[side].append(point_times)
            print(f"pair {pair + 1}: tracked {walls['tracked'][-1]:.2f} s, untracked {walls['untracked'][-1]:.2f} s",
                  flush=True)
    median = statistics.median
    points = []
    for key in sorted(times["untracked"][0]):
        tracked = [t[key] for t in times["tracked"]]
        untracked = [t[key] for t in times["untracked"]]
        if median(untracked) < 0.010:
            continue
        points.append({"backend": key[0], "n_qubits": key[1], "tracked_seconds": median(tracked),
                       "untracked_seconds": median(untracked), "ratio": median(tracked) / median(untracked),
                       "pairs_tracked_slower": sum(a > b for a, b in zip(tracked, untracked)), "pairs": args.pairs})
    result = {"benchmark": "tracking_fidelity", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": "python bench/tracking_fidelity.py " + " ".join(sys.argv[1:]), "launcher": args.launcher,
              "walls": walls, "points": points}
    out = ROOT / "bench" / "results" / "tracking_fidelity.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"walls (median): tracked {median(walls['tracked']):.2f} s, untracked {median(walls['untracked']):.2f} s")
    for p in points:
        print(f"  {p['backend']} {p['n_qubits']} q: tracked {1e3 * p['tracked_seconds']:.2f} ms, untracked "
              f"{1e3 * p['untracked_seconds']:.2f} ms, ratio {p['ratio']:.3f}, tracked slower in "
              f"{p['pairs_tracked_slower']} of {p['pairs']} pairs")
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
