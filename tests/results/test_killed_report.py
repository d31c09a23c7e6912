"""The report of a sweep killed early names every point it never reached, from the sweep's own plan."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from tests.helpers import PLUGIN_CONF, run_qbench


def test_a_sweep_killed_after_one_point_reports_the_fourteen_it_never_started(workdir):
    sweep_dir = workdir / "outputs" / "bench_killed_early"
    sizes = ",".join(str(n) for n in range(3, 18))  # 15 points of 1.5 s each
    process = subprocess.Popen(
        [sys.executable, "-m", "qbench", "-m", "backend=faulty", "++backend.fault=slow", "execution=quick",
         "tracking.enabled=false", f"n_qubits={sizes}", f"hydra.searchpath=[file://{PLUGIN_CONF}]",
         f"hydra.sweep.dir={sweep_dir}"], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(sweep_dir.glob("*/result.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    result = run_qbench("summarize", str(sweep_dir), cwd=workdir)
    assert result.returncode == 0, result.stderr
    finished = len(list(sweep_dir.glob("*/result.json")))
    # started: Hydra saved the point's overrides (what names it), as the summary counts; a job
    # killed while Hydra writes its .hydra files names no point and is counted never started
    started = len([p for p in sweep_dir.iterdir() if (p / ".hydra" / "overrides.yaml").is_file()])
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert len(summary["not_started_points"]) == 15 - started >= 15 - finished - 1
    assert f"{15 - started} never started" in result.stdout
    report = (sweep_dir / "report.md").read_text()
    assert f"{15 - started} points of the sweep never started" in report
    for point in summary["not_started_points"]:
        assert point in report and "n_qubits=" in point
