"""MLflow tracking against a real sqlite store and a real `mlflow server` on 127.0.0.1."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import client_for, run_qbench, sweep_records


def runs_by_name(client: MlflowClient) -> dict:
    exp = client.get_experiment_by_name("qbench")
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id], max_results=1000)}


def test_sweep_logs_parent_and_children_with_statuses(workdir):
    result = run_qbench("-m", "backend=faulty,stim", "++backend.fault=none,raise", "n_qubits=3", "execution=quick",
                        "hydra/launcher=joblib", cwd=workdir, plugins=True)
    assert result.returncode == 1  # the 'raise' point is an error
    records = sweep_records(workdir)
    runs = runs_by_name(client_for(workdir))
    sweep_name = records[0]["benchmark_id"]
    parent = runs.pop(sweep_name)
    assert parent.info.status == "FINISHED" and parent.data.tags["failed_points"] == "1"
    assert len(runs) == 4
    for run in runs.values():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["benchmark_id"] == sweep_name
        assert {"backend", "circuit", "n_qubits", "noise", "status"} <= set(run.data.tags)
        assert run.data.params["n_qubits"] == "3" and "backend._target_" in run.data.params
        expected = "FAILED" if run.data.tags["status"] in ("error", "timeout") else "FINISHED"
        assert run.info.status == expected
        artifacts = {a.path for a in client_for(workdir).list_artifacts(run.info.run_id)}
        assert artifacts == {"result.json", "circuit.qasm"}
    failed = [r for r in runs.values() if r.info.status == "FAILED"]
    assert len(failed) == 1 and failed[0].data.tags["backend"] == "faulty"
    success = next(r for r in runs.values() if r.data.tags["status"] == "success")
    assert success.data.metrics["fidelity"] == pytest.approx(1.0)
    assert success.data.metrics["execution_time_seconds"] > 0


def test_tracking_can_be_disabled(workdir):
    result = run_qbench("backend=stim", "execution=quick", "tracking.enabled=false", cwd=workdir)
    assert result.returncode == 0
    assert not (workdir / "mlruns").exists()


def test_killed_sweep_leaves_no_run_running(workdir):
    # A real sweep killed mid-way: its parent run stays RUNNING until the next start closes it.
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "qbench", "-m", "backend=faulty", "++backend.fault=hang",
                             "n_qubits=3,4", "execution=quick",
                             f"hydra.searchpath=[file://{Path(__file__).parent / 'plugins' / 'conf'}]"],
                            cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(workdir.glob("outputs/bench_*/mlflow.json")):
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    client = client_for(workdir)
    assert [r.info.status for r in runs_by_name(client).values()] == ["RUNNING"]
    run_qbench("-m", "backend=stim", "execution=quick", cwd=workdir)
    statuses = {name: r.info.status for name, r in runs_by_name(client).items()}
    assert "RUNNING" not in statuses.values()
    assert sorted(statuses.values()).count("KILLED") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rest(base: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_sweep_against_a_real_mlflow_server(workdir):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen([str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", f"sqlite:///{workdir / 'server.db'}",
                               "--artifacts-destination", str(workdir / "server-artifacts"), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=2)
                break
            except OSError:
                assert time.time() < deadline, "mlflow server did not start"
                time.sleep(0.5)
        result = run_qbench("-m", "backend=cirq,stim", "n_qubits=3", "execution=quick", f"tracking.uri={base}",
                            cwd=workdir)
        assert result.returncode == 0, result.stdout + result.stderr
        exp = _rest(base, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=qbench")["experiment"]
        runs = _rest(base, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]})["runs"]
        children = [r for r in runs if any(t["key"] == "mlflow.parentRunId" for t in r["data"]["tags"])]
        assert len(runs) == 3 and len(children) == 2
        tags = [{t["key"]: t["value"] for t in r["data"]["tags"]} for r in children]
        assert sorted(t["backend"] for t in tags) == ["cirq", "stim"]
        assert all(r["info"]["status"] == "FINISHED" for r in runs)
        assert not (workdir / "mlruns").exists()  # nothing went to the local store
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_summarize_from_an_mlflow_experiment_alone(workdir):
    assert run_qbench("-m", "backend=stim,cirq", "n_qubits=3", "execution=quick", cwd=workdir).returncode == 0
    sweep_name = sorted((workdir / "outputs").glob("bench_*"))[-1].name
    import shutil

    shutil.rmtree(workdir / "outputs")  # only MLflow is left
    result = run_qbench("summarize", "--mlflow-experiment", "qbench", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((workdir / "outputs" / f"mlflow_{sweep_name}" / "summary.json").read_text())
    assert summary["total_runs"] == 2 and summary["successful"] == 2


def test_summarize_closes_runs_of_a_dead_sweep(workdir):
    (workdir / "mlruns").mkdir()
    client = client_for(workdir)
    exp_id = client.create_experiment("qbench")
    dead = subprocess.Popen(["true"])
    dead.wait()  # a real process that has ended: its pid is the dead sweep's
    run = client.create_run(exp_id, tags={"qbench.host": socket.gethostname(), "qbench.pid": str(dead.pid)})
    (workdir / "outputs" / "bench_x" / "p").mkdir(parents=True)
    run_qbench("summarize", str(workdir / "outputs" / "bench_x"), cwd=workdir)
    assert client.get_run(run.info.run_id).info.status == "KILLED"
