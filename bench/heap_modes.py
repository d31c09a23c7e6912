"""Which heap "mode" a cirq point's timed runs land in, counted in page faults (no noise): a fresh
hand-written script (`bench/plain_loop.py --point`), the same script keeping its dry run's result
(`--keep-first`: one reference more, as `result = call()` before a loop keeps it), the script
importing a small helper module of the standard library after the library (`--import qbench.environment`), and qbench's
forked worker with `execution.heap=default` and `=pinned`. glibc's default heap either keeps the
freed state arrays for the next run or hands them back and faults them in again, and which one
happens depends on the process's history, down to one live object.

    .venv/bin/python bench/heap_modes.py            # 3 processes a side; bench/results/heap_modes.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from fresh_script import Qbench, script_point  # noqa: E402

# each script side: its flags in fresh_script.SCRIPTS (the helper is qbench.environment, 97 lines of the
# standard library only, as a user's own helpers are: nothing of it runs, only its functions are defined)
SCRIPT_SIDES = {"script": "fresh", "script keeping its first result": "fresh_kept",
                "script importing a helper module": "fresh_helper"}
SIDES = (*SCRIPT_SIDES, "qbench default heap", "qbench pinned heap")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3, help="fresh processes (workers) per side and size")
    parser.add_argument("--qubits", default="16,18,20")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "heap_modes.json"))
    args = parser.parse_args()
    qbench = Qbench()
    rows = []
    try:
        for n in (int(x) for x in args.qubits.split(",")):
            found: dict[str, list[tuple[float, float]]] = {side: [] for side in SIDES}
            for _ in range(args.processes):
                for side, script in SCRIPT_SIDES.items():
                    row = script_point("cirq", n, script)
                    found[side].append((row["median_seconds"], row["page_faults_per_run"]))
                for side, heap in ((SIDES[3], "default"), (SIDES[4], "pinned")):
                    record = qbench.record("cirq", n, heap)
                    found[side].append((record["metrics"]["execution_time_seconds"],
                                        record["metrics"]["execution_page_faults_per_run"]))
            row = {"n_qubits": n}
            for side, values in found.items():
                row[side] = {"median_seconds": statistics.median(v[0] for v in values),
                             "page_faults_per_run": [v[1] for v in values]}
            rows.append(row)
            print(f"cirq {n}q: " + "; ".join(
                f"{side} {1e3 * row[side]['median_seconds']:.1f} ms, faults/run "
                f"{'/'.join(str(round(f)) for f in row[side]['page_faults_per_run'])}" for side in SIDES), flush=True)
    finally:
        qbench.close()
    Path(args.out).write_text(json.dumps({"benchmark": "heap_modes",
                                          "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                          "command": "python bench/heap_modes.py " + " ".join(sys.argv[1:]),
                                          "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
