"""Sweeps on a REAL SLURM cluster (scripts/slurm/start-cluster.sh starts one on this machine).

Without a cluster these tests skip locally; CI sets QBENCH_REQUIRE_SLURM=1, where a
missing cluster is a failure, never a skip.
"""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.helpers import PLUGIN_CONF, client_for, run_qbench, sweep_records


def _cluster_ready() -> str | None:
    if not shutil.which("sbatch") or not os.environ.get("SLURM_CONF"):
        return "no SLURM cluster (run scripts/slurm/start-cluster.sh and export SLURM_CONF)"
    probe = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or not probe.stdout.strip():
        return f"sinfo failed: {probe.stderr.strip()}"
    return None


_reason = _cluster_ready()
if _reason and os.environ.get("QBENCH_REQUIRE_SLURM") == "1":
    raise RuntimeError(f"QBENCH_REQUIRE_SLURM=1 but {_reason}")
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")


def test_sweep_through_sbatch_arrays(workdir):
    result = run_qbench("-m", "backend=cirq,stim,qsim", "n_qubits=3,5", "execution=quick",
                        "hydra/launcher=qbench_slurm", cwd=workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    records = sweep_records(workdir)
    assert len(records) == 6 and all(r["status"] == "success" for r in records)
    assert all(r["metrics"]["fidelity"] >= 1 - 1e-6 for r in records)
    # SLURM gave each job one CPU (cpus_per_task auto = threads = 1): qbench saw that allocation
    assert {r["environment"]["threads"] for r in records} == {1}
    sweep_dir = sorted((workdir / "outputs").glob("bench_*"))[-1]
    assert list(sweep_dir.glob(".submitit/*/*_log.out"))  # submitit's per-job logs
    assert (sweep_dir / "summary.json").exists() and (sweep_dir / "report.md").exists()
    exp = client_for(workdir).get_experiment_by_name("qbench")
    runs = client_for(workdir).search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sum(1 for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id) == 6


def _cancel_first_running_task(stop: threading.Event, cancelled: list) -> None:
    """scancel array task 0 (the slow faulty point) as soon as SLURM runs it."""
    while not stop.is_set():
        queue = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True).stdout.split("\n")
        for line in queue:
            parts = line.split()
            if len(parts) == 2 and parts[0].endswith("_0") and parts[1] == "RUNNING":
                time.sleep(3)  # let the job reach the simulation
                subprocess.run(["scancel", parts[0]], check=True)
                cancelled.append(parts[0])
                return
        time.sleep(0.5)


def test_cancelled_point_is_recorded_and_rerun_failed_completes_it(workdir):
    stop, cancelled = threading.Event(), []
    watcher = threading.Thread(target=_cancel_first_running_task, args=(stop, cancelled), daemon=True)
    watcher.start()
    try:
        result = run_qbench("-m", "backend=faulty_slow,stim", "n_qubits=3", "execution=quick", "hydra/launcher=qbench_slurm", cwd=workdir,
                            plugins=True, timeout=300)
    finally:
        stop.set()
    output = result.stdout + result.stderr
    assert cancelled, "the faulty job never ran"
    assert result.returncode == 1, output  # returned (not hung), and non-zero for the failed point
    by_backend = {r["backend"]: r for r in sweep_records(workdir)}
    assert by_backend["stim"]["status"] == "success"
    assert by_backend["faulty"]["status"] == "error"
    # Either the job saw its worker terminated by SLURM and wrote the record itself, or SLURM
    # killed the job first and the launcher wrote it from sacct's state.
    reason = by_backend["faulty"]["reason"]
    assert ("SIGTERM" in reason and "scancel" in reason) or ("CANCELLED" in reason and cancelled[0] in reason)
    exp = client_for(workdir).get_experiment_by_name("qbench")
    runs = client_for(workdir).search_runs([exp.experiment_id])
    assert "RUNNING" not in {r.info.status for r in runs}
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert len(failed) == 1 and failed[0].data.tags["backend"] == "faulty"

    rerun = run_qbench("rerun-failed", "latest", cwd=workdir, plugins=False, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "qbench slurm resources" in rerun.stdout + rerun.stderr  # relaunched on the cluster
    records = sweep_records(workdir)
    assert len(records) == 2 and all(r["status"] == "success" for r in records)
    # MLflow: the rerun's child replaced the cancelled point's FAILED one (one live child per point)
    runs = client_for(workdir).search_runs([exp.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.tags["backend"] for r in children) == ["faulty", "stim"]
    assert {r.info.status for r in runs} == {"FINISHED"}


def test_sigterm_of_a_slurm_sweep_cancels_its_jobs(workdir):
    """Stopping the launching process stops the sweep on the cluster too: its jobs are cancelled."""
    process = subprocess.Popen([sys.executable, "-m", "qbench", "-m", "backend=faulty_slow", "n_qubits=3,4",
                                "execution=quick", "tracking.enabled=false", "hydra/launcher=qbench_slurm",
                                f"hydra.searchpath=[file://{PLUGIN_CONF}]"], cwd=workdir,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True).stdout
        if "RUNNING" in running:
            break
        time.sleep(0.5)
    else:
        process.kill()
        raise AssertionError("no job of the sweep ever ran")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted: ")
    deadline = time.monotonic() + 30
    while subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, "the sweep's SLURM jobs are still queued or running"
        time.sleep(0.5)
