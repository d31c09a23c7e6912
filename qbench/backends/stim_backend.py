"""stim: Craig Gidney's stabilizer simulator (Clifford circuits only).

With noise, stim's Pauli channels go into the circuit and its compiled sampler draws every shot's
Pauli errors independently (Pauli-frame sampling: one exact trajectory per shot). Amplitude
damping is not a Pauli channel, so stim cannot express it.

A rotation at a Clifford angle (rz(pi/2), rx(pi), u(pi/2, 0, pi), cp(pi), ...) is translated to its
Clifford gates (qbench.circuits.model.clifford_gates), so Clifford QASM files run here too.
compute=statevector is the tableau simulator's own state_vector() (2^n amplitudes in host memory);
compute=expectation is its peek_observable_expectation of each Pauli term (exact: -1, 0 or +1 each).
"""
from __future__ import annotations

import numpy as np

from qbench.backends.base import COMPUTE_MODES, Backend, RunSpec, histogram_from_samples
from qbench.circuits.canonical import Circuit, Gate, clifford_gates
from qbench.circuits.noise import NOISELESS, Noise, placed

STIM_NAMES = {"h": "H", "x": "X", "y": "Y", "z": "Z", "s": "S", "sdg": "S_DAG",
              "cx": "CX", "cz": "CZ", "swap": "SWAP"}
# DEPOLARIZE1(p) is X, Y, Z each with probability p/3, as qbench.noise defines it.
STIM_CHANNELS = {"depolarizing": "DEPOLARIZE1", "bit_flip": "X_ERROR", "phase_flip": "Z_ERROR"}


def to_stim(circuit: Circuit, measure: bool, noise: Noise = NOISELESS):
    import stim

    lines = []
    for g in placed(circuit, noise):
        if isinstance(g, Gate):
            lines += [f"{STIM_NAMES[c.name]} {' '.join(map(str, c.qubits))}" for c in clifford_gates(g)]
        else:
            lines.append(f"{STIM_CHANNELS[g.name]}({g.strength!r}) {g.qubit}")
    if measure:
        # M(p) is stim's noisy measurement: each result is flipped with probability p.
        flip = f"({noise.readout!r})" if noise.name == "readout" else ""
        lines.append(f"M{flip} " + " ".join(map(str, range(circuit.n_qubits))))
    return stim.Circuit("\n".join(lines))


class StimBackend(Backend):
    modules = ("stim",)
    forkable = True  # load() only imports
    packages = ("stim",)
    precisions = ("single", "double")  # exact stabilizer arithmetic: precision does not apply
    representation = "stabilizer"
    extra_options = ()
    noise_models = ("none", *STIM_CHANNELS, "readout")
    noise_methods = ("trajectories",)
    compute_modes = COMPUTE_MODES

    def describe(self):
        return {**super().describe(), "precision": "exact (stabilizer tableau)"}

    def supports(self, circuit: Circuit, spec: RunSpec):
        if not circuit.is_clifford:
            return (f"stim simulates Clifford circuits only; circuit '{circuit.label}' has "
                    f"non-Clifford gates ({', '.join(circuit.non_clifford_gates())})")
        if spec.compute == "statevector":  # the exported state is a dense vector: the guard counts 2^n amplitudes
            self.representation = "statevector"
        return super().supports(circuit, spec)

    def prepare(self, circuit: Circuit, spec: RunSpec):
        import stim

        prepared = {"measured": to_stim(circuit, measure=True, noise=Noise.of(spec)), "circuit": circuit,
                    "shots": spec.shots, "seed": spec.seed, "compute": spec.compute,
                    "simulator": stim.TableauSimulator}
        if spec.compute != "sampling":
            prepared["body"] = to_stim(circuit, measure=False)
        if spec.compute == "expectation":
            terms = []
            for c, factors in spec.pauli_sum.terms:
                pauli = stim.PauliString(circuit.n_qubits)
                for q, p in factors:
                    pauli[q] = p
                terms.append((c, pauli))
            prepared["terms"] = terms
        return prepared

    def run(self, prepared):
        if prepared["compute"] == "sampling":
            # compile_sampler does the tableau simulation; sample draws the shots. Users time both.
            sampler = prepared["measured"].compile_sampler(seed=prepared["seed"])
            return sampler.sample(prepared["shots"])
        simulator = prepared["simulator"]()
        simulator.set_num_qubits(prepared["circuit"].n_qubits)
        simulator.do_circuit(prepared["body"])
        if prepared["compute"] == "statevector":
            return simulator.state_vector(endian="big")
        return sum(c * simulator.peek_observable_expectation(pauli) for c, pauli in prepared["terms"])

    def histogram(self, prepared, raw):
        if prepared["compute"] != "sampling":
            return {}
        return histogram_from_samples(raw)

    def answer(self, prepared, raw):
        return np.asarray(raw) if prepared["compute"] == "statevector" else float(raw)

    @staticmethod
    def _tableau(prepared):
        simulator = prepared["simulator"]()
        simulator.set_num_qubits(prepared["circuit"].n_qubits)  # include qubits no gate touches
        simulator.do_circuit(to_stim(prepared["circuit"], measure=False))
        return simulator

    def final_state(self, prepared):
        return np.asarray(self._tableau(prepared).state_vector(endian="big"))

    def state_fidelity(self, prepared, ideal_state):
        """<ideal|P|ideal> for P = prod_g (1 + g)/2 over the final state's n stabilizer generators g:
        P is the projector onto that state, so this is |<ideal|state>|^2 exactly, in n passes over the
        ideal vector instead of stim's state-vector export (several times cheaper: docs/PERFORMANCE.md)."""
        n = prepared["circuit"].n_qubits
        vector = np.asarray(ideal_state, dtype=np.complex128)
        vector = vector / np.linalg.norm(vector)
        index = np.arange(2**n, dtype=np.int64)
        weights = 1 << np.arange(n - 1, -1, -1, dtype=np.int64)  # big-endian: qubit q is bit n-1-q
        for generator in self._tableau(prepared).canonical_stabilizers():
            xs, zs = generator.to_numpy()
            x_mask, z_mask = int(weights[xs].sum()), int(weights[zs].sum())
            # g = sign i^(#Y) X^x Z^z, with Y = iXZ per qubit; (X^x Z^z v)[j] = (-1)^|(j^x)&z| v[j^x]
            phase = complex(generator.sign) * 1j ** int(np.count_nonzero(xs & zs))
            flipped = index ^ x_mask
            signs = 1 - 2 * (np.bitwise_count(flipped & z_mask) & 1).astype(np.int8)
            vector = (vector + phase * signs * vector[flipped]) / 2
        return float(np.vdot(vector, vector).real)
