"""stim: Craig Gidney's stabilizer simulator (Clifford circuits only).

With noise, stim's Pauli channels go into the circuit and its compiled sampler draws every shot's
Pauli errors independently (Pauli-frame sampling: one exact trajectory per shot). Amplitude
damping is not a Pauli channel, so stim cannot express it.
"""
from __future__ import annotations

import numpy as np

from qbench.backends.base import Backend, RunSpec, histogram_from_samples
from qbench.circuits import GATES, Circuit, Gate
from qbench.noise import NOISELESS, Noise, placed

STIM_NAMES = {"h": "H", "x": "X", "y": "Y", "z": "Z", "s": "S", "sdg": "S_DAG",
              "cx": "CX", "cz": "CZ", "swap": "SWAP"}
# DEPOLARIZE1(p) is X, Y, Z each with probability p/3, as qbench.noise defines it.
STIM_CHANNELS = {"depolarizing": "DEPOLARIZE1", "bit_flip": "X_ERROR", "phase_flip": "Z_ERROR"}


def to_stim(circuit: Circuit, measure: bool, noise: Noise = NOISELESS):
    import stim

    lines = [f"{STIM_NAMES[g.name]} {' '.join(map(str, g.qubits))}" if isinstance(g, Gate)
             else f"{STIM_CHANNELS[g.name]}({g.strength!r}) {g.qubit}" for g in placed(circuit, noise)]
    if measure:
        # M(p) is stim's noisy measurement: each result is flipped with probability p.
        flip = f"({noise.readout!r})" if noise.name == "readout" else ""
        lines.append(f"M{flip} " + " ".join(map(str, range(circuit.n_qubits))))
    return stim.Circuit("\n".join(lines))


class StimBackend(Backend):
    modules = ("stim",)
    packages = ("stim",)
    precisions = ("single", "double")  # exact stabilizer arithmetic: precision does not apply
    representation = "stabilizer"
    noise_models = ("none", *STIM_CHANNELS, "readout")
    noise_methods = ("trajectories",)

    def describe(self):
        return {**super().describe(), "precision": "exact (stabilizer tableau)"}

    def supports(self, circuit: Circuit, spec: RunSpec):
        if not circuit.is_clifford:
            non_clifford = sorted({g.name for g in circuit.gates if not GATES[g.name][2]})
            return (f"stim simulates Clifford circuits only; circuit '{circuit.family}' has "
                    f"non-Clifford gates ({', '.join(non_clifford)})")
        return super().supports(circuit, spec)

    def prepare(self, circuit: Circuit, spec: RunSpec):
        return {"measured": to_stim(circuit, measure=True, noise=Noise.of(spec)), "circuit": circuit,
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
