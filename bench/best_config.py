"""Each backend at its best here: QFT and random circuits at 20-26 qubits over its options.

Runs qbench itself (basic launcher: one point at a time, nothing else competing for the 2
cores), every backend at one precision (--precision, default single) so they compare at equal
precision; a backend built for the other precision only (qsim: single, QuEST v3's wheels: double)
sits out. QuEST 4 (`backend=quest`) runs the user's build of that precision (--quest-library,
default $QBENCH_QUEST_LIBRARY; one build per FLOAT_PRECISION) and sits out without one. Two stages,
because on 2 cores a 26-qubit random circuit takes minutes per run: every option variant at 20 and
22 qubits; then each backend's fastest variant (least total time over stage 1) at 24 and 26
qubits. Each row records the machine's 1-minute load average around its sweeps (a shared machine's
other work slows every point). For each (backend, circuit, n_qubits): the fastest configuration and the others.

    .venv/bin/python bench/best_config.py                     # bench/results/best_config.{json,md}; ~15 min here
    .venv/bin/python bench/best_config.py --precision double  # best_config_double.*: cirq, Aer, PennyLane, QuEST 4 and v3
    .venv/bin/python bench/best_config.py --only quest --quest-library /path/to/single/libQuEST.so
                                # re-measure some backends; the file's other rows are kept, each with its date
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMON = ["circuit=qft,random", "execution.warmup_runs=0", "execution.repetitions=1", "execution.retries=0",
          "tracking.enabled=false"]
STAGE_1 = ["n_qubits=20,22", "execution.timeout_per_run=60"]
STAGE_2 = ["n_qubits=24,26", "execution.timeout_per_run=300"]
STAGE_2_SIZES = (24, 26)
# The options each library's maintainers point users to for speed.
VARIANTS = {
    "qiskit-aer": ["backend=qiskit-aer", "backend.threads=1,2", "backend.fusion_enable=true,false"],
    "qsim": ["backend=qsim", "backend.threads=1,2", "backend.max_fused_gate_size=2,4"],
    "pennylane": ["backend=pennylane", "backend.threads=1,2"],
    "cirq": ["backend=cirq"],
    "quest": ["backend=quest", "backend.threads=1,2"],        # QuEST 4, the user's build (--quest-library)
    "quest-v3": ["backend=quest-v3", "backend.threads=1,2"],  # QuEST v3, PyPI pyquest (`make quest-env`)
}
# Backends built for one precision only: qsimcirq computes in float32, the pyquest wheels in double.
ONLY = {"qsim": "single", "quest-v3": "double"}
OPTION_KEYS = ("threads", "fusion_enable", "max_fused_gate_size")


def label(record: dict) -> str:
    options = record["config"]["backend_options"]
    return ", ".join(f"{k}={options[k]}" for k in OPTION_KEYS if options.get(k) is not None)


def sweep(overrides: list[str], cwd: str) -> list[dict]:
    load = os.getloadavg()[0]  # the machine's 1-minute load before and after: others' work slows every point
    done = subprocess.run([sys.executable, "-m", "qbench", "-m", *overrides], cwd=cwd, capture_output=True, text=True)
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:], flush=True)
    newest = sorted(Path(cwd).glob("outputs/bench_*"))[-1]
    records = [json.loads(p.read_text()) for p in newest.glob("*/result.json")]
    load = (round(load, 1), round(os.getloadavg()[0], 1))
    for r in records:
        r["load_average"] = load
    if any(r["status"] == "error" for r in records):  # a worker's own last words are only on stderr
        print("errors; the sweep's stderr ends:\n" + "\n".join(done.stderr.strip().splitlines()[-15:]), flush=True)
    return records


def quest_build(backend: str, circuit: str, n: int, records: list[dict]) -> dict | None:
    """QuEST 4's own report of the build a row ran (version, precision, library), from its records."""
    for r in records:
        options = r["config"]["backend_options"]
        if (r["backend"], r["config"]["circuit_type"], r["config"]["n_qubits"]) == (backend, circuit, n) and \
                backend == "quest" and options.get("quest"):
            return {"version": options["quest"].get("version"), "precision": options["quest"].get("precision"),
                    "library": options.get("library")}
    return None


