"""qsim: Google's C++ state-vector simulator through qsimcirq (single precision only).

With noise, the cirq channels go into the circuit and QSimSimulator runs them as quantum
trajectories, one per repetition (qsim has no density-matrix simulator).
"""
from __future__ import annotations

from qbench.backends.base import Backend, RunSpec, histogram_from_samples
from qbench.backends.cirq_backend import to_cirq
from qbench.circuits import Circuit
from qbench.noise import Noise


class QsimBackend(Backend):
    modules = ("qsimcirq", "cirq")
    packages = ("qsimcirq", "cirq-core")
    precisions = ("single",)  # qsim's kernels are float32
    noise_methods = ("trajectories",)

    def describe(self):
        return {**super().describe(), "max_fused_gate_size": self.options.get("max_fused_gate_size", 2)}

    def prepare(self, circuit: Circuit, spec: RunSpec):
        import cirq
        import qsimcirq

        noise = Noise.of(spec)
        body, qubits = to_cirq(circuit, noise)
        # qsim rejects cirq's measurement confusion maps; a bit flip on every qubit just before the
        # measurement is the same readout error.
        readout = [cirq.bit_flip(noise.readout).on_each(*qubits)] if noise.name == "readout" else []
        # qsim defaults to 1 CPU thread; its maintainers expect users to set cpu_threads.
        options = qsimcirq.QSimOptions(cpu_threads=self.threads or spec.threads,
                                       max_fused_gate_size=self.options.get("max_fused_gate_size", 2))
        simulator = qsimcirq.QSimSimulator(qsim_options=options, seed=spec.seed)
        return {"body": body, "measured": body + readout + cirq.measure(*qubits, key="m"),
                "simulator": simulator, "shots": spec.shots, "qubits": qubits}

    def run(self, prepared):
        return prepared["simulator"].run(prepared["measured"], repetitions=prepared["shots"])

    def histogram(self, prepared, raw):
        return histogram_from_samples(raw.measurements["m"])

    def final_state(self, prepared):
        # qubit_order keeps idle qubits in the state (cirq drops qubits no gate touches).
        return prepared["simulator"].simulate(prepared["body"], qubit_order=prepared["qubits"]).final_state_vector
