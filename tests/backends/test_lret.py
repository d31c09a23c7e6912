"""LRET (quantum_sim in JSON mode; PennyLane device qlret.mixed).

qbench ships no LRET build. Without one (CI) the backends must say exactly where they looked; the
translation is checked against the reference's matrices. With a build, point the environment at it:

    QBENCH_LRET_EXECUTABLE=/path/to/phase-7/build/quantum_sim                  lret-phase7, lret-pennylane
    QBENCH_LRET_CIRQ_SCALABILITY_EXECUTABLE=/path/to/cirq-scalability/build/quantum_sim   lret-cirq-scalability

and the runs are checked against the exact references like every other backend (skipped otherwise).
"""
import importlib.util
import math
import os
import shutil

import numpy as np
import pytest
from omegaconf import OmegaConf

from qbench.circuits import canonical as circuits
from qbench.circuits import reference
from qbench.backends.base import RunSpec
from qbench.backends.lret_backend import REPOSITORY, kraus_op, to_lret
from qbench.backends.registry import instantiate_backend
from qbench.execution.timing import measure
from qbench.circuits.noise import GATE_CHANNELS, MODELS, Channel, Noise
from tests.helpers import compose_point, run_qbench, sweep_records

SHOTS = 4000
PROBE = circuits.build("random_clifford", 3, depth=3, seed=11)
BRANCHES = {"lret-phase7": "phase-7", "lret-cirq-scalability": "cirq-scalability-comparison",
            "lret-pennylane": "phase-7"}
BUILDS = {"lret-phase7": "QBENCH_LRET_EXECUTABLE", "lret-pennylane": "QBENCH_LRET_EXECUTABLE",
          "lret-cirq-scalability": "QBENCH_LRET_CIRQ_SCALABILITY_EXECUTABLE"}


def backend_config(name: str, *overrides: str) -> dict:
    return OmegaConf.to_container(compose_point(f"backend={name}", *overrides).backend, resolve=True)


def not_found(name: str, cwd) -> str:
    places = ([] if name == "lret-cirq-scalability" else ["quantum_sim on PATH"])
    places.append(f"{cwd}/backends/{name}/build/quantum_sim")
    return (f"LRET's quantum_sim not found at {' or '.join(places)}: build branch '{BRANCHES[name]}' of "
            f"{REPOSITORY} and set backend.executable=/path/to/quantum_sim")


@pytest.fixture
def no_build(monkeypatch, tmp_path):
    """A cwd and a PATH with no quantum_sim in them, as on CI."""
    monkeypatch.chdir(tmp_path)
    path = [d for d in os.environ["PATH"].split(os.pathsep) if not shutil.which("quantum_sim", path=d)]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    return tmp_path


# -- without a build -------------------------------------------------------------------------
@pytest.mark.parametrize("name", BRANCHES)
def test_without_a_build_each_backend_names_the_places_it_looked(name, no_build):
    reason = instantiate_backend(backend_config(name)).available()
    if name == "lret-pennylane" and importlib.util.find_spec("qlret") is None:
        assert reason == ("Python module 'qlret' is not installed (LRET's python/ package, not on PyPI: "
                          f"pip install -e <LRET checkout>/python, from {REPOSITORY})")
    else:
        assert reason == not_found(name, no_build)
    explicit = instantiate_backend(backend_config(name, f"backend.executable={no_build}/lret/quantum_sim"))
    if "qlret" not in reason:
        assert explicit.available().startswith(f"LRET's quantum_sim not found at {no_build}/lret/quantum_sim: ")


def test_without_a_build_a_sweep_records_unavailable_points(no_build):
    result = run_qbench("-m", "backend=lret-phase7,lret-cirq-scalability", "execution=quick", cwd=no_build)
    assert result.returncode == 0, result.stderr
    records = {r["backend"]: r for r in sweep_records(no_build)}
    for name in ("lret-phase7", "lret-cirq-scalability"):
        assert records[name]["status"] == "unavailable" and records[name]["reason"] == not_found(name, no_build)
    assert "2 points: 0 successful, 2 skipped/unavailable, 0 failed" in result.stderr + result.stdout


