"""The canonical circuit itself: its gate set, gates, circuits, and what makes a gate Clifford.

Every generator and importer of qbench.circuits builds these (and imports only this module of
qbench, so that `canonical.build` can dispatch to them without an import cycle).
Bit order everywhere: qubit 0 is the first character of a bitstring and the most significant
bit of a state-vector index.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

# name -> (number of qubits, number of angle parameters, Clifford whatever its angles?)
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
    # u(theta, phi, lambda) = [[cos t/2, -e^{i l} sin t/2], [e^{i p} sin t/2, e^{i(p+l)} cos t/2]], Qiskit's
    # UGate (OpenQASM's U, u3): any one-qubit gate in one instruction, where rz.ry.rz would be three.
    "u": (1, 3, False),
    "cx": (2, 0, True),
    "cz": (2, 0, True),
    "swap": (2, 0, True),
    "cp": (2, 1, False),  # controlled phase diag(1, 1, 1, e^{i theta})
}


class CircuitInputError(ValueError):
    """A circuit source qbench cannot take (a bad QASM file, an unknown benchmark): bad input.
    The message is one line, shown as is."""


class CircuitUnavailable(RuntimeError):
    """The generator cannot make this circuit at this size (e.g. MQT Bench's own refusal): the point is
    `skipped` with this message as its reason."""


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
    def label(self) -> str:
        """The family, or for imported circuits where they came from (qasm:FILE, mqt:BENCHMARK(LEVEL))."""
        if self.family == "qasm" and self.metadata.get("file_name"):
            return f"qasm:{self.metadata['file_name']}"
        if self.family == "mqt" and self.metadata.get("benchmark"):
            return f"mqt:{self.metadata['benchmark']}({self.metadata.get('level')})"
        return self.family

    @property
    def is_clifford(self) -> bool:
        return all(clifford_gates(g) is not None for g in self.gates)

    def non_clifford_gates(self) -> list[str]:
        """The names of the gates that are not Clifford at their angles (sorted, once each)."""
        return sorted({g.name for g in self.gates if clifford_gates(g) is None})

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
            name = {"cp": "cu1", "u": "u3"}.get(g.name, g.name)
            args = f"({','.join(repr(p) for p in g.params)})" if g.params else ""
            lines.append(f"{name}{args} {','.join(f'q[{q}]' for q in g.qubits)};")
        lines.append("measure q -> c;")
        return "\n".join(lines) + "\n"


# ---- Clifford angles --------------------------------------------------------------------------------
# A rotation by a multiple of pi/2 (a controlled phase by a multiple of pi) is a Clifford gate up to a
# global phase: rz(pi/2) is S, rx(pi) is X. stim runs such circuits; these are their Clifford forms,
# as canonical gates in time order (verified against the matrices in tests/circuits).
_QUARTER_TURNS = {
    "rz": ((), ("s",), ("z",), ("sdg",)),
    "rx": ((), ("h", "s", "h"), ("x",), ("h", "sdg", "h")),
    "ry": ((), ("z", "h"), ("y",), ("h", "z")),
}
ANGLE_TOLERANCE = 1e-9  # radians: QASM's pi/2 written as 1.5707963267948966 is a quarter turn


def _turns(angle: float, unit: float) -> int | None:
    """angle / unit when that is an integer (to ANGLE_TOLERANCE), else None."""
    k = round(angle / unit)
    return k if abs(angle - k * unit) <= ANGLE_TOLERANCE else None


def clifford_gates(gate: Gate) -> tuple[Gate, ...] | None:
    """The gate as fixed Clifford gates of GATES (equal up to a global phase), or None if it is not Clifford."""
    name = gate.name
    if GATES[name][2]:
        return (gate,)
    if name in _QUARTER_TURNS:
        k = _turns(gate.params[0], math.pi / 2)
        return None if k is None else tuple(Gate(n, gate.qubits) for n in _QUARTER_TURNS[name][k % 4])
    if name == "cp":
        k = _turns(gate.params[0], math.pi)
        return None if k is None else ((Gate("cz", gate.qubits),) if k % 2 else ())
    if name == "u":  # u(theta, phi, lambda) = rz(phi) ry(theta) rz(lambda) up to a global phase
        theta, phi, lam = gate.params
        parts = [clifford_gates(Gate(n, gate.qubits, (a,))) for n, a in (("rz", lam), ("ry", theta), ("rz", phi))]
        return None if any(p is None for p in parts) else tuple(g for p in parts for g in p)
    return None  # t, tdg: never Clifford
