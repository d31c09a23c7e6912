"""Runs that cannot hurt the sweep: real faults in a test-only backend (tests/plugins); a fresh
worker for every point; memory a point needs apart from the libraries it imported."""
import time

from qbench.execution.runner import run_point
from tests.helpers import assert_helper_killed_and_guardian_spared, compose_point, run_qbench, sweep_records


def test_faults_become_records_and_the_sweep_finishes(workdir):
    result = run_qbench(
        "-m", "backend=faulty", "++backend.fault=none,segfault,abort,hang,raise,allocate", "n_qubits=3",
        "execution=quick", "execution.timeout_per_run=2", "execution.memory_limit_gb=4", cwd=workdir, plugins=True,
    )
    assert result.returncode == 1, "a sweep with errors/timeouts must exit non-zero"
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    records = sweep_records(workdir)
    assert len(records) == 6
    faults = {r["config"]["backend_options"]["fault"]: r for r in records}
    assert faults["none"]["status"] == "success"
    assert faults["none"]["environment"]["worker"] == "forked"  # a local sweep: from its fork server
    assert faults["segfault"]["status"] == "error"
    assert "SIGSEGV" in faults["segfault"]["error"]["message"]
    assert faults["abort"]["status"] == "error" and "SIGABRT" in faults["abort"]["error"]["message"]
    assert faults["hang"]["status"] == "timeout" and "timeout_per_run=2s" in faults["hang"]["reason"]
    assert faults["hang"]["attempts"][0]["seconds"] < 60  # killed at its timeout, not after the fault's hour of sleep
    assert faults["raise"]["status"] == "error"
    assert faults["raise"]["error"]["type"] == "RuntimeError"
    assert "simulated library failure" in faults["raise"]["error"]["message"]
    assert "Traceback" in faults["raise"]["error"]["traceback"]
    assert faults["allocate"]["status"] == "error" and faults["allocate"]["error"]["type"] == "MemoryError"
    assert "6 points: 1 successful, 0 skipped/unavailable, 5 failed" in output


def test_hang_is_killed_at_the_timeout(workdir):
    cfg = compose_point("backend=faulty", "backend.fault=hang", "execution=quick", "execution.timeout_per_run=2",
                        with_plugins=True)
    record = run_point(cfg, workdir, "test")
    assert record["status"] == "timeout"
    # Not before the timeout; and killed then, not after the fault's hour-long sleep (the limit is
    # generous: the worker's start and import are inside an attempt's seconds, on a loaded machine).
    assert 2 <= record["attempts"][0]["seconds"] < 60, record["attempts"]


def test_a_worker_killed_at_its_timeout_takes_its_helpers_with_it(workdir, tmp_path):
    """A helper the worker started without a death signal (as LRET's quantum_sim is, in the ~1 ms
    before setpriv sets it) must not outlive a worker killed at its timeout."""
    pid_file = tmp_path / "helper.pid"
    cfg = compose_point("backend=faulty", "++backend.fault=hang_with_helper", f"++backend.helper_pid_file={pid_file}",
                        "execution=quick", "execution.timeout_per_run=3", with_plugins=True)
    record = run_point(cfg, workdir, "test")
    assert record["status"] == "timeout"  # a single run: a spawned worker (no fork server)
    assert_helper_killed_and_guardian_spared(pid_file)


def test_retries_run_on_a_fresh_worker_and_keep_every_attempt(workdir, tmp_path):
    marker = tmp_path / "flaky-marker"
    cfg = compose_point("backend=faulty", "backend.fault=flaky", f"backend.marker_file={marker}",
                        "execution=quick", "execution.retries=2", with_plugins=True)
    record = run_point(cfg, workdir, "test")
    assert record["status"] == "success"
    assert [a["status"] for a in record["attempts"]] == ["error", "success"]
    assert "SIGSEGV" in record["attempts"][0]["error"]["message"]


def test_failed_attempts_are_all_recorded(workdir):
    cfg = compose_point("backend=faulty", "backend.fault=raise", "execution=quick", "execution.retries=2",
                        with_plugins=True)
    record = run_point(cfg, workdir, "test")
    assert record["status"] == "error" and len(record["attempts"]) == 3
    assert record["reason"].startswith("3 attempt(s) failed")


def test_skipped_and_unavailable_are_never_retried(workdir):
    cfg = compose_point("backend=stim", "circuit=qft", "execution.retries=3")
    record = run_point(cfg, workdir, "test")
    assert record["status"] == "skipped" and record["attempts"] == []
    cfg = compose_point("backend=qiskit-aer", "backend.device=GPU", "execution.retries=3")
    record = run_point(cfg, workdir / "gpu", "test")
    assert record["status"] == "unavailable" and "CUDA" in record["reason"] and record["attempts"] == []


