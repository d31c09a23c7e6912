"""Canonical, backend-neutral circuits.

A circuit is built once per (family, n_qubits, depth, seed) and then translated
by each backend adapter; no library ever generates its own "random" circuit.
Bit order everywhere: qubit 0 is the first character of a bitstring and the most
significant bit of a state-vector index.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np

# name -> (number of qubits, number of angle parameters, Clifford?)
GATES: dict[str, tuple[int, int, bool]] = {
    "h": (1, 0, True),
    "x": (1, 0, True),
    "y": (1, 0, True),
    "z": (1, 0, True),
    "s": (1, 0, True),
    "sdg": (1, 0, True),
    "t": (1, 0, False),
    "tdg": (1, 0, False),
    "rx": (1, 1, False),
    "ry": (1, 1, False),
    "rz": (1, 1, False),
    "cx": (2, 0, True),
    "cz": (2, 0, True),
    "swap": (2, 0, True),
    "cp": (2, 1, False),  # controlled phase diag(1, 1, 1, e^{i theta})
}

FAMILIES = ("ghz", "qft", "random", "random_clifford")
DEPTH_FAMILIES = ("random", "random_clifford")  # the families a `depth` shapes; for the others it means nothing


@dataclass(frozen=True)
class Gate:
    name: str
    qubits: tuple[int, ...]
    params: tuple[float, ...] = ()


@dataclass(frozen=True)
class Circuit:
    family: str
    n_qubits: int
    gates: tuple[Gate, ...]
    depth_param: int | None = None
    seed: int | None = None
    metadata: dict = field(default_factory=dict, compare=False)

    @property
    def gate_count(self) -> int:
        return len(self.gates)

    @property
    def two_qubit_gate_count(self) -> int:
        return sum(1 for g in self.gates if len(g.qubits) == 2)

    @property
    def depth(self) -> int:
        """Number of layers when every gate is placed as early as its qubits allow."""
        level = [0] * self.n_qubits
        for g in self.gates:
            layer = max(level[q] for q in g.qubits) + 1
            for q in g.qubits:
                level[q] = layer
        return max(level, default=0)

    @property
    def is_clifford(self) -> bool:
        return all(GATES[g.name][2] for g in self.gates)

    def fingerprint(self) -> str:
        """Stable hash of the gate list: equal fingerprints mean the same circuit."""
        payload = json.dumps(
            [self.n_qubits, [(g.name, g.qubits, [round(p, 15) for p in g.params]) for g in self.gates]]
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def stats(self) -> dict:
        return {
            "gate_count": self.gate_count,
            "two_qubit_gate_count": self.two_qubit_gate_count,
            "circuit_depth": self.depth,
        }

    def to_qasm(self) -> str:
        """OpenQASM 2.0 with measurement of every qubit into c[i]."""
        lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{self.n_qubits}];", f"creg c[{self.n_qubits}];"]
        for g in self.gates:
            name = "cu1" if g.name == "cp" else g.name
            args = f"({','.join(repr(p) for p in g.params)})" if g.params else ""
            lines.append(f"{name}{args} {','.join(f'q[{q}]' for q in g.qubits)};")
        lines.append("measure q -> c;")
        return "\n".join(lines) + "\n"


def ghz(n_qubits: int) -> Circuit:
    gates = [Gate("h", (0,))] + [Gate("cx", (q, q + 1)) for q in range(n_qubits - 1)]
    return Circuit("ghz", n_qubits, tuple(gates))


def qft(n_qubits: int, seed: int) -> Circuit:
    """QFT applied to a seeded computational basis state |x> (X gates first).

    The exact output is analytic at any size: amplitude e^{2 pi i x k / 2^n} / sqrt(2^n)
    in the textbook convention, so the ideal distribution is uniform.
    """
    rng = np.random.default_rng(seed)
    bits = [int(b) for b in rng.integers(0, 2, n_qubits)]
    gates = [Gate("x", (q,)) for q, b in enumerate(bits) if b]
    for j in range(n_qubits):
        gates.append(Gate("h", (j,)))
        for k in range(j + 1, n_qubits):
            gates.append(Gate("cp", (k, j), (math.pi / 2 ** (k - j),)))
    for q in range(n_qubits // 2):
        gates.append(Gate("swap", (q, n_qubits - 1 - q)))
    return Circuit("qft", n_qubits, tuple(gates), seed=seed, metadata={"input_bits": bits})


def _brickwork_pairs(n_qubits: int, layer: int) -> list[tuple[int, int]]:
    start = layer % 2
    return [(q, q + 1) for q in range(start, n_qubits - 1, 2)]


def random_circuit(n_qubits: int, depth: int, seed: int) -> Circuit:
    """`depth` layers of random rx/ry/rz rotations on every qubit then a brickwork of CZs."""
    rng = np.random.default_rng(seed)
    gates: list[Gate] = []
    for layer in range(depth):
        for q in range(n_qubits):
            name = ("rx", "ry", "rz")[int(rng.integers(3))]
            gates.append(Gate(name, (q,), (float(rng.uniform(0, 2 * math.pi)),)))
        gates.extend(Gate("cz", pair) for pair in _brickwork_pairs(n_qubits, layer))
    return Circuit("random", n_qubits, tuple(gates), depth_param=depth, seed=seed)


def random_clifford(n_qubits: int, depth: int, seed: int) -> Circuit:
    """`depth` layers of random one-qubit Cliffords then a brickwork of randomly oriented CXs."""
    rng = np.random.default_rng(seed)
    singles = ("h", "s", "sdg", "x", "y", "z")
    gates: list[Gate] = []
    for layer in range(depth):
        for q in range(n_qubits):
            gates.append(Gate(singles[int(rng.integers(len(singles)))], (q,)))
        for a, b in _brickwork_pairs(n_qubits, layer):
            gates.append(Gate("cx", (a, b) if rng.integers(2) else (b, a)))
    return Circuit("random_clifford", n_qubits, tuple(gates), depth_param=depth, seed=seed)


def build(family: str, n_qubits: int, depth: int | None = None, seed: int = 0) -> Circuit:
    """The one place a canonical circuit is made from its config."""
    if family == "ghz":
        return ghz(n_qubits)
    if family == "qft":
        return qft(n_qubits, seed)
    if family == "random":
        return random_circuit(n_qubits, depth, seed)
    if family == "random_clifford":
        return random_clifford(n_qubits, depth, seed)
    raise ValueError(f"unknown circuit family {family!r}; allowed: {', '.join(FAMILIES)}")
