"""pennylane: a QNode on a PennyLane device (lightning.qubit by default, its fast C++ device).

With noise, the QNode runs on default.mixed, PennyLane's only device that simulates channels
(lightning.qubit and default.qubit reject them): an exact density matrix, in double precision only.

`backend.device=GPU` runs the QNode on lightning.gpu (pennylane-lightning-gpu, cuStateVec), the GPU
twin of lightning.qubit; default.mixed has no GPU twin, so noisy points are CPU only.
"""
from __future__ import annotations

import numpy as np

from qbench import environment
from qbench.backends.base import COMPUTE_MODES, Backend, RunSpec
from qbench.circuits.canonical import Circuit, Gate
from qbench.circuits.noise import NOISELESS, Noise, placed

DTYPES = {"single": np.complex64, "double": np.complex128}
NOISE_DEVICE = "default.mixed"
CPU_DEVICE, GPU_DEVICE = "lightning.qubit", "lightning.gpu"


def apply_pennylane(circuit: Circuit, noise: Noise = NOISELESS) -> None:
    """Queue the canonical gates, with the channels of `noise`, inside a QNode; wire q = qubit q."""
    import pennylane as qml

    fixed = {"h": qml.Hadamard, "x": qml.PauliX, "y": qml.PauliY, "z": qml.PauliZ, "s": qml.S,
             "t": qml.T, "cx": qml.CNOT, "cz": qml.CZ, "swap": qml.SWAP}
    params = {"rx": qml.RX, "ry": qml.RY, "rz": qml.RZ, "cp": qml.ControlledPhaseShift,
              "u": qml.U3}  # U3(theta, phi, delta): the matrix of Qiskit's U(theta, phi, lambda)
    # qml.DepolarizingChannel(p) is X, Y, Z each with probability p/3, as qbench.noise defines it.
    channels = {"depolarizing": qml.DepolarizingChannel, "bit_flip": qml.BitFlip, "phase_flip": qml.PhaseFlip,
                "amplitude_damping": qml.AmplitudeDamping}
    for g in placed(circuit, noise):
        if not isinstance(g, Gate):
            channels[g.name](g.strength, wires=g.qubit)
        elif g.name in fixed:
            fixed[g.name](wires=list(g.qubits))
        elif g.name in params:
            params[g.name](*g.params, wires=list(g.qubits))
        elif g.name == "sdg":
            qml.adjoint(qml.S(wires=list(g.qubits)))
        elif g.name == "tdg":
            qml.adjoint(qml.T(wires=list(g.qubits)))
        else:
            raise ValueError(f"pennylane adapter has no gate {g.name!r}")


def pennylane_observable(spec: RunSpec):
    """compute=expectation: the Pauli sum as a qml.Hamiltonian (wire q = canonical qubit q)."""
    import functools
    import operator

    import pennylane as qml

    paulis = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}
    coefficients, observables = [], []
    for c, factors in spec.pauli_sum.terms:
        ops = [paulis[p](wires=q) for q, p in factors] or [qml.Identity(wires=0)]
        coefficients.append(c)
        observables.append(functools.reduce(operator.matmul, ops))
    return qml.Hamiltonian(coefficients, observables)


