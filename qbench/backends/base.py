"""The protocol every backend adapter follows.

An adapter is named by `_target_` in `conf/backend/NAME.yaml`, so a user's own
backend is a yaml file plus a subclass of `Backend` on the Python path.

Lifecycle inside a worker process:
    load()                      import the library (once per worker, untimed)
    prepare(circuit, spec)      translate / transpile, with spec.noise placed as `qbench.noise` defines
                                (timed separately: convert_seconds)
    run(prepared)               THE timed call: simulate and sample `shots` (spec.compute=sampling), or
                                the library's own state / expectation-value call (statevector, expectation)
    histogram(prepared, raw)    untimed: the raw result as {bitstring: count}, char q = qubit q ({} unless sampling)
    answer(prepared, raw)       untimed: a non-sampling run's state vector or expectation value
    final_state(prepared)       untimed, optional: the noiseless final state for verification
    state_fidelity(prepared, ideal)  untimed: |<ideal|final state>|^2, from final_state unless the
                                adapter has a cheaper exact way (stim: its stabilizers)
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbench import environment
from qbench.circuits.canonical import Circuit
from qbench.circuits.noise import MODELS, Noise

BYTES_PER_AMPLITUDE = {"single": 8, "double": 16}
# What a timed run computes (top-level `compute`): shots, the final state vector in host memory, or
# <psi|H|psi> of a Pauli sum (`observable`) through the library's own expectation API.
COMPUTE_MODES = ("sampling", "statevector", "expectation")


@dataclass(frozen=True)
class RunSpec:
    """Everything about a point that is not the circuit or the backend's own options."""

    shots: int
    seed: int
    threads: int
    noise: dict = field(default_factory=lambda: {"name": "none", "strength": 0.0})
    compute: str = "sampling"
    observable: str | None = None  # compute=expectation: the Pauli sum's text (qbench.circuits.observable)

    @property
    def pauli_sum(self):
        from qbench.circuits import observable

        return observable.parse(self.observable)


