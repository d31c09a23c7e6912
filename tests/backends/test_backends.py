"""Correctness of every backend against the exact reference (in-process, fast)."""
import pytest

from qbench.circuits import canonical as circuits
from qbench.backends.base import RunSpec, histogram_from_samples
from qbench.backends.registry import instantiate_backend
from qbench.execution.timing import measure
from tests.helpers import assert_matches_reference, compose_point

BACKENDS = ["cirq", "qiskit-aer", "qsim", "pennylane", "stim"]
SHOTS = 4000


def backend_config(name: str, *overrides: str) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(compose_point(f"backend={name}", *overrides).backend, resolve=True)


def run(name: str, circuit, *overrides):
    request = {
        "backend": backend_config(name, *overrides),
        "circuit": circuit,
        "spec": RunSpec(shots=SHOTS, seed=5, threads=1),
        "execution": {"warmup_runs": 1, "repetitions": 2, "verify_max_qubits": 18},
    }
    return measure(request)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family,n", [("ghz", 3), ("ghz", 7), ("qft", 4), ("qft", 6), ("random", 5),
                                      ("random_clifford", 6)])
def test_backend_matches_exact_reference(backend, family, n):
    circuit = circuits.build(family, n, depth=6, seed=n + 100)
    adapter = instantiate_backend(backend_config(backend))
    reason = adapter.supports(circuit, RunSpec(SHOTS, 5, 1))
    if backend == "stim" and not circuit.is_clifford:
        assert reason and "Clifford" in reason
        return
    assert reason is None
    outcome = run(backend, circuit)
    assert_matches_reference(outcome, n, SHOTS)
    assert len(outcome["execution_times_seconds"]) == 2
    assert outcome["convert_seconds"] >= 0 and outcome["dry_run_seconds"] > 0 and outcome["verify_seconds"] > 0
    assert outcome["warmup_seconds"] > 0  # warmup_runs=1: one more call, timed apart from the samples


@pytest.mark.parametrize("backend", ["cirq", "qiskit-aer", "pennylane"])
def test_double_precision_is_also_exact(backend):
    outcome = run(backend, circuits.build("random", 5, depth=8, seed=1), "backend.precision=double")
    assert outcome["verification"]["fidelity"] >= 1 - 1e-10
    assert outcome["backend_details"]["precision"] == "double"


def test_qsim_refuses_double_precision_with_a_reason():
    adapter = instantiate_backend(backend_config("qsim", "backend.precision=double"))
    reason = adapter.supports(circuits.build("ghz", 3), RunSpec(10, 1, 1))
    assert "single" in reason


def test_bit_order_is_qubit_zero_first_on_every_backend():
    # X on qubit 0 of 3: every backend must report "100" for every shot.
    circuit = circuits.Circuit("custom", 3, (circuits.Gate("x", (0,)),))
    for backend in BACKENDS:
        outcome = run(backend, circuit)
        assert outcome["histogram"] == {"100": SHOTS}, backend


def test_ghz_beyond_verify_limit_uses_analytic_distribution():
    request = {"backend": backend_config("qiskit-aer"), "circuit": circuits.build("ghz", 22),
               "spec": RunSpec(shots=1000, seed=1, threads=2),
               "execution": {"warmup_runs": 0, "repetitions": 1, "verify_max_qubits": 18}}
    v = measure(request)["verification"]
    assert v["fidelity_method"] == "distribution" and v["fidelity"] > 0.99


@pytest.mark.parametrize("family, n, depth", [("ghz", 12, None), ("random_clifford", 9, 20)])
def test_stim_stabilizer_fidelity_equals_the_state_vector_fidelity(family, n, depth):
    """stim's verification projects the ideal state onto its stabilizers instead of exporting its
    state vector: both must give the same |<ideal|state>|^2, for the right ideal and for wrong ones."""
    import numpy as np

    from qbench.circuits import reference

    backend = instantiate_backend(backend_config("stim"))
    backend.load()
    circuit = circuits.build(family, n, depth, 7)
    prepared = backend.prepare(circuit, RunSpec(shots=10, seed=1, threads=1, noise={"name": "none", "strength": 0.0}))
    ideal = reference.statevector(circuit)
    state = backend.final_state(prepared)
    rng = np.random.default_rng(3)
    wrong_phases = ideal * np.exp(1j * rng.uniform(0, 2 * np.pi, ideal.shape))
    other_circuit = reference.statevector(circuits.build("random_clifford", n, 20, 8))
    for candidate in (ideal, wrong_phases, other_circuit):
        assert backend.state_fidelity(prepared, candidate) == pytest.approx(
            reference.state_fidelity(candidate, state), abs=1e-12)
    assert backend.state_fidelity(prepared, ideal) == pytest.approx(1.0, abs=1e-12)
    assert backend.state_fidelity(prepared, wrong_phases) < 0.99


@pytest.mark.parametrize("n_qubits", [1, 5, 63, 64, 70])
def test_a_histogram_counts_each_shot_under_its_bitstring_qubit_0_first(n_qubits):
    """Up to 63 qubits shots are counted as integers, above as rows: both give each shot's own bits."""
    import collections

    import numpy as np

    samples = np.random.default_rng(n_qubits).integers(0, 2, (500, n_qubits), dtype=np.uint8)
    samples[:100] = 0
    samples[100:150, 0] = 1  # qubit 0 alone: "1000..."
    samples[100:150, 1:] = 0
    expected = collections.Counter("".join(str(b) for b in row) for row in samples)
    assert histogram_from_samples(samples) == dict(expected)
    assert histogram_from_samples(samples)["1" + "0" * (n_qubits - 1)] >= 50
    assert histogram_from_samples(samples.astype(bool)) == dict(expected)
