"""quest-v3: QuEST v3 (pyquest 0.0.1 in .venv-quest, driven over a pipe) against the exact references.

No skips: `make test` builds .venv-quest first (`make quest-env`), so a missing QuEST is a failure here.
"""
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from qbench.circuits import canonical as circuits
from qbench import pipes
from qbench.circuits import reference
from qbench.backends.base import RunSpec
from qbench.backends.quest_v3_backend import PROJECT_ROOT, PYTHON_ENV, QuestError, interpreter_candidates
from qbench.backends.registry import instantiate_backend
from qbench.execution.timing import measure
from qbench.circuits.noise import MODELS, Noise
from tests.helpers import assert_noisy_matches_reference, compose_point, run_qbench, sweep_records

SHOTS = 4000
# Clifford, 3 qubits, and every noise model moves its distribution far from the ideal one (as in test_noise).
PROBE = circuits.build("random_clifford", 3, depth=3, seed=11)


def backend_config(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_point("backend=quest-v3", *overrides).backend, resolve=True)


def noisy(model: str, strength: float = 0.1, method: str = "auto") -> RunSpec:
    return RunSpec(shots=SHOTS, seed=5, threads=1, noise={"name": model, "strength": strength, "method": method})


def run(circuit, spec: RunSpec = RunSpec(SHOTS, 5, 1), *overrides: str) -> dict:
    return measure({"backend": backend_config(*overrides), "circuit": circuit, "spec": spec,
                    "execution": {"warmup_runs": 1, "repetitions": 2, "verify_max_qubits": 18}})


def test_make_quest_env_built_a_working_interpreter():
    adapter = instantiate_backend(backend_config())
    assert adapter.available() is None, "run `make quest-env` (make test does)"
    assert adapter.versions() == {"pyquest": "0.0.1"}


@pytest.mark.parametrize("family,n", [("ghz", 3), ("ghz", 7), ("qft", 4), ("qft", 6), ("random", 5),
                                      ("random_clifford", 6)])
def test_statevector_matches_exact_reference(family, n):
    outcome = run(circuits.build(family, n, depth=6, seed=n + 100))
    v = outcome["verification"]
    assert v["fidelity_method"] == "statevector" and v["fidelity"] >= 1 - 1e-6, v
    assert sum(outcome["histogram"].values()) == SHOTS and all(len(bits) == n for bits in outcome["histogram"])
    assert v["tvd"] <= v["tvd_bound"], v
    details = outcome["backend_details"]
    assert details["precision"] == "double" and details["quest"]["precision"] == 2
    assert details["quest"]["pyquest"] == "0.0.1" and details["quest"]["numpy"].startswith("1.")
    assert len(outcome["execution_times_seconds"]) == 2 and outcome["dry_run_seconds"] > 0


@pytest.mark.parametrize("family,n", [("qft", 5), ("random", 4)])
def test_density_matrix_method_matches_exact_reference(family, n):
    # createDensityQureg, noiseless: the pure density matrix yields the state that is checked.
    outcome = run(circuits.build(family, n, depth=5, seed=7), RunSpec(SHOTS, 5, 1), "backend.method=density_matrix")
    v = outcome["verification"]
    assert v["fidelity_method"] == "statevector" and v["fidelity"] >= 1 - 1e-6, v
    assert v["tvd"] <= v["tvd_bound"], v
    assert outcome["backend_details"]["method"] == "density_matrix"


@pytest.mark.parametrize("method", ["statevector", "density_matrix"])
def test_bit_order_is_qubit_zero_first(method):
    circuit = circuits.Circuit("custom", 3, (circuits.Gate("x", (0,)),))
    outcome = run(circuit, RunSpec(SHOTS, 5, 1), f"backend.method={method}")
    assert outcome["histogram"] == {"100": SHOTS}