class Backend:
    #: modules that must be importable for the backend to be available
    modules: tuple[str, ...] = ()
    #: distributions whose versions are recorded in every result
    packages: tuple[str, ...] = ()
    #: precisions the library can simulate in
    precisions: tuple[str, ...] = ("single", "double")
    #: what the state costs in memory: statevector, density_matrix or stabilizer
    representation: str = "statevector"
    #: noise models (`qbench.noise.MODELS`) the library can express
    noise_models: tuple[str, ...] = MODELS
    #: how the library simulates noise: density_matrix (exact) and/or trajectories (one per shot)
    noise_methods: tuple[str, ...] = ()
    #: compute modes (COMPUTE_MODES) whose timed call the adapter makes with the library's own API
    compute_modes: tuple[str, ...] = ("sampling",)
    #: canonical gates the adapter translates (None: all of qbench.circuits.model.GATES)
    gates: tuple[str, ...] | None = None
    #: whether a local sweep may fork this adapter's workers from a parent that has run `load()`
    #: (qbench.execution.forkserver; CPU points only, a CUDA context does not survive a fork). Only
    #: where `load()` just imports modules and no import starts a thread the child would need.
    forkable: bool = False
    #: modules that importing `modules` imports anyway (where installed): the fork servers of
    #: adapters sharing one import them once, in a parent they are forked from (a forkable adapter
    #: only; tests/execution/test_forkserver.py checks each declaration against a fresh import)
    shared_modules: tuple[str, ...] = ()
    #: library options a config may add beside the constructor's named ones (backend.KEY); None: any
    #: (a user's adapter that does not say), checked at pre-flight so a misspelt `+backend.x=1` is bad input
    extra_options: tuple[str, ...] | None = None

    def __init__(self, name: str, device: str = "CPU", precision: str = "single",
                 threads: int | None = None, method: str = "statevector", **options: Any):
        self.name = name
        self.device = str(device).upper()
        self.precision = precision
        self.threads = threads
        self.method = method
        self.options = options

    # -- cheap checks, run in the Hydra job before any worker is involved ------------------
    def available(self) -> str | None:
        """None when the backend can run here, else the exact reason it cannot."""
        for module in self.modules:
            if importlib.util.find_spec(module) is None:
                return f"Python module '{module}' is not installed"
        if self.device == "GPU":  # adapters with a GPU path override this
            return f"{self.name} has no GPU support in qbench (allowed: backend.device=CPU)"
        return None

    def supports(self, circuit: Circuit, spec: RunSpec) -> str | None:
        """None when this point can run on this backend, else why it is skipped.

        For a noisy point it also settles `representation`: the runner sizes the memory guard from
        this instance right after, and an exact density matrix costs 4^N, not 2^N.
        """
        if self.precision not in self.precisions:
            return f"{self.name} does not simulate in {self.precision} precision (allowed: {', '.join(self.precisions)})"
        if spec.compute not in self.compute_modes:
            return (f"{self.name} has no compute={spec.compute} in qbench (it computes: "
                    f"{', '.join(self.compute_modes)})")
        if self.gates is not None:
            missing = sorted({g.name for g in circuit.gates} - set(self.gates))
            if missing:
                return f"{self.name} has no translation of gate(s) {', '.join(missing)} in qbench"
        noise = Noise.of(spec)
        if not noise.noisy:
            return None
        if noise.name not in self.noise_models:
            expressible = ", ".join(m for m in self.noise_models if m != "none")
            return f"{self.name} cannot express noise '{noise.name}' (it has: {expressible})"
        method = self.noise_method(circuit.n_qubits, spec)
        if method is None:
            return (f"{self.name} with backend.method={self.method} cannot simulate noise by "
                    f"noise.method={noise.method} (it simulates noise by: {', '.join(self.noise_methods) or 'none'})")
        if method == "density_matrix":
            self.representation = "density_matrix"
        return None

    def noise_method(self, n_qubits: int, spec: RunSpec) -> str | None:
        """density_matrix or trajectories for this noisy point (see `Noise.choose_method`)."""
        cheaper = self.density_matrix_cheaper(n_qubits, spec.shots)
        return Noise.of(spec).choose_method(n_qubits, self.noise_methods, cheaper)

    def density_matrix_cheaper(self, n_qubits: int, shots: int) -> bool:
        """Whether an exact density matrix costs less than `shots` trajectories.

        A density matrix costs about 2^n state vectors per operation, a trajectory one: Aer's own
        `automatic` method uses this rule.
        """
        return 2**n_qubits < shots

    def noise_details(self, circuit: Circuit, spec: RunSpec) -> dict:
        """How a noisy point is simulated, recorded in config.backend_options; {} without noise."""
        if not Noise.of(spec).noisy:
            return {}
        method = self.noise_method(circuit.n_qubits, spec)
        return {"noise_method": method, "trajectories": spec.shots if method == "trajectories" else None}

    def memory_estimate_bytes(self, n_qubits: int) -> int:
        amp = BYTES_PER_AMPLITUDE.get(self.precision, 16)
        if self.representation == "stabilizer":
            return 8 * n_qubits * n_qubits
        if self.representation == "density_matrix" or self.method == "density_matrix":
            return amp * 4**n_qubits
        return amp * 2**n_qubits

    def memory_formula(self, n_qubits: int) -> str:
        amp = BYTES_PER_AMPLITUDE.get(self.precision, 16)
        if self.representation == "stabilizer":
            return f"stabilizer tableau of {n_qubits} qubits"
        if self.representation == "density_matrix" or self.method == "density_matrix":
            return f"density matrix 4^{n_qubits} x {amp} B"
        return f"state vector 2^{n_qubits} x {amp} B"

    def versions(self) -> dict[str, str]:
        return {package: environment.package_version(package) for package in self.packages}

    def describe(self) -> dict:
        """Every option that shapes the simulation, recorded in the result."""
        return {"device": self.device, "precision": self.precision, "method": self.method,
                "threads": self.threads, **self.options}

    # -- the timed protocol, run inside the worker -----------------------------------------
    def load(self) -> None:
        for module in self.modules:
            importlib.import_module(module)

    def prepare(self, circuit: Circuit, spec: RunSpec) -> Any:
        raise NotImplementedError

    def run(self, prepared: Any) -> Any:
        raise NotImplementedError

    def histogram(self, prepared: Any, raw: Any) -> dict[str, int]:
        raise NotImplementedError

    def final_state(self, prepared: Any) -> np.ndarray | None:
        return None

    def answer(self, prepared: Any, raw: Any):
        """Untimed: what a non-sampling timed run computed, from its raw result: compute=statevector the
        state vector in the canonical order (qubit 0 most significant), compute=expectation <H> (a float)."""
        raise NotImplementedError(f"{self.name} returns no state vector or expectation value")

    def state_fidelity(self, prepared: Any, ideal_state: np.ndarray) -> float | None:
        """|<ideal|final state>|^2, or None where the adapter cannot expose its state."""
        from qbench.circuits import reference

        state = self.final_state(prepared)
        return None if state is None else reference.state_fidelity(ideal_state, state)


def histogram_from_samples(samples: np.ndarray) -> dict[str, int]:
    """(shots, n_qubits) array of 0/1, column q = qubit q -> {bitstring: count}."""
    samples = np.asarray(samples, dtype=np.uint8)
    if samples.size == 0:
        return {}
    n_qubits = samples.shape[1]
    if n_qubits <= 63:  # each shot as one integer, qubit 0 its top bit: 4-10x faster than unique rows
        weights = np.left_shift(np.uint64(1), np.arange(n_qubits - 1, -1, -1, dtype=np.uint64))
        values, counts = np.unique(samples.astype(np.uint64) @ weights, return_counts=True)
        return {format(int(v), f"0{n_qubits}b"): int(c) for v, c in zip(values, counts)}
    rows, counts = np.unique(samples, axis=0, return_counts=True)
    return {"".join("1" if b else "0" for b in row): int(c) for row, c in zip(rows, counts)}


def little_endian_to_canonical(state: np.ndarray, n_qubits: int) -> np.ndarray:
    """Reorder a state indexed with qubit 0 as the least significant bit (Qiskit, stim 'little')."""
    return np.asarray(state).reshape((2,) * n_qubits).transpose(range(n_qubits - 1, -1, -1)).reshape(-1)
