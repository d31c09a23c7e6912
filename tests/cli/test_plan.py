"""`qbench plan`: the points a command would launch and the status each will get, nothing run."""
import json

import pytest

from qbench.cli import main as cli
from qbench.cli import plan
from qbench.app.sweep import compose_command, hydra_session
from qbench.execution.resources import threads_for
from tests.helpers import BAD_INPUTS


def planned(*args: str) -> dict:
    result, problem = plan.build(list(args))
    assert problem is None, problem
    return result


def backend_options() -> list[str]:
    return [p.cfg.backend.name for p in compose_command(["backend=glob(*)"], True).points]


def test_statuses_follow_the_runner_checks_in_order():
    result = planned("-m", "backend=stim,qiskit-aer", "circuit=qft", "n_qubits=8,34", "backend.device=CPU,GPU")
    by_point = {(p["backend"], p["n_qubits"], p["device"]): p for p in result["points"]}
    # supports() first: stim refuses QFT whatever the device or size
    for key in [("stim", n, d) for n in (8, 34) for d in ("CPU", "GPU")]:
        assert by_point[key]["status"] == "skipped"
        assert by_point[key]["reason"].startswith("stim simulates Clifford circuits only")
    # then available(): no CUDA device here, even at a size that would not fit
    for n in (8, 34):
        assert by_point[("qiskit-aer", n, "GPU")]["status"] == "unavailable"
        assert by_point[("qiskit-aer", n, "GPU")]["reason"].startswith("no CUDA device")
    # then the memory guard, with the estimate in the reason
    big = by_point[("qiskit-aer", 34, "CPU")]
    assert big["status"] == "skipped" and big["memory_estimate_bytes"] == 8 * 2**34
    assert big["reason"].startswith("needs ~128.00 GiB (state vector 2^34 x 8 B)")
    assert by_point[("qiskit-aer", 8, "CPU")]["status"] == "will_run"
    assert result["counts"] == {"will_run": 1, "skipped": 5, "unavailable": 2, "error": 0}
    assert result["total"] == 8 and [p["index"] for p in result["points"]] == list(range(1, 9))
    assert "qiskit-aer at 34 qubits needs ~128.00 GiB of state" in result["warnings"]


def test_concurrent_set_is_the_largest_points_that_may_run_at_once():
    result = planned("-m", "backend=cirq,qsim", "n_qubits=10,12,26", "hydra/launcher=joblib",
                     "hydra.launcher.n_jobs=2")
    assert result["concurrency"] == 2 and result["counts"]["will_run"] == 6
    assert result["largest_concurrent_set"] == {"points": 2, "memory_estimate_bytes": 2 * 8 * 2**26}
    assert [p["threads"] for p in result["points"]] == [threads_for({"execution": {"threads": None}}, 2)] * 6
    assert sorted(result["warnings"]) == ["cirq at 26 qubits needs ~0.50 GiB of state",
                                          "qsim at 26 qubits needs ~0.50 GiB of state"]


def test_joblib_default_n_jobs_means_every_core():
    result = planned("-m", "backend=stim", "n_qubits=4", "hydra/launcher=joblib")
    assert result["concurrency"] == __import__("os").cpu_count()
    assert planned("backend=stim")["concurrency"] == 1


def test_density_matrix_sizes_are_warned():
    result = planned("backend=qiskit-aer", "backend.method=density_matrix", "n_qubits=13")
    assert result["points"][0]["memory_estimate_bytes"] == 8 * 4**13
    assert result["warnings"] == ["qiskit-aer at 13 qubits keeps a density matrix (density matrix 4^13 x 8 B): "
                                  "~512.00 MiB, as much as a 26-qubit state vector"]


def test_plan_text_and_json_run_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["plan", "-m", "backend=stim,cirq", "circuit=qft", "n_qubits=4"]) == 0
    out = capsys.readouterr().out
    assert "   1. stim 4q qft" in out and "skipped: stim simulates Clifford circuits only" in out
    assert "   2. cirq 4q qft" in out and out.count("  will run\n") == 1
    assert "2 points: 1 will run, 1 skipped, 0 unavailable" in out
    assert cli.main(["plan", "--json", "backend=cirq", "n_qubits=5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["command"] == "python -m qbench backend=cirq n_qubits=5" and result["total"] == 1
    assert result["points"][0]["memory_estimate_bytes"] == 8 * 2**5
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("args,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_the_cli_one_line_exit_2(args, message, capsys):
    assert cli.main(["plan", *args]) == 2
    assert capsys.readouterr().err.strip() == f"qbench: error: {message}"


def test_ghz_scalability_preset_is_every_backend_times_9_sizes():
    result = planned("-m", "+experiment=ghz_scalability")
    backends = backend_options()
    assert result["total"] == len(backends) * 9
    assert [(p["backend"], p["n_qubits"]) for p in result["points"]] == [
        (b, n) for b in backends for n in range(4, 21, 2)]
    assert {(p["circuit_type"], p["shots"]) for p in result["points"]} == {("ghz", 1000)}
    assert result["concurrency"] == 4


@pytest.mark.parametrize("preset,axis,values", [
    ("qubit_scalability", "n_qubits", list(range(4, 25, 2))),
    ("depth_sweep", "depth", [10, 20, 50, 100, 200]),
    ("circuit_type_sweep", "circuit_type", ["ghz", "qft", "random"]),
    ("noise_sweep", "noise_strength", [0.0, 0.001, 0.01, 0.05, 0.1]),
])
def test_sweep_presets(preset, axis, values):
    with hydra_session() as loader:
        noises = loader.get_group_options("noise")
    if preset == "noise_sweep" and "depolarizing" not in noises:
        pytest.skip("noise/depolarizing.yaml is not configured yet")
    # One backend keeps it quick; the ghz_scalability test covers glob(*) over every backend.
    result = planned("-m", f"+experiment={preset}", "backend=stim")
    assert [p[axis] for p in result["points"]] == values


def test_a_many_qubit_point_of_small_state_gives_no_memory_warning():
    result = planned("-m", "backend=stim,cirq", "n_qubits=30")
    assert result["warnings"] == ["cirq at 30 qubits needs ~8.00 GiB of state"]  # stim's tableau: a few KiB
