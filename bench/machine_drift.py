"""How steady is this machine? The same simulation (qsim, 20-qubit random circuit of depth 10, one
thread, 8 MB state) timed back to back for a while, cut into windows of consecutive runs the length
of a compared point's timing (0.5 s by default), and each window's median compared with the others.
Two windows seconds apart that differ by more than a comparison's threshold are what `qbench compare`
would have to call a change in a point that did not change: no statistic on one window's samples
can tell such a drift of the machine from a change of the code.

    .venv/bin/python bench/machine_drift.py                  # 60 s; bench/results/machine_drift.json
    .venv/bin/python bench/machine_drift.py --seconds 4 --out -   # a short probe, JSON on stdout
    .venv/bin/python bench/machine_drift.py --seconds 300 --longer 2,5,15,30,60   # windows of other lengths too
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timings(seconds: float, n_qubits: int) -> list[float]:
    import cirq
    import qsimcirq

    circuit = cirq.testing.random_circuit(cirq.LineQubit.range(n_qubits), n_moments=10, op_density=0.9,
                                          random_state=1)
    simulator = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=1))
    simulator.simulate(circuit)  # warm-up
    out, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        simulator.simulate(circuit)
        out.append(time.perf_counter() - started)
    return out


def windows(samples: list[float], window_seconds: float) -> list[float]:
    """Medians of consecutive windows of about `window_seconds` of runs each."""
    per = max(3, round(window_seconds / statistics.median(samples)))
    return [statistics.median(samples[i:i + per]) for i in range(0, len(samples) - per + 1, per)]


def apart(medians: list[float], threshold: float, gap: int | None = None) -> float | None:
    """The fraction of window pairs (all pairs, or those `gap` windows apart) whose medians differ by
    more than `threshold`."""
    pairs = [(a, b) for a, b in zip(medians, medians[gap:])] if gap else list(itertools.combinations(medians, 2))
    if not pairs:
        return None
    return sum(max(a, b) / min(a, b) > 1 + threshold for a, b in pairs) / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=0.5, help="seconds of runs per window")
    parser.add_argument("--threshold", type=float, default=0.10)
    parser.add_argument("--qubits", type=int, default=20)
    parser.add_argument("--longer", default="", help="more window lengths in seconds, e.g. 2,5,15,30: how far "
                        "adjacent windows of each length differ")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "machine_drift.json"),
                        help="where the JSON goes ('-': stdout)")
    args = parser.parse_args()
    samples = timings(args.seconds, args.qubits)
    medians = windows(samples, args.window)
    result = {"benchmark": "machine_drift", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "seconds": args.seconds, "window_seconds": args.window, "threshold": args.threshold,
              "runs": len(samples), "median_seconds": statistics.median(samples),
              "window_medians_seconds": medians,
              "spread": max(medians) / min(medians) if medians else None,
              "pairs_apart": apart(medians, args.threshold),
              "adjacent_apart": apart(medians, args.threshold, 1),
              "five_apart": apart(medians, args.threshold, 5)}
    result["by_window"] = []
    for seconds in [args.window] + [float(w) for w in args.longer.split(",") if w]:
        longer = windows(samples, seconds)
        result["by_window"].append({"window_seconds": seconds, "windows": len(longer),
                                    "spread": max(longer) / min(longer) if longer else None,
                                    "adjacent_apart": apart(longer, args.threshold, 1)})
    text = json.dumps(result, indent=1)
    if args.out == "-":
        print(text)
        return
    Path(args.out).write_text(text)
    pct = lambda x: "n/a" if x is None else f"{x:.0%}"  # noqa: E731
    print(f"{len(samples)} runs, median {1e3 * result['median_seconds']:.1f} ms; {len(medians)} windows of "
          f"{args.window:g} s: slowest/fastest {result['spread']:.2f}; pairs more than {args.threshold:.0%} apart: "
          f"{pct(result['pairs_apart'])} of all, {pct(result['adjacent_apart'])} of adjacent ones, "
          f"{pct(result['five_apart'])} five windows apart -> {args.out}", file=sys.stderr)
    for w in result["by_window"][1:]:
        print(f"  windows of {w['window_seconds']:g} s ({w['windows']}): slowest/fastest {w['spread']:.2f}, adjacent "
              f"ones more than {args.threshold:.0%} apart: {pct(w['adjacent_apart'])}", file=sys.stderr)


if __name__ == "__main__":
    main()
