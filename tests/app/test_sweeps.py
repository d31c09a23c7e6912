"""Real runs and multiruns through the CLI (basic and joblib launchers) into temporary dirs."""
import json
import shutil
import statistics
from pathlib import Path

import pytest

import qbench

from tests.helpers import PLUGIN_CONF, compose_point, run_qbench, sweep_records

BACKENDS = {"cirq", "qiskit-aer", "qsim", "pennylane", "stim"}


def test_config_groups_compose():
    cfg = compose_point()
    assert cfg.backend.name == "cirq" and cfg.circuit.name == "ghz" and cfg.noise.name == "none"
    assert {"warmup_runs", "repetitions", "timeout_per_run", "retries"} <= set(cfg.execution)
    assert cfg.n_qubits == 4 and cfg.shots == 1000 and cfg.seed == 42
    cfg = compose_point("backend=qiskit-aer", "circuit=random", "seed=9")
    assert cfg.backend.fusion_enable is True and cfg.circuit.depth == 20 and cfg.circuit.seed == 9
    assert compose_point("backend=pennylane").backend.device_name == "lightning.qubit"


def test_single_run_writes_a_complete_record(workdir):
    result = run_qbench("backend=qiskit-aer", "circuit=qft", "n_qubits=5", cwd=workdir)
    assert result.returncode == 0, result.stderr
    (record,) = sweep_records(workdir)
    assert record["status"] == "success" and record["backend"] == "qiskit-aer"
    m = record["metrics"]
    times = m["execution_times_seconds"]
    # execution/default: at least 3 timed repetitions, then more until they add up to min_time (0.05 s)
    # (calibration counts samples x median, so one slow sample does not end it early)
    before_last = sorted(times[:-1])
    assert 3 <= len(times) <= 200
    assert len(times) == 3 or len(before_last) * statistics.median(before_last) < 0.05
    assert m["repetitions_stop"] == ("repetitions" if len(times) == 3 else "min_time")
    assert m["execution_time_seconds"] == statistics.median(times)
    assert m["execution_time_samples"] == len(times) and m["repetitions_stop"] in ("repetitions", "min_time")
    assert m["fidelity"] >= 1 - 1e-6 and m["fidelity_method"] == "statevector"
    assert m["gate_count"] > 0 and m["two_qubit_gate_count"] > 0 and m["circuit_depth"] > 0
    assert m["dry_run_seconds"] > 0 and m["convert_seconds"] > 0 and m["import_seconds"] > 0 and m["verify_seconds"] > 0
    assert m["warmup_seconds"] > 0
    assert m["memory_peak_mb"] > 0
    assert record["measurements"]["total_shots"] == 1000
    assert record["config"]["backend_options"]["precision"] == "single"
    assert record["environment"]["packages"]["qiskit-aer"] == "0.18.2"
    assert record["environment"]["threads"] >= 1
    assert len(record["run_id"]) == 16
    assert record["timestamps"]["started_at"] <= record["timestamps"]["completed_at"]


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_multirun_over_all_backends_and_sizes(launcher, workdir):
    result = run_qbench("-m", "backend=glob(*)", "circuit=random_clifford", "n_qubits=range(3,7,2)",
                        "execution=quick", f"hydra/launcher={launcher}", cwd=workdir)
    assert result.returncode == 0, result.stderr
    records = sweep_records(workdir)
    configured = {p.stem for p in (Path(qbench.__file__).parent / "conf" / "backend").glob("*.yaml")}
    total = 2 * len(configured)
    assert len(records) == total and {r["backend"] for r in records} == configured
    assert {r["config"]["n_qubits"] for r in records} == {3, 5}
    core = [r for r in records if r["backend"] in BACKENDS]
    assert len(core) == 10
    assert all(r["status"] == "success" and r["metrics"]["fidelity"] >= 1 - 1e-6 for r in core)
    # the other configured backends (GPU, external programs) run, or say exactly why they cannot
    for r in records:
        assert r["status"] in ("success", "unavailable", "skipped"), (r["backend"], r["reason"])
        assert r["status"] == "success" or r["reason"]
    # one canonical circuit per point: every backend saw the same gates
    for n in (3, 5):
        assert len({r["config"]["circuit_fingerprint"] for r in records if r["config"]["n_qubits"] == n}) == 1
    sweep_dir = sorted((workdir / "outputs").glob("bench_*"))[-1]
    assert any(p.name.startswith("qsim_5q_random_clifford_none_") for p in sweep_dir.iterdir())
    assert f"[{total}/{total}]" in result.stderr + result.stdout
    assert f"{total} points: " in result.stderr + result.stdout


def test_stim_skips_non_clifford_and_the_sweep_goes_on(workdir):
    result = run_qbench("-m", "backend=stim,cirq", "circuit=qft", "n_qubits=4", "execution=quick", cwd=workdir)
    assert result.returncode == 0, result.stderr
    by_backend = {r["backend"]: r for r in sweep_records(workdir)}
    assert by_backend["stim"]["status"] == "skipped"
    assert "non-Clifford" in by_backend["stim"]["reason"]
    assert by_backend["cirq"]["status"] == "success"


def test_same_seed_same_random_circuit_on_every_backend(workdir):
    result = run_qbench("-m", "backend=cirq,qiskit-aer,qsim,pennylane", "circuit=random", "circuit.depth=6",
                        "n_qubits=5", "seed=123", "execution=quick", cwd=workdir)
    assert result.returncode == 0, result.stderr
    records = sweep_records(workdir)
    assert len({r["config"]["circuit_fingerprint"] for r in records}) == 1
    assert all(r["metrics"]["fidelity"] >= 1 - 1e-6 for r in records)


