"""Bad input: one clear line, exit code 2, no traceback, nothing already written lost."""
from pathlib import Path

import pytest

import qbench
from tests.conftest import run_qbench

# Every backend config that ships is an allowed value (the list grows with new backends).
BACKENDS = ", ".join(sorted(p.stem for p in (Path(qbench.__file__).parent / "conf" / "backend").glob("*.yaml")))

BAD_INPUTS = [
    (["backend=foo"], f"unknown backend 'foo'; allowed: {BACKENDS}"),
    (["circuit=bar"], "unknown circuit 'bar'; allowed: ghz, qft, random, random_clifford"),
    (["n_qubits=0"], "n_qubits=0 is not allowed; allowed: a positive integer"),
    (["n_qubits=-3"], "n_qubits=-3 is not allowed; allowed: a positive integer"),
    (["n_qubits=abc"], "n_qubits='abc' is not allowed; allowed: a positive integer"),
    (["n_qubits=4.5"], "n_qubits=4.5 is not allowed; allowed: a positive integer"),
    (["shots=-5"], "shots=-5 is not allowed; allowed: a positive integer"),
    (["execution.repetitions=-1"], "execution.repetitions=-1 is not allowed; allowed: a positive integer"),
    (["execution.warmup_runs=-1"], "execution.warmup_runs=-1 is not allowed; allowed: a non-negative integer"),
    (["circuit=random", "circuit.depth=0"], "circuit.depth=0 is not allowed; allowed: circuit 'random' needs a positive integer depth"),
    (["seed=abc"], "seed='abc' is not allowed; allowed: an integer"),
    (["seed=1.5"], "seed=1.5 is not allowed; allowed: an integer"),
    (["-m", "n_qubits=4,-1"], "n_qubits=-1 is not allowed; allowed: a positive integer"),
    (["-m", "backend=cirq,nope"], f"unknown backend 'nope'; allowed: {BACKENDS}"),
]


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
