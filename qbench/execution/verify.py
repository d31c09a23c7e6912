"""Verification of a run against the exact reference of its canonical circuit (untimed)."""
from __future__ import annotations

from typing import Any

import numpy as np

from qbench.backends.base import Backend
from qbench.circuits import reference
from qbench.circuits.noise import Noise


# |<H> - exact| allowed, per unit of sum |coefficient| of the observable, by the simulation's precision.
EXPECTATION_TOLERANCE = {"single": 1e-5, "double": 1e-10}
# A state's digest for the summary's cross-check (`state_digest`): rounded to this, over this many qubits.
DIGEST_DIGITS = 12
DIGEST_QUBITS = 6


def verify(backend: Backend, prepared: Any, circuit, histogram: dict, spec, max_qubits: int, raw: Any = None) -> dict:
    """Compare the run with the exact reference of its canonical circuit.

    compute=statevector and compute=expectation check the timed run's own answer (`raw`, read through
    backend.answer): see `_verify_state` and `_verify_expectation`. compute=sampling:

    n <= max_qubits: exact ideal state (closed form for ghz/qft, NumPy simulation otherwise);
    fidelity = |<ideal|backend state>|^2 when the adapter exposes its state.
    Larger n: only families with a closed-form distribution (ghz) are checked, on the histogram.
    With noise, see `_verify_noisy`.
    """
    compute = getattr(spec, "compute", "sampling")
    if compute == "statevector":
        return _verify_state(circuit, backend.answer(prepared, raw), max_qubits)
    if compute == "expectation":
        return _verify_expectation(backend, circuit, backend.answer(prepared, raw), spec, max_qubits)
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


def _exact_state(circuit, max_qubits: int):
    """The exact state up to max_qubits (closed form where there is one), else None."""
    if circuit.n_qubits > max_qubits:
        return None
    state = reference.analytic_statevector(circuit)
    return reference.statevector(circuit) if state is None else state


def state_digest(state: np.ndarray) -> list[float]:
    """What the summary compares between backends when no reference exists: the joint distribution of the
    first k = min(n, DIGEST_QUBITS) qubits measured in the Z basis, then in the X basis (H on those k
    first), 2 x 2^k numbers. Correlations and relative phases among those qubits change it; a global
    phase does not."""
    n = int(round(np.log2(len(state))))
    k = min(n, DIGEST_QUBITS)
    tensor = np.asarray(state, dtype=complex).reshape((2,) * n)
    tensor = tensor / np.linalg.norm(tensor)
    rest = tuple(range(k, n))
    z = (np.abs(tensor) ** 2).sum(axis=rest).reshape(-1)
    hadamard = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    for q in range(k):
        tensor = np.moveaxis(np.tensordot(hadamard, tensor, axes=([1], [q])), 0, q)
    x = (np.abs(tensor) ** 2).sum(axis=rest).reshape(-1)
    return [round(float(v), DIGEST_DIGITS) for v in (*z, *x)]


def _verify_state(circuit, state, max_qubits: int) -> dict:
    """The returned state vector: fidelity |<exact|state>|^2 up to max_qubits; above, the classical fidelity of
    |state|^2 to a sparse closed-form distribution (ghz, qpe, iqft), else unverified (cross-checked by value
    in the summary through its `state_digest`)."""
    state = np.asarray(state).reshape(-1)
    result = {"fidelity": None, "fidelity_method": None, "state_norm": float(np.linalg.norm(state)),
              "state_digest": state_digest(state)}
    if len(state) != 2**circuit.n_qubits:
        result["fidelity_method"] = f"wrong answer: {len(state)} amplitudes for {circuit.n_qubits} qubits"
        result["fidelity"] = 0.0
        return result
    exact = _exact_state(circuit, max_qubits)
    if exact is not None:
        result.update(fidelity=reference.state_fidelity(exact, state), fidelity_method="statevector")
        return result
    sparse = reference.analytic_distribution(circuit)
    if sparse is not None:
        p = reference.probabilities(state)
        overlap = sum(np.sqrt(q * p[int(bits, 2)]) for bits, q in sparse.items())
        result.update(fidelity=float(overlap) ** 2, fidelity_method="distribution")
        return result
    result["fidelity_method"] = (f"not verified: {circuit.n_qubits} qubits > verify_max_qubits={max_qubits} and "
                                 f"'{circuit.family}' has no closed form (cross-checked between backends by the summary)")
    return result


def _verify_expectation(backend: Backend, circuit, value, spec, max_qubits: int) -> dict:
    """<H> against the exact <H> of the reference state, within EXPECTATION_TOLERANCE of the backend's
    precision times the observable's sum |coefficient|."""
    pauli_sum = spec.pauli_sum
    precision = backend.precision if backend.precision in EXPECTATION_TOLERANCE else "single"
    tolerance = EXPECTATION_TOLERANCE[precision] * max(1.0, pauli_sum.weight)
    result = {"fidelity": None, "fidelity_method": None, "expectation_value": float(value),
              "expectation_reference": None, "expectation_error": None, "expectation_tolerance": tolerance,
              "observable": str(pauli_sum)}
    exact = _exact_state(circuit, max_qubits)
    if exact is None:
        result["fidelity_method"] = (f"not verified: {circuit.n_qubits} qubits > verify_max_qubits={max_qubits} "
                                     "(cross-checked between backends by the summary)")
        return result
    reference_value = reference.expectation(exact, pauli_sum)
    error = abs(float(value) - reference_value)
    result.update(expectation_reference=reference_value, expectation_error=error,
                  fidelity_method="expectation" if error <= tolerance else
                  f"wrong answer: |<H> - exact| = {error:.3g} > {tolerance:.1g}")
    return result
