"""execution.memory_limit_gb against what a worker needs before any state, and an import that never ends."""
from __future__ import annotations

import time

from tests.helpers import run_qbench, sweep_records


def test_a_cap_below_the_librarys_own_footprint_is_skipped_with_the_numbers(workdir):
    started = time.monotonic()
    result = run_qbench("execution.memory_limit_gb=0.5", "n_qubits=4", "tracking.enabled=false", cwd=workdir,
                        timeout=300)
    # the guard against the 10-minute spin of OpenBLAS starting under a too-small address space
    assert time.monotonic() - started < 240
    assert result.returncode == 0, result.stderr
    (record,) = sweep_records(workdir)
    assert record["status"] == "skipped", record["reason"]
    reason = record["reason"]
    assert reason.startswith("execution.memory_limit_gb=0.5 caps the worker's address space below what cirq needs: ")
    assert "GiB mapped after importing its library" in reason and "allowed: at least " in reason
    needed = float(reason.split("allowed: at least ")[1].split(",")[0])
    assert needed > 0.5


def test_a_cap_above_the_footprint_runs(workdir):
    assert run_qbench("execution.memory_limit_gb=0.5", "n_qubits=4", "tracking.enabled=false", cwd=workdir).returncode == 0
    needed = float(sweep_records(workdir)[0]["reason"].split("allowed: at least ")[1].split(",")[0])
    again = run_qbench(f"execution.memory_limit_gb={needed + 0.3:.2f}", "n_qubits=4", "tracking.enabled=false",
                       cwd=workdir)
    assert again.returncode == 0, again.stderr
    (record,) = sweep_records(workdir)  # the newest run's
    assert record["status"] == "success" and record["config"]["execution"]["memory_limit_gb"] > needed


def test_an_import_that_never_returns_is_bounded_by_the_points_timeout_and_named(workdir):
    started = time.monotonic()
    result = run_qbench("backend=faulty", "++backend.fault=hang_import", "execution=quick",
                        "execution.timeout_per_run=3", "execution.retries=0", "tracking.enabled=false",
                        cwd=workdir, plugins=True, timeout=300)
    assert time.monotonic() - started < 120  # not LOAD_TIMEOUT_SECONDS (300 s)
    assert result.returncode == 1
    (record,) = sweep_records(workdir)
    assert record["status"] == "timeout"
    (attempt,) = record["attempts"]
    assert attempt["phase"] == "import"
    assert attempt["error"]["message"] == "importing faulty's library exceeded timeout_per_run=3s; worker killed"