def test_a_failing_executable_is_an_error_record_with_its_exit_code(workdir):
    result = run_qbench("backend=lret-phase7", "backend.executable=/bin/false", "execution=quick",
                        "execution.retries=0", cwd=workdir)
    (record,) = sweep_records(workdir)
    assert result.returncode == 1 and record["status"] == "error"
    assert "quantum_sim exited with 1: no output file" in record["reason"]


@pytest.mark.parametrize("name", BRANCHES)
def test_what_lret_cannot_do_is_skipped_with_the_reason(name):
    adapter = instantiate_backend(backend_config(name, "backend.precision=single"))
    assert adapter.supports(PROBE, RunSpec(10, 1, 1)) == f"{name} does not simulate in single precision (allowed: double)"
    trajectories = RunSpec(10, 1, 1, noise={"name": "depolarizing", "strength": 0.1, "method": "trajectories"})
    assert "cannot simulate noise by noise.method=trajectories" in instantiate_backend(
        backend_config(name)).supports(PROBE, trajectories)


def test_the_sampler_s_dense_density_matrix_enters_the_memory_guard():
    adapter = instantiate_backend(backend_config("lret-phase7"))
    assert adapter.memory_estimate_bytes(14) == 16 * 4**14
    assert adapter.memory_formula(14) == "density matrix 4^14 x 16 B"


def _lret_unitary(ops: list[dict]) -> np.ndarray:
    """The 2-qubit unitary of LRET U1/CNOT ops from their textbook matrices, qubit 0 as the high bit."""
    total = np.eye(4, dtype=complex)
    for op in ops:
        if op["name"] == "U1":
            u1 = np.diag([1, np.exp(1j * op["params"][0])])
            matrix = np.kron(u1, np.eye(2)) if op["wires"] == [0] else np.kron(np.eye(2), u1)
        else:
            matrix = reference.gate_matrix(circuits.Gate("cx", tuple(op["wires"])))
        total = matrix @ total
    return total


@pytest.mark.parametrize("theta", [math.pi / 2, 0.3, -2.1])
def test_controlled_phase_is_decomposed_exactly(theta):
    ops = to_lret(circuits.Circuit("custom", 2, (circuits.Gate("cp", (0, 1), (theta,)),)), Noise())
    assert [op["name"] for op in ops] == ["U1", "CNOT", "U1", "CNOT", "U1"]
    expected = reference.gate_matrix(circuits.Gate("cp", (0, 1), (theta,)))
    assert _lret_unitary(ops) == pytest.approx(expected, abs=1e-12)  # equal, global phase included


def test_channels_are_the_reference_kraus_operators_after_every_gate():
    circuit = circuits.build("ghz", 2)  # h 0; cx 0 1
    for model in GATE_CHANNELS:
        ops = to_lret(circuit, Noise(model, 0.2))
        assert [op["name"] for op in ops] == ["H", "KRAUS", "CNOT", "KRAUS", "KRAUS"]
        assert [op["wires"] for op in ops] == [[0], [0], [0, 1], [0], [1]]
        kraus = [np.array(k["real"]) + 1j * np.array(k["imag"]) for k in ops[1]["kraus_operators"]]
        assert np.array(kraus) == pytest.approx(np.array(reference.kraus_operators(Channel(model, 0.2, 0))))
    depolarize = to_lret(circuit, Noise("depolarizing", 0.2), depolarize_op=True)
    assert depolarize[1] == {"name": "DEPOLARIZE", "wires": [0], "params": [0.2]}
    # readout: a bit flip on every qubit before measurement, no gate noise
    readout = to_lret(circuit, Noise("readout", 0.2))
    assert readout[2:] == [kraus_op(Channel("bit_flip", 0.2, q)) for q in range(2)]


# -- with a build -------------------------------------------------------------------------------
def built(name: str) -> str:
    executable = os.environ.get(BUILDS[name])
    if not executable:
        pytest.skip(f"no LRET build: set {BUILDS[name]}=/path/to/quantum_sim (branch {BRANCHES[name]})")
    if name == "lret-pennylane" and importlib.util.find_spec("qlret") is None:
        pytest.skip("qlret is not installed: pip install -e <LRET checkout>/python")
    return executable


