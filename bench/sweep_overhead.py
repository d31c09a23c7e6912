"""qbench's own cost and the honesty of its numbers, against a plain hand-written loop.

1. runs bench/plain_loop.py (one process, no qbench) and times it from the shell's view;
2. runs the same 45-point GHZ sweep through qbench, as a user would: joblib launcher with
   2 workers, MLflow on, 1 warm-up, 3 timed repetitions, 1000 shots;
3. runs the same sweep again with `tracking.enabled=false`, to show what MLflow costs, and once
   more with MLflow into the store the first sweep created (a user's second sweep: no migrations);
4. compares wall times and CPU-seconds (the machine's busy time over each side, fork servers
   included, and the least wall ratio that much CPU work allows on these cores), the per-run
   fixed overhead (a run's wall time minus its timed work), and, for every point taking at
   least 10 ms, qbench's execution_time_seconds against the plain loop's median for the same
   library call (goal: within 10 %);
5. splits each qbench side's wall time, from its records' timestamps, into: until the first job,
   the points (and how long the two joblib workers spent outside any job), after the last point.

The machine's speed drifts by 10-20 % from minute to minute here, so the three runs are
repeated in interleaved rounds (--rounds, default 6), in reversed order every other round, and
medians are reported: wall times per side, and each point's time over the rounds on each side.

    .venv/bin/python bench/sweep_overhead.py        # writes bench/results/sweep_overhead.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from cpu_busy import busy_and_total  # bench/, the script's own folder

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("plain", "qbench", "again", "untracked")  # again: MLflow into the store "qbench" created; untracked: off
WALL_RATIO_GOAL = 1.25  # issue 16: the sweep's wall at most 1.25 times the plain loop's
SWEEP = ["-m", "backend=cirq,qiskit-aer,qsim,pennylane,stim", "circuit=ghz", "n_qubits=range(4,22,2)", "shots=1000",
         "execution.warmup_runs=1", "execution.repetitions=3",
         # the plain loop's configuration: exactly 3 timed repetitions (no calibration), glibc's own heap
         "execution.min_time=0", "execution.max_repetitions=3", "execution.heap=default",
         "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


def timed(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, done


def children_cpu_seconds() -> float:
    """CPU seconds (user + system) of every finished child process so far, and of the descendants
    each of them waited for: not a fork server's, whose root is killed and never waits for them."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has been busy since boot (bench/cpu_busy.py's reading of
    /proc/stat: all but idle and iowait). Around a side on a quiet machine: all that side's processes,
    the fork servers included."""
    return busy_and_total()[0] / os.sysconf("SC_CLK_TCK")


def timeline(sweep_dir: Path, started: float, ended: float, streams: int = 2) -> dict:
    """Where a sweep's wall time went, from its records' own timestamps: until the first job
    began (interpreter, imports, pre-flight, launch), the points (first job's start to last
    job's end; `streams_idle` is the time the joblib workers spent outside any job: Hydra's job
    path, dispatch, waiting for a core), and after the last point (summary, MLflow's backlog,
    exit)."""
    spans = []
    for path in sweep_dir.glob("*/result.json"):
        stamps = json.loads(path.read_text())["timestamps"]
        spans.append((datetime.fromisoformat(stamps["started_at"]).timestamp(),
                      datetime.fromisoformat(stamps["completed_at"]).timestamp()))
    if not spans:
        return {}
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    return {"until_first_job": first - started, "points": last - first, "after_last_point": ended - last,
            "streams_idle": streams * (last - first) - sum(e - s for s, e in spans),
            # the first job of each worker waits for the last server's import (qbench.execution.forkserver)
            "first_jobs_wait": sum(sorted(e - s for s, e in spans if s - first < 0.5)[-streams:])}


def side_folder(side: str, tmp: Path) -> Path:
    if side == "qbench":
        return max(tmp.glob("outputs/bench_*"))
    return tmp / ("again" if side == "again" else "untracked")


def run_side(side: str, tmp: Path) -> dict:
    """One side, timed from the shell's view, its CPU-seconds counted over it and its children."""
    cpu, busy = children_cpu_seconds(), machine_busy_seconds()
    started = time.time()
    if side == "plain":
        command = [sys.executable, str(ROOT / "bench" / "plain_loop.py"), "--out", str(tmp / "plain.json")]
    elif side == "qbench":
        command = [sys.executable, "-m", "qbench", *SWEEP]
    elif side == "again":  # MLflow on, into the store the "qbench" side created: no migrations
        command = [sys.executable, "-m", "qbench", *SWEEP, "hydra.sweep.dir=again"]
    else:  # the same sweep without MLflow, into another folder: what tracking itself costs
        command = [sys.executable, "-m", "qbench", *SWEEP, "tracking.enabled=false", "hydra.sweep.dir=untracked"]
    wall, done = timed(command, ROOT if side == "plain" else tmp)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    measured = {"wall": wall, "cpu": children_cpu_seconds() - cpu, "busy": machine_busy_seconds() - busy}
    if side != "plain":
        measured["timeline"] = timeline(side_folder(side, tmp), started, time.time())
    return measured


