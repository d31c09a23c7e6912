"""Noise models: one definition on every backend, checked against the exact density-matrix reference."""
import numpy as np
import pytest
from omegaconf import OmegaConf

from qbench.circuits import canonical as circuits
from qbench.circuits import reference
from qbench.backends.base import RunSpec
from qbench.backends.registry import instantiate_backend
from qbench.execution.timing import measure
from qbench.circuits.noise import GATE_CHANNELS, MODELS, Channel, Noise, placed
from qbench.execution.resources import memory_check
from tests.helpers import compose_point, run_qbench, sweep_records

SHOTS = 4000
# Clifford (so stim runs it too), and every model moves its distribution far from the ideal one.
PROBE = circuits.build("random_clifford", 3, depth=3, seed=11)
# How each backend simulates noise; cirq and Aer have both methods, each is tested.
METHODS = {"cirq": ["density_matrix", "trajectories"], "qiskit-aer": ["density_matrix", "trajectories"],
           "qsim": ["trajectories"], "pennylane": ["density_matrix"], "stim": ["trajectories"]}
# cirq's trajectories re-simulate the circuit in Python for every shot (seconds per model): they are run for
# a mixture (depolarizing; bit and phase flip take the same path), a Kraus channel and the readout.
SLOW = {("cirq", "trajectories", "bit_flip"), ("cirq", "trajectories", "phase_flip")}
POINTS = [(backend, model, method) for backend, methods in METHODS.items() for model in MODELS[1:]
          for method in methods
          if not (backend == "stim" and model == "amplitude_damping") and (backend, method, model) not in SLOW]


def backend_config(name: str, *overrides: str) -> dict:
    return OmegaConf.to_container(compose_point(f"backend={name}", *overrides).backend, resolve=True)


def noisy_spec(model: str, strength: float, method: str = "auto", shots: int = SHOTS) -> RunSpec:
    return RunSpec(shots=shots, seed=5, threads=1, noise={"name": model, "strength": strength, "method": method})


def run(backend: str, circuit, spec: RunSpec, *overrides: str) -> dict:
    request = {"backend": backend_config(backend, *overrides), "circuit": circuit, "spec": spec,
               "execution": {"warmup_runs": 0, "repetitions": 1, "verify_max_qubits": 18}}
    return measure(request)


def test_placement_is_one_channel_per_gate_qubit_and_readout_adds_none():
    circuit = circuits.build("ghz", 3)  # h 0; cx 0 1; cx 1 2
    items = list(placed(circuit, Noise("bit_flip", 0.1)))
    assert items == [circuit.gates[0], Channel("bit_flip", 0.1, 0),
                     circuit.gates[1], Channel("bit_flip", 0.1, 0), Channel("bit_flip", 0.1, 1),
                     circuit.gates[2], Channel("bit_flip", 0.1, 1), Channel("bit_flip", 0.1, 2)]
    assert list(placed(circuit, Noise("readout", 0.1))) == list(circuit.gates)
    assert list(placed(circuit, Noise())) == list(circuit.gates)


def test_reference_channels_on_one_qubit():
    # |1> then the channel of strength 0.3: P(measure 0) is 0.3 (amplitude damping, bit flip), 2p/3 (depolarizing:
    # X or Y), 0 (phase flip), and a readout flip of 0.3 on top of no gate noise.
    x = circuits.Circuit("custom", 1, (circuits.Gate("x", (0,)),))
    expected = {"amplitude_damping": 0.3, "bit_flip": 0.3, "depolarizing": 0.2, "phase_flip": 0.0, "readout": 0.3}
    for model, p0 in expected.items():
        assert reference.noisy_probabilities(x, Noise(model, 0.3)) == pytest.approx([p0, 1 - p0], abs=1e-12)
    # H, Z with p, H: the phase flip turns into a bit flip.
    hh = circuits.Circuit("custom", 1, (circuits.Gate("h", (0,)), circuits.Gate("h", (0,))))
    assert reference.noisy_probabilities(hh, Noise("phase_flip", 0.3)) == pytest.approx([0.7, 0.3], abs=1e-12)
    # Strength 0 is the noiseless distribution.
    ideal = reference.probabilities(reference.statevector(PROBE))
    assert reference.noisy_probabilities(PROBE, Noise("depolarizing", 0.0)) == pytest.approx(ideal, abs=1e-12)


