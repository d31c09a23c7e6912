"""The summary's cross-check between backends: a wrong backend (TEST-ONLY, cirq with qubit 0 flipped) is
caught above verify_max_qubits, where no exact reference checks it, in every compute mode."""
import json

import numpy as np

from qbench.circuits import canonical as circuits
from qbench.circuits import reference
from qbench.results.crosscheck import two_sample_tvd
from tests.helpers import run_qbench, sweep_records


def samples(probabilities, shots, rng, n):
    drawn = rng.choice(len(probabilities), size=shots, p=probabilities)
    values, counts = np.unique(drawn, return_counts=True)
    return {format(int(v), f"0{n}b"): int(c) for v, c in zip(values, counts)}


def test_two_sample_bound_holds_for_one_distribution_and_catches_another():
    rng = np.random.default_rng(1)
    circuit = circuits.build("qaoa", 6, seed=3, p=2)
    p = reference.probabilities(reference.statevector(circuit))
    flipped = p.reshape((2,) * 6)[::-1].reshape(-1)  # qubit 0 flipped
    for shots_a, shots_b in ((1000, 1000), (500, 3000)):
        for _ in range(25):
            distance, bound = two_sample_tvd(samples(p, shots_a, rng, 6), samples(p, shots_b, rng, 6))
            assert distance <= bound
        distance, bound = two_sample_tvd(samples(p, shots_a, rng, 6), samples(flipped, shots_b, rng, 6))
        assert distance > bound


def test_a_wrong_backend_is_named_where_no_reference_exists(workdir):
    observable = "Z0 Z1 + 0.5 X2"
    result = run_qbench("-m", "backend=cirq,qsim,qiskit-aer,wrong", "circuit=qaoa", "n_qubits=6",
                        "compute=sampling,statevector,expectation", f"observable={observable}",
                        "execution=quick", "execution.verify_max_qubits=4", "tracking.enabled=false",
                        cwd=workdir, plugins=True)
    assert result.returncode == 0, result.stderr
    records = sweep_records(workdir)
    assert len(records) == 12 and all(r["status"] == "success" for r in records)
    assert all(r["metrics"]["fidelity_method"].startswith("not verified") for r in records)  # 6 q > 4
    (sweep,) = (workdir / "outputs").glob("bench_*")
    checks = json.loads((sweep / "comparison.json").read_text())["crosscheck"]
    assert {c["compute"] for c in checks} == {"sampling", "statevector", "expectation"}
    for check in checks:
        assert not check["agree"] and check["outlier"] == "wrong", check
        for pair in check["pairs"]:
            assert pair["agree"] == ("wrong" not in (pair["a"], pair["b"])), pair
    report = (sweep / "report.md").read_text()
    assert "wrong disagrees with every other backend on qaoa 6 q" in report
    assert "**cirq and wrong disagree on qaoa 6 q: TVD " in report
    assert f"wrong disagrees with every other backend on qaoa 6 q expectation of {observable}" in report


def test_agreeing_backends_are_reported_agreeing(workdir):
    result = run_qbench("-m", "backend=cirq,qsim,stim", "circuit=random_clifford", "n_qubits=7", "circuit.depth=5",
                        "execution=quick", "execution.verify_max_qubits=3", "tracking.enabled=false", cwd=workdir)
    assert result.returncode == 0, result.stderr
    (sweep,) = (workdir / "outputs").glob("bench_*")
    (check,) = json.loads((sweep / "comparison.json").read_text())["crosscheck"]
    assert check["agree"] and check["outlier"] is None and len(check["pairs"]) == 3
    assert check["point"] == "random_clifford 7 q" and sorted(check["backends"]) == ["cirq", "qsim", "stim"]
    assert "All 1 cross-checked points agree." in (sweep / "report.md").read_text()


def test_the_state_digest_sees_correlations_and_phases_but_not_a_global_phase():
    from qbench.execution.verify import state_digest

    psi = reference.statevector(circuits.build("qaoa", 6, seed=3, p=2))
    tensor = psi.reshape((2,) * 6)
    qubit0_flipped = tensor[::-1].reshape(-1)  # QAOA's one-qubit marginals are all 1/2: they cannot see this
    phase_flipped = (tensor * np.array([1, -1]).reshape(2, 1, 1, 1, 1, 1)).reshape(-1)  # Z on qubit 0
    digest = np.array(state_digest(psi))
    assert np.allclose(digest, state_digest(np.exp(0.7j) * psi), atol=1e-12)
    assert np.abs(digest - state_digest(qubit0_flipped)).max() > 1e-2
    z, x = digest[:64], digest[64:]
    z_phase, x_phase = np.array(state_digest(phase_flipped))[:64], np.array(state_digest(phase_flipped))[64:]
    assert np.allclose(z, z_phase, atol=1e-12) and np.abs(x - x_phase).max() > 1e-2
