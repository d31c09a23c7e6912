"""MLflow tracking against a real sqlite store, a real `mlflow server` on 127.0.0.1, and a real browser."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from tests.helpers import PLUGIN_CONF, client_for, run_qbench, sweep_records


def runs_by_name(client: MlflowClient) -> dict:
    exp = client.get_experiment_by_name("qbench")
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id], max_results=1000)}


def _sweep_dir(workdir: Path) -> Path:
    return sorted((workdir / "outputs").glob("bench_*"))[-1]


def _live_children(client: MlflowClient, parent_id: str, view=ViewType.ACTIVE_ONLY) -> list:
    exp = client.get_experiment_by_name("qbench")
    return client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'", run_view_type=view)


def test_sweep_logs_parent_and_children_with_statuses(workdir):
    result = run_qbench("-m", "backend=faulty", "++backend.fault=none,raise", "n_qubits=3,4", "execution=quick",
                        "hydra/launcher=joblib", cwd=workdir, plugins=True)
    assert result.returncode == 1  # the 'raise' points are errors
    records = sweep_records(workdir)
    client = client_for(workdir)
    exp = client.get_experiment_by_name("qbench")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI's runs view, not GenAI's
    runs = runs_by_name(client)
    sweep_name = records[0]["benchmark_id"]
    parent = runs.pop(sweep_name)
    assert parent.info.status == "FINISHED" and parent.data.tags["failed_points"] == "2"
    assert len(runs) == 4
    for run in runs.values():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["benchmark_id"] == sweep_name
        assert {"backend", "circuit", "n_qubits", "noise", "status"} <= set(run.data.tags)
        assert run.data.params["n_qubits"] in ("3", "4") and "backend._target_" in run.data.params
        expected = "FAILED" if run.data.tags["status"] in ("error", "timeout") else "FINISHED"
        assert run.info.status == expected
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert artifacts == {"result.json", "circuit.qasm"}
    assert sorted(r.info.status for r in runs.values()) == ["FAILED", "FAILED", "FINISHED", "FINISHED"]
    for record in (r for r in records if r["status"] == "success"):  # the record's numbers, as metrics
        child = next(r for r in runs.values() if r.data.tags["qbench.run_id"] == record["run_id"])
        assert child.data.metrics["fidelity"] == pytest.approx(record["metrics"]["fidelity"])
        assert child.data.metrics["execution_time_seconds"] == pytest.approx(record["metrics"]["execution_time_seconds"])
    # The parent spans the sweep: it starts before the first point and ends after the last one.
    assert parent.info.start_time <= min(r.info.start_time for r in runs.values())
    assert parent.info.end_time >= max(r.info.end_time for r in runs.values())
    # Each child spans its own point, as its record says.
    for record in records:
        child = next(r for r in runs.values() if r.data.tags["qbench.run_id"] == record["run_id"])
        assert child.info.end_time - child.info.start_time == pytest.approx(
            1000 * (_seconds(record["timestamps"]["completed_at"]) - _seconds(record["timestamps"]["started_at"])),
            abs=2)


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def test_tracking_can_be_disabled(workdir):
    result = run_qbench("backend=stim", "execution=quick", "tracking.enabled=false", cwd=workdir)
    assert result.returncode == 0
    assert not (workdir / "mlruns").exists()


def test_single_run_logs_itself(workdir):
    assert run_qbench("backend=stim", "n_qubits=3", "execution=quick", cwd=workdir).returncode == 0
    client = client_for(workdir)
    (run,) = runs_by_name(client).values()
    assert run.info.status == "FINISHED" and "mlflow.parentRunId" not in run.data.tags
    assert client.get_experiment_by_name("qbench").tags["mlflow.experimentKind"] == "custom_model_development"


def test_killed_sweep_leaves_no_run_running(workdir):
    # A real sweep killed mid-way: its parent run stays RUNNING until the next start closes it.
    proc = subprocess.Popen([sys.executable, "-m", "qbench", "-m", "backend=faulty", "++backend.fault=hang",
                             "n_qubits=3,4", "execution=quick", f"hydra.searchpath=[file://{PLUGIN_CONF}]"],
                            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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


def test_rerun_replaces_the_earlier_child_of_a_point(workdir, tmp_path):
    # One failing point (flaky: crashes once), one point whose record is then made unreadable:
    # `rerun-failed` runs both again, and each point keeps exactly one live child run.
    marker = tmp_path / "flaky"
    first = run_qbench("-m", "backend=faulty", "++backend.fault=flaky", f"++backend.marker_file={marker}",
                       "n_qubits=3,4", "execution=quick", cwd=workdir, plugins=True)
    assert first.returncode == 1, first.stdout + first.stderr
    sweep_dir = _sweep_dir(workdir)
    ok = next(p for p in sweep_dir.glob("*/result.json") if json.loads(p.read_text())["status"] == "success")
    ok.write_text('{"status": "succ')  # a record cut short: repaired by the rerun
    client = client_for(workdir)
    parent = runs_by_name(client)[sweep_dir.name]
    before = {r.info.run_name: r.info.run_id for r in _live_children(client, parent.info.run_id)}
    assert len(before) == 2

    rerun = run_qbench("rerun-failed", str(sweep_dir), cwd=workdir)  # the sweep remembers its search path
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert all(r["status"] == "success" for r in sweep_records(workdir))
    live = _live_children(client, parent.info.run_id)
    assert sorted(r.info.run_name for r in live) == sorted(before)  # one live child per point
    assert all(r.info.status == "FINISHED" for r in live)
    replaced = _live_children(client, parent.info.run_id, ViewType.DELETED_ONLY)
    assert sorted(r.info.run_id for r in replaced) == sorted(before.values())  # the earlier ones, deleted
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"


def test_resume_after_the_store_was_deleted_logs_under_a_new_parent(workdir):
    command = ("-m", "backend=stim", "n_qubits=3,4", "execution=quick")
    assert run_qbench(*command, cwd=workdir).returncode == 0
    sweep_dir = _sweep_dir(workdir)
    old_parent = json.loads((sweep_dir / "mlflow.json").read_text())["parent_run_id"]
    shutil.rmtree(workdir / "mlruns")

    again = run_qbench(*command, f"hydra.sweep.dir={sweep_dir}", cwd=workdir)
    assert again.returncode == 0, again.stdout + again.stderr
    ids = json.loads((sweep_dir / "mlflow.json").read_text())
    assert ids["parent_run_id"] != old_parent
    client = client_for(workdir)
    parent = client.get_run(ids["parent_run_id"])  # exists in the new store
    assert parent.info.run_name == sweep_dir.name and parent.info.status == "FINISHED"
    children = _live_children(client, parent.info.run_id)
    assert sorted(r.info.run_name for r in children) == sorted(p.parent.name for p in sweep_dir.glob("*/result.json"))
    assert len(runs_by_name(client)) == 3


def test_a_store_killed_while_being_built_leaves_nothing_half_made(workdir):
    # MLflow builds a new sqlite store in seconds of migrations; a process killed meanwhile must not leave a
    # half-migrated mlflow.db that every later launch fails on ("table ... already exists").
    store = workdir / "mlruns" / "mlflow.db"
    uri = f"sqlite:///{store}"
    builder = subprocess.Popen([sys.executable, "-c", f"from qbench.results import tracking; tracking.client({uri!r})"],
                               cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not (store.parent.is_dir() and any(store.parent.iterdir())):
        time.sleep(0.01)  # the first file appears as MLflow starts its migrations
    assert builder.poll() is None, "the store was built before it could be interrupted"
    builder.kill()
    builder.wait(timeout=30)

    from qbench.results import tracking

    client = tracking.client(uri)  # the next launch builds it whole, and tidies the dead builder's file
    assert [e.name for e in client.search_experiments()] == ["Default"]
    assert sorted(p.name for p in store.parent.iterdir()) == ["mlflow.db"]


def test_unreachable_server_turns_tracking_off_in_seconds(workdir):
    # Port 9 refuses connections: MLflow's default retries kept such a sweep alive for 348 s.
    started = time.monotonic()
    result = run_qbench("-m", "backend=stim", "n_qubits=3,4", "execution=quick", "tracking.uri=http://127.0.0.1:9",
                        cwd=workdir, timeout=300)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert elapsed < 60, f"the sweep took {elapsed:.0f} s: MLflow's retry storm is back"
    assert output.count("MLflow tracking off for this sweep") == 1, output
    records = sweep_records(workdir)
    assert len(records) == 2 and all(r["status"] == "success" for r in records)
    assert not (_sweep_dir(workdir) / "mlflow.json").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_health(base: str, server: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/health", timeout=2)
            return
        except OSError:
            assert server.poll() is None, "the MLflow server exited"
            assert time.time() < deadline, "the MLflow server did not start"
            time.sleep(0.5)


def _stop(server: subprocess.Popen) -> None:
    """The server and everything it started (its own process group): TERM, then KILL if it lingers."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=15)
    except ProcessLookupError:
        pass


