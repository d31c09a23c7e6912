"""What the calibrated repetitions cost: the design's 45-point GHZ sweep with a fixed three timed
repetitions (as before: `execution.min_time=0 execution.max_repetitions=3`) against the defaults
(at least 3, more until 0.05 s of samples, at most 200), in interleaved rounds (the machine's speed
drifts from minute to minute), reversed every other round. Reports each side's median wall time, the
samples per point, and the fewest samples of any point under 10 ms.

    .venv/bin/python bench/calibration_cost.py            # 3 rounds; bench/results/calibration_cost.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["-m", "backend=cirq,qiskit-aer,qsim,pennylane,stim", "circuit=ghz", "n_qubits=range(4,22,2)",
         "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
SIDES = {"fixed 3": ["execution.min_time=0", "execution.max_repetitions=3"], "calibrated (defaults)": []}


def run(side: str, tmp: Path) -> dict:
    cwd = Path(tempfile.mkdtemp(dir=tmp))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "qbench", *SWEEP, *SIDES[side]], cwd=cwd, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    points = {}
    for path in (cwd / "outputs").glob("bench_*/*/result.json"):
        record = json.loads(path.read_text())
        m = record["metrics"]
        points[path.parent.name.rsplit("_", 1)[0]] = {"median": m["execution_time_seconds"],
                                                      "samples": len(m["execution_times_seconds"])}
    return {"wall": wall, "points": points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "calibration_cost.json"))
    args = parser.parse_args()
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(SIDES) if r % 2 == 0 else list(reversed(SIDES))
            rounds.append({side: run(side, Path(tmp)) for side in order})
            print(f"round {r + 1}: " + ", ".join(f"{s} {rounds[-1][s]['wall']:.1f} s" for s in SIDES), flush=True)
    summary = {}
    for side in SIDES:
        walls = [r[side]["wall"] for r in rounds]
        fast = [p["samples"] for r in rounds for p in r[side]["points"].values() if p["median"] < 0.010]
        slow = [p["samples"] for r in rounds for p in r[side]["points"].values() if p["median"] >= 0.010]
        summary[side] = {"wall_median": statistics.median(walls), "walls": walls,
                         "fewest_samples_under_10ms": min(fast, default=None),
                         "median_samples_under_10ms": statistics.median(fast) if fast else None,
                         "samples_10ms_and_over": sorted(set(slow))}
    ratio = statistics.median(r["calibrated (defaults)"]["wall"] / r["fixed 3"]["wall"] for r in rounds)
    for side, s in summary.items():
        print(f"{side:>22}: wall {s['wall_median']:.1f} s (rounds {', '.join(f'{w:.1f}' for w in s['walls'])}); "
              f"points < 10 ms: at least {s['fewest_samples_under_10ms']} samples (median "
              f"{s['median_samples_under_10ms']}); >= 10 ms: {s['samples_10ms_and_over']}")
    print(f"calibrated / fixed wall, median of the rounds' ratios: {ratio:.2f}")
    Path(args.out).write_text(json.dumps({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                          "sweep": SWEEP, "sides": SIDES, "summary": summary, "ratio": ratio,
                                          "rounds": rounds}, indent=1))


if __name__ == "__main__":
    main()
