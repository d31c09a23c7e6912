"""qbench's time for each point against a fresh hand-written script for that point (issue 18.1).

The points are those of the design's 45-point GHZ sweep (bench/sweep_overhead.py's SWEEP: cirq,
qiskit-aer, qsim, pennylane, stim x n_qubits 4..20 step 2, 1000 shots, 1 warm-up, 3 timed runs,
joblib launcher with 2 workers, so 1 thread per point). Two measurements, in rounds:

- paired (the default): a fork server is started for the whole sweep exactly as the CLI starts
  it (`forkserver.start_for` on pre-flight's 45 points: one server per library, each holding
  what its library imports), then each point is timed twice in a row, one point at a time: through qbench's runner
  in a fresh fork (`run_point`, execution.heap=default, or =pinned for the third side), and by
  `bench/plain_loop.py --point` in a fresh process of its own, glibc's heap untouched: what a
  user's own script for that configuration measures (library imported, circuit built with its
  API, dry run, warm-up, median of 3), and by the same script keeping its dry run's result
  (`--keep-first`, side `fresh_kept`: one live object more, as `result = call()` before a loop
  keeps it), and by the same script importing a small helper module of the standard library
  once the library is imported (side `fresh_helper`: `qbench.environment`, 97 lines of function
  definitions; nothing of it runs). glibc's heap lands in one of a few page-fault modes by such
  details of a process's history (docs/PERFORMANCE.md, bench/heap_modes.py), so the three
  scripts are equally plausible user programs, and their differences are a spread qbench
  cannot be held under. The order of the sides alternates from point to point and
  round to round, so the machine's drift (other work on a shared machine included) hits both.
  Each round starts its fork servers afresh (as each sweep does): a server's heap after its imports
  is one draw of glibc's page-fault modes, shared by every point forked from it (qsim 20 q: ~12.7 ms
  with <= 700 page faults a run, ~15.5 ms with ~1400, for all of one server's points), so rounds
  through one server would repeat one draw (`--one-server`: the design of the runs before
  2026-12-03 14:40 UTC).
- `--sweep`: also the real sweep through `python -m qbench` once per round (2 concurrent
  workers), its records' times beside the fresh scripts'.

Per point and side: the median over the rounds of each round's median-of-3, the IQR, min and
max; ratio = qbench median / fresh median. Goal: every point of >= 10 ms within 10 %. Also
counted: points within 10 % of any of the three scripts (`within_10_percent_of_any_script`).
And how sure that is: each round's two sides ran seconds apart, so the log of their ratio is one
paired observation; the mean over the rounds and a t-interval give the ratio (geometric mean) with
its 95 % interval (`paired_ci_<side>_over_fresh`), and the points whose interval lies inside
+-10 % (shown within) or wholly outside it (shown beyond) are counted.

    .venv/bin/python bench/fresh_script.py --rounds 5     # writes bench/results/fresh_script.json
    .venv/bin/python bench/fresh_script.py --from bench/results/fresh_script_20261203b.json --out -
"""
from __future__ import annotations

import argparse
import json
import math
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
os.environ["OMP_NUM_THREADS"] = "1"  # this process's own imports (the fork server gets its settings itself)

from plain_loop import LIBRARIES  # noqa: E402
from sweep_overhead import SWEEP  # noqa: E402

# the hand-written scripts: bench/plain_loop.py --point with these flags
SCRIPTS = {"fresh": [], "fresh_kept": ["--keep-first"], "fresh_helper": ["--import", "qbench.environment"]}
SIDES = (*SCRIPTS, "qbench", "pinned")


