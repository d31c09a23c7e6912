"""Runs that cannot hurt the sweep: real faults in a test-only backend (tests/plugins)."""
import time

from qbench.execution import workers as worker
from qbench.execution.runner import run_point
from tests.helpers import compose_point, run_qbench, sweep_records


def test_faults_become_records_and_the_sweep_finishes(workdir):
    result = run_qbench(
        "-m", "backend=faulty,stim", "++backend.fault=segfault,abort,hang,raise,allocate", "n_qubits=3",
        "execution=quick", "execution.timeout_per_run=2", "execution.memory_limit_gb=4", cwd=workdir, plugins=True,
    )
    assert result.returncode == 1, "a sweep with errors/timeouts must exit non-zero"
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    records = sweep_records(workdir)
    assert len(records) == 10
    healthy = [r for r in records if r["backend"] == "stim"]
    assert len(healthy) == 5 and all(r["status"] == "success" for r in healthy)
    faults = {r["config"]["backend_options"]["fault"]: r for r in records if r["backend"] == "faulty"}
    assert faults["segfault"]["status"] == "error"
    assert "SIGSEGV" in faults["segfault"]["error"]["message"]
    assert faults["abort"]["status"] == "error" and "SIGABRT" in faults["abort"]["error"]["message"]
    assert faults["hang"]["status"] == "timeout" and "timeout_per_run=2s" in faults["hang"]["reason"]
    assert faults["hang"]["attempts"][0]["seconds"] < 6
    assert faults["raise"]["status"] == "error"
    assert faults["raise"]["error"]["type"] == "RuntimeError"
    assert "simulated library failure" in faults["raise"]["error"]["message"]
    assert "Traceback" in faults["raise"]["error"]["traceback"]
    assert faults["allocate"]["status"] == "error" and faults["allocate"]["error"]["type"] == "MemoryError"
    assert "10 points: 5 successful, 0 skipped/unavailable, 5 failed" in output


def test_hang_is_killed_at_the_timeout(workdir):
    cfg = compose_point("backend=faulty", "backend.fault=hang", "execution=quick", "execution.timeout_per_run=2",
                        with_plugins=True)
    start = time.monotonic()
    record = run_point(cfg, workdir, "test")
    elapsed = time.monotonic() - start
    assert record["status"] == "timeout"
    assert 2 <= record["attempts"][0]["seconds"] < 4, record["attempts"]
    assert elapsed < 8  # includes the worker's start-up and import


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


def test_workers_are_reused_and_import_once(workdir):
    worker.shutdown_pool()
    first = run_point(compose_point("backend=cirq", "execution=quick"), workdir / "a", "test")
    pid = next(iter(worker._POOL.values())).process.pid
    second = run_point(compose_point("backend=cirq", "execution=quick", "n_qubits=5"), workdir / "b", "test")
    assert first["metrics"]["import_seconds"] > 0.1
    assert second["metrics"]["import_seconds"] == 0
    assert next(iter(worker._POOL.values())).process.pid == pid


def test_memory_guard_skips_what_cannot_fit(workdir):
    record = run_point(compose_point("backend=qiskit-aer", "n_qubits=34"), workdir, "test")
    assert record["status"] == "skipped"
    assert "GiB" in record["reason"] and "2^34" in record["reason"]
    capped = run_point(compose_point("backend=cirq", "n_qubits=24", "execution.memory_limit_gb=0.05"),
                       workdir / "capped", "test")
    assert capped["status"] == "skipped" and "execution.memory_limit_gb=0.05" in capped["reason"]


def test_memory_peak_reflects_the_run(workdir):
    small = run_point(compose_point("backend=qiskit-aer", "n_qubits=4", "execution=quick"), workdir / "s", "test")
    large = run_point(compose_point("backend=qiskit-aer", "n_qubits=24", "execution=quick",
                                    "execution.verify_max_qubits=0"), workdir / "l", "test")
    # 2^24 single-precision amplitudes = 128 MiB must show in the peak of the larger run only
    assert large["metrics"]["memory_peak_mb"] - small["metrics"]["memory_peak_mb"] > 100


def test_a_points_memory_peak_and_heap_do_not_carry_over_from_the_point_before(workdir):
    """qbench.allocator: the heap a 20-qubit cirq run keeps (its arrays are under the pinned mmap
    threshold) is handed back before the next point, so a small point after it peaks as it did alone."""
    def point(n_qubits, name):
        return run_point(compose_point("backend=cirq", f"n_qubits={n_qubits}", "execution=quick",
                                       "execution.verify_max_qubits=0"), workdir / name, "test")

    alone, large, after = point(4, "a"), point(20, "l"), point(4, "b")
    assert large["metrics"]["memory_peak_mb"] - alone["metrics"]["memory_peak_mb"] > 16  # 8 MiB states, copies
    assert abs(after["metrics"]["memory_peak_mb"] - alone["metrics"]["memory_peak_mb"]) < 4
    assert after["environment"]["heap"].startswith("glibc thresholds pinned")


def test_threads_reach_the_worker_environment(workdir):
    cfg = compose_point("backend=qsim", "execution=quick", "execution.threads=1")
    record = run_point(cfg, workdir, "test")
    assert record["environment"]["threads"] == 1
    assert record["config"]["backend_options"]["threads"] is None  # backend-specific override unset
    key = next(k for k in worker._POOL if k[1] == 1)
    assert worker._POOL[key].process.pid > 0


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
