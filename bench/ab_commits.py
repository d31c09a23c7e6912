"""Two commits of qbench, A/B on the design's 45-point sweep (MLflow off): interleaved wall times.

Each commit is checked out into a git worktree under a temporary folder, and the same sweep as
`bench/sweep_overhead.py`'s untracked side runs with that tree first on PYTHONPATH (the launching
process, its joblib workers and its fork servers all import it), alternately A then B, for
--pairs pairs. The machine drifts by 10-20 % between minutes, so the figure is the median of the
paired differences (B - A), with how many pairs went each way.

    .venv/bin/python bench/ab_commits.py BASE_COMMIT HEAD --pairs 8   # writes bench/results/ab_commits.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_overhead import SWEEP  # noqa: E402 - the very sweep of the overhead benchmark

ROOT = Path(__file__).resolve().parent.parent


def sweep_wall(tree: Path, folder: Path) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "qbench", *SWEEP, "tracking.enabled=false"], cwd=folder, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed in {tree}: {done.stderr[-2000:]}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="commit A (the base)")
    parser.add_argument("b", help="commit B")
    parser.add_argument("--pairs", type=int, default=8)
    args = parser.parse_args()
    walls: dict[str, list[float]] = {"a": [], "b": []}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {}
        for side in ("a", "b"):
            trees[side] = Path(tmp) / side
            subprocess.run(["git", "worktree", "add", "--detach", str(trees[side]), getattr(args, side)], cwd=ROOT,
                           check=True, capture_output=True)
        try:
            for number in range(args.pairs):
                for side in ("a", "b"):
                    walls[side].append(sweep_wall(trees[side], Path(tmp) / f"run-{side}-{number}"))
                print(f"pair {number + 1}: A {walls['a'][-1]:.2f} s, B {walls['b'][-1]:.2f} s", flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    differences = [b - a for a, b in zip(walls["a"], walls["b"])]
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "a": args.a, "b": args.b,
        "sweep": SWEEP + ["tracking.enabled=false"], "walls": walls,
        "median_a": statistics.median(walls["a"]), "median_b": statistics.median(walls["b"]),
        "median_paired_difference": statistics.median(differences),
        "pairs_b_faster": sum(d < 0 for d in differences), "pairs": len(differences),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ab_commits.json").write_text(json.dumps(result, indent=2))
    print(f"A median {result['median_a']:.2f} s, B median {result['median_b']:.2f} s; B - A paired median "
          f"{result['median_paired_difference']:+.2f} s, B faster in {result['pairs_b_faster']} of {len(differences)} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
