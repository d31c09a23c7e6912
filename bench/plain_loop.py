"""The baseline for qbench's overhead: a plain hand-written loop, no qbench code at all.

Runs the design's GHZ sweep (cirq, qiskit-aer, qsim, pennylane, stim x n_qubits 4..20 step 2,
1000 shots) in ONE process, as a careful person would by hand: each library imported once,
each circuit built with the library's own API, 1 dry run, 1 warm-up, 3 timed runs, median.
Same options as qbench's defaults: single precision, 1 thread per simulation (qbench's two
joblib workers each get 1 of the 2 cores), Aer's default fusion, lightning.qubit.
The C heap is pinned as in qbench's workers (qbench/allocator.py): with glibc's default, a point's
time depends on what ran before it in the process (cirq 16 qubits: 13.6 ms as the first library,
12.1 ms after a 20-qubit run; bench/allocator_history.py), and here cirq happens to run first.

    .venv/bin/python bench/plain_loop.py --out bench/results/plain_loop.json
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # lightning.qubit's threads, as qbench sets per worker

START = time.perf_counter()
SHOTS, SEED = 1000, 42
LIBC = ctypes.CDLL("libc.so.6")
LIBC.mallopt(-3, 32 * 2**20), LIBC.mallopt(-1, 64 * 2**20)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD: fixed


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/plain_loop.json")
    args = parser.parse_args()
    rows = []
    for name, build in LIBRARIES.items():
        for n in range(4, 22, 2):
            call = build(n)
            LIBC.malloc_trim(0)  # each point starts from a released heap, as in qbench
            start = time.perf_counter()
            call()
            dry = time.perf_counter() - start
            call()  # warm-up
            times = []
            for _ in range(3):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
            rows.append({"backend": name, "n_qubits": n, "dry_run_seconds": dry,
                         "execution_times_seconds": times, "median_seconds": statistics.median(times)})
            print(f"{name:<11} {n:>2}q median {1e3 * statistics.median(times):9.3f} ms", flush=True)
    wall = time.perf_counter() - START
    with open(args.out, "w") as f:
        json.dump({"wall_seconds_after_interpreter_start": wall, "rows": rows}, f, indent=2)
    print(f"plain loop: {len(rows)} points in {wall:.1f} s (after interpreter start)")


if __name__ == "__main__":
    main()
