"""The baseline for qbench: plain hand-written code, no qbench code at all.

Runs the design's GHZ sweep (cirq, qiskit-aer, qsim, pennylane, stim x n_qubits 4..20 step 2,
1000 shots) as a careful person would by hand: each circuit built with the library's own API,
1 dry run, 1 warm-up, 3 timed runs, median. Same options as qbench's defaults: single precision,
1 thread per simulation (qbench's two joblib workers each get 1 of the 2 cores), Aer's default
fusion, lightning.qubit. glibc's heap is left as it is (`--heap pinned`: thresholds fixed as
`execution.heap=pinned` fixes them).

Two shapes:
- the whole sweep in ONE process, each library imported once (the wall-time baseline of
  bench/sweep_overhead.py). With glibc's default heap a point's time there depends on what ran
  before it in the process (bench/allocator_history.py);
- `--point BACKEND:N`: one point, the whole of a fresh process, as a user's own script for that
  configuration would time it (the per-point baseline of bench/fresh_script.py); prints its row
  as JSON.

    .venv/bin/python bench/plain_loop.py --out bench/results/plain_loop.json
    .venv/bin/python bench/plain_loop.py --point cirq:20
"""
from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import sys
import os
import resource
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # lightning.qubit's threads, as qbench sets per worker

START = time.perf_counter()
SHOTS, SEED = 1000, 42


def pin_heap() -> None:
    """glibc's mmap and trim thresholds fixed, as qbench's execution.heap=pinned does (qbench/execution/heap.py)."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 32 * 2**20), libc.mallopt(-1, 64 * 2**20)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD


def cirq_ghz(n):
    import cirq
    import numpy as np

    q = cirq.LineQubit.range(n)
    circuit = cirq.Circuit([cirq.H(q[0])] + [cirq.CNOT(q[i], q[i + 1]) for i in range(n - 1)])
    circuit.append(cirq.measure(*q, key="m"))
    simulator = cirq.Simulator(dtype=np.complex64, seed=SEED)
    return lambda: simulator.run(circuit, repetitions=SHOTS)


def qsim_ghz(n):
    import cirq
    import qsimcirq

    q = cirq.LineQubit.range(n)
    circuit = cirq.Circuit([cirq.H(q[0])] + [cirq.CNOT(q[i], q[i + 1]) for i in range(n - 1)])
    circuit.append(cirq.measure(*q, key="m"))
    simulator = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=1), seed=SEED)
    return lambda: simulator.run(circuit, repetitions=SHOTS)


def aer_ghz(n):
    from qiskit import QuantumCircuit, transpile
    from qiskit_aer import AerSimulator

    qc = QuantumCircuit(n, n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure(range(n), range(n))
    simulator = AerSimulator(method="statevector", precision="single", max_parallel_threads=1, seed_simulator=SEED)
    compiled = transpile(qc, simulator)
    return lambda: simulator.run(compiled, shots=SHOTS).result()


def pennylane_ghz(n):
    import numpy as np
    import pennylane as qml

    dev = qml.device("lightning.qubit", wires=n, c_dtype=np.complex64, seed=SEED)

    @qml.set_shots(SHOTS)
    @qml.qnode(dev)
    def ghz():
        qml.Hadamard(wires=0)
        for i in range(n - 1):
            qml.CNOT(wires=[i, i + 1])
        return qml.counts(wires=range(n))

    return ghz


def stim_ghz(n):
    import stim

    circuit = stim.Circuit()
    circuit.append("H", [0])
    for i in range(n - 1):
        circuit.append("CX", [i, i + 1])
    circuit.append("M", list(range(n)))
    return lambda: circuit.compile_sampler(seed=SEED).sample(SHOTS)


LIBRARIES = {"cirq": cirq_ghz, "qiskit-aer": aer_ghz, "qsim": qsim_ghz, "pennylane": pennylane_ghz, "stim": stim_ghz}


def time_point(name: str, n: int, keep_first: bool = False, modules: str = "") -> dict:
    """Build one point with the library's own API; dry run, warm-up, 3 timed runs. `keep_first`:
    the dry run's result stays referenced, as `result = call()` before a loop would keep it.
    `modules`: imported once the point is built (the library imported), before its first call."""
    call = LIBRARIES[name](n)
    for module in filter(None, modules.split(",")):
        importlib.import_module(module)
    start = time.perf_counter()
    first = call()
    dry = time.perf_counter() - start
    if not keep_first:
        del first
    call()  # warm-up
    times = []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"backend": name, "n_qubits": n, "dry_run_seconds": dry, "execution_times_seconds": times,
            "median_seconds": statistics.median(times), "page_faults_per_run": faults / len(times)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/plain_loop.json")
    parser.add_argument("--point", help="BACKEND:N_QUBITS: time this one point (this process is fresh), print JSON")
    parser.add_argument("--heap", choices=("default", "pinned"), default="default")
    parser.add_argument("--keep-first", action="store_true", help="with --point: keep the dry run's result")
    parser.add_argument("--import", dest="modules", default="",
                        help="with --point: modules (comma-separated) imported after the library, as a user's own helpers are")
    args = parser.parse_args()
    if args.heap == "pinned":
        pin_heap()
    if args.point:
        name, n = args.point.split(":")
        print(json.dumps(time_point(name, int(n), args.keep_first, args.modules)))
        sys.stdout.flush()
        os._exit(0)  # a user's script would also tear down its imports; that is not timed either
    rows = []
    for name in LIBRARIES:
        for n in range(4, 22, 2):
            rows.append(time_point(name, n))
            print(f"{name:<11} {n:>2}q median {1e3 * rows[-1]['median_seconds']:9.3f} ms", flush=True)
    wall = time.perf_counter() - START
    with open(args.out, "w") as f:
        json.dump({"wall_seconds_after_interpreter_start": wall, "rows": rows}, f, indent=2)
    print(f"plain loop: {len(rows)} points in {wall:.1f} s (after interpreter start)")


if __name__ == "__main__":
    main()
