"""Standard benchmark families beside qbench's own four (the set NVIDIA's nv-quantum-benchmarks runs).

* `quantum_volume`: Qiskit's library generator (seeded, square: depth = n), decomposed into the
  canonical gates (qiskit_convert). Reference: the NumPy state vector.
* `qaoa`: MaxCut QAOA on a seeded random 3-regular graph, `p` layers of e^{-i gamma ZZ} on every edge
  (cx, rz(2 gamma), cx) and rx(2 beta) on every qubit, seeded angles. Reference: the NumPy state vector.
* `qpe`: phase estimation of an exactly representable phase k / 2^(n-1) of a phase gate on qubit n-1
  (n-1 counting qubits): the answer is the basis state |k>|1>, known in closed form at any size.
* `iqft`: the inverse QFT of a seeded Fourier basis state QFT|x> (prepared as a product state): the
  answer is |x>, known in closed form at any size.
A closed-form answer is metadata["answer_bits"] (qbench.circuits.reference reads it).
"""
from __future__ import annotations

import math

import numpy as np

from qbench.circuits.model import Circuit, CircuitUnavailable, Gate

TWO_PI = 2 * math.pi


def build(family: str, n_qubits: int, seed: int, p: int | None = None) -> Circuit:
    if family == "quantum_volume":
        return quantum_volume(n_qubits, seed)
    if family == "qaoa":
        return qaoa(n_qubits, p if p is not None else 1, seed)
    if family == "qpe":
        return qpe(n_qubits, seed)
    if family == "iqft":
        return iqft(n_qubits, seed)
    raise ValueError(f"unknown standard family {family!r}")


def qft_gates(qubits: list[int]) -> list[Gate]:
    """The textbook QFT on `qubits` (the first is the most significant), with its final swaps:
    the same gates as canonical.qft."""
    m = len(qubits)
    gates = []
    for j in range(m):
        gates.append(Gate("h", (qubits[j],)))
        for k in range(j + 1, m):
            gates.append(Gate("cp", (qubits[k], qubits[j]), (math.pi / 2 ** (k - j),)))
    gates += [Gate("swap", (qubits[i], qubits[m - 1 - i])) for i in range(m // 2)]
    return gates


def inverse_qft_gates(qubits: list[int]) -> list[Gate]:
    """QFT^dagger: the QFT's gates in reverse order, each inverted (h and swap are their own inverse)."""
    return [Gate(g.name, g.qubits, tuple(-a for a in g.params)) for g in reversed(qft_gates(qubits))]


def quantum_volume(n_qubits: int, seed: int) -> Circuit:
    from qiskit.circuit.library import quantum_volume as generator

    from qbench.circuits import qiskit_convert

    metadata = {"generator": "qiskit.circuit.library.quantum_volume", "qv_depth": n_qubits}
    return qiskit_convert.to_canonical(generator(n_qubits, seed=seed), "quantum_volume", metadata, seed=seed)


def regular_graph(n_nodes: int, degree: int, seed: int) -> list[tuple[int, int]]:
    """A uniformly random simple `degree`-regular graph (pairing model, rejecting loops and double
    edges), seeded with NumPy so that it does not depend on another library's version."""
    if n_nodes <= degree or (n_nodes * degree) % 2:
        raise CircuitUnavailable(f"qaoa needs a {degree}-regular graph on n_qubits nodes, which exists only for an "
                                 f"even n_qubits >= {degree + 1 + (degree + 1) % 2} (n_qubits={n_nodes})")
    rng = np.random.default_rng(seed)
    for _ in range(10_000):
        stubs = rng.permutation(np.repeat(np.arange(n_nodes), degree))
        edges = {tuple(sorted((int(a), int(b)))) for a, b in stubs.reshape(-1, 2)}
        if len(edges) == len(stubs) // 2 and all(a != b for a, b in edges):
            return sorted(edges)
    raise CircuitUnavailable(f"no simple {degree}-regular graph on {n_nodes} nodes found")  # pragma: no cover


def qaoa(n_qubits: int, p: int, seed: int) -> Circuit:
    edges = regular_graph(n_qubits, 3, seed)
    rng = np.random.default_rng([seed, 1])  # angles independent of the graph's draws
    gammas, betas = rng.uniform(0, math.pi, p), rng.uniform(0, math.pi, p)
    gates = [Gate("h", (q,)) for q in range(n_qubits)]
    for gamma, beta in zip(gammas, betas):
        for a, b in edges:  # e^{-i gamma Z_a Z_b}
            gates += [Gate("cx", (a, b)), Gate("rz", (b,), (2 * float(gamma),)), Gate("cx", (a, b))]
        gates += [Gate("rx", (q,), (2 * float(beta),)) for q in range(n_qubits)]
    metadata = {"graph": "random 3-regular", "edges": [list(e) for e in edges], "p": p,
                "gammas": [float(g) for g in gammas], "betas": [float(b) for b in betas]}
    return Circuit("qaoa", n_qubits, tuple(gates), depth_param=p, seed=seed, metadata=metadata)


def qpe(n_qubits: int, seed: int) -> Circuit:
    if n_qubits < 2:
        raise CircuitUnavailable(f"qpe needs at least 2 qubits (1 counting + 1 target; n_qubits={n_qubits})")
    m = n_qubits - 1
    k = int(np.random.default_rng(seed).integers(0, 2**m))
    target = m
    gates = [Gate("x", (target,))] + [Gate("h", (j,)) for j in range(m)]
    for j in range(m):  # counting qubit j (most significant first) controls U^(2^(m-1-j)), U = phase(2 pi k/2^m)
        angle = (TWO_PI * k * 2 ** (m - 1 - j) / 2**m) % TWO_PI
        gates.append(Gate("cp", (j, target), (angle,)))
    gates += inverse_qft_gates(list(range(m)))
    bits = format(k, f"0{m}b") + "1"
    return Circuit("qpe", n_qubits, tuple(gates), seed=seed,
                   metadata={"phase": k / 2**m, "phase_numerator": k, "answer_bits": bits})


def iqft(n_qubits: int, seed: int) -> Circuit:
    x = int(np.random.default_rng(seed).integers(0, 2**n_qubits))
    gates = []
    for j in range(n_qubits):  # QFT|x> = (x) over j of (|0> + e^{2 pi i x / 2^(j+1)} |1>) / sqrt 2
        gates += [Gate("h", (j,)), Gate("rz", (j,), ((TWO_PI * x / 2 ** (j + 1)) % TWO_PI,))]
    gates += inverse_qft_gates(list(range(n_qubits)))
    return Circuit("iqft", n_qubits, tuple(gates), seed=seed,
                   metadata={"input": x, "answer_bits": format(x, f"0{n_qubits}b")})
