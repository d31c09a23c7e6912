"""The standard families (quantum_volume, qaoa, qpe, iqft): their closed forms against the NumPy reference,
Qiskit's own generator against its own simulation, seeds, sizes they cannot take, and every CPU backend."""
import numpy as np
import pytest

from qbench.backends.base import RunSpec, little_endian_to_canonical
from qbench.backends.registry import instantiate_backend
from qbench.circuits import canonical as circuits
from qbench.circuits import reference
from qbench.circuits.families import regular_graph
from tests.helpers import assert_matches_reference, compose_point, measure_on

BACKENDS = ["cirq", "qiskit-aer", "qsim", "pennylane", "stim"]
SHOTS = 3000


@pytest.mark.parametrize("family", ["qpe", "iqft"])
@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_closed_form_answer_is_the_reference_state(family, n):
    circuit = circuits.build(family, n, seed=n + 11)
    exact = reference.statevector(circuit)
    answer = circuit.metadata["answer_bits"]
    assert len(answer) == n
    assert abs(exact[int(answer, 2)]) ** 2 == pytest.approx(1.0, abs=1e-12)
    assert reference.state_fidelity(reference.analytic_statevector(circuit), exact) == pytest.approx(1.0, abs=1e-12)
    assert reference.analytic_distribution(circuit) == {answer: 1.0}


def test_qpe_reads_out_its_phase_and_the_target_stays_one():
    circuit = circuits.build("qpe", 6, seed=3)
    k, bits = circuit.metadata["phase_numerator"], circuit.metadata["answer_bits"]
    assert int(bits[:-1], 2) == k and bits[-1] == "1" and circuit.metadata["phase"] == k / 2**5


def test_quantum_volume_is_qiskits_generator_decomposed():
    from qiskit.circuit.library import quantum_volume
    from qiskit.quantum_info import Statevector

    circuit = circuits.build("quantum_volume", 4, seed=5)
    qiskit_state = little_endian_to_canonical(Statevector(quantum_volume(4, seed=5)).data, 4)
    assert reference.state_fidelity(qiskit_state, reference.statevector(circuit)) > 1 - 1e-9
    assert circuit.fingerprint() == circuits.build("quantum_volume", 4, seed=5).fingerprint()
    assert circuit.fingerprint() != circuits.build("quantum_volume", 4, seed=6).fingerprint()


def test_qaoa_is_maxcut_on_a_seeded_3_regular_graph():
    circuit = circuits.build("qaoa", 8, seed=4, p=3)
    edges = circuit.metadata["edges"]
    degree = np.bincount(np.array(edges).ravel(), minlength=8)
    assert len(edges) == 12 and set(degree) == {3} and all(a != b for a, b in edges)
    assert len(circuit.metadata["gammas"]) == 3 and circuit.two_qubit_gate_count == 2 * 12 * 3
    assert circuit.fingerprint() == circuits.build("qaoa", 8, seed=4, p=3).fingerprint()
    assert circuits.build("qaoa", 8, seed=5, p=3).metadata["edges"] != edges
    assert regular_graph(10, 3, 1) == regular_graph(10, 3, 1)


@pytest.mark.parametrize("n", [3, 5, 2])
def test_qaoa_cannot_be_made_on_sizes_without_a_3_regular_graph(n):
    with pytest.raises(circuits.CircuitUnavailable, match="3-regular"):
        circuits.build("qaoa", n, seed=1, p=1)


def test_qpe_needs_two_qubits():
    with pytest.raises(circuits.CircuitUnavailable, match="at least 2 qubits"):
        circuits.build("qpe", 1, seed=1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family, n, options", [("quantum_volume", 4, {}), ("qaoa", 6, {"p": 2}), ("qpe", 5, {}),
                                                ("iqft", 5, {})])
def test_every_cpu_backend_matches_the_reference(backend, family, n, options):
    circuit = circuits.build(family, n, seed=9, **options)
    spec = RunSpec(shots=SHOTS, seed=3, threads=1)
    adapter = instantiate_backend(dict(compose_point(f"backend={backend}").backend))
    if backend == "stim":  # none of these is Clifford
        assert "Clifford" in adapter.supports(circuit, spec)
        return
    assert adapter.supports(circuit, spec) is None
    assert_matches_reference(measure_on(backend, circuit, spec), n, SHOTS)


def test_closed_form_families_are_verified_beyond_the_reference_limit():
    """qpe/iqft answers are basis states: checked on the histogram at any size, like GHZ."""
    circuit = circuits.build("iqft", 12, seed=2)
    outcome = measure_on("qiskit-aer", circuit, RunSpec(shots=500, seed=1, threads=1), verify_max_qubits=4)
    v = outcome["verification"]
    assert v["fidelity_method"] == "distribution" and v["fidelity"] > 0.999
    assert outcome["histogram"] == {circuit.metadata["answer_bits"]: 500}