def winner(records: list[dict]) -> list[str] | None:
    """The overrides of the variant with the least total time over stage 1 (None if none finished)."""
    totals = defaultdict(float)
    for r in records:
        totals[label(r)] += r["metrics"]["execution_time_seconds"] if r["status"] == "success" else 1e9
    best = min(totals, key=totals.get)
    if totals[best] >= 1e9:
        return None
    return [f"backend.{pair}" for pair in best.split(", ") if pair]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=("single", "double"), default="single",
                        help="the one precision every backend runs at (default single)")
    parser.add_argument("--only", help="comma-separated backends to (re)measure; the file's other rows are kept")
    parser.add_argument("--largest", type=int, default=26,
                        help="the largest stage-2 size (default 26; 24: stage 2 at 24 qubits only)")
    parser.add_argument("--quest-library", default=os.environ.get("QBENCH_QUEST_LIBRARY"),
                        help="libQuEST.so of a QuEST 4 build of this precision (default $QBENCH_QUEST_LIBRARY)")
    args = parser.parse_args()
    precision = args.precision
    only = args.only.split(",") if args.only else list(VARIANTS)
    if unknown := set(only) - set(VARIANTS):
        parser.error(f"unknown backend(s) {', '.join(sorted(unknown))} (known: {', '.join(VARIANTS)})")
    common = [*COMMON, f"backend.precision={precision}"]
    stage_2 = [f"n_qubits={','.join(str(n) for n in STAGE_2_SIZES if n <= args.largest)}", *STAGE_2[1:]]
    suffix = "" if precision == "single" else f"_{precision}"
    records, commands = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for backend, overrides in VARIANTS.items():
            if backend not in only:
                continue
            if ONLY.get(backend, precision) != precision:
                print(f"{backend}: {ONLY[backend]} precision only, not compared at {precision}", flush=True)
                continue
            if backend == "quest":
                if not args.quest_library:
                    print("quest: no QuEST 4 build given (--quest-library or QBENCH_QUEST_LIBRARY), not measured",
                          flush=True)
                    continue
                overrides = [overrides[0], f"backend.library={args.quest_library}", *overrides[1:]]
            print(f"stage 1: {backend} ...", flush=True)
            commands.append(" ".join(["python -m qbench -m", *overrides, *common, *STAGE_1]))
            stage_1 = sweep([*overrides, *common, *STAGE_1], tmp)
            records += stage_1
            best = winner(stage_1)
            if best is None or args.largest < min(STAGE_2_SIZES):
                print(f"stage 2: {backend} skipped, {'nothing finished at 20-22 qubits' if best is None else '--largest'}",
                      flush=True)
                continue
            print(f"stage 2: {backend} with {best} ...", flush=True)
            fixed = [o for o in overrides if o.startswith(("backend=", "backend.library="))]
            commands.append(" ".join(["python -m qbench -m", *fixed, *best, *common, *stage_2]))
            records += sweep([*fixed, *best, *common, *stage_2], tmp)

    table = defaultdict(list)
    for r in records:
        key = (r["backend"], r["config"]["circuit_type"], r["config"]["n_qubits"])
        seconds = r["metrics"].get("execution_time_seconds") if r["status"] == "success" else None
        table[key].append({"options": label(r), "status": r["status"], "seconds": seconds,
                           "bandwidth_efficiency": r["metrics"].get("bandwidth_efficiency"),
                           "load_average": r["load_average"]})
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = []
    for (backend, circuit, n), variants in sorted(table.items()):
        ok = sorted((v for v in variants if v["seconds"] is not None), key=lambda v: v["seconds"])
        rows.append({"backend": backend, "circuit": circuit, "n_qubits": n, "fastest": ok[0] if ok else None,
                     "variants": variants, "measured": now,
                     "quest": quest_build(backend, circuit, n, records)})
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"best_config{suffix}.json"
    if args.only and path.exists():  # keep the rows not re-measured now (other backends or sizes), with their dates
        kept = json.loads(path.read_text())
        measured = {(r["backend"], r["circuit"], r["n_qubits"]) for r in rows}
        rows += [{**r, "measured": r.get("measured", kept["date"])} for r in kept["rows"]
                 if (r["backend"], r["circuit"], r["n_qubits"]) not in measured]
        rows.sort(key=lambda r: (r["backend"], r["circuit"], r["n_qubits"]))
        commands = [*kept["commands"], *commands]
    path.write_text(json.dumps({"benchmark": "best_config", "date": now, "precision": precision,
                                "commands": commands, "rows": rows}, indent=2))
    lines = ["| backend | circuit | qubits | fastest options | time (s) | others (s) | bandwidth eff. | measured | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        best = row["fastest"]
        others = "; ".join(f"{v['options']}: {v['seconds']:.3g}" if v["seconds"] is not None else
                           f"{v['options']}: {v['status']}" for v in row["variants"] if v != best)
        day = row.get("measured", "")[:10]
        loads = [x for v in row["variants"] for x in v.get("load_average") or ()]
        day += f" | {min(loads):g}-{max(loads):g}" if loads else " | "
        lines.append(f"| {row['backend']} | {row['circuit']} | {row['n_qubits']} | "
                     f"{best['options'] if best else '-'} | {best['seconds']:.3g} | {others} | "
                     f"{(best['bandwidth_efficiency'] or float('nan')):.2f} | {day} |" if best else
                     f"| {row['backend']} | {row['circuit']} | {row['n_qubits']} | - | - | {others} | - | {day} |")
    (out / f"best_config{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
