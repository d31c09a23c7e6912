"""Files qbench writes whole (temp file + rename) follow the umask like any other file."""
from __future__ import annotations

import os
import stat

import pytest

from qbench.results import records
from tests.helpers import run_qbench


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        records.write_atomic(tmp_path / "a.json", {"x": 1})
        records.write_text_atomic(tmp_path / "b.md", "# report\n")
    finally:
        os.umask(previous)
    for name in ("a.json", "b.md"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert records.read(tmp_path / "a.json") == {"x": 1} and not list(tmp_path.glob(".*tmp"))


def test_a_sweeps_files_are_readable_by_others_under_umask_022(workdir):
    """On a shared cluster file system the team reads each other's results: nothing is created 0600."""
    result = run_qbench("-m", "backend=stim", "n_qubits=3,4", "execution=quick", cwd=workdir)
    assert result.returncode == 0, result.stderr
    sweep = sorted((workdir / "outputs").glob("bench_*"))[-1]
    written = [*sweep.glob("*/result.json"), *(sweep / name for name in
               ("summary.json", "report.md", "results.csv", "comparison.json", "mlflow.json"))]
    assert len(written) == 7 and all(path.exists() for path in written)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
