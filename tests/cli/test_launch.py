"""What users do to sweeps: start two at once, launch into a live one, stop one with a signal or
kill it outright. Real sweeps through `python -m qbench`, real processes, real signals."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qbench.execution.lifetime import descendants
from tests.helpers import PLUGIN_CONF, read_sweep, run_qbench

QBENCH = [sys.executable, "-m", "qbench"]
# A point that sleeps 1.5 s (the TEST-ONLY faulty backend's "slow" fault): long enough to signal mid-sweep.
SLOW = ["backend=faulty", "++backend.fault=slow", "execution=quick", "tracking.enabled=false",
        f"hydra.searchpath=[file://{PLUGIN_CONF}]"]


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([*QBENCH, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def alive(pids: list[int]) -> list[int]:
    left = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] != "Z":  # a zombie has ended: only unreaped
                    left.append(pid)
        except OSError:
            pass
    return left


def test_two_sweeps_started_together_keep_both_sets_of_records(workdir):
    first = start(["-m", "backend=stim", "n_qubits=3,4", "shots=100", "tracking.enabled=false"], workdir)
    second = start(["-m", "backend=stim", "n_qubits=3,4,5", "shots=5000", "tracking.enabled=false"], workdir)
    assert first.wait(120) == 0 and second.wait(120) == 0, first.stderr.read() + second.stderr.read()
    sweeps = sorted((workdir / "outputs").glob("bench_*"))
    assert len(sweeps) == 2, sweeps  # the second to start got bench_..._2 if both began in one second
    by_shots = {}
    for sweep in sweeps:
        records = read_sweep(sweep)
        assert len({r["config"]["shots"] for r in records}) == 1
        by_shots[records[0]["config"]["shots"]] = len(records)
    assert by_shots == {100: 2, 5000: 3}
    assert (workdir / "outputs" / "latest").resolve() == max(sweeps).resolve()  # names sort by start


def test_a_launch_into_a_live_sweep_is_refused_and_a_killed_one_resumes(workdir):
    sweep_dir = workdir / "outputs" / "bench_shared"
    running = start(["-m", *SLOW, "n_qubits=3,4,5,6", f"hydra.sweep.dir={sweep_dir}"], workdir)
    wait_for(lambda: (sweep_dir / ".qbench.lock").exists(), 60, "the first sweep holds its folder")
    again = run_qbench("-m", *SLOW, "n_qubits=3,4,5,6", f"hydra.sweep.dir={sweep_dir}", cwd=workdir)
    assert again.returncode == 2, again.stderr
    assert again.stderr.count("\n") == 1 and "belongs to a sweep that is still running" in again.stderr
    rerun = run_qbench("rerun-failed", str(sweep_dir), cwd=workdir)
    assert rerun.returncode == 2 and "still running" in rerun.stderr
    running.send_signal(signal.SIGKILL)
    running.wait(30)
    resumed = run_qbench("-m", *SLOW, "n_qubits=3,4,5,6", f"hydra.sweep.dir={sweep_dir}", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(r["config"]["n_qubits"] for r in read_sweep(sweep_dir)) == [3, 4, 5, 6]


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_sweep_cleanly_and_leaves_no_process(launcher, signum, code, workdir):
    sweep_dir = workdir / "outputs" / "bench_signalled"
    process = start(["-m", *SLOW, "n_qubits=3,4,5,6,7,8", f"hydra/launcher={launcher}",
                     f"hydra.sweep.dir={sweep_dir}"], workdir)
    wait_for(lambda: list(sweep_dir.glob("*/result.json")), 120, "a first point finished")
    below = descendants(process.pid)
    assert below, "the sweep runs its points in processes of its own"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == code, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and " of 6 points finished; resume with: qbench rerun-failed " in last
    assert "Traceback" not in stderr
    wait_for(lambda: not alive(below), 5, f"every process of the sweep ended: {alive(below)} left")
    for path in sweep_dir.glob("*/result.json"):  # whatever was written is whole
        assert path.read_text().rstrip().endswith("}")
    finished = len(list(sweep_dir.glob("*/result.json")))
    resumed = run_qbench("rerun-failed", str(sweep_dir), cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert len(read_sweep(sweep_dir)) == 6 >= finished


def test_a_killed_launcher_takes_its_workers_with_it(workdir):
    """SIGKILL cannot be handled: the workers end because the kernel or their watch thread sees the parent go."""
    sweep_dir = workdir / "outputs" / "bench_killed"
    process = start(["-m", *SLOW, "n_qubits=3,4,5,6,7,8", "hydra/launcher=joblib", f"hydra.sweep.dir={sweep_dir}"],
                    workdir)
    wait_for(lambda: list(sweep_dir.glob("*/result.json")), 120, "a first point finished")
    below = descendants(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    wait_for(lambda: not alive(below), 10, f"every process of the sweep ended: {alive(below)} left")