def _rest(base: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# The servers here need no GenAI job runners.
SERVER_ENV = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")


def test_sweep_against_a_real_mlflow_server(workdir):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen([str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", f"sqlite:///{workdir / 'server.db'}",
                               "--artifacts-destination", str(workdir / "server-artifacts"), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                              env=SERVER_ENV)
    try:
        _wait_for_health(base, server)
        result = run_qbench("-m", "backend=cirq,stim", "n_qubits=3", "execution=quick", f"tracking.uri={base}",
                            cwd=workdir)
        assert result.returncode == 0, result.stdout + result.stderr
        exp = _rest(base, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=qbench")["experiment"]
        assert {"key": "mlflow.experimentKind", "value": "custom_model_development"} in exp["tags"]
        runs = _rest(base, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]})["runs"]
        children = [r for r in runs if any(t["key"] == "mlflow.parentRunId" for t in r["data"]["tags"])]
        assert len(runs) == 3 and len(children) == 2
        tags = [{t["key"]: t["value"] for t in r["data"]["tags"]} for r in children]
        assert sorted(t["backend"] for t in tags) == ["cirq", "stim"]
        assert all(r["info"]["status"] == "FINISHED" for r in runs)
        artifacts = _rest(base, f"/api/2.0/mlflow/artifacts/list?run_id={children[0]['info']['run_id']}")
        assert {f["path"] for f in artifacts["files"]} == {"result.json", "circuit.qasm"}
        assert not (workdir / "mlruns").exists()  # nothing went to the local store
    finally:
        _stop(server)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _headless(url: str, *args: str) -> subprocess.CompletedProcess:
    # --virtual-time-budget: the page's JS runs (fetches the runs, renders the table) before the dump
    return subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--window-size=1400,900", "--virtual-time-budget=20000", *args, url],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(_chromium() is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_qbench_ui_lands_on_the_runs_table_in_a_real_browser(workdir):
    assert run_qbench("-m", "backend=stim", "n_qubits=3,4", "execution=quick", cwd=workdir).returncode == 0
    sweep_name = _sweep_dir(workdir).name
    port = _free_port()
    ui = subprocess.Popen([sys.executable, "-m", "qbench", "ui", "--port", str(port)], cwd=workdir,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
                          env=dict(SERVER_ENV, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"))
    try:
        url = None
        deadline = time.time() + 60
        while url is None and time.time() < deadline:  # `qbench ui` prints the page to open, then MLflow's command
            line = ui.stdout.readline()
            assert line, "qbench ui exited before printing its address"
            if line.startswith("open "):
                url = line.split()[1]
        assert url and url.startswith(f"http://127.0.0.1:{port}/#/experiments/"), url
        _wait_for_health(f"http://127.0.0.1:{port}", ui)
        shot = workdir / "runs.png"
        assert _headless(url, f"--screenshot={shot}").returncode == 0
        assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
        dom = _headless(url, "--dump-dom").stdout
        assert sweep_name in dom  # the parent run's row in the runs table
        assert "matching runs" in dom  # the runs table's footer: "3 matching runs"
    finally:
        _stop(ui)


def test_summarize_from_an_mlflow_experiment_alone(workdir):
    assert run_qbench("-m", "backend=stim,cirq", "n_qubits=3", "execution=quick", cwd=workdir).returncode == 0
    sweep_name = _sweep_dir(workdir).name
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
