"""The end of a multirun: its summary and `latest` link, every time, whatever ran before it."""
from __future__ import annotations

from tests.helpers import run_qbench


def test_resuming_a_finished_sweep_ten_times_always_rewrites_its_report(workdir):
    """The chart warm-up thread imports matplotlib while the sweep runs; a resume of a finished sweep
    reaches the summary at once, which once raced that import (9 of 12 resumes lost their report)."""
    sweep_dir = workdir / "outputs" / "bench_20260101_000000"
    args = ("-m", "backend=stim", "n_qubits=3,4", "execution=quick", "tracking.enabled=false",
            f"hydra.sweep.dir={sweep_dir}")
    assert run_qbench(*args, cwd=workdir).returncode == 0
    for attempt in range(10):
        (sweep_dir / "report.md").unlink()
        (workdir / "outputs" / "latest").unlink()
        result = run_qbench(*args, cwd=workdir)
        assert result.returncode == 0, (attempt, result.stderr)
        output = result.stdout + result.stderr
        assert "could not summarize" not in output, (attempt, output)
        assert "kept the earlier success result" in output
        assert (sweep_dir / "report.md").read_text().startswith("# Benchmark report"), attempt
        assert (workdir / "outputs" / "latest").resolve() == sweep_dir.resolve(), attempt
