"""Exact references: an independent NumPy state-vector simulator, analytic states, and an exact
density-matrix simulator of the noise models (`qbench.noise`) for small circuits.

Every backend is checked against these. Index convention: qubit 0 is the most
significant bit, so `format(i, f"0{n}b")` is the bitstring with character q = qubit q.
"""
from __future__ import annotations

import math

import numpy as np

from qbench.circuits.canonical import Circuit, Gate
from qbench.circuits.noise import Channel, Noise, placed

_S2 = 1 / math.sqrt(2)
_FIXED = {
    "h": np.array([[_S2, _S2], [_S2, -_S2]], dtype=complex),
    "x": np.array([[0, 1], [1, 0]], dtype=complex),
    "y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "z": np.diag([1, -1]).astype(complex),
    "s": np.diag([1, 1j]),
    "sdg": np.diag([1, -1j]),
    "t": np.diag([1, np.exp(1j * math.pi / 4)]),
    "tdg": np.diag([1, np.exp(-1j * math.pi / 4)]),
    "cx": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex),
    "cz": np.diag([1, 1, 1, -1]).astype(complex),
    "swap": np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex),
}


def gate_matrix(gate: Gate) -> np.ndarray:
    """Unitary of a canonical gate; for two-qubit gates the first listed qubit is the high bit."""
    if gate.name in _FIXED:
        return _FIXED[gate.name]
    if gate.name == "u":  # Qiskit's UGate / OpenQASM's U
        theta, phi, lam = gate.params
        c, s = math.cos(theta / 2), math.sin(theta / 2)
        return np.array([[c, -np.exp(1j * lam) * s], [np.exp(1j * phi) * s, np.exp(1j * (phi + lam)) * c]])
    (theta,) = gate.params
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    if gate.name == "rx":
        return np.array([[c, -1j * s], [-1j * s, c]])
    if gate.name == "ry":
        return np.array([[c, -s], [s, c]], dtype=complex)
    if gate.name == "rz":
        return np.diag([np.exp(-1j * theta / 2), np.exp(1j * theta / 2)])
    if gate.name == "cp":
        return np.diag([1, 1, 1, np.exp(1j * theta)])
    raise ValueError(f"no matrix for gate {gate.name!r}")


def _apply(tensor: np.ndarray, matrix: np.ndarray, axes) -> np.ndarray:
    """Contract a 2^k x 2^k matrix into `axes` of a (2,)*m tensor (first axis = high bit)."""
    k = len(axes)
    u = matrix.reshape((2,) * (2 * k))
    moved = np.tensordot(u, tensor, axes=(list(range(k, 2 * k)), list(axes)))
    return np.moveaxis(moved, list(range(k)), list(axes))


def apply_gate(state: np.ndarray, gate: Gate, n_qubits: int) -> np.ndarray:
    """Apply one gate to a state held as an n-dimensional (2,)*n tensor."""
    return _apply(state, gate_matrix(gate), gate.qubits)


def statevector(circuit: Circuit) -> np.ndarray:
    """Exact final state from |0...0>, flattened with qubit 0 as the most significant bit."""
    n = circuit.n_qubits
    state = np.zeros((2,) * n, dtype=complex)
    state[(0,) * n] = 1
    for gate in circuit.gates:
        state = apply_gate(state, gate, n)
    return state.reshape(-1)


# Families whose exact answer is one basis state, metadata["answer_bits"] (qbench.circuits.families).
ANSWER_FAMILIES = ("qpe", "iqft")
# Largest circuit whose exact noisy distribution is computed: a 4^n density matrix (cost: docs/PERFORMANCE.md).
NOISY_REFERENCE_MAX_QUBITS = 8
_PAULI = {name: _FIXED[name] for name in ("x", "y", "z")}


def kraus_operators(channel: Channel) -> list[np.ndarray]:
    """Textbook Kraus operators of a one-qubit channel of `qbench.noise`."""
    p = channel.strength
    identity = np.eye(2, dtype=complex)
    if channel.name == "depolarizing":
        return [math.sqrt(1 - p) * identity] + [math.sqrt(p / 3) * _PAULI[a] for a in ("x", "y", "z")]
    if channel.name == "bit_flip":
        return [math.sqrt(1 - p) * identity, math.sqrt(p) * _PAULI["x"]]
    if channel.name == "phase_flip":
        return [math.sqrt(1 - p) * identity, math.sqrt(p) * _PAULI["z"]]
    if channel.name == "amplitude_damping":
        return [np.array([[1, 0], [0, math.sqrt(1 - p)]], dtype=complex),
                np.array([[0, math.sqrt(p)], [0, 0]], dtype=complex)]
    raise ValueError(f"no Kraus operators for channel {channel.name!r}")