def test_every_point_gets_a_fresh_worker_that_imports_its_library(workdir):
    """Without a fork server (a single run, SLURM, QuEST, LRET, the GPU) each point spawns its own
    worker: the import is paid per point, outside the timed window and the timeout."""
    first = run_point(compose_point("backend=cirq", "execution=quick"), workdir / "a", "test")
    second = run_point(compose_point("backend=cirq", "execution=quick", "n_qubits=5"), workdir / "b", "test")
    for record in (first, second):
        assert record["status"] == "success" and record["environment"]["worker"] == "spawned"
        assert record["metrics"]["import_seconds"] > 0.1  # cirq imported again: nothing carried over


def test_memory_guard_skips_what_cannot_fit(workdir):
    record = run_point(compose_point("backend=qiskit-aer", "n_qubits=34"), workdir, "test")
    assert record["status"] == "skipped"
    assert "GiB" in record["reason"] and "2^34" in record["reason"]
    capped = run_point(compose_point("backend=cirq", "n_qubits=24", "execution.memory_limit_gb=0.05"),
                       workdir / "capped", "test")
    assert capped["status"] == "skipped" and "execution.memory_limit_gb=0.05" in capped["reason"]


def test_memory_run_is_the_points_own_and_the_baseline_the_libraries(workdir):
    """memory_peak_mb is the worker's whole peak (the imported libraries included); the baseline
    before the point and the peak above it tell what the simulation itself needed."""
    small = run_point(compose_point("backend=cirq", "n_qubits=4", "execution=quick"), workdir / "s", "test")
    large = run_point(compose_point("backend=cirq", "n_qubits=20", "execution=quick",
                                    "execution.verify_max_qubits=0"), workdir / "l", "test")
    for record in (small, large):
        m = record["metrics"]
        assert m["memory_peak_mb"] >= m["memory_baseline_mb"] > 50  # Python, NumPy, cirq
        assert abs(m["memory_peak_mb"] - m["memory_baseline_mb"] - m["memory_run_mb"]) < 1e-6
    assert small["metrics"]["memory_run_mb"] < 0.1 * small["metrics"]["memory_baseline_mb"]
    # 2^20 single-precision amplitudes = 8 MiB: the state (and cirq's working copies) is in the run's share
    assert large["metrics"]["memory_run_mb"] >= large["metrics"]["memory_estimate_mb"] == 8


def test_a_small_point_after_a_large_one_peaks_as_it_does_alone(workdir):
    """glibc's default heap: a fresh worker per point, so nothing a 20-qubit run left in its heap
    is there for the next point."""
    def point(n_qubits, name):
        return run_point(compose_point("backend=cirq", f"n_qubits={n_qubits}", "execution=quick",
                                       "execution.verify_max_qubits=0"), workdir / name, "test")

    alone, large, after = point(4, "a"), point(20, "l"), point(4, "b")
    assert large["metrics"]["memory_run_mb"] - alone["metrics"]["memory_run_mb"] > 8
    assert abs(after["metrics"]["memory_peak_mb"] - alone["metrics"]["memory_peak_mb"]) < 4
    assert abs(after["metrics"]["memory_run_mb"] - alone["metrics"]["memory_run_mb"]) < 2
    assert {r["environment"]["heap"] for r in (alone, large, after)} == {"default"}


def test_threads_reach_the_worker_environment(workdir):
    cfg = compose_point("backend=qsim", "execution=quick", "execution.threads=1")
    record = run_point(cfg, workdir, "test")
    assert record["environment"]["threads"] == 1
    assert record["config"]["backend_options"]["threads"] is None  # backend-specific override unset


def test_gpu_slots_serialise_gpu_runs():
    from qbench.execution.resources import gpu_slot
    import threading

    inside, peak = [], []

    def job():
        with gpu_slot("GPU", 1):
            inside.append(1)
            peak.append(len(inside))
            time.sleep(0.2)
            inside.pop()

    threads = [threading.Thread(target=job) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(peak) == 1


DIES_WITH_A_DEAD_PARENT = """
import os, sys, time
from qbench.backends.subprocesses import die_with_parent
read, write = os.pipe()
middle = os.getpid()
if os.fork() == 0:
    os.close(write)
    os.read(read, 1)  # EOF: the middle process has exited, before this one set its death signal
    time.sleep(0.2)
    die_with_parent(middle)
    open(sys.argv[1], "w").write("outlived its parent")
    os._exit(0)
os._exit(0)
"""


def test_a_child_whose_parent_died_before_it_set_its_death_signal_dies_at_once(tmp_path):
    """PR_SET_PDEATHSIG set after the parent's death never fires: die_with_parent(parent) sees the
    parent gone and dies (a fork server's child forked while the launcher stops the servers)."""
    import subprocess
    import sys

    marker = tmp_path / "survivor"
    subprocess.run([sys.executable, "-c", DIES_WITH_A_DEAD_PARENT, str(marker)], check=True, timeout=30)
    time.sleep(1.0)  # the grandchild had 0.2 s to get there
    assert not marker.exists()
