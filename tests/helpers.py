"""Helpers shared by the test modules: compose the real configs, run the real CLI into temporary
directories, read what a sweep wrote. (Test modules import these, never each other.)"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_module

import qbench

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent  # the repository
PLUGIN_CONF = TESTS / "plugins" / "conf"


def compose_point(*overrides: str, with_plugins: bool = False):
    extra = [f"hydra.searchpath=[file://{PLUGIN_CONF}]"] if with_plugins else []
    with initialize_config_module("qbench.conf", version_base="1.3"):
        return compose("config", overrides=[*extra, *overrides])


def run_qbench(*args: str, cwd: Path, timeout: float = 600, plugins: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m qbench ARGS` for real in `cwd` (where outputs/ is created)."""
    env = dict(os.environ)
    if plugins:
        args = (*args, f"hydra.searchpath=[file://{PLUGIN_CONF}]")
    return subprocess.run([sys.executable, "-m", "qbench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def read_sweep(sweep_dir: Path) -> list[dict]:
    """Every result.json of one sweep folder."""
    return [json.loads(p.read_text()) for p in sorted(Path(sweep_dir).glob("*/result.json"))]


def sweep_records(cwd: Path) -> list[dict]:
    """Every result.json of the newest sweep (or single run) under cwd/outputs."""
    dirs = sorted((cwd / "outputs").glob("bench_*")) or sorted((cwd / "outputs" / "runs").glob("*"))
    assert dirs, f"no sweep directory under {cwd / 'outputs'}"
    return [json.loads(p.read_text()) for p in sorted(dirs[-1].glob("**/result.json"))]


def swept(workdir: Path, points: int, *args: str, **options) -> list[dict]:
    """Run the sweep `python -m qbench -m ARGS` in `workdir`; it must exit 0 and leave `points` records."""
    result = run_qbench("-m", *args, cwd=workdir, **options)
    assert result.returncode == 0, result.stderr
    records = sweep_records(workdir)
    assert len(records) == points, [r["reason"] for r in records]
    return records


def assert_matches_reference(outcome: dict, n_qubits: int, shots: int) -> None:
    """A measured run agrees with its exact reference: state fidelity, and a histogram in the
    canonical bit order within shot noise of the exact distribution."""
    v = outcome["verification"]
    assert v["fidelity_method"] == "statevector"
    assert v["fidelity"] >= 1 - 1e-6, v
    assert sum(outcome["histogram"].values()) == shots
    assert all(len(bits) == n_qubits for bits in outcome["histogram"])
    assert v["tvd"] <= v["tvd_bound"], v


def measure_on(backend: str, circuit, spec, *overrides: str, verify_max_qubits: int = 18) -> dict:
    """qbench.execution.timing.measure of `circuit` on a shipped backend, in this process, with the
    composed execution=quick settings (one timed run)."""
    from omegaconf import OmegaConf

    from qbench.execution.timing import measure

    cfg = OmegaConf.to_container(compose_point(f"backend={backend}", "execution=quick", *overrides), resolve=True)
    execution = dict(cfg["execution"], verify_max_qubits=verify_max_qubits)
    return measure({"backend": cfg["backend"], "circuit": circuit, "spec": spec, "execution": execution})


def client_for(workdir: Path):
    """MLflow's own client on the default store of a run made in `workdir`."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")


# Every backend config that ships is an allowed value (the list grows with new backends).
BACKENDS = ", ".join(sorted(p.stem for p in (Path(qbench.__file__).parent / "conf" / "backend").glob("*.yaml")))

BAD_INPUTS = [
    (["backend=foo"], f"unknown backend 'foo'; allowed: {BACKENDS}"),
    (["circuit=bar"], "unknown circuit 'bar'; allowed: ghz, iqft, mqt, qaoa, qasm, qft, qpe, quantum_volume, random, "
                      "random_clifford"),
    (["n_qubits=0"], "n_qubits=0 is not allowed; allowed: a positive integer"),
    (["n_qubits=-3"], "n_qubits=-3 is not allowed; allowed: a positive integer"),
    (["n_qubits=abc"], "n_qubits='abc' is not allowed; allowed: a positive integer"),
    (["n_qubits=4.5"], "n_qubits=4.5 is not allowed; allowed: a positive integer"),
    (["shots=-5"], "shots=-5 is not allowed; allowed: a positive integer"),
    (["execution.repetitions=-1"], "execution.repetitions=-1 is not allowed; allowed: a positive integer"),
    (["execution.warmup_runs=-1"], "execution.warmup_runs=-1 is not allowed; allowed: a non-negative integer"),
    (["circuit=random", "circuit.depth=0"], "circuit.depth=0 is not allowed; allowed: circuit 'random' needs a positive integer depth"),
    (["seed=abc"], "seed='abc' is not allowed; allowed: an integer"),
    (["seed=1.5"], "seed=1.5 is not allowed; allowed: an integer"),
    (["-m", "n_qubits=4,-1"], "n_qubits=-1 is not allowed; allowed: a positive integer"),
    (["-m", "backend=cirq,nope"], f"unknown backend 'nope'; allowed: {BACKENDS}"),
    (["-m", "backend=glob(zzz*)"], "the sweep has no points: backend=glob(zzz*) expands to nothing; allowed: a glob "
                                  "that matches a config option, a range(start,stop[,step]) with start before stop"),
    (["-m", "n_qubits=range(10,4)"], "the sweep has no points: n_qubits=range(10,4) expands to nothing; allowed: a "
                                    "glob that matches a config option, a range(start,stop[,step]) with start before stop"),
    (["-m", "backend=cirq,stim", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"],
     "hydra.launcher.n_jobs=0 is not allowed; allowed: a positive number of workers, or a negative one "
     "(-1: every core, -2: all but one, as joblib counts)"),
    (["circuit.depth=-3"], "circuit.depth=-3 does not apply to circuit 'ghz'; allowed: no depth (only random, "
                           "random_clifford take one)"),
    (["circuit=qft", "circuit.depth=50"], "circuit.depth=50 does not apply to circuit 'qft'; allowed: no depth "
                                          "(only random, random_clifford take one)"),
    (["backend=cirq", "backend._target_=no_such_package.Sim"], "backend._target_='no_such_package.Sim' cannot be "
     "imported (ModuleNotFoundError: No module named 'no_such_package'); allowed: an adapter class on the Python path"),
    (["+backend.nosuch=1"], "backend.nosuch is not an option of backend 'cirq'; allowed: device, method, name, "
                            "precision, threads"),
    (["backend=qiskit-aer", "+backend.fusion_enabled=false"],
     "backend.fusion_enabled is not an option of backend 'qiskit-aer'; allowed: blocking_enable, blocking_qubits, "
     "custatevec, device, fusion_enable, fusion_max_qubit, fusion_max_swap, fusion_threshold, method, name, "
     "precision, statevector_parallel_threshold, threads"),
]


def assert_noisy_matches_reference(outcome: dict, circuit, noise, shots: int) -> None:
    """A noisy run's verification agrees with the exact density-matrix reference: its fidelity to the
    ideal distribution, and its histogram within shot noise of the exact noisy one."""
    import pytest

    from qbench.circuits import reference

    v = outcome["verification"]
    exact = reference.noisy_probabilities(circuit, noise)
    ideal = reference.probabilities(reference.statevector(circuit))
    assert sum(outcome["histogram"].values()) == shots
    assert v["fidelity"] == pytest.approx(reference.classical_fidelity(outcome["histogram"], ideal))
    assert v["reference_noisy_fidelity"] < 0.8  # the probe is sensitive to this model
    assert v["tvd"] == pytest.approx(reference.total_variation(outcome["histogram"], exact))
    assert v["tvd"] <= v["tvd_bound"], v


def wait_until_gone(pid: int, seconds: float = 30) -> bool:
    """True once `pid` has ended and been reaped (or is a zombie); the limit only bounds a failure."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    return True
        except (FileNotFoundError, ProcessLookupError):  # gone between the open and the read
            return True
        time.sleep(0.05)
    return False


def assert_helper_killed_and_guardian_spared(pid_file: Path) -> None:
    """After the faulty adapter's `hang_with_helper` point was killed at its timeout: its helper
    (no death signal) is gone; its guardian (a session of its own) is left, then killed here."""
    assert pid_file.exists(), "the worker never started its helpers"
    helper, guardian = map(int, pid_file.read_text().split())
    assert wait_until_gone(helper)
    assert not wait_until_gone(guardian, seconds=0.5)  # a session of its own: left to end by itself
    os.kill(guardian, signal.SIGKILL)
