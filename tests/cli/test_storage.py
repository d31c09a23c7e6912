"""Read-only folders and a full disk, on real file systems (tmpfs mounts; root, as in CI)."""
from __future__ import annotations

import json
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import client_for, run_qbench


@contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.parametrize("where", ["outputs", "sweep"])
def test_a_read_only_folder_is_one_line_before_launching(where, workdir):
    with tmpfs(workdir / "ro", "ro,size=1m") as read_only:
        target = (f"hydra.sweep.dir={read_only / 'bench_x'}" if where == "sweep"
                  else f"hydra.sweep.dir={read_only}/bench_${{now:%H%M%S}}")
        result = run_qbench("-m", "backend=stim", "n_qubits=3,4", target, cwd=workdir)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "read-only file system" in result.stderr, result.stderr
        assert "Traceback" not in result.stdout + result.stderr


def test_summarize_into_a_read_only_sweep_is_one_line(workdir):
    with tmpfs(workdir / "sweep", "size=8m") as sweep_dir:
        assert run_qbench("-m", "backend=stim", "n_qubits=3,4", "execution=quick", "tracking.enabled=false",
                          f"hydra.sweep.dir={sweep_dir}", cwd=workdir).returncode == 0
        subprocess.run(["mount", "-o", "remount,ro", str(sweep_dir)], check=True)
        summarize = run_qbench("summarize", str(sweep_dir), cwd=workdir)
        assert summarize.returncode == 2, summarize.stderr
        assert summarize.stderr == (f"qbench: error: cannot write into {sweep_dir}: read-only file system; allowed: a "
                                    "writable folder (choose one with hydra.sweep.dir=... or hydra.run.dir=...)\n")


def test_a_full_disk_stops_the_sweep_in_one_line_and_rerun_failed_completes_it(workdir):
    with tmpfs(workdir / "small", "size=1m") as sweep_dir:
        # random Clifford circuits of 10-13 qubits: ~1000 distinct outcomes a histogram, ~20 KB a record
        args = ("-m", "backend=stim", "circuit=random_clifford", "n_qubits=range(10,14)", "seed=range(1,30)",
                "execution=quick", f"hydra.sweep.dir={sweep_dir}")
        result = run_qbench(*args, cwd=workdir)
        assert result.returncode == 1, result.stdout + result.stderr
        error_lines = [line for line in result.stderr.splitlines() if line.startswith("qbench: error")]
        assert len(error_lines) == 1 and "no space left on the device" in error_lines[0]
        assert "qbench rerun-failed" in error_lines[0] and "Traceback" not in result.stderr
        assert "Logging error" not in result.stderr
        finished = list(sweep_dir.glob("*/result.json"))
        assert 0 < len(finished) < 116
        for path in finished:  # every record on disk is whole
            json.loads(path.read_text())
        parent = [run for run in client_for(workdir).search_runs(
            [client_for(workdir).get_experiment_by_name("qbench").experiment_id],
            filter_string="tags.`qbench.kind` = 'sweep'")]
        assert parent and all(run.info.status == "FAILED" for run in parent), [r.info.status for r in parent]
        subprocess.run(["mount", "-o", "remount,size=64m", str(sweep_dir)], check=True)
        again = run_qbench("rerun-failed", str(sweep_dir), cwd=workdir)
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(list(sweep_dir.glob("*/result.json"))) == 116