class PennylaneBackend(Backend):
    modules = ("pennylane",)
    compute_modes = COMPUTE_MODES
    forkable = True  # load() only imports
    shared_modules = ("cirq",)  # pennylane.io.qualtran_io imports cirq where installed
    noise_methods = ("density_matrix",)
    extra_options = ("device_name",)

    @property
    def packages(self) -> tuple[str, ...]:
        cpu = ("pennylane", "pennylane-lightning")
        return (*cpu, "pennylane-lightning-gpu") if self.device == "GPU" else cpu

    @property
    def device_name(self) -> str:
        return GPU_DEVICE if self.device == "GPU" else self.options.get("device_name", CPU_DEVICE)

    def load(self) -> None:
        super().load()
        # qml.device imports a plugin device's module (lightning's: ~0.25 s) at its first use: here,
        # once per process, as a user's script pays it once, not in every point's fresh worker
        from importlib.metadata import entry_points

        for entry in entry_points(group="pennylane.plugins", name=self.device_name):
            entry.load()

    def available(self) -> str | None:
        if self.device != "GPU":
            return super().available()
        if not environment.gpu_available():
            return environment.NO_CUDA_DEVICE
        if environment.package_version("pennylane-lightning-gpu") is None:
            return "pennylane-lightning-gpu is not installed (pip install 'qbench[gpu]')"
        return None

    def describe(self):
        described = super().describe()
        if self.device == "GPU":  # the record names the device that ran, not the configured CPU one
            described["device_name"] = self.device_name
        return described

    def _device(self, n_qubits: int, seed: int):
        import pennylane as qml

        kwargs = {"wires": n_qubits, "seed": seed}
        if self.device_name.startswith("lightning"):
            kwargs["c_dtype"] = DTYPES[self.precision]
        return qml.device(self.device_name, **kwargs)

    def supports(self, circuit, spec):
        if self.device == "GPU":
            configured = self.options.get("device_name", CPU_DEVICE)
            if configured not in (CPU_DEVICE, GPU_DEVICE):
                return f"{configured} has no GPU version: backend.device=GPU runs {GPU_DEVICE} (twin of {CPU_DEVICE})"
            if Noise.of(spec).noisy:
                return f"noise runs on {NOISE_DEVICE}, a CPU-only device: use backend.device=CPU for noisy points"
        if Noise.of(spec).noisy:
            # default.mixed is complex128 only: the memory guard, sized from this instance, counts 16 B.
            self.precision = "double"
        elif self.precision == "single" and not self.device_name.startswith("lightning"):
            return f"{self.device_name} simulates in double precision only (set backend.precision=double)"
        return super().supports(circuit, spec)

    def noise_details(self, circuit, spec):
        details = super().noise_details(circuit, spec)
        return {**details, "device_name": NOISE_DEVICE, "precision": "double"} if details else details

    def prepare(self, circuit: Circuit, spec: RunSpec):
        import pennylane as qml

        noise = Noise.of(spec)
        wires = list(range(circuit.n_qubits))
        if spec.compute != "sampling":  # analytic: a device without shots, the state or <H> as the QNode's value
            observable = pennylane_observable(spec) if spec.compute == "expectation" else None

            @qml.qnode(self._device(circuit.n_qubits, spec.seed))
            def analytic():
                apply_pennylane(circuit)
                return qml.state() if observable is None else qml.expval(observable)

            return {"qnode": analytic, "circuit": circuit, "spec": spec, "compute": spec.compute}
        if noise.noisy:
            device = qml.device(NOISE_DEVICE, wires=circuit.n_qubits, seed=spec.seed)
        else:
            device = self._device(circuit.n_qubits, spec.seed)

        @qml.set_shots(spec.shots)
        @qml.qnode(device)
        def sample():
            apply_pennylane(circuit, noise)
            if noise.name == "readout":
                # default.mixed's own readout_prob crashes when executed in PennyLane 0.45 (issue #9612);
                # what it means is this BitFlip on every measured wire just before the measurement.
                for wire in wires:
                    qml.BitFlip(noise.readout, wires=wire)
            return qml.counts(wires=wires)

        return {"qnode": sample, "circuit": circuit, "spec": spec, "compute": spec.compute}

    def run(self, prepared):
        return prepared["qnode"]()

    def histogram(self, prepared, raw):
        if prepared["compute"] != "sampling":
            return {}
        return {str(bits): int(c) for bits, c in raw.items()}

    def answer(self, prepared, raw):
        return np.asarray(raw) if prepared["compute"] == "statevector" else float(np.real(raw))

    def final_state(self, prepared):
        import pennylane as qml

        circuit = prepared["circuit"]

        @qml.qnode(self._device(circuit.n_qubits, prepared["spec"].seed))
        def state():
            apply_pennylane(circuit)
            return qml.state()

        return np.asarray(state())
