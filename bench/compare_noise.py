"""Does `qbench compare` cry wolf, and does it see a real 2x? In each round the same sweep runs twice,
one after the other (the way tests/results/test_compare.py runs it; `--side-by-side` starts both
at once), and is compared: every point of 10 ms
or more should be `same`. Within each sweep, depth 10 against depth 20 of the same backend (twice the
work) should be `slower`. Also counted: what a bare p < 0.05 (no threshold, no interval, no Holm)
would have called a change, to show what the verdict rule guards against.

    .venv/bin/python bench/compare_noise.py          # 3 rounds; bench/results/compare_noise.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["-m", "backend=qsim", "circuit=random", "n_qubits=18,20", "circuit.depth=10,20", "backend.threads=1",
         "execution.repetitions=15", "execution.min_time=0.5", "tracking.enabled=false"]


def two_sweeps(tmp: Path, together: bool, pause: float = 0.0) -> list[Path]:
    """The same sweep twice: one after the other (`pause` seconds apart), or both started at once."""
    dirs = [Path(tempfile.mkdtemp(dir=tmp)) for _ in range(2)]
    procs = []
    for d in dirs:
        procs.append(subprocess.Popen([sys.executable, "-m", "qbench", *SWEEP], cwd=d, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
        if not together:
            _wait(procs[-1])
            if len(procs) == 1:
                time.sleep(pause)
    if together:
        for proc in procs:
            _wait(proc)
    return [next((d / "outputs").glob("bench_*")) for d in dirs]


def _wait(proc: subprocess.Popen) -> None:
    output, _ = proc.communicate()
    assert proc.returncode == 0, output[-3000:]


def compare(base: Path, new: Path, out: Path, *extra: str) -> dict:
    subprocess.run([sys.executable, "-m", "qbench", "compare", str(base), str(new), "--out", str(out), *extra],
                   check=True, capture_output=True, text=True)
    return json.loads((out / "compare.json").read_text())


def _ratios(points: list[dict]) -> str:
    return ", ".join(f"{p['ratio']:.2f}" for p in points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--side-by-side", action="store_true",
                        help="start the two sweeps together (default: one after the other)")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between the two sweeps (one after the other)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "compare_noise.json"))
    args = parser.parse_args()
    same, double, bare, rounds = Counter(), Counter(), Counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            a, b = two_sweeps(Path(tmp), args.side_by_side, args.pause)
            twice = compare(a, b, Path(tmp) / f"twice{r}")
            timed = [p for p in twice["points"] if p["base"]["median"] >= 0.010]
            same.update(p["verdict"] for p in timed)
            bare.update("changed" if p["p_value"] < 0.05 else "unchanged" for p in timed)
            doubled = [p for sweep in (a, b)
                       for p in compare(sweep, sweep, Path(tmp) / f"double{r}{sweep.parent.parent.name}",
                                        "--by", "circuit.depth=10:20")["points"]]
            double.update(p["verdict"] for p in doubled)
            rounds.append({"twice": [(p["label"], p["ratio"], p["ratio_ci"], p["p_value"], p["p_adjusted"],
                                      p["verdict"]) for p in twice["points"]],
                           "double": [(p["label"], p["ratio"], p["ratio_ci"], p["p_adjusted"], p["verdict"])
                                      for p in doubled]})
            shares = [side["cpu_share"] for p in twice["points"] for side in (p["base"], p["new"])
                      if side.get("cpu_share") is not None]
            rounds[-1]["lowest_cpu_share"] = min(shares, default=None)
            print(f"round {r + 1} (lowest CPU share {min(shares, default=0):.2f}): same sweep twice "
                  f"{dict(Counter(p['verdict'] for p in timed))}, "
                  f"ratios {_ratios(twice['points'])}; depth 10 -> 20 "
                  f"{dict(Counter(p['verdict'] for p in doubled))}, ratios {_ratios(doubled)}", flush=True)
    print(f"same sweep twice, points >= 10 ms: {dict(same)}; a bare p < 0.05 would say {dict(bare)}")
    print(f"depth 10 -> 20 (2x the work): {dict(double)}")
    Path(args.out).write_text(json.dumps({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                          "sweep": SWEEP, "side_by_side": args.side_by_side, "pause": args.pause, "same_twice": same, "bare_p_values": bare,
                                          "double": double, "rounds": rounds}, indent=1))


if __name__ == "__main__":
    main()
