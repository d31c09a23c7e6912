"""Rerun what failed, resume what was cut: nothing already written is lost or duplicated."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import PLUGIN_CONF, run_qbench, sweep_records
from tests.helpers import client_for


def _sweep_dir(workdir: Path) -> Path:
    return sorted((workdir / "outputs").glob("bench_*"))[-1]


def test_rerun_failed_reruns_only_failed_points(workdir, tmp_path, monkeypatch):
    monkeypatch.setenv("QBENCH_FLAKY_MARKER", str(tmp_path / "flaky"))
    first = run_qbench("-m", "backend=faulty_flaky,stim", "n_qubits=3,4", "execution=quick", cwd=workdir,
                       plugins=True)
    assert first.returncode == 1
    before = {r["config"]["n_qubits"]: r for r in sweep_records(workdir) if r["backend"] == "stim"}
    statuses = sorted(r["status"] for r in sweep_records(workdir))
    assert statuses.count("error") == 1  # the first faulty point crashes and creates the marker

    rerun = subprocess.run([sys.executable, "-m", "qbench", "rerun-failed", "latest"], cwd=workdir,
                           capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PYTHONPATH=str(PLUGIN_CONF.parent.parent)))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.count("rerun ") == 1 and "(error)" in rerun.stdout
    after = sweep_records(workdir)
    assert len(after) == 4 and all(r["status"] == "success" for r in after)
    for r in after:  # finished points untouched
        if r["backend"] == "stim":
            assert r["timestamps"] == before[r["config"]["n_qubits"]]["timestamps"]
    # MLflow: the rerun's FINISHED child replaces the failed attempt's (deleted, not counted); the parent is closed
    from mlflow.entities import ViewType

    client = client_for(workdir)
    exp = client.get_experiment_by_name("qbench")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if r.info.run_name == _sweep_dir(workdir).name)
    children = [r for r in runs if r is not parent]
    assert parent.info.status == "FINISHED"
    assert sorted(r.info.status for r in children) == ["FINISHED", "FINISHED", "FINISHED", "FINISHED"]
    assert len({r.info.run_name for r in children}) == 4  # one live child per point
    deleted = client.search_runs([exp.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.status for r in deleted] == ["FAILED"]

def test_killed_sweep_is_completed_without_losing_or_duplicating(workdir):
    command = [sys.executable, "-m", "qbench", "-m", "backend=faulty", "++backend.fault=slow", "n_qubits=3,4,5,6",
               "execution=quick", f"hydra.searchpath=[file://{PLUGIN_CONF}]"]
    proc = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(workdir.glob("outputs/bench_*/*/result.json"))) < 2:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    sweep_dir = _sweep_dir(workdir)
    kept = {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/result.json")}
    assert 2 <= len(kept) < 4

    rerun = run_qbench("rerun-failed", str(sweep_dir), cwd=workdir, plugins=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    final = {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/result.json")}
    assert len(final) == 4 and all(r["status"] == "success" for r in final.values())
    assert sorted(r["config"]["n_qubits"] for r in final.values()) == [3, 4, 5, 6]
    for name, record in kept.items():
        assert final[name] == record  # nothing already written is lost or rewritten
    # One live child per point: a point killed while logging had a child left RUNNING, replaced when logged again.
    client = client_for(workdir)
    runs = client.search_runs([client.get_experiment_by_name("qbench").experiment_id])
    children = [r for r in runs if r.info.run_name != sweep_dir.name]
    assert sorted(r.info.run_name for r in children) == sorted(final)
    run_ids = [r.data.tags["qbench.run_id"] for r in children if r.info.status == "FINISHED"]
    assert sorted(run_ids) == sorted(r["run_id"] for r in final.values())  # one finished child per point
    assert "RUNNING" not in {r.info.status for r in runs}


def test_relaunching_the_same_command_keeps_finished_points(workdir):
    first = run_qbench("-m", "backend=stim", "n_qubits=3,4", "execution=quick", cwd=workdir)
    assert first.returncode == 0
    sweep_dir = _sweep_dir(workdir)
    before = {p.parent.name: p.read_text() for p in sweep_dir.glob("*/result.json")}
    again = run_qbench("-m", "backend=stim", "n_qubits=3,4", "execution=quick", f"hydra.sweep.dir={sweep_dir}",
                       cwd=workdir)
    assert again.returncode == 0
    assert {p.parent.name: p.read_text() for p in sweep_dir.glob("*/result.json")} == before
    assert (again.stdout + again.stderr).count("kept the earlier success result") == 2


def test_rerun_failed_on_a_bad_dir_is_one_line_exit_2(workdir):
    result = run_qbench("rerun-failed", str(workdir / "nope"), cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.startswith("qbench: error:") and len(result.stderr.strip().splitlines()) == 1