@pytest.mark.parametrize("model", MODELS[1:])
def test_noisy_histogram_matches_exact_density_matrix(model):
    spec = noisy(model)
    adapter = instantiate_backend(backend_config())
    assert adapter.supports(PROBE, spec) is None and adapter.representation == "density_matrix"
    outcome = run(PROBE, spec)
    assert_noisy_matches_reference(outcome, PROBE, Noise(model, 0.1), SHOTS)
    details = outcome["backend_details"]
    # statevector mode with noise switched to a density matrix, and the record says so
    assert details["noise_method"] == "density_matrix" and details["method"] == "density_matrix"


@pytest.mark.parametrize("model", ["depolarizing", "bit_flip", "amplitude_damping"])
def test_two_qubit_gates_get_the_channel_on_both_qubits(model):
    gates = [circuits.Gate("x", (q,)) for q in range(3)]
    gates += [circuits.Gate("cx", (0, 1)), circuits.Gate("cz", (1, 2)), circuits.Gate("swap", (0, 2))]
    v = run(circuits.Circuit("custom", 3, tuple(gates)), noisy(model, 0.2))["verification"]
    assert v["tvd"] <= v["tvd_bound"], v


def test_noise_on_every_non_clifford_gate_kind():
    for circuit in (circuits.build("qft", 4, seed=3), circuits.build("random", 4, depth=3, seed=1)):
        v = run(circuit, noisy("amplitude_damping", 0.05))["verification"]
        assert v["tvd"] <= v["tvd_bound"], (circuit.family, v)


@pytest.mark.parametrize("spec,overrides,reason", [
    (noisy("depolarizing", 0.8), [], "QuEST's mixDepolarising refuses depolarizing strength 0.8 > 0.75"),
    (noisy("bit_flip", 0.6), [], "QuEST's mixPauli refuses bit_flip strength 0.6 > 0.5"),
    (noisy("phase_flip", 0.51), [], "QuEST's mixDephasing refuses phase_flip strength 0.51 > 0.5"),
    (noisy("depolarizing", 0.1, "trajectories"), [], "cannot simulate noise by noise.method=trajectories"),
    (RunSpec(10, 1, 1), ["backend.precision=single"], "quest-v3 does not simulate in single precision"),
])
def test_what_quest_v3_cannot_do_is_skipped_with_the_reason(spec, overrides, reason):
    assert reason in instantiate_backend(backend_config(*overrides)).supports(PROBE, spec)


def test_strengths_at_the_limits_still_run():
    assert instantiate_backend(backend_config()).supports(PROBE, noisy("depolarizing", 0.75)) is None
    v = run(PROBE, noisy("bit_flip", 0.5))["verification"]
    assert v["tvd"] <= v["tvd_bound"], v


