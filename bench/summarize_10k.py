"""How long `qbench summarize` takes on a 10,000-point sweep (the target: under 10 s).

    .venv/bin/python bench/summarize_10k.py [--records 10000] [--repeat 3] [--template RESULT_JSON] [--keep DIR]

Synthesizes a sweep of realistic result.json files into a temporary directory: the
structure of a real record (one real point is run first, unless --template names one),
varied over backend, circuit, n_qubits, noise and status, with histograms of realistic
size, a few truncated records and a few started-but-killed points. Then times the real
CLI end to end (interpreter start and imports included, page cache warm), times each
phase in-process, and writes the figures to bench/results/summarize_10k.json.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "summarize_10k.json"
LIMIT_SECONDS = 10.0
BACKENDS = ("cirq", "qiskit-aer", "qsim", "pennylane", "stim")
CIRCUITS = ("ghz", "qft", "random", "random_clifford")
QUBITS = range(4, 26, 2)
NOISE = (("none", 0.0), ("depolarizing", 0.01), ("depolarizing", 0.05))
# Roughly what a large real campaign ends with: mostly successes, some of every other outcome.
STATUSES = (("success", 0.85), ("skipped", 0.08), ("error", 0.03), ("timeout", 0.02), ("unavailable", 0.02))
TRUNCATED, KILLED = 5, 10


def real_template(workdir: Path) -> dict:
    """One real record: the synthetic ones then follow the schema of the code being measured."""
    subprocess.run([sys.executable, "-m", "qbench", "backend=cirq", "circuit=qft", "n_qubits=10",
                    "execution=quick"], cwd=workdir, check=True, capture_output=True)
    (path,) = (workdir / "outputs" / "runs").glob("*/result.json")
    return json.loads(path.read_text())


def histogram(rng: random.Random, circuit: str, n: int, shots: int) -> dict:
    if circuit == "ghz":
        zeros = rng.randint(450, 550)
        return {"0" * n: zeros, "1" * n: shots - zeros}
    counts: dict = {}
    for _ in range(shots):
        key = format(rng.getrandbits(n), f"0{n}b")
        counts[key] = counts.get(key, 0) + 1
    return counts


def synthesize(template: dict, sweep: Path, count: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    shots = template["config"]["shots"]
    histograms = {(c, n): histogram(rng, c, n, shots) for c in CIRCUITS for n in QUBITS}  # reused: same bytes to parse
    statuses, weights = zip(*STATUSES)
    written = 0
    for i in range(count):
        backend, circuit, n = rng.choice(BACKENDS), rng.choice(CIRCUITS), rng.choice(QUBITS)
        model, strength = rng.choice(NOISE)
        non_clifford = backend == "stim" and circuit in ("qft", "random")
        status = "skipped" if non_clifford else rng.choices(statuses, weights)[0]
        record = copy.deepcopy(template)
        record.update(benchmark_id=sweep.name, backend=backend, status=status, run_id=f"{i:016x}")
        record["config"].update(n_qubits=n, circuit_type=circuit, noise_model=model, noise_strength=strength,
                                depth=20 if circuit.startswith("random") else None)
        record["config"]["backend_options"].update(name=backend)
        metrics = record["metrics"]
        t = 1e-4 * 1.9 ** (n - 4) * (1 + rng.random()) * (1 + 3 * strength)
        if status == "success":
            metrics.update(execution_time_seconds=t, execution_times_seconds=[t], dry_run_seconds=1.3 * t,
                           fidelity=max(0.0, 1 - 1e-7 * rng.random() - strength * n * rng.uniform(0.5, 1)),
                           memory_peak_mb=200 + 2 ** max(0, n - 12) * rng.random(),
                           gate_count=n * (10 if circuit.startswith("random") else 2))
            record["measurements"] = {"histogram": histograms[(circuit, n)], "total_shots": shots}
        else:
            for key in ("execution_time_seconds", "execution_times_seconds", "dry_run_seconds", "fidelity",
                        "memory_peak_mb", "tvd", "throughput_shots_per_second"):
                metrics.pop(key, None)
            record["measurements"] = {"histogram": {}, "total_shots": 0}
            record["reason"] = {"skipped": f"stim simulates Clifford circuits only; circuit '{circuit}' has non-Clifford gates"
                                if non_clifford else f"state needs {2 ** n * 8 / 2**20:g} MiB, more than memory_limit_gb",
                                "error": "1 attempt(s) failed; last: worker died with SIGSEGV",
                                "timeout": "timeout_per_run=300s exceeded",
                                "unavailable": "qiskit-aer GPU needs CUDA"}[status]
            if status == "error":
                record["error"] = {"type": "WorkerCrashed", "message": "worker died with SIGSEGV",
                                   "traceback": "Traceback (most recent call last):\n  ...\n" * 5}
        point = sweep / f"{backend}_{n}q_{circuit}_{model}_{i}"
        point.mkdir(parents=True)
        text = json.dumps(record, indent=2)
        (point / "result.json").write_text(text[: len(text) // 2] if i < TRUNCATED else text)
        written += len(text)
    for k in range(KILLED):
        (sweep / f"cirq_24q_qft_none_{count + k}" / ".hydra").mkdir(parents=True)
    return written


def phases(sweep: Path) -> dict:
    """Where the time goes, in-process (imports excluded)."""
    from qbench.results import plots
    from qbench.results import report
    from qbench.results import analysis
    from qbench.results import summary as summarize

    out, start = {}, time.perf_counter()
    summary = summarize.load(sweep)
    out["read"], start = time.perf_counter() - start, time.perf_counter()
    analysis.analyse(summary)
    out["analyse"], start = time.perf_counter() - start, time.perf_counter()
    summarize.records.write_atomic(sweep / "summary.json", summarize.summary_json(summary))
    out["summary.json"], start = time.perf_counter() - start, time.perf_counter()
    summarize.write_text(sweep / "results.csv", summarize.results_csv(summary.rows))
    out["results.csv"], start = time.perf_counter() - start, time.perf_counter()
    charts = plots.draw(summary)
    out["charts (incl. matplotlib import)"], start = time.perf_counter() - start, time.perf_counter()
    report.render(summary, charts)
    out["report.md"] = time.perf_counter() - start
    return {k: round(v, 3) for k, v in out.items()}


def cpu_model() -> str:
    from qbench.environment import cpu_model as model

    return model()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--template", type=Path, help="a real result.json to copy (default: run one real point)")
    parser.add_argument("--keep", type=Path, help="synthesize into this new directory and leave it there")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qbench-10k-") as tmp:
        workdir = args.keep or Path(tmp)
        template = json.loads(args.template.read_text()) if args.template else real_template(workdir)
        sweep = workdir / "outputs" / "bench_20260101_000000"
        written = synthesize(template, sweep, args.records)
        command = [sys.executable, "-m", "qbench", "summarize", str(sweep)]
        load = os.getloadavg()
        runs = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            done = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
            runs.append(time.perf_counter() - start)
            if done.returncode != 0:
                print(done.stdout + done.stderr, file=sys.stderr)
                return 1
        summary = json.loads((sweep / "summary.json").read_text())
        assert summary["total_runs"] == args.records and summary["unreadable"] == TRUNCATED
        result = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"nproc": os.cpu_count(), "cpu_model": cpu_model(), "python": platform.python_version(),
                        "platform": platform.platform(),
                        "load_average_before": [round(x, 2) for x in load]},  # the machine may be shared
            "records": args.records, "result_json_mb": round(written / 2**20, 1),
            "command": "qbench summarize SWEEP_DIR (subprocess, end to end, warm page cache)",
            "reproduce": ".venv/bin/python bench/summarize_10k.py",
            "runs_seconds": [round(r, 3) for r in runs], "median_seconds": round(statistics.median(runs), 3),
            "limit_seconds": LIMIT_SECONDS, "phases_seconds": phases(sweep),
            "outputs_kb": {p.name: round(p.stat().st_size / 1024) for p in sorted(sweep.glob("*.*"))},
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["median_seconds"] < LIMIT_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
