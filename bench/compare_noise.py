"""Does `qbench compare` cry wolf, and does it see a real 2x? In each round the same sweep runs twice,
one after the other (the way tests/results/test_compare.py runs it; `--side-by-side` starts both
at once), and is compared: every point of 10 ms
or more should be `same`. Within each sweep, depth 10 against depth 20 of the same backend (twice the
work) should be `slower`. Also counted: what a bare p < 0.05 (no threshold, no interval, no Holm)
would have called a change, to show what the verdict rule guards against.

Two designs of the same sweep, interleaved in every round: `single` times each point in one process
(15 samples, 0.5 s); `replicates` runs it as 3 replicates (`execution.replicate=range(3)`, 6 samples and
0.17 s each: the same samples and timed seconds), which the comparison tests with the replicate as the unit.

    .venv/bin/python bench/compare_noise.py          # 3 rounds; bench/results/compare_noise.json
    .venv/bin/python bench/compare_noise.py --designs replicates --rounds 6
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
POINTS = ["backend=qsim", "circuit=random", "n_qubits=18,20", "circuit.depth=10,20", "backend.threads=1",
          "tracking.enabled=false"]
SWEEPS = {"single": ["-m", *POINTS, "execution.repetitions=15", "execution.min_time=0.5"],
          # the slowest-varying override first: each point's 3 replicates spread over the sweep
          "replicates": ["-m", "execution.replicate=range(3)", *POINTS, "execution.repetitions=6",
                         "execution.min_time=0.17"]}


def two_sweeps(tmp: Path, sweep: list[str], together: bool, pause: float = 0.0) -> list[Path]:
    """The same sweep twice: one after the other (`pause` seconds apart), or both started at once."""
    dirs = [Path(tempfile.mkdtemp(dir=tmp)) for _ in range(2)]
    procs = []
    for d in dirs:
        procs.append(subprocess.Popen([sys.executable, "-m", "qbench", *sweep], cwd=d, stdout=subprocess.PIPE,
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


def one_round(tmp: Path, design: str, r: int, args) -> dict:
    a, b = two_sweeps(tmp, SWEEPS[design], args.side_by_side, args.pause)
    twice = compare(a, b, tmp / f"twice{design}{r}")
    doubled = [p for sweep in (a, b)
               for p in compare(sweep, sweep, tmp / f"double{design}{r}{sweep.parent.parent.name}",
                                "--by", "circuit.depth=10:20")["points"]]
    shares = [side["cpu_share"] for p in twice["points"] for side in (p["base"], p["new"])
              if side.get("cpu_share") is not None]
    return {"design": design,
            "twice": [(p["label"], p["ratio"], p["ratio_ci"], p["p_value"], p["p_adjusted"], p["verdict"])
                      for p in twice["points"] if p["base"]["median"] >= 0.010],
            "double": [(p["label"], p["ratio"], p["ratio_ci"], p["p_adjusted"], p["verdict"]) for p in doubled],
            "lowest_cpu_share": min(shares, default=None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--designs", default="single,replicates", help="which sweeps, interleaved in each round: "
                        "single (one process a point), replicates (3 a point); default: %(default)s")
    parser.add_argument("--side-by-side", action="store_true",
                        help="start the two sweeps together (default: one after the other)")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between the two sweeps (one after the other)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "compare_noise.json"))
    args = parser.parse_args()
    designs = args.designs.split(",")
    unknown = sorted(set(designs) - set(SWEEPS))
    if unknown:
        parser.error(f"--designs {unknown[0]}: allowed: {', '.join(SWEEPS)}")
    rounds = []
    totals = {d: {"same_twice": Counter(), "bare_p_values": Counter(), "double": Counter()} for d in designs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for design in designs:
                found = one_round(Path(tmp), design, r, args)
                rounds.append(found)
                total = totals[design]
                total["same_twice"].update(t[-1] for t in found["twice"])
                total["bare_p_values"].update("changed" if t[3] < 0.05 else "unchanged" for t in found["twice"])
                total["double"].update(d[-1] for d in found["double"])
                print(f"round {r + 1}, {design} (lowest CPU share {found['lowest_cpu_share'] or 0:.2f}): same sweep "
                      f"twice {dict(Counter(t[-1] for t in found['twice']))}, ratios "
                      f"{', '.join(f'{t[1]:.2f}' for t in found['twice'])}; depth 10 -> 20 "
                      f"{dict(Counter(d[-1] for d in found['double']))}, ratios "
                      f"{', '.join(f'{d[1]:.2f}' for d in found['double'])}", flush=True)
    for design, total in totals.items():
        print(f"{design}: same sweep twice, points >= 10 ms: {dict(total['same_twice'])}; a bare p < 0.05 would say "
              f"{dict(total['bare_p_values'])}; depth 10 -> 20 (2x the work): {dict(total['double'])}")
    Path(args.out).write_text(json.dumps({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                          "sweeps": {d: SWEEPS[d] for d in designs}, "side_by_side": args.side_by_side,
                                          "pause": args.pause, "designs": totals, "rounds": rounds}, indent=1))


if __name__ == "__main__":
    main()
