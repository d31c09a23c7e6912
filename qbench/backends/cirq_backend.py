"""cirq: Google's Python simulator (cirq.Simulator, NumPy kernels, one thread).

With noise, cirq's channels go into the circuit: cirq.DensityMatrixSimulator evolves the exact
density matrix once and samples it; cirq.Simulator runs one trajectory per repetition.
"""
from __future__ import annotations

import math

import numpy as np

from qbench.backends.base import COMPUTE_MODES, Backend, RunSpec, histogram_from_samples
from qbench.circuits.canonical import Circuit, Gate
from qbench.circuits.noise import NOISELESS, Noise, placed
from qbench.circuits.reference import gate_matrix

DTYPES = {"single": np.complex64, "double": np.complex128}


def to_cirq(circuit: Circuit, noise: Noise = NOISELESS):
    """The canonical circuit, with the channels of `noise`, as a cirq.Circuit on LineQubit(0..n-1).

    No measurements, and no readout noise: that belongs to the measurement (`cirq_measurement`).
    """
    import cirq

    qubits = cirq.LineQubit.range(circuit.n_qubits)
    fixed = {"h": cirq.H, "x": cirq.X, "y": cirq.Y, "z": cirq.Z, "s": cirq.S, "sdg": cirq.S**-1,
             "t": cirq.T, "tdg": cirq.T**-1, "cx": cirq.CNOT, "cz": cirq.CZ, "swap": cirq.SWAP}
    rotations = {"rx": cirq.rx, "ry": cirq.ry, "rz": cirq.rz,
                 "cp": lambda theta: cirq.CZPowGate(exponent=theta / math.pi),
                 # cirq has no U gate: its exact matrix (qsim runs cirq.MatrixGate natively)
                 "u": lambda *angles: cirq.MatrixGate(gate_matrix(Gate("u", (0,), angles)))}
    # cirq.depolarize(p) is X, Y, Z each with probability p/3, as qbench.noise defines it.
    channels = {"depolarizing": cirq.depolarize, "bit_flip": cirq.bit_flip, "phase_flip": cirq.phase_flip,
                "amplitude_damping": cirq.amplitude_damp}
    ops = []
    for item in placed(circuit, noise):
        if isinstance(item, Gate):
            gate = fixed[item.name] if item.name in fixed else rotations[item.name](*item.params)
            ops.append(gate.on(*(qubits[q] for q in item.qubits)))
        else:
            ops.append(channels[item.name](item.strength).on(qubits[item.qubit]))
    return cirq.Circuit(ops), qubits


def cirq_measurement(qubits, noise: Noise):
    """Measure every qubit into key "m"; readout noise is cirq's own confusion map of the measurement."""
    import cirq

    if noise.name != "readout":
        return cirq.measure(*qubits, key="m")
    p = noise.readout
    flip = np.array([[1 - p, p], [p, 1 - p]])
    return cirq.measure(*qubits, key="m", confusion_map={(i,): flip for i in range(len(qubits))})


def cirq_observable(spec: RunSpec, qubits):
    """compute=expectation: the Pauli sum as a cirq.PauliSum on `qubits` (None in other modes)."""
    import cirq

    if spec.compute != "expectation":
        return None
    paulis = {"X": cirq.X, "Y": cirq.Y, "Z": cirq.Z}
    return cirq.PauliSum.from_pauli_strings([
        cirq.PauliString({qubits[q]: paulis[p] for q, p in factors}, coefficient=c)
        for c, factors in spec.pauli_sum.terms])


class CirqInterfaceBackend(Backend):
    """The timed call, histogram and state of a simulator with cirq's interface (cirq, qsimcirq).
    A subclass's prepare() returns {"body", "measured", "simulator", "shots", "qubits", "compute",
    "observable"}."""

    compute_modes = COMPUTE_MODES

    def run(self, prepared):
        compute = prepared.get("compute", "sampling")
        if compute == "statevector":  # the library's own state API
            return prepared["simulator"].simulate(prepared["body"], qubit_order=prepared["qubits"]).final_state_vector
        if compute == "expectation":  # and its own expectation API
            return prepared["simulator"].simulate_expectation_values(
                prepared["body"], observables=[prepared["observable"]], qubit_order=prepared["qubits"])
        # Noiseless (terminal measurements only) or density matrix: simulated once, sampled `shots`
        # times. With noise channels on a state vector each repetition is one trajectory per shot.
        return prepared["simulator"].run(prepared["measured"], repetitions=prepared["shots"])

    def histogram(self, prepared, raw):
        if prepared.get("compute", "sampling") != "sampling":
            return {}
        return histogram_from_samples(raw.measurements["m"])

    def answer(self, prepared, raw):
        if prepared["compute"] == "statevector":
            return np.asarray(raw)
        return float(np.real(raw[0]))

    def final_state(self, prepared):
        # qubit_order keeps idle qubits in the state (cirq drops qubits no gate touches).
        return prepared["simulator"].simulate(prepared["body"], qubit_order=prepared["qubits"]).final_state_vector


class CirqBackend(CirqInterfaceBackend):
    modules = ("cirq",)
    forkable = True  # load() only imports
    shared_modules = ("cirq",)
    extra_options = ()
    packages = ("cirq-core",)
    noise_methods = ("density_matrix", "trajectories")

    def density_matrix_cheaper(self, n_qubits: int, shots: int) -> bool:
        # Each cirq.Simulator repetition pays Python overhead on every operation, about what
        # DensityMatrixSimulator spends on 2^15 density-matrix entries (the crossover measured on GHZ at
        # 1000 shots: README "Density matrix or trajectories").
        return 4**n_qubits < shots * 2**15

    def prepare(self, circuit: Circuit, spec: RunSpec):
        import cirq

        noise = Noise.of(spec)
        body, qubits = to_cirq(circuit, noise)
        if noise.noisy and self.noise_method(circuit.n_qubits, spec) == "density_matrix":
            simulator = cirq.DensityMatrixSimulator(dtype=DTYPES[self.precision], seed=spec.seed)
        else:
            simulator = cirq.Simulator(dtype=DTYPES[self.precision], seed=spec.seed)
        return {"body": body, "measured": body + cirq_measurement(qubits, noise),
                "simulator": simulator, "shots": spec.shots, "qubits": qubits,
                "compute": spec.compute, "observable": cirq_observable(spec, qubits)}