@pytest.mark.parametrize("model", GATE_CHANNELS)
def test_library_channels_mean_what_qbench_defines(model):
    """cirq, PennyLane and Aer channel objects (Aer's depolarizing at lam = 4p/3) act as the reference's Kraus."""
    import cirq
    import pennylane as qml
    from qiskit.quantum_info import Kraus

    from qbench.backends.qiskit_aer_backend import one_qubit_error

    p = 0.3
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    rho = a @ a.conj().T / np.trace(a @ a.conj().T)

    def act(kraus):
        return sum(k @ rho @ k.conj().T for k in kraus)

    expected = act(reference.kraus_operators(Channel(model, p, 0)))
    cirq_channel = {"depolarizing": cirq.depolarize, "bit_flip": cirq.bit_flip, "phase_flip": cirq.phase_flip,
                    "amplitude_damping": cirq.amplitude_damp}[model](p)
    pennylane_channel = {"depolarizing": qml.DepolarizingChannel, "bit_flip": qml.BitFlip,
                         "phase_flip": qml.PhaseFlip, "amplitude_damping": qml.AmplitudeDamping}[model](p, wires=0)
    aer_error = one_qubit_error(Noise(model, p))
    assert act(cirq.kraus(cirq_channel)) == pytest.approx(expected, abs=1e-12)
    assert act(pennylane_channel.kraus_matrices()) == pytest.approx(expected, abs=1e-12)
    assert act(Kraus(aer_error.to_quantumchannel()).data) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("backend,model,method", POINTS, ids=["-".join(p) for p in POINTS])
def test_noisy_histogram_matches_exact_density_matrix(backend, model, method):
    shots = 1000 if (backend, method) == ("cirq", "trajectories") else SHOTS
    spec = noisy_spec(model, 0.1, method, shots)
    assert instantiate_backend(backend_config(backend)).supports(PROBE, spec) is None
    outcome = run(backend, PROBE, spec)
    v, details = outcome["verification"], outcome["backend_details"]
    assert sum(outcome["histogram"].values()) == shots
    exact = reference.noisy_probabilities(PROBE, Noise(model, 0.1))
    ideal = reference.probabilities(reference.statevector(PROBE))
    assert v["fidelity_method"] == "distribution"
    assert v["fidelity"] == pytest.approx(reference.classical_fidelity(outcome["histogram"], ideal))
    assert v["reference_noisy_fidelity"] == pytest.approx(np.sum(np.sqrt(exact * ideal)) ** 2)
    assert v["reference_noisy_fidelity"] < 0.8  # the probe is sensitive to this model
    assert v["tvd"] == pytest.approx(reference.total_variation(outcome["histogram"], exact))
    assert v["tvd"] <= v["tvd_bound"] == pytest.approx(reference.tvd_bound(exact, shots)), v
    assert details["noise_method"] == method
    assert details["trajectories"] == (shots if method == "trajectories" else None)


@pytest.mark.parametrize("model", ["depolarizing", "bit_flip", "amplitude_damping"])
@pytest.mark.parametrize("backend", METHODS)
def test_two_qubit_gates_get_the_channel_on_both_qubits(backend, model):
    # From |111>, dropping the channel on either operand of the two-qubit gates moves the distribution
    # by 0.1-0.18 in total variation, well over the 4000-shot bound (~0.06).
    gates = [circuits.Gate("x", (q,)) for q in range(3)]
    gates += [circuits.Gate("cx", (0, 1)), circuits.Gate("cz", (1, 2)), circuits.Gate("swap", (0, 2))]
    circuit = circuits.Circuit("custom", 3, tuple(gates))
    spec = noisy_spec(model, 0.2)
    if instantiate_backend(backend_config(backend)).supports(circuit, spec):
        assert (backend, model) == ("stim", "amplitude_damping")
        return
    v = run(backend, circuit, spec)["verification"]
    assert v["tvd"] <= v["tvd_bound"], v


