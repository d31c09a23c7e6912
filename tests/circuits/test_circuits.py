"""Canonical circuits: built once, seeded, translated identically by every backend."""
import numpy as np
import pytest

from qbench.circuits import canonical as circuits
from qbench.circuits import reference


def test_random_circuit_is_a_function_of_its_seed():
    a = circuits.build("random", 6, depth=5, seed=7)
    b = circuits.build("random", 6, depth=5, seed=7)
    c = circuits.build("random", 6, depth=5, seed=8)
    assert a.gates == b.gates and a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


@pytest.mark.parametrize("family,n,expected", [
    ("ghz", 5, {"gate_count": 5, "two_qubit_gate_count": 4, "circuit_depth": 5}),
    # qft(3): X gates from the seed, 3 H, 3 controlled phases, 1 swap
    ("random", 4, {"gate_count": 2 * 4 + 2 + 1, "two_qubit_gate_count": 3, "circuit_depth": 4}),
])
def test_circuit_stats(family, n, expected):
    circuit = circuits.build(family, n, depth=2, seed=1)
    assert circuit.stats() == expected


def test_clifford_classification():
    assert circuits.build("ghz", 4).is_clifford
    assert circuits.build("random_clifford", 4, depth=3, seed=1).is_clifford
    assert not circuits.build("qft", 4, seed=1).is_clifford
    assert not circuits.build("random", 4, depth=3, seed=1).is_clifford


@pytest.mark.parametrize("family", ["ghz", "qft"])
def test_analytic_states_match_gate_by_gate_reference(family):
    for n in (1, 2, 3, 5, 7):
        circuit = circuits.build(family, n, seed=n)
        assert reference.state_fidelity(reference.analytic_statevector(circuit), reference.statevector(circuit)) > 1 - 1e-12


def test_reference_ghz_amplitudes_and_bit_order():
    # X on qubit 0 only: bitstring "100" (character 0 = qubit 0) = index 4.
    circuit = circuits.Circuit("custom", 3, (circuits.Gate("x", (0,)),))
    state = reference.statevector(circuit)
    assert np.argmax(np.abs(state)) == 4
    ghz = reference.statevector(circuits.build("ghz", 3))
    assert np.allclose(np.abs(ghz) ** 2, [0.5, 0, 0, 0, 0, 0, 0, 0.5])


def test_same_random_circuit_gives_same_unitary_in_cirq_and_qiskit():
    import cirq
    from qiskit.quantum_info import Operator

    from qbench.backends.base import little_endian_to_canonical
    from qbench.backends.cirq_backend import to_cirq
    from qbench.backends.qiskit_aer_backend import to_qiskit

    circuit = circuits.build("random", 3, depth=4, seed=11)
    u_cirq = cirq.unitary(to_cirq(circuit)[0])
    u_qiskit = Operator(to_qiskit(circuit, measure=False)).data
    # Column 0 is the image of |000>; Qiskit indexes qubit 0 as the least significant bit.
    col_qiskit = little_endian_to_canonical(u_qiskit[:, 0], 3)
    assert reference.state_fidelity(u_cirq[:, 0], col_qiskit) > 1 - 1e-9
    assert reference.state_fidelity(u_cirq[:, 0], reference.statevector(circuit)) > 1 - 1e-9


def test_tvd_bound_holds_for_exact_samples_and_fails_for_wrong_ones():
    rng = np.random.default_rng(3)
    ideal = reference.probabilities(reference.statevector(circuits.build("random", 5, depth=6, seed=2)))
    shots = 2000
    samples = rng.choice(len(ideal), size=shots, p=ideal)
    hist = {format(int(i), "05b"): int(c) for i, c in zip(*np.unique(samples, return_counts=True))}
    assert reference.total_variation(hist, ideal) <= reference.tvd_bound(ideal, shots)
    wrong = {bits[::-1]: c for bits, c in hist.items()}  # reversed bit order
    assert reference.total_variation(wrong, ideal) > reference.tvd_bound(ideal, shots)


def test_qasm_export_lists_every_gate_and_measures():
    qasm = circuits.build("qft", 3, seed=0).to_qasm()
    assert qasm.startswith("OPENQASM 2.0;") and "cu1(" in qasm and qasm.strip().endswith("measure q -> c;")
