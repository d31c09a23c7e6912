"""The timing gate (qbench.timing_gate): real locks between real processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from qbench import timing_gate

HOLD = """
import sys, time
from qbench import timing_gate
with timing_gate.timing(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _point_holding(path, seconds: float) -> subprocess.Popen:
    """Another process in its timed work: it holds the gate shared for `seconds`."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_the_writer_waits_while_a_point_times(tmp_path):
    gate = tmp_path / timing_gate.FILE
    holder = _point_holding(gate, 1.5)
    with timing_gate.exclusive(gate) as waited:
        pass
    assert waited >= 1.0  # until the point's 1.5 s of timed work ended
    assert holder.wait() == 0


def test_points_time_side_by_side(tmp_path):
    gate = tmp_path / timing_gate.FILE
    holder = _point_holding(gate, 10)
    try:
        with timing_gate.timing(gate) as waited:
            assert holder.poll() is None  # both hold it at once
        assert waited < 0.5
    finally:
        holder.kill()
        holder.wait()


def test_a_point_that_dies_in_its_timed_work_releases_the_gate(tmp_path):
    gate = tmp_path / timing_gate.FILE
    holder = _point_holding(gate, 600)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    started = time.perf_counter()
    with timing_gate.exclusive(gate):
        pass
    assert time.perf_counter() - started < 5


def test_only_a_tracked_local_sweep_has_a_gate(tmp_path):
    basic = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
    joblib = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    slurm = "hydra_plugins.qbench_plugins.submitit_launcher.QbenchSlurmLauncher"
    assert timing_gate.for_sweep(tmp_path, basic, True) == tmp_path / timing_gate.FILE
    assert timing_gate.for_sweep(tmp_path, joblib, True) == tmp_path / timing_gate.FILE
    assert timing_gate.for_sweep(tmp_path, slurm, True) is None  # another machine: a lock means nothing there
    assert timing_gate.for_sweep(tmp_path, basic, False) is None
    with timing_gate.timing(None) as waited, timing_gate.exclusive(None):
        assert waited == 0.0
    assert list(tmp_path.iterdir()) == []
