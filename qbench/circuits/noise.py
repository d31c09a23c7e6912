"""Noise models: what each one means and where its channels go, the same for every backend.

The definition (the exact reference in `qbench.reference` applies the same one):

* gate noise (`depolarizing`, `bit_flip`, `phase_flip`, `amplitude_damping`): after every gate
  of the canonical circuit, the model's one-qubit channel of strength p on EACH qubit the gate
  acts on. depolarizing: X, Y, Z each with probability p/3; bit_flip: X with probability p;
  phase_flip: Z with probability p; amplitude_damping: damping |1> -> |0> with gamma = p.
* `readout`: no gate noise; each measured bit is flipped with probability p.

Why after gates, on the gate's qubits: the canonical gate list is the one thing every library
shares (`circuit_fingerprint`), while moments, layers and idle slots are each library's own
scheduling, so noise tied to them would differ between backends. A one-qubit channel on each
operand of a two-qubit gate is also expressible everywhere (stim DEPOLARIZE1 on both targets,
an Aer error tensored with itself), which a two-qubit depolarizing channel would not be.
Channels are inserted at strength 0 too, so a strength sweep times one mechanism throughout.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from qbench.circuits.canonical import Circuit, Gate

GATE_CHANNELS = ("depolarizing", "bit_flip", "phase_flip", "amplitude_damping")
MODELS = ("none", *GATE_CHANNELS, "readout")
METHODS = ("auto", "density_matrix", "trajectories")
# `auto` never picks an exact density matrix above this (4^12 x 16 B = 256 MiB).
DENSITY_MATRIX_MAX_QUBITS = 12


@dataclass(frozen=True)
class Channel:
    """A one-qubit channel of the model, inserted after a gate."""

    name: str
    strength: float
    qubit: int


@dataclass(frozen=True)
class Noise:
    name: str = "none"
    strength: float = 0.0
    method: str = "auto"

    @classmethod
    def of(cls, spec) -> Noise:
        """The noise of a RunSpec (its `noise` dict is the composed `noise` config group)."""
        return cls(spec.noise["name"], float(spec.noise["strength"]), spec.noise.get("method", "auto"))

    @property
    def noisy(self) -> bool:
        return self.name != "none"

    @property
    def readout(self) -> float:
        """Probability that a measured bit is flipped."""
        return self.strength if self.name == "readout" else 0.0

    def choose_method(self, n_qubits: int, available: tuple[str, ...], density_matrix_cheaper: bool) -> str | None:
        """`density_matrix` or `trajectories`, among what a backend has `available`; None if neither fits.

        `auto`: the exact density matrix where the backend judges it `density_matrix_cheaper` than one
        trajectory per shot, never above DENSITY_MATRIX_MAX_QUBITS; trajectories otherwise.
        """
        if self.method != "auto":
            return self.method if self.method in available else None
        exact = density_matrix_cheaper and n_qubits <= DENSITY_MATRIX_MAX_QUBITS
        if "density_matrix" in available and (exact or "trajectories" not in available):
            return "density_matrix"
        return "trajectories" if "trajectories" in available else None


NOISELESS = Noise()


def placed(circuit: Circuit, noise: Noise) -> Iterator[Gate | Channel]:
    """The circuit's gates in order, each followed by the channels the noise model puts after it."""
    for gate in circuit.gates:
        yield gate
        if noise.name in GATE_CHANNELS:
            for qubit in gate.qubits:
                yield Channel(noise.name, noise.strength, qubit)
