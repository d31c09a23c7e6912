"""cirq: Google's Python simulator (cirq.Simulator, NumPy kernels, one thread)."""
from __future__ import annotations

import math

import numpy as np

from qbench.backends.base import Backend, RunSpec, histogram_from_samples
from qbench.circuits import Circuit

DTYPES = {"single": np.complex64, "double": np.complex128}


def to_cirq(circuit: Circuit):
    """The canonical circuit as a cirq.Circuit on LineQubit(0..n-1), without measurements."""
    import cirq

    qubits = cirq.LineQubit.range(circuit.n_qubits)
    fixed = {"h": cirq.H, "x": cirq.X, "y": cirq.Y, "z": cirq.Z, "s": cirq.S, "sdg": cirq.S**-1,
             "t": cirq.T, "tdg": cirq.T**-1, "cx": cirq.CNOT, "cz": cirq.CZ, "swap": cirq.SWAP}
    rotations = {"rx": cirq.rx, "ry": cirq.ry, "rz": cirq.rz,
                 "cp": lambda theta: cirq.CZPowGate(exponent=theta / math.pi)}
    ops = []
    for g in circuit.gates:
        gate = fixed[g.name] if g.name in fixed else rotations[g.name](*g.params)
        ops.append(gate.on(*(qubits[q] for q in g.qubits)))
    return cirq.Circuit(ops), qubits


class CirqBackend(Backend):
    modules = ("cirq",)
    packages = ("cirq-core",)

    def prepare(self, circuit: Circuit, spec: RunSpec):
        import cirq

        body, qubits = to_cirq(circuit)
        simulator = cirq.Simulator(dtype=DTYPES[self.precision], seed=spec.seed)
        return {"body": body, "measured": body + cirq.measure(*qubits, key="m"),
                "simulator": simulator, "shots": spec.shots, "qubits": qubits}

    def run(self, prepared):
        # Terminal measurements only: cirq simulates once and samples `shots` times.
        return prepared["simulator"].run(prepared["measured"], repetitions=prepared["shots"])

    def histogram(self, prepared, raw):
        return histogram_from_samples(raw.measurements["m"])

    def final_state(self, prepared):
        # qubit_order keeps idle qubits in the state (cirq drops qubits no gate touches).
        return prepared["simulator"].simulate(prepared["body"], qubit_order=prepared["qubits"]).final_state_vector