@pytest.mark.parametrize("aer_method,noise_method", [("density_matrix", "density_matrix"),
                                                     ("matrix_product_state", "trajectories")])
def test_aer_method_set_by_the_user_runs_the_noise(aer_method, noise_method):
    outcome = run("qiskit-aer", PROBE, noisy_spec("amplitude_damping", 0.1), f"backend.method={aer_method}")
    assert outcome["backend_details"]["method"] == aer_method
    assert outcome["backend_details"]["noise_method"] == noise_method
    assert outcome["verification"]["tvd"] <= outcome["verification"]["tvd_bound"]


def test_non_clifford_circuit_with_noise_on_every_gate_kind():
    circuit = circuits.build("qft", 4, seed=3)  # x, h, cp, swap
    for backend in ("cirq", "qiskit-aer", "qsim", "pennylane"):
        v = run(backend, circuit, noisy_spec("amplitude_damping", 0.05))["verification"]
        assert v["tvd"] <= v["tvd_bound"], (backend, v)


def test_strength_sweep_fidelity_falls_monotonically_as_the_reference_says():
    ghz = circuits.build("ghz", 4)
    for backend in METHODS:
        measured, exact = [], []
        for strength in (0, 0.01, 0.05, 0.1):
            v = run(backend, ghz, noisy_spec("depolarizing", strength))["verification"]
            assert v["tvd"] <= v["tvd_bound"], (backend, strength, v)
            measured.append(v["fidelity"])
            exact.append(v["reference_noisy_fidelity"])
        assert exact[0] == pytest.approx(1) and exact[-1] < 0.8
        assert all(a > b for a, b in zip(exact, exact[1:])), exact
        assert all(a > b for a, b in zip(measured, measured[1:])), (backend, measured)


def test_noiseless_runs_record_nothing_about_noise():
    outcome = run("cirq", circuits.build("ghz", 3), RunSpec(shots=100, seed=1, threads=1))
    assert "noise_method" not in outcome["backend_details"]
    assert outcome["verification"]["fidelity_method"] == "statevector"


def test_auto_method_choice_per_backend():
    def chosen(backend, n, shots=1000, *overrides):
        adapter = instantiate_backend(backend_config(backend, *overrides))
        return adapter.noise_details(circuits.build("ghz", n), noisy_spec("depolarizing", 0.01, shots=shots))

    assert chosen("cirq", 12)["noise_method"] == "density_matrix"
    assert chosen("cirq", 12, 100) == {"noise_method": "trajectories", "trajectories": 100}
    assert chosen("cirq", 13) == {"noise_method": "trajectories", "trajectories": 1000}
    assert chosen("qiskit-aer", 9) == {"noise_method": "density_matrix", "trajectories": None,
                                       "method": "density_matrix"}  # 2^9 < 1000 shots, Aer's own rule
    assert chosen("qiskit-aer", 10) == {"noise_method": "trajectories", "trajectories": 1000, "method": "statevector"}
    assert chosen("qiskit-aer", 16, 10**6)["noise_method"] == "trajectories"  # never above 12 qubits
    assert chosen("qiskit-aer", 20, 1000, "backend.method=density_matrix")["method"] == "density_matrix"
    assert chosen("qsim", 4)["noise_method"] == "trajectories"
    assert chosen("stim", 4)["noise_method"] == "trajectories"
    assert chosen("pennylane", 20) == {"noise_method": "density_matrix", "trajectories": None,
                                       "device_name": "default.mixed", "precision": "double"}


