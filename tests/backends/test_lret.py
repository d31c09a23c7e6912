"""LRET (quantum_sim in JSON mode; PennyLane device qlret.mixed).

qbench ships no LRET build. Without one (CI) the backends must say exactly where they looked; the
translation is checked against the reference's matrices, and the process handling (death signal,
scratch folders) on real processes. With a build, point the environment at it:

    QBENCH_LRET_EXECUTABLE=/path/to/phase-7/build/quantum_sim                  lret-phase7, lret-pennylane
    QBENCH_LRET_CIRQ_SCALABILITY_EXECUTABLE=/path/to/cirq-scalability/build/quantum_sim   lret-cirq-scalability

and the runs are checked against the exact references like every other backend (skipped otherwise).
"""
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from qbench.circuits import canonical as circuits
from qbench.circuits import reference
from qbench.backends.base import RunSpec
from qbench.backends.lret_backend import (REPOSITORY, SMALL_LAUNCHER, LretError, death_signal, kraus_op, probe,
                                          to_lret)
from qbench.backends.registry import instantiate_backend
from qbench.execution.timing import measure
from qbench.circuits.noise import GATE_CHANNELS, MODELS, Channel, Noise
from tests.helpers import compose_point, run_qbench, swept, sweep_records

SHOTS = 4000
PROBE = circuits.build("random_clifford", 3, depth=3, seed=11)
BRANCHES = {"lret-phase7": "phase-7", "lret-cirq-scalability": "cirq-scalability-comparison",
            "lret-pennylane": "phase-7"}
FOLDERS = {"phase-7": "lret-phase7", "cirq-scalability-comparison": "lret-cirq-scalability"}
BUILDS = {"lret-phase7": "QBENCH_LRET_EXECUTABLE", "lret-pennylane": "QBENCH_LRET_EXECUTABLE",
          "lret-cirq-scalability": "QBENCH_LRET_CIRQ_SCALABILITY_EXECUTABLE"}
ADVICE = "build branch '{}' of " + REPOSITORY + " and set backend.executable=/path/to/quantum_sim"
NOISY = {"name": "depolarizing", "strength": 0.1, "method": "auto"}


def backend_config(name: str, *overrides: str) -> dict:
    return OmegaConf.to_container(compose_point(f"backend={name}", *overrides).backend, resolve=True)


def not_found(name: str, cwd) -> str:
    places = f"quantum_sim on PATH or {cwd}/backends/{FOLDERS[BRANCHES[name]]}/build/quantum_sim"
    return f"LRET's quantum_sim not found at {places}: {ADVICE.format(BRANCHES[name])}"


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


def test_a_binary_that_is_no_lret_build_is_unavailable_with_what_the_probe_saw(workdir):
    result = run_qbench("backend=lret-phase7", "backend.executable=/bin/false", "execution=quick", cwd=workdir)
    (record,) = sweep_records(workdir)
    assert result.returncode == 0 and record["status"] == "unavailable", record
    assert record["reason"] == ("lret-phase7 needs a quantum_sim built from LRET branch 'phase-7': /bin/false is "
                                "not a working quantum_sim (the DEPOLARIZE probe exited with 1: no output file): "
                                + ADVICE.format("phase-7"))


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


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds  # generous: what it protects is "not left behind", not speed
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


