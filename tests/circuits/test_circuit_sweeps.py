"""The new circuits through real `python -m qbench` runs in temporary folders: a user's QASM files swept on
every CPU backend, MQT Bench swept over benchmarks, levels and sizes, the refusals as bad input, the plan."""
from pathlib import Path

import pytest

from tests.helpers import run_qbench, swept

FILES = Path(__file__).resolve().parent / "qasm"
CPU = ["cirq", "qiskit-aer", "qsim", "pennylane", "stim"]
REFUSED = ["mid_circuit.qasm", "mid_circuit3.qasm", "reset.qasm", "classical_control.qasm",
           "classical_control3.qasm"]


def refused_line(name: str) -> int:
    return next(i for i, line in enumerate((FILES / name).read_text().splitlines(), 1) if "// REFUSED" in line)


@pytest.mark.parametrize("name", REFUSED)
def test_refused_file_is_one_line_exit_2_naming_the_line(workdir, name):
    result = run_qbench("-m", "backend=cirq,qsim", "circuit=qasm", f"circuit.path={FILES / name}", cwd=workdir)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"qbench: error: circuit.path={FILES / name} line {refused_line(name)}: "), line
    assert "Traceback" not in result.stderr and not (workdir / "outputs").exists()


def test_an_explicit_n_qubits_that_disagrees_with_the_file_is_bad_input(workdir):
    path = FILES / "custom_gates.qasm"
    result = run_qbench("circuit=qasm", f"circuit.path={path}", "n_qubits=6", cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"qbench: error: n_qubits=6 disagrees with circuit.path={path}, which has 4 "
                                     "qubits; allowed: no n_qubits (the file sets it) or n_qubits=4")


def test_qasm_files_swept_on_every_cpu_backend(workdir):
    a, b = FILES / "custom_gates.qasm", FILES / "clifford_angles.qasm"
    records = swept(workdir, 10, f"backend={','.join(CPU)}", "circuit=qasm", f"circuit.path={a},{b}", "execution=quick")
    by_file = {}
    for r in records:
        source = r["config"]["circuit_source"]
        by_file.setdefault(source["file_name"], []).append(r)
        assert r["config"]["circuit_options"]["path"] == source["path"]
        assert r["config"]["circuit_options"]["qasm_sha256"] == source["sha256"] and len(source["sha256"]) == 64
        assert r["config"]["n_qubits"] == source["qubits_after"] == r["metrics"]["num_qubits_simulated"]
        assert source["gate_count_after"] == r["metrics"]["gate_count"] and source["gates_before"]
        if r["backend"] == "stim" and source["file_name"] == "custom_gates.qasm":
            assert r["status"] == "skipped" and "non-Clifford gates" in r["reason"], r["reason"]
            continue
        assert r["status"] == "success", (r["backend"], r["reason"], r["error"])
        assert r["metrics"]["fidelity"] >= 1 - 1e-6 and r["metrics"]["tvd"] <= r["metrics"]["tvd_bound"]
    assert {len({r["config"]["circuit_fingerprint"] for r in rs}) for rs in by_file.values()} == {1}
    assert {r["config"]["n_qubits"] for r in by_file["custom_gates.qasm"]} == {4}
    report = next((workdir / "outputs").glob("bench_*/report.md")).read_text()
    assert "qasm:custom_gates.qasm" in report and "qasm:clifford_angles.qasm" in report
    # MLflow's circuit.qasm artifact is what ran: the decomposed canonical circuit
    artifacts = [p.read_text() for p in (workdir / "mlruns").glob("artifacts/*/artifacts/circuit.qasm")]
    assert len(artifacts) == 10 and all(text.startswith("OPENQASM 2.0;") for text in artifacts)
    assert any("u3(" in text and "tdg " in text for text in artifacts)


def test_mqt_bench_sweep_skips_what_it_cannot_make_and_is_one_circuit_per_point(workdir):
    records = swept(workdir, 16, "backend=cirq,qiskit-aer", "circuit=mqt", "circuit.benchmark=graphstate,qpeexact",
                    "circuit.level=alg,indep", "n_qubits=2,4", "execution=quick", "tracking.enabled=false")
    points = {}
    for r in records:
        options = r["config"]["circuit_options"]
        key = (options["benchmark"], options["level"], r["config"]["n_qubits"])
        assert options["mqt_bench_version"] == "2.3.0"
        if key[0] == "graphstate" and key[2] == 2:
            assert r["status"] == "skipped" and "mqt-bench 2.3.0 cannot generate graphstate" in r["reason"]
            continue
        assert r["status"] == "success", r["reason"]
        assert r["metrics"]["fidelity"] >= 1 - 1e-6
        source = r["config"]["circuit_source"]
        assert (source["benchmark"], source["level"], source["generator_seed"]) == (key[0], key[1],
                                                                                 42 if key[0] == "graphstate" else None)
        points.setdefault(key, set()).add(r["config"]["circuit_fingerprint"])
    assert len(points) == 6 and all(len(f) == 1 for f in points.values())


def test_plan_shows_the_new_circuits_with_sizes_and_memory():
    from qbench.cli import plan

    built, problem = plan.build(["-m", "backend=cirq,stim", "circuit=qasm",
                                 f"circuit.path={FILES / 'custom_gates.qasm'},{FILES / 'clifford_angles.qasm'}"])
    assert problem is None
    entries = built["points"]
    assert [(e["backend"], e["circuit"], e["n_qubits"], e["status"]) for e in entries] == [
        ("cirq", "qasm:custom_gates.qasm", 4, "will_run"), ("cirq", "qasm:clifford_angles.qasm", 3, "will_run"),
        ("stim", "qasm:custom_gates.qasm", 4, "skipped"), ("stim", "qasm:clifford_angles.qasm", 3, "will_run")]
    assert entries[0]["memory_estimate_bytes"] == 8 * 2**4  # single-precision state vector of the file's 4 qubits
    assert "cirq 4q qasm:custom_gates.qasm" in plan.render(built)
    built, problem = plan.build(["-m", "+experiment=mqt_suite", "backend=cirq", "n_qubits=2"])
    assert problem is None and len(built["points"]) == 14
    skipped = {e["circuit"]: e["reason"] for e in built["points"] if e["status"] == "skipped"}
    assert set(skipped) == {"mqt:graphstate(alg)", "mqt:graphstate(indep)"}
    assert all("mqt-bench 2.3.0 cannot generate graphstate" in reason for reason in skipped.values())
