"""compute=statevector and compute=expectation on every CPU backend: the library's own state and expectation
APIs, verified against the exact reference; backends without one skipped with the reason; the record."""
import pytest

from qbench.backends.base import RunSpec
from qbench.backends.registry import instantiate_backend
from qbench.circuits import canonical as circuits
from qbench.circuits import observable, reference
from qbench.execution.validate import ConfigError, check_point
from qbench.results import records
from tests.helpers import compose_point, measure_on, run_qbench, sweep_records

BACKENDS = ["cirq", "qiskit-aer", "qsim", "pennylane", "stim"]
OBSERVABLE = "Z0 Z1 + 0.5 X2 - 0.25 Y3 + 0.1"


def circuit_for(backend: str):
    # stim needs a Clifford circuit; the others get one with arbitrary angles and u gates
    if backend == "stim":
        return circuits.build("random_clifford", 5, depth=6, seed=3)
    return circuits.build("qaoa", 6, seed=2, p=2)


def adapter(name: str, *overrides: str):
    return instantiate_backend(dict(compose_point(f"backend={name}", *overrides).backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_statevector_mode_returns_the_exact_state(backend):
    circuit = circuit_for(backend)
    spec = RunSpec(shots=1000, seed=1, threads=1, compute="statevector")
    assert adapter(backend).supports(circuit, spec) is None
    outcome = measure_on(backend, circuit, spec)
    v = outcome["verification"]
    assert outcome["histogram"] == {}  # no shots
    assert v["fidelity_method"] == "statevector" and v["fidelity"] >= 1 - 1e-6, v
    n, k = circuit.n_qubits, min(circuit.n_qubits, 6)
    exact = reference.probabilities(reference.statevector(circuit)).reshape((2,) * n)
    z_basis = exact.sum(axis=tuple(range(k, n))).reshape(-1)  # the digest's first half
    assert v["state_digest"][: 2**k] == pytest.approx(z_basis, abs=1e-5) and len(v["state_digest"]) == 2 ** (k + 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_expectation_mode_matches_the_exact_value(backend):
    circuit = circuit_for(backend)
    spec = RunSpec(shots=1000, seed=1, threads=1, compute="expectation", observable=OBSERVABLE)
    outcome = measure_on(backend, circuit, spec)
    v = outcome["verification"]
    exact = reference.expectation(reference.statevector(circuit), observable.parse(OBSERVABLE))
    assert outcome["histogram"] == {}
    assert v["expectation_reference"] == pytest.approx(exact, abs=1e-12)
    assert v["fidelity_method"] == "expectation", v
    assert abs(v["expectation_value"] - exact) <= 1e-5 * observable.parse(OBSERVABLE).weight
    assert v["expectation_error"] == pytest.approx(abs(v["expectation_value"] - exact))


@pytest.mark.parametrize("backend", ["cirq", "qiskit-aer", "pennylane"])
def test_double_precision_expectation_within_1e_10(backend):
    circuit = circuit_for(backend)
    spec = RunSpec(shots=1000, seed=1, threads=1, compute="expectation", observable=OBSERVABLE)
    v = measure_on(backend, circuit, spec, "backend.precision=double")["verification"]
    assert v["expectation_tolerance"] == pytest.approx(1e-10 * observable.parse(OBSERVABLE).weight)
    assert v["expectation_error"] <= 1e-10 and v["fidelity_method"] == "expectation"


def test_a_wrong_expectation_value_is_reported_wrong():
    """The check can fail: the TEST-ONLY wrong backend shifts <H> by 0.5."""
    circuit = circuit_for("cirq")
    spec = RunSpec(shots=10, seed=1, threads=1, compute="expectation", observable=OBSERVABLE)
    from omegaconf import OmegaConf

    from qbench.execution.timing import measure

    cfg = OmegaConf.to_container(compose_point("backend=wrong", "execution=quick", with_plugins=True), resolve=True)
    v = measure({"backend": cfg["backend"], "circuit": circuit, "spec": spec, "execution": cfg["execution"]})[
        "verification"]
    assert v["fidelity_method"].startswith("wrong answer") and v["expectation_error"] == pytest.approx(0.5)


def test_backends_without_the_mode_are_skipped_with_the_reason():
    circuit = circuits.build("ghz", 3)
    expectation = RunSpec(shots=10, seed=1, threads=1, compute="expectation", observable="Z0")
    statevector = RunSpec(shots=10, seed=1, threads=1, compute="statevector")
    assert "has no compute=expectation" in adapter("cuquantum", "backend.device=GPU").supports(circuit, expectation)
    assert adapter("cuquantum", "backend.device=GPU").supports(circuit, statevector) is None
    for name in ("quest", "lret-phase7"):
        reason = adapter(name).supports(circuit, statevector)
        assert reason and "has no compute=statevector" in reason and "sampling" in reason
    aer_dm = adapter("qiskit-aer", "backend.method=density_matrix")
    assert "save_statevector" in aer_dm.supports(circuit, statevector)


def test_stim_refuses_non_clifford_circuits_in_every_mode():
    spec = RunSpec(shots=10, seed=1, threads=1, compute="expectation", observable="Z0")
    assert "Clifford" in adapter("stim").supports(circuits.build("qft", 3, seed=1), spec)


def test_sampling_points_keep_their_config_and_run_id():
    plain = records.task_config(compose_point("backend=cirq", "circuit=random"))
    config = records.point_config(plain)
    assert "compute" not in config and "observable" not in config and "circuit_options" not in config
    expectation = records.point_config(records.task_config(compose_point(
        "compute=expectation", f"observable={OBSERVABLE}")))
    assert (expectation["compute"], expectation["observable"]) == ("expectation", OBSERVABLE)
    assert records.run_id(config, {}) != records.run_id(expectation, {})


@pytest.mark.parametrize("overrides, message", [
    (["compute=amplitude"], "compute='amplitude' is not allowed; allowed: sampling, statevector, expectation"),
    (["compute=expectation"], "observable=None is not allowed; allowed: a Pauli sum such as 'Z0 Z1 + 0.5 X2'"),
    (["compute=expectation", "observable=Z0 Q1"], "observable='Z0 Q1' is not allowed"),
    (["compute=expectation", "observable=Z0 Z9"], "observable='Z0 Z9' acts on qubit 9, but the circuit has 4 qubits"),
    (["compute=statevector", "noise=depolarizing"], "compute=statevector with noise=depolarizing is not supported"),
])
def test_bad_compute_settings_are_one_line(overrides, message):
    with pytest.raises(ConfigError) as refused:
        check_point(compose_point(*overrides))
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_compute_sweep_records_and_reports_by_compute_mode(workdir):
    result = run_qbench("-m", "backend=cirq,qsim,qiskit-aer,pennylane,stim", "circuit=random_clifford", "n_qubits=4",
                        "circuit.depth=4", "compute=statevector,expectation", f"observable={OBSERVABLE}",
                        "execution=quick", "tracking.enabled=false", cwd=workdir)
    assert result.returncode == 0, result.stderr
    done = sweep_records(workdir)
    assert len(done) == 10 and all(r["status"] == "success" for r in done), [r["reason"] for r in done]
    for r in done:
        m, compute = r["metrics"], r["config"]["compute"]
        assert r["measurements"]["total_shots"] == 0 and m["throughput_shots_per_second"] is None
        if compute == "expectation":
            assert r["config"]["observable"] == OBSERVABLE
            assert abs(m["expectation_value"] - m["expectation_reference"]) <= m["expectation_tolerance"]
        else:
            assert compute == "statevector" and r["config"]["observable"] is None
            assert m["fidelity_method"] == "statevector" and m["fidelity"] >= 1 - 1e-6
    report = next((workdir / "outputs").glob("bench_*/report.md")).read_text()
    assert "### random_clifford expectation" in report and "### random_clifford statevector" in report
    assert "random_clifford 4 q expectation of " + OBSERVABLE in report  # cross-checked between the backends