KILLED_PARENT = """
import sys, time
from qbench.backends.lret_backend import Scratch, launch
scratch = Scratch()
(scratch.path / "run.json").write_text("{}")
child = launch(["sleep", "60"])
print(scratch.path, child.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
def test_a_killed_worker_leaves_no_child_and_no_scratch_folder_behind():
    """What a timeout does to a worker (SIGKILL): its child dies with it (setpriv's death signal,
    through execve) and the guardian removes the point's folder."""
    parent = subprocess.Popen([sys.executable, "-c", KILLED_PARENT], stdout=subprocess.PIPE, text=True)
    folder, child = parent.stdout.readline().split()
    assert Path(folder, "run.json").exists() and _alive(int(child))
    # setpriv sets the death signal, then execs the command: killed before that, in the ~1 ms after
    # launch() returns, the child would keep running (no signal is ever sent to it). A worker's
    # timeout kill comes far later; the test kills once setpriv has run, as such a kill would.
    assert _wait_until(lambda: Path(f"/proc/{child}/comm").read_text().strip() == "sleep"), "setpriv never ran"
    parent.kill()
    parent.wait()
    assert _wait_until(lambda: not _alive(int(child))), "the child outlived its killed parent"
    assert _wait_until(lambda: not Path(folder).exists()), f"{folder} left behind"


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux setpriv is not installed")
def test_launches_take_no_preexec_fn_where_setpriv_is_there():
    """A preexec_fn makes subprocess fork the whole worker (7.7 ms per launch of ~330 MB instead of
    1.9 ms, bench/lret_launch.py): the death signal is setpriv's instead."""
    prefix, preexec, how = death_signal()
    assert preexec is None and list(prefix[1:]) == ["--pdeathsig", "KILL", "--"] and how.startswith("setpriv")


# -- with a build -------------------------------------------------------------------------------
def built(name: str) -> str:
    executable = os.environ.get(BUILDS[name])
    if not executable:
        pytest.skip(f"no LRET build: set {BUILDS[name]}=/path/to/quantum_sim (branch {BRANCHES[name]})")
    if name == "lret-pennylane" and importlib.util.find_spec("qlret") is None:
        pytest.skip("qlret is not installed: pip install -e <LRET checkout>/python")
    return executable


def execution(**overrides) -> dict:
    composed = OmegaConf.to_container(compose_point("execution=quick").execution, resolve=True)
    return {**composed, "warmup_runs": 1, "repetitions": 2, "verify_max_qubits": 18, **overrides}


def run(name: str, circuit, spec: RunSpec = RunSpec(SHOTS, 5, 1)) -> dict:
    config = backend_config(name, f"backend.executable={built(name)}")
    return measure({"backend": config, "circuit": circuit, "spec": spec, "execution": execution()})


@pytest.mark.parametrize("name", BRANCHES)
@pytest.mark.parametrize("family,n", [("ghz", 3), ("ghz", 7), ("qft", 4), ("qft", 6), ("random", 5),
                                      ("random_clifford", 6)])
def test_build_matches_exact_reference(name, family, n):
    outcome = run(name, circuits.build(family, n, depth=6, seed=n + 100))
    v, details = outcome["verification"], outcome["backend_details"]
    assert sum(outcome["histogram"].values()) == SHOTS and all(len(bits) == n for bits in outcome["histogram"])
    assert v["tvd"] <= v["tvd_bound"], v
    assert details["executable"] == os.path.abspath(built(name)) and details["branch"] == BRANCHES[name]
    if name == "lret-pennylane":  # qlret.mixed returns no state
        assert v["fidelity_method"] == "distribution"
        return
    assert v["fidelity_method"] == "statevector" and v["fidelity"] >= 1 - 1e-6, v
    # LRET's own report of the dry run, the warm-up and the two timed runs: a pure state stays rank 1.
    assert details["lret_final_rank"] == [1, 1, 1, 1] and len(details["lret_execution_time_ms"]) == 4


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
    records = swept(workdir, 4, "backend=lret-phase7", f"backend.executable={executable}", "circuit=ghz,qft",
                    "n_qubits=4", "noise=none,depolarizing", "execution=quick")
    assert all(r["status"] == "success" for r in records), [r["reason"] for r in records]
    for r in records:
        options, m = r["config"]["backend_options"], r["metrics"]
        assert options["branch"] == "phase-7" and options["lret_execution_time_ms"] and options["lret_final_rank"]
        assert options["parent_death"].startswith("setpriv") or shutil.which("setpriv") is None
        assert m["tvd"] <= m["tvd_bound"] and m["memory_peak_mb"] > 0
        assert (m["fidelity"] >= 1 - 1e-6) == (r["config"]["noise_model"] == "none")