def test_records_are_written_atomically_and_are_valid_json(workdir, monkeypatch):
    """A reader polling a record while it is rewritten sees the old file or the new one, never half;
    and a sweep leaves no temporary files."""
    from qbench.results import records

    result = run_qbench("-m", "backend=stim", "n_qubits=3,4", "execution=quick", cwd=workdir)
    assert result.returncode == 0, result.stderr
    sweep_dir = sorted((workdir / "outputs").glob("bench_*"))[-1]
    paths = list(sweep_dir.glob("*/result.json"))
    assert len(paths) == 2 and not list(sweep_dir.glob("**/*.tmp"))
    for path in paths:
        assert json.loads(path.read_text())["status"] == "success"
    # the writer killed mid-write (here: json.dumps of the new content raising) leaves the old file whole
    old = paths[0].read_text()
    monkeypatch.setattr(records.json, "dumps", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "disk full")))
    with pytest.raises(OSError):
        records.write_atomic(paths[0], {"status": "half"})
    assert paths[0].read_text() == old and not list(paths[0].parent.glob(".*.tmp"))
    monkeypatch.undo()
    # the bytes half on disk when the device fills (fsync fails after the write): still the old file
    monkeypatch.setattr(records.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError):
        records.write_atomic(paths[0], {"status": "half"})
    assert paths[0].read_text() == old and not list(paths[0].parent.glob(".*.tmp"))


def test_a_users_own_backend_is_a_yaml_and_a_class(workdir):
    # tests/plugins/conf/backend/faulty.yaml names tests/plugins/faulty_backend.py by _target_
    result = run_qbench("--config-dir", str(PLUGIN_CONF), "-m", "backend=faulty,stim", "execution=quick", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {r["backend"]: r["status"] for r in sweep_records(workdir)} == {"faulty": "success", "stim": "success"}


def test_rerun_failed_of_a_sweep_made_with_a_config_dir(workdir, tmp_path):
    # The faulty backend's config lives only in the --config-dir: the rerun must find it there again.
    conf, marker = tmp_path / "conf", tmp_path / "flaky"
    shutil.copytree(PLUGIN_CONF, conf)
    first = run_qbench("--config-dir", str(conf), "-m", "backend=faulty", "++backend.fault=flaky",
                       f"++backend.marker_file={marker}", "n_qubits=3,4", "execution=quick", cwd=workdir)
    assert first.returncode == 1, first.stdout + first.stderr
    assert sorted(r["status"] for r in sweep_records(workdir)) == ["error", "success"]
    rerun = run_qbench("rerun-failed", "latest", cwd=workdir)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.count("rerun ") == 1 and "(error)" in rerun.stdout
    assert sorted(r["status"] for r in sweep_records(workdir)) == ["success", "success"]
    # The config dir gone since: one line, exit 2.
    shutil.rmtree(conf)
    gone = run_qbench("rerun-failed", "latest", cwd=workdir)
    assert gone.returncode == 2 and gone.stderr == f"qbench: error: Additional config directory '{conf}' not found\n"


def test_stock_joblib_keeps_both_workers_busy_on_backends_of_unequal_cost(workdir):
    # Each point's log line carries the pid of the joblib worker that ran it.
    result = run_qbench("-m", "backend=stim,qiskit-aer", "circuit=ghz", "n_qubits=range(8,18)", "execution=quick",
                        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "tracking.enabled=false",
                        "hydra.job_logging.formatters.simple.format='%(process)d %(message)s'", cwd=workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    sweep_dir = sorted((workdir / "outputs").glob("bench_*"))[-1]
    points = []
    for record_file in sorted(sweep_dir.glob("*/result.json")):
        record = json.loads(record_file.read_text())
        pid = (record_file.parent / "qbench.log").read_text().split()[0]
        points.append({"backend": record["backend"], "status": record["status"], "pid": pid, **record["timestamps"]})
    assert len(points) == 20 and {p["status"] for p in points} == {"success"}
    workers = {p["pid"] for p in points}
    assert len(workers) == 2, workers
    # Both workers ran points of the costly backend (a per-backend split gives all of Aer to one) ...
    aer = [p for p in points if p["backend"] == "qiskit-aer"]
    assert {p["pid"] for p in aer} == workers
    # ... at the same time: each worker's span of Aer points overlaps the other's.
    spans = [(min(p["started_at"] for p in aer if p["pid"] == pid),
              max(p["completed_at"] for p in aer if p["pid"] == pid)) for pid in workers]
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    # Progress counts every point of the sweep, and the summary all of them.
    assert sum("/20] " in line for line in output.splitlines()) == 20 and "[20/20] " in output
    assert "20 points: 20 successful, 0 skipped/unavailable, 0 failed" in output


def test_a_joblib_workers_later_jobs_copy_the_groups_it_adopted(workdir):
    """Each joblib worker adopts pre-flight's group compositions in its first job, and Hydra's plugin
    rescan before every later job redefines the launchers' config classes: a later job's copy of the
    other backend's groups must still come out (a pickled copy made lazily there failed, and with it
    the whole sweep: exit 1)."""
    result = run_qbench("-m", "backend=stim,qiskit-aer", "n_qubits=4,5,6", "execution=quick", "hydra/launcher=joblib",
                        "hydra.launcher.n_jobs=2", "tracking.enabled=false", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    records = sweep_records(workdir)
    assert len(records) == 6 and {r["status"] for r in records} == {"success"}
    assert sorted(r["backend"] for r in records) == ["qiskit-aer"] * 3 + ["stim"] * 3