def one_round(tmp: Path, number: int) -> dict:
    """The plain loop, the qbench sweep (then again into its store) and the sweep without MLflow,
    once each, into `tmp`; the order is reversed every other round, so that going first or last
    favours no side."""
    sides = ["plain", "qbench", "untracked"]
    order = list(sides) if number % 2 == 0 else sides[::-1]
    order.insert(order.index("qbench") + 1, "again")  # the store exists only after the first tracked sweep
    measured = {side: run_side(side, tmp) for side in order}
    return {**{f"{side}_{key}": value for side, values in measured.items() for key, value in values.items()},
            "order": order, "plain_rows": json.loads((tmp / "plain.json").read_text())["rows"],
            "records": [json.loads(p.read_text()) for p in tmp.glob("outputs/bench_*/*/result.json")]}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from qbench import environment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds of the three runs; medians are reported")
    rounds_wanted = parser.parse_args().rounds
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    rounds = []
    for number in range(rounds_wanted):  # interleaved, so that a slow spell of the machine hits every side
        with tempfile.TemporaryDirectory() as tmp:
            rounds.append(one_round(Path(tmp), number))
        r = rounds[-1]
        print(f"round {number + 1} ({' -> '.join(r['order'])}): plain {r['plain_wall']:.1f} s, "
              f"qbench {r['qbench_wall']:.1f} s (store existing: {r['again_wall']:.1f} s), "
              f"without MLflow {r['untracked_wall']:.1f} s", flush=True)
    median = statistics.median

    def med(key: str) -> float:
        return median(r[key] for r in rounds)

    plain_s, qbench_s, walls, overheads, parts = {}, {}, {}, [], []
    for r in rounds:
        for row in r["plain_rows"]:
            plain_s.setdefault((row["backend"], row["n_qubits"]), []).append(row["median_seconds"])
        for record in r["records"]:
            m, key = record["metrics"], (record["backend"], record["config"]["n_qubits"])
            qbench_s.setdefault(key, []).append(m["execution_time_seconds"])
            walls.setdefault(key, []).append(m["wall_seconds"])
            # the calls a user's own loop makes too: dry run, warm-up, samples
            timed_work = m["dry_run_seconds"] + m["warmup_seconds"] + sum(m["execution_times_seconds"])
            overheads.append(m["wall_seconds"] - timed_work)
            # of which: converting the circuit (a user's script does it too) and verifying the answer
            parts.append((m.get("convert_seconds") or 0.0, m.get("verify_seconds") or 0.0))
    points = []
    for key in sorted(qbench_s):
        row = {"backend": key[0], "n_qubits": key[1], "qbench_seconds": median(qbench_s[key]),
               "plain_seconds": median(plain_s[key]), "run_wall_seconds": median(walls[key]),
               "qbench_seconds_per_round": qbench_s[key], "plain_seconds_per_round": plain_s[key]}
        row["ratio"] = row["qbench_seconds"] / row["plain_seconds"]
        row["checked"] = row["plain_seconds"] >= 0.010
        points.append(row)
    checked = [p for p in points if p["checked"]]
    outside = [p for p in checked if abs(p["ratio"] - 1) > 0.10]
    plain_wall, qbench_wall, untracked_wall = med("plain_wall"), med("qbench_wall"), med("untracked_wall")
    ratio = median(r["qbench_wall"] / r["plain_wall"] for r in rounds)
    untracked_ratio = median(r["untracked_wall"] / r["plain_wall"] for r in rounds)
    again_ratio = median(r["again_wall"] / r["plain_wall"] for r in rounds)
    cores = environment.machine()["cpu_cores"]
    result = {
        "benchmark": "sweep_overhead", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": environment.cpu_model(), "cores": cores,
                    "ram_gb": environment.machine()["ram_gb"], "python": platform.python_version()},
        "command": "python -m qbench " + " ".join(SWEEP), "rounds": len(rounds),
        "plain_loop_wall_seconds": plain_wall, "qbench_wall_seconds": qbench_wall,
        # The headline: each round's sides ran seconds apart, so their ratio is spared the
        # machine's drift from round to round; the ratio of the median walls is kept beside it.
        "wall_ratio_qbench_over_plain": ratio, "wall_ratio_of_median_walls": qbench_wall / plain_wall,
        "wall_ratio_per_round": [r["qbench_wall"] / r["plain_wall"] for r in rounds],
        "walls_per_round": [{"order": r["order"], "plain": r["plain_wall"], "qbench": r["qbench_wall"],
                             "store_existing": r["again_wall"], "without_mlflow": r["untracked_wall"]}
                            for r in rounds],
        # getrusage's children: the launching process and the joblib workers, not the fork servers and their
        # points (never waited for); machine_busy_cpu_seconds below counts those too
        "plain_loop_cpu_seconds": med("plain_cpu"), "qbench_cpu_seconds": med("qbench_cpu"),
        "qbench_without_mlflow_wall_seconds": untracked_wall, "qbench_without_mlflow_cpu_seconds": med("untracked_cpu"),
        "wall_ratio_without_mlflow": untracked_ratio,
        "qbench_store_existing_wall_seconds": med("again_wall"), "wall_ratio_store_existing": again_ratio,
        # where each side's wall went (medians over the rounds): see timeline()
        "timeline": {side: {key: median(r[f"{side}_timeline"][key] for r in rounds)
                            for key in rounds[0][f"{side}_timeline"]} for side in ("qbench", "again", "untracked")},
        "run_overhead_median_seconds": median(overheads),
        "run_overhead_convert_median_seconds": median(c for c, _ in parts),
        "run_overhead_verify_median_seconds": median(v for _, v in parts),
        "run_overhead_beyond_convert_and_verify_median_seconds": median(o - c - v
                                                                        for o, (c, v) in zip(overheads, parts)),
        "timing_points_checked": len(checked), "timing_points_outside_10_percent": outside, "points": points,
        # The machine's busy CPU-seconds over each side (all its processes, fork servers included), and the
        # least wall ratio any schedule of that work could reach on these cores: busy / cores / plain wall.
        # A floor above the goal means no scheduling meets it; only less CPU work can.
        "machine_busy_cpu_seconds": {side: med(f"{side}_busy") for side in SIDES},
        "wall_ratio_floor": {side: median(r[f"{side}_busy"] / cores / r["plain_wall"] for r in rounds)
                             for side in SIDES},
        "cpu_seconds_within_goal": median(cores * WALL_RATIO_GOAL * r["plain_wall"] for r in rounds),
        "mlflow_cpu_seconds": {side: median(r[f"{side}_busy"] - r["untracked_busy"] for r in rounds)
                               for side in ("qbench", "again")},
    }
    (out / "sweep_overhead.json").write_text(json.dumps(result, indent=2))
    print(f"median of {len(rounds)} rounds (ratios: median of each round's): plain loop {plain_wall:.1f} s "
          f"({med('plain_busy'):.1f} CPU s), "
          f"qbench {qbench_wall:.1f} s ({med('qbench_busy'):.1f} CPU s), ratio {ratio:.2f}; "
          f"store existing {med('again_wall'):.1f} s, ratio {again_ratio:.2f}; "
          f"without MLflow {untracked_wall:.1f} s ({med('untracked_busy'):.1f} CPU s), "
          f"ratio {untracked_ratio:.2f}; per-run overhead median {1e3 * median(overheads):.1f} ms "
          f"(convert {1e3 * result['run_overhead_convert_median_seconds']:.1f}, verify "
          f"{1e3 * result['run_overhead_verify_median_seconds']:.1f}, the rest "
          f"{1e3 * result['run_overhead_beyond_convert_and_verify_median_seconds']:.1f}); "
          f"{len(checked) - len(outside)}/{len(checked)} points >= 10 ms within 10 % of the plain loop")
    floor = result["wall_ratio_floor"]
    print(f"machine busy CPU s (all processes): plain {result['machine_busy_cpu_seconds']['plain']:.1f}, "
          f"qbench {result['machine_busy_cpu_seconds']['qbench']:.1f}, store existing "
          f"{result['machine_busy_cpu_seconds']['again']:.1f}, without MLflow "
          f"{result['machine_busy_cpu_seconds']['untracked']:.1f}; within {WALL_RATIO_GOAL} on {cores} cores: "
          f"{result['cpu_seconds_within_goal']:.1f}; least ratio any schedule reaches: qbench {floor['qbench']:.2f}, "
          f"store existing {floor['again']:.2f}, without MLflow {floor['untracked']:.2f}; MLflow's client "
          f"{result['mlflow_cpu_seconds']['qbench']:.1f} CPU s (new store), "
          f"{result['mlflow_cpu_seconds']['again']:.1f} (store existing)")
    for side, parts_of in result["timeline"].items():
        print(f"  {side}: " + ", ".join(f"{key} {value:.2f} s" for key, value in parts_of.items()))
    for p in outside:
        print(f"  outside: {p['backend']} {p['n_qubits']}q qbench {1e3 * p['qbench_seconds']:.2f} ms "
              f"vs plain {1e3 * p['plain_seconds']:.2f} ms (rounds: qbench "
              f"{', '.join(f'{1e3 * s:.1f}' for s in p['qbench_seconds_per_round'])}; plain "
              f"{', '.join(f'{1e3 * s:.1f}' for s in p['plain_seconds_per_round'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
