"""The timing protocol and verification of one point, executed where the simulation runs.

This is the only code that times a simulator. It runs inside an isolated worker
(`qbench.worker`) or, with `execution.isolation=none`, in the Hydra job itself.
"""
from __future__ import annotations

import importlib
import time
from typing import Any

import numpy as np

from qbench import allocator, pipes, reference
from qbench.backends.base import Backend
from qbench.noise import Noise

# Adapters loaded in this process, keyed by their full config: imports happen once per worker.
_LOADED: dict[str, Backend] = {}


def instantiate_backend(config: dict) -> Backend:
    """Build the adapter a backend config names by `_target_` (cheap: no heavy import)."""
    options = dict(config)
    module_name, _, class_name = options.pop("_target_").rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)(**options)


def backend_key(config: dict) -> str:
    """Equal for equal backend configs: the unit a worker loads and serves."""
    return repr(sorted(config.items()))


def load_backend(config: dict) -> tuple[Backend, float]:
    """The loaded adapter for this config and the seconds its import took (0 when reused)."""
    key = backend_key(config)
    if key in _LOADED:
        return _LOADED[key], 0.0
    backend = instantiate_backend(config)
    start = time.perf_counter()
    backend.load()
    _LOADED[key] = backend
    return backend, time.perf_counter() - start


def measure(request: dict) -> dict:
    """Convert, dry-run, warm up, time `repetitions` runs, then verify (untimed)."""
    backend, import_seconds = load_backend(request["backend"])
    circuit, spec, execution = request["circuit"], request["spec"], request["execution"]
    allocator.pin_thresholds()  # the same heap behaviour whatever ran before in this process
    allocator.release_free_heap()
    pipes.reset_peak_rss()

    start = time.perf_counter()
    prepared = backend.prepare(circuit, spec)
    convert_seconds = time.perf_counter() - start

    start = time.perf_counter()
    raw = backend.run(prepared)
    dry_run_seconds = time.perf_counter() - start

    for _ in range(execution["warmup_runs"]):
        backend.run(prepared)

    times = []
    for _ in range(execution["repetitions"]):
        start = time.perf_counter()
        raw = backend.run(prepared)
        times.append(time.perf_counter() - start)
    memory_peak_mb = pipes.peak_rss_mb()
    # A simulator in a child process of its own (QuEST, LRET) holds its state there: add that process's peak.
    child_peak = getattr(backend, "child_peak_rss_mb", None)
    if child_peak is not None and memory_peak_mb is not None:
        memory_peak_mb += child_peak(prepared) or 0.0

    histogram = backend.histogram(prepared, raw)
    return {
        "histogram": histogram,
        "import_seconds": import_seconds,
        "convert_seconds": convert_seconds,
        "dry_run_seconds": dry_run_seconds,
        "execution_times_seconds": times,
        "memory_peak_mb": memory_peak_mb,
        "heap": allocator.describe(),
        "verification": verify(backend, prepared, circuit, histogram, spec, execution["verify_max_qubits"]),
        "backend_details": {**backend.describe(), **backend.noise_details(circuit, spec)},
    }


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