def test_build_a_failing_quantum_sim_is_an_error_with_its_exit_code_and_message():
    adapter = instantiate_backend(backend_config("lret-phase7", f"backend.executable={built('lret-phase7')}"))
    prepared = adapter.prepare(circuits.build("ghz", 2), RunSpec(10, 1, 1))
    (prepared["folder"] / "run.json").write_text(json.dumps(
        {"circuit": {"num_qubits": 2, "operations": [{"name": "NOPE", "wires": [0]}]}, "config": {"shots": 1}}))
    with pytest.raises(LretError, match="^quantum_sim exited with 1: JSON mode failed: Unsupported gate: NOPE$"):
        adapter.run(prepared)


def both_builds() -> tuple[str, str]:
    phase7, cirq = (os.environ.get(BUILDS[n]) for n in ("lret-phase7", "lret-cirq-scalability"))
    if not (phase7 and cirq):
        pytest.skip("needs both LRET builds: set QBENCH_LRET_EXECUTABLE (branch phase-7) and "
                    "QBENCH_LRET_CIRQ_SCALABILITY_EXECUTABLE (branch cirq-scalability-comparison)")
    return os.path.abspath(phase7), os.path.abspath(cirq)


def test_build_the_probe_tells_the_branches_apart_and_each_backend_takes_only_its_own():
    phase7, cirq = both_builds()
    assert probe(phase7) == ("phase-7", "it refuses DEPOLARIZE: JSON mode failed: Unsupported gate: DEPOLARIZE")
    assert probe(cirq) == ("cirq-scalability-comparison", "it runs DEPOLARIZE")
    names = [n for n in BRANCHES if n != "lret-pennylane" or importlib.util.find_spec("qlret")]
    for name in names:
        for path, branch in ((phase7, "phase-7"), (cirq, "cirq-scalability-comparison")):
            reason = instantiate_backend(backend_config(name, f"backend.executable={path}")).available()
            if branch == BRANCHES[name]:
                assert reason is None
            else:
                seen = "it refuses DEPOLARIZE: JSON mode failed: Unsupported gate: DEPOLARIZE" \
                    if branch == "phase-7" else "it runs DEPOLARIZE"
                assert reason == (f"{name} needs a quantum_sim built from LRET branch '{BRANCHES[name]}': {path} is "
                                  f"a {branch} build ({seen}): {ADVICE.format(BRANCHES[name])}")


def test_build_of_the_wrong_branch_is_unavailable_in_a_sweep_and_in_the_plan(workdir):
    phase7, _ = both_builds()
    args = ("backend=lret-cirq-scalability", f"backend.executable={phase7}", "noise=depolarizing", "execution=quick")
    plan = run_qbench("plan", *args, cwd=workdir)
    assert plan.returncode == 0, plan.stderr
    assert ("unavailable: lret-cirq-scalability needs a quantum_sim built from LRET branch "
            f"'cirq-scalability-comparison': {phase7} is a phase-7 build") in plan.stdout
    assert "0 will run" in plan.stdout
    result = run_qbench(*args, cwd=workdir)
    (record,) = sweep_records(workdir)
    assert result.returncode == 0 and record["status"] == "unavailable", record
    assert f"{phase7} is a phase-7 build (it refuses DEPOLARIZE" in record["reason"]


def test_build_one_rule_finds_each_branch_s_build_on_path_or_under_the_cwd(no_build, monkeypatch):
    """A phase-7 quantum_sim on PATH serves lret-phase7 and lret-pennylane; lret-cirq-scalability
    passes it over for backends/lret-cirq-scalability/build/quantum_sim under the cwd."""
    phase7, cirq = both_builds()
    (no_build / "bin").mkdir()
    (no_build / "bin" / "quantum_sim").symlink_to(phase7)
    monkeypatch.setenv("PATH", f"{no_build / 'bin'}{os.pathsep}{os.environ['PATH']}")
    folder = no_build / "backends" / "lret-cirq-scalability" / "build"
    folder.mkdir(parents=True)
    (folder / "quantum_sim").symlink_to(cirq)
    names = [n for n in BRANCHES if n != "lret-pennylane" or importlib.util.find_spec("qlret")]
    for name in names:
        adapter = instantiate_backend(backend_config(name))
        assert adapter.available() is None, name
        expected = folder / "quantum_sim" if name == "lret-cirq-scalability" else no_build / "bin" / "quantum_sim"
        assert adapter.executable() == str(expected), name


