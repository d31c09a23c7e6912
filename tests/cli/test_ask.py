"""`qbench ask`: every request of the original design's two tables, variations, and refusals."""
import json

import pytest

from qbench.cli import ask
from qbench.cli import main as cli
from qbench.cli.backends_table import BackendStatus, collect
from tests.helpers import run_qbench

# What this machine has configured (5 CPU backends, all available) plus one configured but
# not installed, as other engineers' backends will be: "all backends" must leave it out.
ROWS = [BackendStatus(name, True, None) for name in ("cirq", "pennylane", "qiskit-aer", "qsim", "stim")] + [
    BackendStatus("quest", False, "Python module 'pyquest' is not installed")]
ALL = "backend=cirq,pennylane,qiskit-aer,qsim,stim"
PRESETS = ["circuit_type_sweep", "depth_sweep", "ghz_scalability", "noise_sweep", "qubit_scalability"]

CASES = [
    # -- "Natural Language to Benchmark Mapping" (every row)
    ("benchmark all backends on GHZ 10 qubits", [ALL, "circuit=ghz", "n_qubits=10"]),
    ("compare Cirq and Qiskit on random circuits 4 to 16 qubits",
     ["backend=cirq,qiskit-aer", "circuit=random", "n_qubits=range(4,18,2)"]),
    ("run scalability test for LRET", ["backend=lret-phase7", "circuit=ghz", "n_qubits=range(4,26,2)"]),
    ("benchmark with noise 0.01 and 0.05", [ALL, "noise=depolarizing", "noise.strength=0.01,0.05"]),
    ("compare GPU vs CPU on Qiskit Aer", ["backend=qiskit-aer", "backend.device=CPU,GPU"]),
    ("run everything at 20 qubits", [ALL, "n_qubits=20"]),
    # -- "Benchmark Natural Language Commands" (every row; the first is shared with the table above)
    ("scalability test from 4 to 24 qubits", [ALL, "circuit=ghz", "n_qubits=range(4,26,2)"]),
    ("noise benchmark at 0.01, 0.05, 0.1", [ALL, "noise=depolarizing", "noise.strength=0.01,0.05,0.1"]),
    ("benchmark LRET vs Cirq on random depth 50",
     ["backend=lret-phase7,cirq", "circuit=random", "circuit.depth=50"]),
    ("run parallel benchmark all backends 16 qubits", [ALL, "n_qubits=16", "hydra/launcher=joblib"]),
    ("benchmark Qiskit GPU vs CPU 20 qubits", ["backend=qiskit-aer", "backend.device=CPU,GPU", "n_qubits=20"]),
    ("sweep circuit types: ghz, qft, random", [ALL, "circuit=ghz,qft,random"]),
    # -- the design's parallel section
    ("run Cirq, Qiskit, and Stim at the same time on 10 qubits GHZ",
     ["backend=cirq,qiskit-aer,stim", "circuit=ghz", "n_qubits=10", "hydra/launcher=joblib"]),
    # -- numbers and ranges
    ("benchmark cirq 4-16 qubits", ["backend=cirq", "n_qubits=range(4,18,2)"]),
    ("benchmark cirq from 4 to 24 qubits step 4", ["backend=cirq", "n_qubits=range(4,28,4)"]),
    ("benchmark cirq from 4 to 24 qubits, step size 4", ["backend=cirq", "n_qubits=range(4,28,4)"]),
    ("benchmark cirq from 4 to 15 qubits", ["backend=cirq", "n_qubits=range(4,16,2)"]),
    ("benchmark cirq between 4 and 10 qubits in steps of 3", ["backend=cirq", "n_qubits=range(4,13,3)"]),
    ("stim on random clifford circuits up to 30 qubits",
     ["backend=stim", "circuit=random_clifford", "n_qubits=range(4,32,2)"]),
    ("scalability test for qsim step 4", ["backend=qsim", "circuit=ghz", "n_qubits=range(4,28,4)"]),
    ("scalability test from 4 to 12", [ALL, "circuit=ghz", "n_qubits=range(4,14,2)"]),
    ("benchmark stim at 20 qubits", ["backend=stim", "n_qubits=20"]),
    ("a 20-qubit ghz on cirq", ["backend=cirq", "circuit=ghz", "n_qubits=20"]),
    ("qsim on 4, 8 and 12 qubits", ["backend=qsim", "n_qubits=4,8,12"]),
    ("cirq with qubits=6", ["backend=cirq", "n_qubits=6"]),
    # -- backend names as people write them
    ("benchmark qiskit aer and Aer and AerSimulator on qft", ["backend=qiskit-aer", "circuit=qft"]),
    ("PennyLane vs qsimcirq vs Stim", ["backend=pennylane,qsim,stim"]),
    ("compare QuEST and cuQuantum on ghz", ["backend=quest,cuquantum", "circuit=ghz"]),
    ("benchmark LRET-phase7 and lret-pennylane", ["backend=lret-phase7,lret-pennylane"]),
    ("benchmark all available backends and quest", ["backend=cirq,pennylane,qiskit-aer,qsim,stim,quest"]),
    # -- circuits, depth, noise, shots and the rest
    ("random clifford and qft on stim", ["backend=stim", "circuit=random_clifford,qft"]),
    ("all circuit types on cirq", ["backend=cirq", "circuit=ghz,qft,random,random_clifford"]),
    ("depth sweep on cirq and qsim", ["backend=cirq,qsim", "circuit=random", "circuit.depth=10,20,50,100,200"]),
    ("cirq random depth from 10 to 50", ["backend=cirq", "circuit=random", "circuit.depth=range(10,60,10)"]),
    ("cirq with depths 10, 20 and 40", ["backend=cirq", "circuit=random", "circuit.depth=10,20,40"]),
    ("noise sweep on cirq", ["backend=cirq", "noise=depolarizing", "noise.strength=0.0,0.001,0.01,0.05,0.1"]),
    ("cirq with 1% and 5% depolarizing noise", ["backend=cirq", "noise=depolarizing", "noise.strength=0.01,0.05"]),
    ("noiseless qft on qsim", ["backend=qsim", "circuit=qft", "noise=none"]),
    ("bit flip and phase flip noise 0.01 on cirq",
     ["backend=cirq", "noise=bit_flip,phase_flip", "noise.strength=0.01"]),
    ("cirq 2% bit flip", ["backend=cirq", "noise=bit_flip", "noise.strength=0.02"]),
    ("readout error 0.02 on stim", ["backend=stim", "noise=readout", "noise.strength=0.02"]),
    ("cirq with amplitude damping noise", ["backend=cirq", "noise=amplitude_damping"]),
    ("amplitude damping sweep on qsim",
     ["backend=qsim", "noise=amplitude_damping", "noise.strength=0.0,0.001,0.01,0.05,0.1"]),
    ("benchmark cirq with 500 shots, seed 7", ["backend=cirq", "shots=500", "seed=7"]),
    ("cirq 2k shots 5 repetitions timeout 2 minutes",
     ["backend=cirq", "shots=2000", "execution.repetitions=5", "execution.timeout_per_run=120"]),
    ("quick test of stim", ["backend=stim", "execution=quick"]),
    ("single vs double precision on qiskit", ["backend=qiskit-aer", "backend.precision=single,double"]),
    ("run cirq and qsim with 4 workers", ["backend=cirq,qsim", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4"]),
    ("Please, could you benchmark the cirq backend on QFT at 12 qubits?",
     ["backend=cirq", "circuit=qft", "n_qubits=12"]),
    # -- presets
    ("run the ghz scalability preset", ["+experiment=ghz_scalability"]),
    ("experiment depth_sweep on cirq", ["+experiment=depth_sweep", "backend=cirq"]),
]


@pytest.mark.parametrize("request_text,overrides", CASES, ids=[c[0] for c in CASES])
def test_request_becomes_the_exact_command(request_text, overrides):
    translation = ask.translate(request_text, ROWS, PRESETS)
    assert translation.argv == ["-m", *overrides]
    assert translation.command == "python -m qbench -m " + " ".join(
        f"'{o}'" if "(" in o else o for o in overrides)


def test_rerun_failed_maps_to_the_subcommand():
    for text in ("rerun failed benchmarks from last run", "re-run the failed runs", "retry failed points"):
        translation = ask.translate(text, ROWS, PRESETS)
        assert translation.command == "qbench rerun-failed latest" and translation.subcommand
    assert ask.translate("rerun failed runs of bench_20260206_001", ROWS, PRESETS).argv == [
        "rerun-failed", "bench_20260206_001"]


REFUSED = [
    ("benchmark cirq on grover 10 qubits", "did not understand 'grover'"),
    ("benchmark cirq 20", "did not understand '20'"),
    ("benchmark qubits on cirq", "did not understand 'qubits'"),
    ("make me a sandwich", "did not understand 'make', 'sandwich'"),
    ("noise on cirq", "did not understand 'noise'"),
    ("benchmark cirq from 24 to 4 qubits", "qubits from 24 to 4: the end is below the start"),
    ("benchmark cirq step 4", "'step 4' needs a range"),
    ("cirq at 10 qubits and 12 qubits", "gives the qubits a second time"),
    ("rerun failed benchmarks on cirq", "rerunning failed points takes no other settings"),
    ("noiseless run with noise 0.1", "asks for noise and for no noise"),
    ("run the foo preset", "did not understand 'foo', 'preset'"),
]


@pytest.mark.parametrize("request_text,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_request_not_understood_is_refused_never_guessed(request_text, message):
    with pytest.raises(ask.NotUnderstood, match=message.replace("(", r"\(")):
        ask.translate(request_text, ROWS, PRESETS)


def test_all_backends_means_the_available_ones_here():
    rows = collect()
    ready = [row.option for row in rows if row.available]
    assert {"cirq", "pennylane", "qiskit-aer", "qsim", "stim"} <= set(ready)
    translation = ask.translate("run everything at 20 qubits", rows, PRESETS)
    assert translation.argv == ["-m", f"backend={','.join(ready)}", "n_qubits=20"]


def test_not_understood_exits_2_naming_the_words_and_three_examples_that_work(capsys):
    assert cli.main(["ask", "benchmark", "cirq", "on", "grover"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "qbench: error: did not understand 'grover'"
    examples = [line.strip().removeprefix('qbench ask "').removesuffix('"') for line in err[2:]]
    assert examples == list(ask.EXAMPLES)
    for example in examples:
        assert ask.translate(example, ROWS, PRESETS).argv[0] == "-m"


def test_ask_prints_the_command_and_its_plan_without_running(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["ask", "benchmark stim and cirq on qft at 8 qubits"]) == 0
    out = capsys.readouterr().out
    assert "Command:    python -m qbench -m backend=stim,cirq circuit=qft n_qubits=8\n" in out
    assert "1. stim 8q qft" in out and "skipped: stim simulates Clifford circuits only" in out
    assert "2. cirq 8q qft" in out and "will run" in out
    assert "2 points: 1 will run, 1 skipped, 0 unavailable" in out
    assert not (tmp_path / "outputs").exists()


def test_json_is_the_design_benchmark_config(capsys):
    assert cli.main(["ask", "--json", "compare Cirq and Qiskit on random circuits 4 to 16 qubits"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert set(config) == {"benchmark_id", "name", "description", "backends", "parameters", "execution",
                           "output_dir", "command"}
    assert config["backends"] == ["cirq", "qiskit-aer"]
    assert config["parameters"] == {"n_qubits": [4, 6, 8, 10, 12, 14, 16], "circuit_type": ["random"],
                                    "shots": [1000], "noise_model": [None], "noise_strength": [0.0]}
    assert config["execution"] == {"parallel": False, "max_parallel": 1, "timeout_per_run": 300, "retries": 1,
                                   "warmup_runs": 1}
    assert config["benchmark_id"].startswith("bench_") and config["output_dir"].endswith(config["benchmark_id"])
    assert config["name"] == "Qubit Scalability"


def test_json_of_a_preset_matches_the_design_example(capsys):
    # One backend keeps it quick; tests/test_plan.py counts the preset over every backend.
    assert cli.main(["ask", "--json", "ghz scalability preset on stim"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["name"] == "GHZ Scalability" and config["backends"] == ["stim"]
    assert config["parameters"]["n_qubits"] == [4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert config["parameters"]["circuit_type"] == ["ghz"] and config["parameters"]["shots"] == [1000]
    assert config["execution"] == {"parallel": True, "max_parallel": 4, "timeout_per_run": 300, "retries": 1,
                                   "warmup_runs": 1}


def test_run_goes_through_the_cli_launch(tmp_path):
    result = run_qbench("ask", "--run", "quick benchmark of stim on ghz 4 qubits", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Command:    python -m qbench -m backend=stim circuit=ghz n_qubits=4 execution=quick" in result.stdout
    records = [json.loads(p.read_text()) for p in tmp_path.glob("outputs/bench_*/stim_4q_ghz_*/result.json")]
    assert [r["status"] for r in records] == ["success"]
