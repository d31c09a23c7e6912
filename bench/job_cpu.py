"""Where a joblib worker's CPU goes, job by job, in the design's 45-point GHZ sweep.

Runs bench/sweep_overhead.py's sweep without MLflow (2 joblib workers) with a probe on the
sweep's PYTHONPATH (bench/job_cpu_probe/sitecustomize.py). In each joblib worker it times, in
thread-CPU, the stages of Hydra's stock job path and qbench's parts of each job. CPU time, not
wall time: a stage's figure moves far less with this machine's drift than the sweep's wall does.

Per job, in the worker (ms CPU, summed over both workers, divided by the jobs):
- Hydra: `Singleton.set_state` (the plugin rescan, every job), `HydraConfig.set_config` (three
  masked copies), `_save_config` (three yaml files), `configure_log`, the rest of `run_job`
  (two deep copies, the job's bookkeeping);
- qbench: composing the job's config (`SweepConfigLoader.load_sweep_config`), the point's
  path in the worker (`run_point`, without the compositions done ahead while it waits for its
  fork server, which are listed apart);
- loky: everything else of the worker's process (unpickling each job, pickling its return,
  its loop), and the worker's start (interpreter, imports) apart.

--batch-size runs the sweep once per joblib batch size given (`hydra.launcher.batch_size`,
interleaved over --rounds): a batch's jobs share one unpickled Hydra state, so only its first
job rescans the plugins.

    .venv/bin/python bench/job_cpu.py --rounds 3                      # writes bench/results/job_cpu.json
    .venv/bin/python bench/job_cpu.py --rounds 3 --batch-size auto,2
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from sweep_overhead import SWEEP  # noqa: E402 - the same sweep, as the overhead benchmark runs it

PROBE = ROOT / "bench" / "job_cpu_probe"
# (label, stages summed): the rows of the table, each a share of a job's CPU in its worker
ROWS = [
    ("Hydra: Singleton.set_state (plugin rescan)", ("set_state",)),
    ("Hydra: HydraConfig.set_config (3 masked copies)", ("set_config",)),
    ("Hydra: _save_config (3 yaml files)", ("save_config",)),
    ("Hydra: configure_log", ("configure_log",)),
    ("Hydra: rest of run_job (2 deep copies, bookkeeping)", ("run_job_rest",)),
    ("qbench: composing the job's config", ("compose",)),
    ("qbench: the point's path in the worker", ("run_point_own",)),
    ("qbench: compositions ahead, while waiting for a fork server", ("compose_ahead",)),
    ("loky: unpickling, pickling the return, its loop", ("loky",)),
]


def one_sweep(batch_size: str, tmp: Path) -> dict:
    out = tmp / "probe"
    out.mkdir()
    env = {**os.environ, "QBENCH_JOB_CPU_DIR": str(out),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROBE), str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "qbench", *SWEEP, "tracking.enabled=false", f"hydra.launcher.batch_size={batch_size}",
               f"hydra.sweep.dir={tmp / 'sweep'}"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    workers = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert workers, "the probe wrote nothing: is bench/job_cpu_probe on the sweep's PYTHONPATH?"
    total = {key: sum(w.get(key, 0.0) for w in workers) for key in
             ("jobs", "start", "process", "job", "run_job", "set_state", "set_config", "save_config", "configure_log",
              "compose", "compose_ahead", "run_point")}
    jobs = total["jobs"]
    # set_config: one call in execute_job, two in run_job; run_point holds compose_ahead
    stages = {key: total[key] for key in ("set_state", "set_config", "save_config", "configure_log", "compose",
                                          "compose_ahead")}
    stages["run_point_own"] = total["run_point"] - total["compose_ahead"]
    stages["run_job_rest"] = (total["run_job"] - total["set_config"] * 2 / 3 - total["save_config"]
                              - total["configure_log"] - total["run_point"])
    stages["loky"] = total["process"] - total["start"] - total["job"]
    per_job = {key: 1e3 * value / jobs for key, value in stages.items()}
    per_job["job_in_execute_job"] = 1e3 * total["job"] / jobs
    per_job["worker_process"] = 1e3 * (total["process"] - total["start"]) / jobs
    return {"batch_size": batch_size, "wall_seconds": wall, "jobs": jobs, "workers": len(workers),
            "jobs_per_worker": sorted(int(w["jobs"]) for w in workers), "worker_start_seconds": total["start"] / len(workers),
            "per_job_ms": per_job, "missing": sorted({m for w in workers for m in w.get("missing", [])})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="sweeps per batch size, interleaved; medians are reported")
    parser.add_argument("--batch-size", default="auto", help="comma-separated joblib batch sizes to compare (auto, 1, 2, ...)")
    args = parser.parse_args()
    sizes = args.batch_size.split(",")
    runs = []
    for number in range(args.rounds):
        for size in sizes if number % 2 == 0 else sizes[::-1]:
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(one_sweep(size, Path(tmp)))
            r = runs[-1]
            print(f"round {number + 1}, batch_size={size}: wall {r['wall_seconds']:.1f} s, "
                  f"{r['per_job_ms']['worker_process']:.1f} ms CPU a job in its worker, jobs per worker "
                  f"{r['jobs_per_worker']}", flush=True)
            if r["missing"]:
                print(f"  not timed (missing in these versions): {', '.join(r['missing'])}")
    median = statistics.median
    result = {"benchmark": "job_cpu", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": "python -m qbench " + " ".join(SWEEP) + " tracking.enabled=false", "rounds": args.rounds,
              "by_batch_size": {}, "runs": runs}
    for size in sizes:
        mine = [r for r in runs if r["batch_size"] == size]
        per_job = {key: median(r["per_job_ms"][key] for r in mine) for key in mine[0]["per_job_ms"]}
        result["by_batch_size"][size] = {
            "wall_seconds_median": median(r["wall_seconds"] for r in mine),
            "wall_seconds": [r["wall_seconds"] for r in mine],
            "worker_start_seconds_median": median(r["worker_start_seconds"] for r in mine),
            "per_job_ms_median": per_job}
        print(f"\nbatch_size={size}: median of {len(mine)} sweeps, ms CPU per job in its joblib worker")
        for label, keys in ROWS:
            print(f"  {sum(per_job[k] for k in keys):7.1f}  {label}")
        print(f"  {per_job['worker_process']:7.1f}  the whole job in its worker (worker start apart: "
              f"{result['by_batch_size'][size]['worker_start_seconds_median']:.2f} CPU-s a worker); "
              f"sweep wall {result['by_batch_size'][size]['wall_seconds_median']:.1f} s")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "job_cpu.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
