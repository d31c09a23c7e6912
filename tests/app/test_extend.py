"""A sweep resumed with a longer (or reordered) command: finished points are found by what they are,
not by job number; only the new points run; every point is counted once."""
from __future__ import annotations

from tests.helpers import read_sweep, run_qbench


def test_extending_a_finished_sweep_runs_only_the_new_points(workdir):
    sweep_dir = workdir / "outputs" / "bench_extended"
    common = ("backend=stim", "execution=quick", "tracking.enabled=false", f"hydra.sweep.dir={sweep_dir}")
    assert run_qbench("-m", "n_qubits=4,5", *common, cwd=workdir).returncode == 0
    before = {r["config"]["n_qubits"]: r["timestamps"] for r in read_sweep(sweep_dir)}
    # the new size first: its job number is 0, the finished points' numbers all move
    result = run_qbench("-m", "n_qubits=3,4,5", *common, cwd=workdir)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert output.count("kept the earlier success result") == 2
    records = read_sweep(sweep_dir)
    assert sorted(r["config"]["n_qubits"] for r in records) == [3, 4, 5]  # one record per point
    for record in records:
        if record["config"]["n_qubits"] in before:
            assert record["timestamps"] == before[record["config"]["n_qubits"]]  # untouched
    point_dirs = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir())
    assert len(point_dirs) == 3, point_dirs
    assert "3 points: 3 successful" in output
    assert (sweep_dir / "report.md").read_text().count("stim") >= 1
    summary = (sweep_dir / "summary.json").read_text()
    assert '"total_runs": 3' in summary
