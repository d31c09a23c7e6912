"""Verification of a run against the exact reference of its canonical circuit (untimed)."""
from __future__ import annotations

from typing import Any

import numpy as np

from qbench.backends.base import Backend
from qbench.circuits import reference
from qbench.circuits.noise import Noise


def verify(backend: Backend, prepared: Any, circuit, histogram: dict, spec, max_qubits: int) -> dict:
    """Compare the run with the exact reference of its canonical circuit.

    n <= max_qubits: exact ideal state (closed form for ghz/qft, NumPy simulation otherwise);
    fidelity = |<ideal|backend state>|^2 when the adapter exposes its state.
    Larger n: only families with a closed-form distribution (ghz) are checked, on the histogram.
    With noise, see `_verify_noisy`.
    """
    noise = Noise.of(spec)
    ideal: Any = None
    result: dict = {"fidelity": None, "fidelity_method": None}
    if circuit.n_qubits <= max_qubits:
        ideal_state = reference.analytic_statevector(circuit)
        if ideal_state is None:
            ideal_state = reference.statevector(circuit)
        ideal = reference.probabilities(ideal_state)
        fidelity = None if noise.noisy else backend.state_fidelity(prepared, ideal_state)
        if fidelity is not None:
            result["fidelity"] = fidelity
            result["fidelity_method"] = "statevector"
    else:
        ideal = reference.analytic_distribution(circuit)
    if ideal is None:
        result["fidelity_method"] = (f"not verified: {circuit.n_qubits} qubits > verify_max_qubits={max_qubits} "
                                     f"and '{circuit.family}' has no sparse closed-form distribution to check shots against")
        return result
    if noise.noisy:
        return _verify_noisy(circuit, noise, histogram, ideal, spec.shots, max_qubits)
    result["histogram_fidelity"] = reference.classical_fidelity(histogram, ideal)
    result["tvd"] = reference.total_variation(histogram, ideal)
    result["tvd_bound"] = reference.tvd_bound(ideal, spec.shots)
    if result["fidelity"] is None:
        result["fidelity"] = result["histogram_fidelity"]
        result["fidelity_method"] = "distribution"
    return result


def _verify_noisy(circuit, noise: Noise, histogram: dict, ideal, shots: int, max_qubits: int) -> dict:
    """A noisy run: how far the noise took it from the ideal, and whether that is the right distance.

    fidelity: classical fidelity of the histogram to the IDEAL NOISELESS distribution (what the noise
    cost). Up to NOISY_REFERENCE_MAX_QUBITS, the exact noisy distribution (density-matrix reference)
    gives reference_noisy_fidelity (the fidelity a perfect sampler would approach) and tvd/tvd_bound
    of the histogram to it (every shot is an independent sample, also for trajectory methods).
    """
    result = {"fidelity": reference.classical_fidelity(histogram, ideal), "fidelity_method": "distribution",
              "reference_noisy_fidelity": None, "tvd": None, "tvd_bound": None}
    limit = min(max_qubits, reference.NOISY_REFERENCE_MAX_QUBITS)
    if circuit.n_qubits > limit:
        result["tvd_reference"] = (f"not computed: {circuit.n_qubits} qubits > {limit} (exact density-matrix "
                                   f"reference limit, capped by verify_max_qubits)")
        return result
    noisy = reference.noisy_probabilities(circuit, noise)
    result["reference_noisy_fidelity"] = float(np.sum(np.sqrt(noisy * ideal))) ** 2
    result["tvd"] = reference.total_variation(histogram, noisy)
    result["tvd_bound"] = reference.tvd_bound(noisy, shots)
    result["tvd_reference"] = "exact noisy distribution (density matrix)"
    return result