def noisy_probabilities(circuit: Circuit, noise: Noise) -> np.ndarray:
    """Exact output distribution of the circuit under `noise`, by density-matrix simulation.

    rho is a (2,)*2n tensor, axes 0..n-1 the ket and n..2n-1 the bra; an operation M acts as the
    superoperator M (x) conj(M) on (its qubits, the same qubits + n), a channel as the sum of that
    over its Kraus operators. Readout flips act on the final distribution.
    """
    n = circuit.n_qubits
    rho = np.zeros((2,) * (2 * n), dtype=complex)
    rho[(0,) * (2 * n)] = 1
    for item in placed(circuit, noise):
        if isinstance(item, Gate):
            ops, qubits = [gate_matrix(item)], item.qubits
        else:
            ops, qubits = kraus_operators(item), (item.qubit,)
        superoperator = sum(np.kron(k, k.conj()) for k in ops)
        rho = _apply(rho, superoperator, [*qubits, *(n + q for q in qubits)])
    probs = np.clip(np.diagonal(rho.reshape(2**n, 2**n)).real, 0, None).reshape((2,) * n)
    for q in range(n):
        probs = (1 - noise.readout) * probs + noise.readout * np.flip(probs, axis=q)
    probs = probs.reshape(-1)
    return probs / probs.sum()


def analytic_statevector(circuit: Circuit) -> np.ndarray | None:
    """Closed-form final state for GHZ, QFT-of-a-basis-state and the families whose answer is a basis state
    (qpe, iqft: metadata["answer_bits"]), None for other families."""
    n = circuit.n_qubits
    dim = 2**n
    if circuit.family in ANSWER_FAMILIES:
        psi = np.zeros(dim, dtype=complex)
        psi[int(circuit.metadata["answer_bits"], 2)] = 1
        return psi
    if circuit.family == "ghz":
        psi = np.zeros(dim, dtype=complex)
        psi[0] = psi[-1] = _S2
        return psi
    if circuit.family == "qft":
        x = int("".join(map(str, circuit.metadata["input_bits"])), 2)
        k = np.arange(dim)
        return np.exp(2j * np.pi * x * k / dim) / math.sqrt(dim)
    return None


def analytic_distribution(circuit: Circuit) -> dict[str, float] | None:
    """Sparse ideal distribution where it is known in closed form without a state vector."""
    n = circuit.n_qubits
    if circuit.family == "ghz":
        return {"0" * n: 0.5, "1" * n: 0.5}
    if circuit.family in ANSWER_FAMILIES:
        return {circuit.metadata["answer_bits"]: 1.0}
    return None


def expectation(state: np.ndarray, observable) -> float:
    """<state|H|state> of a qbench.circuits.observable.PauliSum, exactly (state normalised first)."""
    n = int(round(math.log2(len(state))))
    psi = np.asarray(state, dtype=complex).reshape((2,) * n)
    psi = psi / math.sqrt(np.vdot(psi, psi).real)
    total = 0.0
    for coefficient, paulis in observable.terms:
        image = psi
        for qubit, pauli in paulis:
            image = _apply(image, _PAULI[pauli.lower()], [qubit])
        total += coefficient * np.vdot(psi, image).real
    return float(total)


def probabilities(state: np.ndarray) -> np.ndarray:
    p = np.abs(state) ** 2
    return p / p.sum()


def state_fidelity(a: np.ndarray, b: np.ndarray) -> float:
    """|<a|b>|^2 of the normalised states (insensitive to global phase and precision drift)."""
    a = np.asarray(a, dtype=complex)
    b = np.asarray(b, dtype=complex)
    return float(abs(np.vdot(a, b)) ** 2 / (np.vdot(a, a).real * np.vdot(b, b).real))


# An ideal distribution is dense probabilities (index = bitstring as an integer) or a sparse dict.
def _ideal_p(ideal, bits: str) -> float:
    if isinstance(ideal, dict):
        return ideal.get(bits, 0.0)
    return float(ideal[int(bits, 2)])


def _ideal_values(ideal) -> np.ndarray:
    return np.fromiter(ideal.values(), dtype=float) if isinstance(ideal, dict) else np.asarray(ideal, dtype=float)


def classical_fidelity(histogram: dict[str, int], ideal) -> float:
    """(sum_x sqrt(p(x) q(x)))^2 between a measured histogram and an ideal distribution."""
    total = sum(histogram.values())
    if total == 0:
        return 0.0
    overlap = sum(math.sqrt(count / total * _ideal_p(ideal, bits)) for bits, count in histogram.items())
    return overlap**2


def total_variation(histogram: dict[str, int], ideal) -> float:
    """1/2 sum_x |q(x) - p(x)|; outcomes never sampled contribute their ideal mass."""
    total = sum(histogram.values())
    seen_mass = 0.0
    distance = 0.0
    for bits, count in histogram.items():
        p = _ideal_p(ideal, bits)
        seen_mass += p
        distance += abs(count / total - p)
    return 0.5 * (distance + max(0.0, 1.0 - seen_mass))


def tvd_bound(ideal, shots: int, failure_probability: float = 1e-6) -> float:
    """A bound the total-variation distance of `shots` exact samples exceeds with prob < failure_probability.

    E[TVD] <= 1/2 sum_x sqrt(p(1-p)/shots) (Jensen on each |count/shots - p|), and TVD moves by at
    most 1/shots per sample, so McDiarmid adds sqrt(ln(1/delta) / (2 shots)).
    """
    p = _ideal_values(ideal)
    mean_bound = 0.5 * float(np.sum(np.sqrt(p * (1 - p) / shots)))
    return mean_bound + math.sqrt(math.log(1 / failure_probability) / (2 * shots))
