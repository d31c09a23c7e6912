"""stim: Craig Gidney's stabilizer simulator (Clifford circuits only)."""
from __future__ import annotations

import numpy as np

from qbench.backends.base import Backend, RunSpec, histogram_from_samples
from qbench.circuits import GATES, Circuit

STIM_NAMES = {"h": "H", "x": "X", "y": "Y", "z": "Z", "s": "S", "sdg": "S_DAG",
              "cx": "CX", "cz": "CZ", "swap": "SWAP"}


def to_stim(circuit: Circuit, measure: bool):
    import stim

    lines = [f"{STIM_NAMES[g.name]} {' '.join(map(str, g.qubits))}" for g in circuit.gates]
    if measure:
        lines.append("M " + " ".join(map(str, range(circuit.n_qubits))))
    return stim.Circuit("\n".join(lines))


class StimBackend(Backend):
    modules = ("stim",)
    packages = ("stim",)
    precisions = ("single", "double")  # exact stabilizer arithmetic: precision does not apply
    representation = "stabilizer"

    def describe(self):
        return {**super().describe(), "precision": "exact (stabilizer tableau)"}

    def supports(self, circuit: Circuit, spec: RunSpec):
        if not circuit.is_clifford:
            non_clifford = sorted({g.name for g in circuit.gates if not GATES[g.name][2]})
            return (f"stim simulates Clifford circuits only; circuit '{circuit.family}' has "
                    f"non-Clifford gates ({', '.join(non_clifford)})")
        return super().supports(circuit, spec)

    def prepare(self, circuit: Circuit, spec: RunSpec):
        return {"measured": to_stim(circuit, measure=True), "circuit": circuit,
                "shots": spec.shots, "seed": spec.seed}

    def run(self, prepared):
        # compile_sampler does the tableau simulation; sample draws the shots. Users time both.
        sampler = prepared["measured"].compile_sampler(seed=prepared["seed"])
        return sampler.sample(prepared["shots"])

    def histogram(self, prepared, raw):
        return histogram_from_samples(raw)

    def final_state(self, prepared):
        import stim

        simulator = stim.TableauSimulator()
        simulator.set_num_qubits(prepared["circuit"].n_qubits)  # include qubits no gate touches
        simulator.do_circuit(to_stim(prepared["circuit"], measure=False))
        return np.asarray(simulator.state_vector(endian="big"))
