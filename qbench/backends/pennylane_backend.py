"""pennylane: a QNode on a PennyLane device (lightning.qubit by default, its fast C++ device)."""
from __future__ import annotations

import numpy as np

from qbench.backends.base import Backend, RunSpec
from qbench.circuits import Circuit

DTYPES = {"single": np.complex64, "double": np.complex128}


def apply_pennylane(circuit: Circuit) -> None:
    """Queue the canonical gates inside a QNode; wire q = qubit q."""
    import pennylane as qml

    fixed = {"h": qml.Hadamard, "x": qml.PauliX, "y": qml.PauliY, "z": qml.PauliZ, "s": qml.S,
             "t": qml.T, "cx": qml.CNOT, "cz": qml.CZ, "swap": qml.SWAP}
    params = {"rx": qml.RX, "ry": qml.RY, "rz": qml.RZ, "cp": qml.ControlledPhaseShift}
    for g in circuit.gates:
        wires = list(g.qubits)
        if g.name in fixed:
            fixed[g.name](wires=wires)
        elif g.name in params:
            params[g.name](*g.params, wires=wires)
        elif g.name == "sdg":
            qml.adjoint(qml.S(wires=wires))
        elif g.name == "tdg":
            qml.adjoint(qml.T(wires=wires))
        else:
            raise ValueError(f"pennylane adapter has no gate {g.name!r}")


class PennylaneBackend(Backend):
    modules = ("pennylane",)
    packages = ("pennylane", "pennylane-lightning")

    @property
    def device_name(self) -> str:
        return self.options.get("device_name", "lightning.qubit")

    def _device(self, n_qubits: int, seed: int):
        import pennylane as qml

        kwargs = {"wires": n_qubits, "seed": seed}
        if self.device_name.startswith("lightning"):
            kwargs["c_dtype"] = DTYPES[self.precision]
        return qml.device(self.device_name, **kwargs)

    def supports(self, circuit, spec):
        if self.precision == "single" and not self.device_name.startswith("lightning"):
            return f"{self.device_name} simulates in double precision only (set backend.precision=double)"
        return super().supports(circuit, spec)

    def prepare(self, circuit: Circuit, spec: RunSpec):
        import pennylane as qml

        wires = list(range(circuit.n_qubits))

        @qml.set_shots(spec.shots)
        @qml.qnode(self._device(circuit.n_qubits, spec.seed))
        def sample():
            apply_pennylane(circuit)
            return qml.counts(wires=wires)

        return {"qnode": sample, "circuit": circuit, "spec": spec}

    def run(self, prepared):
        return prepared["qnode"]()

    def histogram(self, prepared, raw):
        return {str(bits): int(c) for bits, c in raw.items()}

    def final_state(self, prepared):
        import pennylane as qml

        circuit = prepared["circuit"]

        @qml.qnode(self._device(circuit.n_qubits, prepared["spec"].seed))
        def state():
            apply_pennylane(circuit)
            return qml.state()

        return np.asarray(state())