def _ours(marker: str) -> list[str]:
    """Command lines of the processes that mention `marker` (this test's temporary folder)."""
    out = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line and not line.lstrip().startswith("Z")]


@pytest.mark.parametrize("name", ["lret-phase7", "lret-pennylane"])
def test_build_a_timeout_leaves_no_quantum_sim_and_no_file(name, workdir, monkeypatch):
    """A GHZ-12 noisy run takes ~2 s; at timeout_per_run=0.5 its worker is killed mid-run."""
    executable = built(name)
    tmp = workdir / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # the workers' temporary folder: what is left is this test's
    result = run_qbench(f"backend={name}", f"backend.executable={executable}", "circuit=ghz", "n_qubits=12",
                        "noise=depolarizing", "execution=quick", "execution.timeout_per_run=0.5", cwd=workdir)
    (record,) = sweep_records(workdir)
    assert record["status"] == "timeout", (record["status"], record.get("reason"), result.stderr[-2000:])
    assert _wait_until(lambda: not _ours(str(tmp))), _ours(str(tmp))
    left = lambda: sorted(p.name for p in tmp.iterdir() if p.name.startswith(("tmp", "qbench-lret-")))  # noqa: E731
    assert _wait_until(lambda: not left()), left()


def test_build_memory_peak_counts_quantum_sim_on_both_ways_of_running_it(workdir):
    """GHZ-12 with noise: quantum_sim forms the dense 4^12 x 16 B = 268 MB density matrix to sample."""
    executable = built("lret-pennylane")
    result = run_qbench("-m", "backend=lret-phase7,lret-pennylane", f"++backend.executable={executable}",
                        "circuit=ghz", "n_qubits=12", "noise=depolarizing", "execution=quick", cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    records = {r["backend"]: r for r in sweep_records(workdir)}
    peaks = {name: r["config"]["backend_options"]["quantum_sim_peak_mb"] for name, r in records.items()}
    assert all(p > 268 for p in peaks.values()), peaks
    assert abs(peaks["lret-pennylane"] - peaks["lret-phase7"]) < 0.25 * peaks["lret-phase7"], peaks
    for name, r in records.items():  # the worker's own peak (Python, NumPy, PennyLane) comes on top
        assert r["metrics"]["memory_peak_mb"] > peaks[name] + 20, (name, r["metrics"]["memory_peak_mb"], peaks)


@pytest.mark.parametrize("name", ["lret-phase7", "lret-pennylane"])
def test_build_a_small_quantum_sim_is_measured_not_taken_for_its_parent_s_size(name):
    """A child counts its parent's resident memory until its exec, so a small quantum_sim started by
    this (> 100 MB) process reports this process's size; qbench measures it in one more call."""
    details = run(name, circuits.build("ghz", 3), RunSpec(SHOTS, 5, 1, noise=NOISY))["backend_details"]
    assert details["quantum_sim_peak"] == SMALL_LAUNCHER
    assert 1 < details["quantum_sim_peak_mb"] < 60, details["quantum_sim_peak_mb"]


def test_build_report_ranks_state_and_histogram_fidelities_apart(workdir, monkeypatch):
    """lret-pennylane has only its histogram (qlret.mixed returns no state); cirq its state. (cirq
    takes no backend.executable: the build is found on PATH.)"""
    (workdir / "bin").mkdir()
    (workdir / "bin" / "quantum_sim").symlink_to(os.path.abspath(built("lret-pennylane")))
    monkeypatch.setenv("PATH", f"{workdir / 'bin'}{os.pathsep}{os.environ['PATH']}")
    result = run_qbench("-m", "backend=cirq,lret-pennylane", "circuit=ghz", "n_qubits=4", "execution=quick",
                        cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    report = next((workdir / "outputs").glob("bench_*/report.md")).read_text()
    state = report[report.index("### Highest state fidelity"):]
    histogram = report[report.index("### Highest histogram fidelity"):]
    assert "| 1 | cirq |" in state.split("###")[1] and "lret-pennylane" not in state.split("###")[1]
    assert "| 1 | lret-pennylane |" in histogram.split("###")[1] and "cirq" not in histogram.split("###")[1]
