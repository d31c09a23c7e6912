"""Bad input: one clear line, exit code 2, no traceback, nothing already written lost."""
from pathlib import Path

import pytest

import qbench
from tests.helpers import BACKENDS, BAD_INPUTS, run_qbench, sweep_records

@pytest.mark.parametrize("args,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, message, workdir):
    earlier = workdir / "outputs" / "bench_earlier" / "keep.txt"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("an earlier sweep")
    result = run_qbench(*args, cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.strip() == f"qbench: error: {message}"
    assert "Traceback" not in result.stdout + result.stderr
    assert earlier.read_text() == "an earlier sweep"
    assert sorted(p.name for p in (workdir / "outputs").iterdir()) == ["bench_earlier"]


def test_hydra_help_and_cfg_still_work(workdir):
    result = run_qbench("--cfg", "job", "backend=qsim", cwd=workdir)
    assert result.returncode == 0
    assert "_target_: qbench.backends.qsim_backend.QsimBackend" in result.stdout
    help_text = run_qbench("--help", cwd=workdir)
    assert help_text.returncode == 0 and f"backend: {BACKENDS}" in help_text.stdout


def test_a_state_too_large_for_any_float_is_skipped_with_its_estimate(workdir):
    """1100 qubits: 2^1100 amplitudes overflow a float; the memory guard still says what it needs."""
    result = run_qbench("n_qubits=1100", cwd=workdir)
    assert result.returncode == 0, result.stderr
    (record,) = sweep_records(workdir)
    assert record["status"] == "skipped" and record["reason"].startswith("needs ~2^1073 GiB (state vector 2^1100 x 8 B)")
    assert record["metrics"]["memory_estimate_mb"] is None
    plan = run_qbench("plan", "n_qubits=1100", cwd=workdir)  # the installed `qbench plan`, as a subcommand
    assert plan.returncode == 0 and "2^1073 GiB" in plan.stdout and "Traceback" not in plan.stderr