def test_missing_interpreter_is_unavailable_with_the_paths_looked_at(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    adapter = instantiate_backend(backend_config("backend.python=no-env/bin/python"))
    assert adapter.available() == (f"QuEST interpreter not found at {tmp_path}/no-env/bin/python or "
                                   f"{PROJECT_ROOT}/no-env/bin/python: run `make quest-env`")
    # The default relative path is found from any cwd through the checkout; the env variable overrides both.
    assert instantiate_backend(backend_config()).available() is None
    monkeypatch.setenv(PYTHON_ENV, str(tmp_path / "elsewhere" / "python"))
    assert interpreter_candidates(".venv-quest/bin/python") == [tmp_path / "elsewhere" / "python"]
    assert "QuEST interpreter not found at" in instantiate_backend(backend_config()).available()


def test_an_interpreter_without_pyquest_is_unavailable(monkeypatch):
    # qbench's own interpreter: numpy 2, no pyquest.
    monkeypatch.setenv(PYTHON_ENV, sys.executable)
    adapter = instantiate_backend(backend_config())
    assert adapter.available() == f"pyquest is not installed in {Path(sys.executable).absolute()}: run `make quest-env`"
    assert adapter.versions() == {"pyquest": None}


def test_gpu_is_unavailable_with_the_reason():
    reason = instantiate_backend(backend_config("backend.device=GPU")).available()
    assert reason == "no GPU build: the pyquest wheels are QuEST's CPU (OpenMP) build"


def test_one_quest_process_per_load_a_small_round_trip_and_recovery_from_its_death():
    adapter = instantiate_backend(backend_config())
    adapter.load()
    pid = adapter.process.pid
    for n in (3, 5):
        prepared = adapter.prepare(circuits.build("ghz", n), RunSpec(100, 1, 1))
        assert sum(adapter.histogram(prepared, adapter.run(prepared)).values()) == 100
    assert adapter.process.pid == pid  # QuEST started once, reused by every point
    # The IPC in every timed call: an empty round trip is tens of microseconds (pipes, no files).
    rounds = []
    for _ in range(200):
        start = time.perf_counter()
        adapter.ping()
        rounds.append(time.perf_counter() - start)
    assert statistics.median(rounds) < 0.002, statistics.median(rounds)
    # A QuEST process that dies makes that run an error; the next point starts a fresh one.
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(QuestError, match="QuEST process exited with code -9"):
        adapter.run(prepared)
    prepared = adapter.prepare(circuits.build("ghz", 3), RunSpec(100, 1, 1))
    assert adapter.histogram(prepared, adapter.run(prepared)).keys() <= {"000", "111"}
    assert adapter.process.pid != pid


def test_the_quest_process_dies_with_its_worker():
    # A worker killed on timeout must not leave QuEST computing: the server gets SIGKILL with its parent.
    code = ("import time; from qbench.backends.registry import instantiate_backend; "
            "b = instantiate_backend({'_target_': 'qbench.backends.quest_v3_backend.QuestV3Backend', 'name': 'quest-v3'}); "
            "b.load(); print(b.process.pid, flush=True); time.sleep(120)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()

    def state():  # None once reaped; "Z" while dead but not yet reaped by whoever adopted it
        try:
            with open(f"/proc/{child}/status") as f:
                return next(line.split()[1] for line in f if line.startswith("State:"))
        except FileNotFoundError:
            return None

    deadline = time.monotonic() + 10
    while state() not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state() in (None, "Z")


def test_memory_peak_counts_the_quest_process():
    # 11 qubits with noise: a 4^11 x 16 B = 64 MiB density matrix, allocated in the QuEST process.
    outcome = run(circuits.build("ghz", 11), noisy("depolarizing", 0.01))
    own = pipes.peak_rss_mb()
    assert outcome["memory_peak_mb"] - own >= 64, (outcome["memory_peak_mb"], own)


def test_sweep_through_the_cli(workdir):
    # From a temporary cwd: the QuEST interpreter is found through the checkout.
    result = run_qbench("-m", "backend=quest-v3", "circuit=ghz,qft", "n_qubits=4,6", "noise=none,depolarizing",
                        "shots=2000", "execution=quick", cwd=workdir)
    assert result.returncode == 0, result.stderr
    records = sweep_records(workdir)
    assert len(records) == 8 and all(r["status"] == "success" for r in records), [r["reason"] for r in records]
    assert "8 points: 8 successful, 0 skipped/unavailable, 0 failed" in result.stderr + result.stdout
    for r in records:
        options, m = r["config"]["backend_options"], r["metrics"]
        assert options["quest"]["pyquest"] == "0.0.1" and options["precision"] == "double"
        assert m["tvd"] <= m["tvd_bound"] and m["memory_peak_mb"] > 0
        if r["config"]["noise_model"] == "none":
            assert m["fidelity_method"] == "statevector" and m["fidelity"] >= 1 - 1e-6
            assert options["method"] == "statevector"
        else:
            assert options["method"] == "density_matrix" and options["noise_method"] == "density_matrix"
            if r["config"]["circuit_type"] == "ghz":  # (QFT's uniform output stays uniform under depolarizing)
                assert m["reference_noisy_fidelity"] < 1 and m["fidelity"] < 1