@pytest.mark.parametrize("backend,noise,reason", [
    ("stim", noisy_spec("amplitude_damping", 0.1), "stim cannot express noise 'amplitude_damping'"),
    ("qsim", noisy_spec("depolarizing", 0.1, "density_matrix"), "by: trajectories"),
    ("pennylane", noisy_spec("depolarizing", 0.1, "trajectories"), "by: density_matrix"),
    ("qiskit-aer", noisy_spec("depolarizing", 0.1), "backend.method=automatic cannot simulate noise"),
])
def test_what_a_library_cannot_do_is_skipped_with_the_reason(backend, noise, reason):
    overrides = ["backend.method=automatic"] if backend == "qiskit-aer" else []
    adapter = instantiate_backend(backend_config(backend, *overrides))
    assert reason in adapter.supports(circuits.build("ghz", 3), noise)


def test_density_matrix_cost_enters_the_memory_guard():
    ghz20 = circuits.build("ghz", 20)
    pennylane = instantiate_backend(backend_config("pennylane"))
    assert pennylane.supports(ghz20, noisy_spec("depolarizing", 0.01)) is None
    estimate, reason = memory_check(pennylane, 20, 1, None)
    assert estimate == 16 * 4**20 and "density matrix 4^20 x 16 B" in reason
    # cirq picks trajectories at 20 qubits: a state vector, which fits.
    cirq_adapter = instantiate_backend(backend_config("cirq"))
    assert cirq_adapter.supports(ghz20, noisy_spec("depolarizing", 0.01)) is None
    assert memory_check(cirq_adapter, 20, 1, None) == (8 * 2**20, None)


def test_density_matrix_method_at_20_qubits_is_skipped_not_run(workdir):
    result = run_qbench("backend=qiskit-aer", "backend.method=density_matrix", "noise=depolarizing", "n_qubits=20",
                        cwd=workdir)
    assert result.returncode == 0, result.stderr
    (record,) = sweep_records(workdir)
    assert record["status"] == "skipped" and "4^20" in record["reason"], record["reason"]


@pytest.mark.parametrize("args,message", [
    (["noise=depolarizing", "noise.strength=1.5"], "noise.strength=1.5 is not allowed; allowed: a number in [0, 1]"),
    (["noise=readout", "noise.method=exact"],
     "noise.method='exact' is not allowed; allowed: one of auto, density_matrix, trajectories"),
])
def test_bad_noise_is_one_line_exit_2(args, message, workdir):
    result = run_qbench(*args, cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.strip() == f"qbench: error: {message}"
    assert not (workdir / "outputs").exists()


def test_strength_sweep_as_a_real_multirun(workdir):
    result = run_qbench("-m", "backend=cirq,stim", "noise=depolarizing", "noise.strength=0,0.01,0.05,0.1",
                        "shots=4000", "execution=quick", "hydra/launcher=joblib", cwd=workdir)
    assert result.returncode == 0, result.stderr
    records = sweep_records(workdir)
    assert len(records) == 8 and all(r["status"] == "success" for r in records)
    for backend, method in (("cirq", "density_matrix"), ("stim", "trajectories")):
        runs = sorted((r for r in records if r["backend"] == backend), key=lambda r: r["config"]["noise_strength"])
        assert [r["config"]["noise_strength"] for r in runs] == [0, 0.01, 0.05, 0.1]
        assert all(r["config"]["noise_model"] == "depolarizing" for r in runs)
        assert all(r["config"]["backend_options"]["noise_method"] == method for r in runs)
        assert all(r["metrics"]["tvd"] <= r["metrics"]["tvd_bound"] for r in runs)
        fidelities = [r["metrics"]["fidelity"] for r in runs]
        assert all(a > b for a, b in zip(fidelities, fidelities[1:])), fidelities
