"""qiskit-aer: IBM's C++ simulator (AerSimulator), driven as a Qiskit user would."""
from __future__ import annotations

from qbench.backends.base import Backend, RunSpec, little_endian_to_canonical
from qbench.circuits import Circuit


def to_qiskit(circuit: Circuit, measure: bool):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(circuit.n_qubits, circuit.n_qubits if measure else 0)
    for g in circuit.gates:
        getattr(qc, g.name)(*g.params, *g.qubits)
    if measure:
        qc.measure(range(circuit.n_qubits), range(circuit.n_qubits))
    return qc


class QiskitAerBackend(Backend):
    modules = ("qiskit_aer", "qiskit")
    packages = ("qiskit-aer", "qiskit")

    def _simulator(self, spec: RunSpec):
        from qiskit_aer import AerSimulator

        return AerSimulator(method=self.method, device=self.device, precision=self.precision,
                            max_parallel_threads=self.threads or spec.threads,
                            seed_simulator=spec.seed, **self.options)

    def prepare(self, circuit: Circuit, spec: RunSpec):
        from qiskit import transpile

        simulator = self._simulator(spec)
        compiled = transpile(to_qiskit(circuit, measure=True), simulator, optimization_level=0)
        return {"simulator": simulator, "compiled": compiled, "circuit": circuit, "spec": spec,
                "shots": spec.shots}

    def run(self, prepared):
        return prepared["simulator"].run(prepared["compiled"], shots=prepared["shots"]).result()

    def histogram(self, prepared, raw):
        # Qiskit prints clbit 0 rightmost; the canonical order puts qubit 0 first.
        return {bits[::-1]: int(c) for bits, c in raw.get_counts().items()}

    def final_state(self, prepared):
        circuit = prepared["circuit"]
        qc = to_qiskit(circuit, measure=False)
        qc.save_statevector()
        simulator = self._simulator(prepared["spec"])
        from qiskit import transpile

        state = simulator.run(transpile(qc, simulator, optimization_level=0)).result().get_statevector()
        return little_endian_to_canonical(state.data, circuit.n_qubits)