def script_point(backend: str, n_qubits: int, side: str = "fresh") -> dict:
    """One point timed by one of the SCRIPTS in a fresh process: its JSON row."""
    command = [sys.executable, str(ROOT / "bench" / "plain_loop.py"), "--point", f"{backend}:{n_qubits}"]
    done = subprocess.run(command + SCRIPTS[side], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def fresh_point(backend: str, n_qubits: int, side: str = "fresh") -> float:
    return script_point(backend, n_qubits, side)["median_seconds"]


class Qbench:
    """The sweep's fork server, and its points run through qbench's runner one at a time."""

    def __init__(self):
        from qbench.app.hydra_internals import args_parser
        from qbench.cli.preflight import preflight
        from qbench.execution import forkserver

        self.forkserver = forkserver
        expansion, problem = preflight(args_parser().parse_args([*SWEEP, "tracking.enabled=false"]))
        assert problem is None, problem
        self.points = {(p.cfg.backend.name, p.cfg.n_qubits): p.cfg for p in expansion.points}
        forkserver.start_for(expansion.points)
        self.tmp = tempfile.TemporaryDirectory()
        self.count = 0

    def point(self, backend: str, n_qubits: int, heap: str) -> float:
        return self.record(backend, n_qubits, heap)["metrics"]["execution_time_seconds"]

    def record(self, backend: str, n_qubits: int, heap: str) -> dict:
        from omegaconf import OmegaConf, open_dict

        from qbench.execution.runner import run_point

        cfg = OmegaConf.create(OmegaConf.to_container(self.points[(backend, n_qubits)], resolve=False))
        with open_dict(cfg):
            del cfg["hydra"]
            cfg.execution.heap = heap
        self.count += 1
        record = run_point(cfg, Path(self.tmp.name) / str(self.count), "bench", concurrency=2)
        assert record["status"] == "success", record["reason"]
        assert record["environment"]["worker"] == "forked" and record["environment"]["heap"] == heap
        return record

    def close(self):
        self.forkserver.stop()
        self.tmp.cleanup()


def sweep_side() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-m", "qbench", *SWEEP], cwd=tmp, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        records = [json.loads(p.read_text()) for p in Path(tmp).glob("outputs/bench_*/*/result.json")]
    assert len(records) == 45 and all(r["status"] == "success" for r in records)
    assert {r["environment"]["heap"] for r in records} == {"default"}
    return {(r["backend"], r["config"]["n_qubits"]): r["metrics"]["execution_time_seconds"] for r in records}


def spread(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "iqr": q[2] - q[0], "min": min(values), "max": max(values),
            "per_round": values}


def paired_interval(new: list[float], base: list[float], level: float = 0.95) -> list[float]:
    """[ratio, low, high]: the geometric mean of the rounds' ratios new/base and its t-interval."""
    from scipy.stats import t as student

    logs = [math.log(n / b) for n, b in zip(new, base)]
    mean, se = statistics.fmean(logs), statistics.stdev(logs) / math.sqrt(len(logs))
    q = float(student.ppf((1 + level) / 2, len(logs) - 1))
    return [math.exp(mean), math.exp(mean - q * se), math.exp(mean + q * se)]


def add_intervals(result: dict) -> dict:
    """The paired intervals of every checked point and side, and how many are shown within or beyond 10 %."""
    sides = [s for s in result["sides"] if s != "fresh" and all(s in r for r in result["points"])]
    within, beyond = dict.fromkeys(sides, 0), dict.fromkeys(sides, 0)
    for row in result["points"]:
        for side in sides:
            ratio, low, high = row[f"paired_ci_{side}_over_fresh"] = paired_interval(
                row[side]["per_round"], row["fresh"]["per_round"])
            if row["checked"]:
                within[side] += 0.9 <= low and high <= 1.1
                beyond[side] += high < 0.9 or low > 1.1
    result["paired_interval"] = "t-interval of the mean log ratio over the rounds, 95 %"
    result["shown_within_10_percent"], result["shown_beyond_10_percent"] = within, beyond
    return result


def main() -> int:
    from qbench import environment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qubits", default="14,16,18,20",
                        help="sizes measured (default 14-20: every point of >= 10 ms is among them)")
    parser.add_argument("--backends", default=",".join(LIBRARIES), help="backends measured (default: all five)")
    parser.add_argument("--sweep", action="store_true", help="also run the real sweep once per round")
    parser.add_argument("--sides", default=",".join(SIDES),
                        help="sides timed, 'fresh' always among them (default: %(default)s)")
    parser.add_argument("--one-server", action="store_true",
                        help="one fork server for all rounds (rounds then share its heap's draw)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fresh_script.json"),
                        help="where the JSON goes ('-': the intervals on stdout, with --from)")
    parser.add_argument("--from", dest="saved", help="measure nothing: add the paired intervals to a saved run")
    args = parser.parse_args()
    if args.saved:
        result = add_intervals(json.loads(Path(args.saved).read_text()))
        for r in result["points"]:
            if r["checked"]:
                ratio, low, high = r["paired_ci_qbench_over_fresh"]
                print(f"{r['backend']:<11}{r['n_qubits']:>3}q qbench/fresh {ratio:.2f} [{low:.2f}, {high:.2f}]")
        print(f"intervals inside +-10 %: {result['shown_within_10_percent']}; wholly outside: "
              f"{result['shown_beyond_10_percent']} (of {result['points_checked']} points >= 10 ms)")
        if args.out != "-":
            Path(args.out).write_text(json.dumps(result, indent=2))
        return 0
    sizes = [int(n) for n in args.qubits.split(",")]
    points = [(backend, n) for backend in args.backends.split(",") for n in sizes]
    timed = ("fresh", *(s for s in SIDES if s != "fresh" and s in args.sides.split(",")))
    sides = (*timed, "sweep") if args.sweep else timed
    times: dict[tuple, dict[str, list[float]]] = {p: {side: [] for side in sides} for p in points}
    qbench = Qbench()
    try:
        for number in range(args.rounds):
            started = time.perf_counter()
            if number and not args.one_server:  # a new draw of the servers' heaps, as a new sweep has
                qbench.close()
                qbench = Qbench()
            for index, point in enumerate(points):
                order = timed if (number + index) % 2 == 0 else timed[::-1]
                for side in order:
                    seconds = fresh_point(*point, side) if side in SCRIPTS \
                        else qbench.point(*point, "default" if side == "qbench" else "pinned")
                    times[point][side].append(seconds)
            if args.sweep:
                for point, seconds in sweep_side().items():
                    if point in times:
                        times[point]["sweep"].append(seconds)
            print(f"round {number + 1}/{args.rounds}: {time.perf_counter() - started:.0f} s, "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        qbench.close()
    rows = []
    for point in points:
        row = {"backend": point[0], "n_qubits": point[1], **{side: spread(times[point][side]) for side in sides}}
        for side in sides[1:]:
            row[f"ratio_{side}_over_fresh"] = row[side]["median"] / row["fresh"]["median"]
            # each round's two sides ran seconds apart: their ratio cancels the machine's slower drift
            row[f"paired_ratio_{side}_over_fresh"] = statistics.median(
                q / f for q, f in zip(times[point][side], times[point]["fresh"]))
            row[f"fastest_ratio_{side}_over_fresh"] = row[side]["min"] / row["fresh"]["min"]
        row["checked"] = row["fresh"]["median"] >= 0.010
        rows.append(row)
    checked = [r for r in rows if r["checked"]]
    # what "qbench's time" is compared by: the sides' medians, each round's ratio, the fastest rounds
    estimators = {"medians": "ratio", "paired rounds": "paired_ratio", "fastest rounds": "fastest_ratio"}
    counts = {name: {side: sum(abs(r[f"{key}_{side}_over_fresh"] - 1) <= 0.10 for r in checked) for side in sides[1:]}
              for name, key in estimators.items()}
    within = counts["medians"]
    any_script = sum(min(abs(r["qbench"]["median"] / r[script]["median"] - 1) for script in SCRIPTS
                         if script in sides) <= 0.10 for r in checked)
    result = {
        "benchmark": "fresh_script", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": environment.cpu_model(), "cores": environment.machine()["cpu_cores"],
                    "python": platform.python_version(), "load_average_at_end": os.getloadavg()},
        "command": "python bench/fresh_script.py " + " ".join(sys.argv[1:]),
        "points_of": "python -m qbench " + " ".join(SWEEP), "rounds": args.rounds,
        "fork_servers": "one for all rounds" if args.one_server else "started afresh each round",
        "sides": {"fresh": "bench/plain_loop.py --point, a fresh process per point, glibc's heap untouched",
                  "fresh_kept": "the same script keeping its dry run's result (--keep-first)",
                  "fresh_helper": "the same script importing qbench.environment once the library is imported",
                  "qbench": "run_point in a fresh fork of the sweep's fork server, execution.heap=default",
                  "pinned": "the same with execution.heap=pinned",
                  "sweep": "records of the real sweep (2 concurrent workers), heap=default"},
        "points_checked": len(checked), "within_10_percent_of_fresh": within,
        "within_10_percent_paired": counts["paired rounds"], "within_10_percent_fastest": counts["fastest rounds"],
        "within_10_percent_of_any_script": any_script,
        "points": rows,
    }
    add_intervals(result)
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=2))
    print(f"{'point':<16}{'fresh ms':>10}" + "".join(f"{side + ' ms':>12}{'ratio':>7}" for side in sides[1:]))
    for r in rows:
        print(f"{r['backend']:<11}{r['n_qubits']:>3}q {1e3 * r['fresh']['median']:9.2f}" +
              "".join(f" {1e3 * r[side]['median']:11.2f}{r[f'ratio_{side}_over_fresh']:7.3f}" for side in sides[1:]) +
              ("" if r["checked"] else "   (< 10 ms)"))
    for name, found in counts.items():
        print(f"points >= 10 ms within 10 % of a fresh script ({name}): " +
              ", ".join(f"{side} {found[side]}/{len(checked)}" for side in sides[1:]))
    print(f"qbench within 10 % of any of the scripts ({', '.join(SCRIPTS)}): {any_script}/{len(checked)}")
    print(f"paired 95 % intervals inside +-10 %: {result['shown_within_10_percent']}; wholly outside: "
          f"{result['shown_beyond_10_percent']}")
    return 0 if within["qbench"] == len(checked) else 1


if __name__ == "__main__":
    sys.exit(main())