def run(name: str, circuit, spec: RunSpec = RunSpec(SHOTS, 5, 1)) -> dict:
    config = backend_config(name, f"backend.executable={built(name)}")
    return measure({"backend": config, "circuit": circuit, "spec": spec,
                    "execution": {"warmup_runs": 1, "repetitions": 2, "verify_max_qubits": 18}})


@pytest.mark.parametrize("name", BRANCHES)
@pytest.mark.parametrize("family,n", [("ghz", 3), ("ghz", 7), ("qft", 4), ("qft", 6), ("random", 5),
                                      ("random_clifford", 6)])
def test_build_matches_exact_reference(name, family, n):
    outcome = run(name, circuits.build(family, n, depth=6, seed=n + 100))
    v, details = outcome["verification"], outcome["backend_details"]
    assert sum(outcome["histogram"].values()) == SHOTS and all(len(bits) == n for bits in outcome["histogram"])
    assert v["tvd"] <= v["tvd_bound"], v
    if name == "lret-pennylane":  # qlret.mixed returns no state
        assert v["fidelity_method"] == "distribution"
        return
    assert v["fidelity_method"] == "statevector" and v["fidelity"] >= 1 - 1e-6, v
    # LRET's own report of the dry run, the warm-up and the two timed runs: a pure state stays rank 1.
    assert details["lret_final_rank"] == [1, 1, 1, 1] and len(details["lret_execution_time_ms"]) == 4
    assert details["executable"] == os.path.abspath(built(name))


@pytest.mark.parametrize("name", BRANCHES)
@pytest.mark.parametrize("model", MODELS[1:])
def test_build_noisy_histogram_matches_exact_density_matrix(name, model):
    spec = RunSpec(SHOTS, 5, 1, noise={"name": model, "strength": 0.1, "method": "auto"})
    assert instantiate_backend(backend_config(name)).supports(PROBE, spec) is None
    outcome = run(name, PROBE, spec)
    v, details = outcome["verification"], outcome["backend_details"]
    assert v["reference_noisy_fidelity"] < 0.8 and v["tvd"] <= v["tvd_bound"], v
    assert details["noise_method"] == "density_matrix"
    if name != "lret-pennylane":
        assert all(1 < rank <= 8 for rank in details["lret_final_rank"]), details["lret_final_rank"]


@pytest.mark.parametrize("name", ["lret-phase7", "lret-cirq-scalability"])
def test_build_two_qubit_gates_and_controlled_phases_get_their_channels(name):
    gates = [circuits.Gate("x", (q,)) for q in range(3)]
    gates += [circuits.Gate("cx", (0, 1)), circuits.Gate("cz", (1, 2)), circuits.Gate("swap", (0, 2))]
    for circuit in (circuits.Circuit("custom", 3, tuple(gates)), circuits.build("qft", 4, seed=3)):
        spec = RunSpec(SHOTS, 5, 1, noise={"name": "amplitude_damping", "strength": 0.2, "method": "auto"})
        v = run(name, circuit, spec)["verification"]
        assert v["tvd"] <= v["tvd_bound"], (circuit.family, v)


def test_build_sweep_through_the_cli(workdir):
    executable = built("lret-phase7")
    result = run_qbench("-m", "backend=lret-phase7", f"backend.executable={executable}", "circuit=ghz,random",
                        "circuit.depth=4", "n_qubits=4", "noise=none,depolarizing", "execution=quick", cwd=workdir)
    assert result.returncode == 0, result.stderr
    records = sweep_records(workdir)
    assert len(records) == 4 and all(r["status"] == "success" for r in records), [r["reason"] for r in records]
    for r in records:
        options, m = r["config"]["backend_options"], r["metrics"]
        assert options["branch"] == "phase-7" and options["lret_execution_time_ms"] and options["lret_final_rank"]
        assert m["tvd"] <= m["tvd_bound"] and m["memory_peak_mb"] > 0
        assert (m["fidelity"] >= 1 - 1e-6) == (r["config"]["noise_model"] == "none")
