"""`qbench ask`: every request of the original design's two tables, variations, refusals, and
the measured coverage of a corpus of requests written the way people type them (ask_corpus.yaml)."""
import json
import re
from pathlib import Path

import pytest
import yaml

from qbench.cli import ask
from qbench.cli import main as cli
from qbench.cli.backends_table import BackendStatus, collect
from qbench.conf import CONF_DIR, shipped_options
from tests.helpers import PLUGIN_CONF, run_qbench, sweep_records

# What this machine has configured: 5 CPU backends, available, and the others configured but not
# installed here: "all backends" must leave those out, naming one must still work.
ROWS = sorted([BackendStatus(name, True, None) for name in ("cirq", "pennylane", "qiskit-aer", "qsim", "stim")] + [
    BackendStatus(name, False, "not installed here") for name in (
        "cuquantum", "lret-cirq-scalability", "lret-pennylane", "lret-phase7", "quest")], key=lambda r: r.option)
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
    # -- the grammar's edges: exclusions of named backends change nothing, a precision list
    ("qsim and cirq but not stim", ["backend=qsim,cirq"]),
    ("precision: single and double on cirq", ["backend=cirq", "backend.precision=single,double"]),
    ("cirq ghz 10 and qft", ["backend=cirq", "circuit=ghz,qft", "n_qubits=10"]),
    # -- presets
    ("run the ghz scalability preset", ["+experiment=ghz_scalability"]),
    ("experiment depth_sweep on cirq", ["+experiment=depth_sweep", "backend=cirq"]),
    # -- replicates go first (Hydra varies the first override slowest); "repeats" stay timed repetitions
    ("run the ghz scalability preset with 3 replicates", ["execution.replicate=range(3)",
                                                         "+experiment=ghz_scalability"]),
    ("cirq ghz 10 qubits, 5 repeats, 2 replicates", ["execution.replicate=range(2)", "backend=cirq", "circuit=ghz",
                                              "n_qubits=10", "execution.repetitions=5"]),
    ("qsim ghz 20 with 1 replicate", ["backend=qsim", "circuit=ghz", "n_qubits=20"]),
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
    ("cirq at 10 qubits on ghz at 12 qubits", "gives the qubits a second time"),
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


# ---------------------------------------------------------------------------- the corpus
CORPUS = yaml.safe_load((Path(__file__).parent / "ask_corpus.yaml").read_text())
CORPUS_ROWS = sorted([BackendStatus(n, True, None) for n in CORPUS["backends"]["available"]]
                     + [BackendStatus(n, False, "not installed here") for n in CORPUS["backends"]["unavailable"]],
                     key=lambda r: r.option)


def test_corpus_coverage_at_least_90_percent_and_every_understood_one_exact():
    understood, wrong, refused = 0, [], []
    for entry in CORPUS["requests"]:
        try:
            translation = ask.translate(entry["ask"], CORPUS_ROWS, CORPUS["presets"])
        except ask.NotUnderstood as exc:
            refused.append(f"{entry['ask']!r}: {exc}")
            continue
        understood += 1
        if translation.command != entry["command"]:
            wrong.append(f"{entry['ask']!r}\n  gave {translation.command}\n  want {entry['command']}")
    total = len(CORPUS["requests"])
    assert total >= 60
    print(f"\nqbench ask corpus: {understood} of {total} understood ({understood / total:.0%}), "
          f"{understood - len(wrong)} exact")
    assert not wrong, "understood but wrong:\n" + "\n".join(wrong)
    assert understood / total >= 0.9, "not understood:\n" + "\n".join(refused)


def _readme_requests() -> list[str]:
    """The quoted requests of the first column of README's `qbench ask` table."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("| you say | the command gets |"):readme.index("### Presets")]
    rows = [line.split(" | ")[0] for line in section.splitlines()[2:] if line.startswith("| ")]
    return [q for row in rows for q in re.findall(r'"([^"]+)"', row)]


def test_corpus_is_not_the_readme_table():
    said = {q.lower() for q in _readme_requests()}
    assert len(said) > 60
    assert not said & {e["ask"].lower() for e in CORPUS["requests"]}


def test_every_request_of_the_readme_table_is_understood():
    modes = ["sampling", "statevector", "expectation"]  # the table shows them as they are once configured
    for text in _readme_requests():
        ask.translate(text, ROWS, PRESETS, compute=modes, observable=True)


@pytest.mark.parametrize("entry", CORPUS["refusals"], ids=[e["ask"] for e in CORPUS["refusals"]])
def test_corpus_refusals_exit_2_with_one_line_and_three_examples(entry, capsys):
    assert ask.main([entry["ask"]], CORPUS_ROWS, CORPUS["presets"]) == 2
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err[0].startswith("qbench: error: ") and entry["error"] in err[0], err[0]
    assert err[1] == "Requests that work, for example:"
    assert err[2:] == [f'  qbench ask "{e}"' for e in ask.EXAMPLES]
    assert captured.out == ""


# ---------------------------------------------------------------------------- names
def test_typos_and_other_spellings_are_answered_with_the_reading():
    translation = ask.translate("quiskit vs pennylnae on ghz 8 qubits", ROWS, PRESETS)
    assert translation.argv == ["-m", "backend=qiskit-aer,pennylane", "circuit=ghz", "n_qubits=8"]
    assert translation.notes == ["understood 'quiskit' as qiskit-aer", "understood 'pennylnae' as pennylane"]
    assert ask.translate("lightning on ghz", ROWS, PRESETS).notes == ["understood 'lightning' as pennylane"]
    assert ask.translate("cirq on ghz", ROWS, PRESETS).notes == []
    # too short, too far, or as near to two names: not read as anything
    for text, word in (("qsm on ghz", "qsm"), ("grover on cirq", "grover"), ("stem on ghz", None)):
        if word:
            with pytest.raises(ask.NotUnderstood, match=f"'{word}'"):
                ask.translate(text, ROWS, PRESETS)
    assert ask.translate("stem on ghz", ROWS, PRESETS).argv[1] == "backend=stim"


def test_the_reading_is_printed_before_the_command(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ask.main(["aer gpu ghz 4 qubits"], ROWS, PRESETS) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Read:       understood 'aer' as qiskit-aer"
    assert out[2] == "Command:    python -m qbench -m backend=qiskit-aer backend.device=GPU circuit=ghz n_qubits=4"


def test_backend_names_come_from_the_configured_group():
    # A user's backend yaml (tests/plugins/conf/backend/faulty.yaml), found through hydra.searchpath:
    rows = collect([f"hydra.searchpath=[file://{PLUGIN_CONF}]"])
    assert "faulty" in [row.option for row in rows]
    assert ask.translate("faulty vs cirq on ghz", rows, PRESETS).argv[1] == "backend=faulty,cirq"
    assert ask.translate("fautly on ghz", rows, PRESETS).notes == ["understood 'fautly' as faulty"]
    # without it configured, the same words are not a backend
    with pytest.raises(ask.NotUnderstood, match="did not understand 'faulty'"):
        ask.translate("faulty vs cirq on ghz", ROWS, PRESETS)
    # a known spelling of a backend that is not configured is refused with that reason
    rows = [row for row in ROWS if row.option != "quest"]
    with pytest.raises(ask.NotUnderstood, match=r"'quest' \(quest\) is not a backend of this qbench"):
        ask.translate("quest on ghz", rows, PRESETS)


def _families(*names):
    return {name: {"name": name, "depth": 20 if name.startswith("random") else None} for name in names}


def test_circuit_families_are_those_whose_yaml_ships():
    shipped = shipped_options("circuit")
    built_in = [f for f in shipped if f not in ("qasm", "mqt")]   # those two import a circuit
    assert ask.translate("all circuit types on cirq", ROWS, PRESETS).argv[2] == f"circuit={','.join(built_in)}"
    four = _families("ghz", "qft", "random", "random_clifford")
    assert ask.translate("all circuit types on cirq", ROWS, PRESETS, families=four).argv[2] == \
        "circuit=ghz,qft,random,random_clifford"
    assert ask.translate("all circuits except qft on stim", ROWS, PRESETS, families=four).argv[2] == \
        "circuit=ghz,random,random_clifford"
    # a family added by its yaml is understood by its name and its usual spellings ...
    grown = {**four, **_families("quantum_volume", "qpe", "iqft")}
    assert ask.translate("cirq vs qsim on quantum volume 10 qubits", ROWS, PRESETS, families=grown).argv == [
        "-m", "backend=cirq,qsim", "circuit=quantum_volume", "n_qubits=10"]
    assert ask.translate("phase estimation and inverse qft on qsim", ROWS, PRESETS, families=grown).argv[2] == \
        "circuit=qpe,iqft"
    # ... and refused with the reason while it is not there
    with pytest.raises(ask.NotUnderstood, match=r"\(quantum_volume\) is not a circuit family of this qbench"):
        ask.translate("cirq on quantum volume", ROWS, PRESETS, families=four)


def test_a_qasm_file_is_the_qasm_family_only_where_it_exists():
    families = {**_families("ghz", "qft", "random"), "qasm": {"name": "qasm", "path": None, "depth": None}}
    assert ask.translate("time circuits/Adder_4.qasm on cirq and qsim", ROWS, PRESETS, families=families).argv == [
        "-m", "backend=cirq,qsim", "circuit=qasm", "circuit.path=circuits/Adder_4.qasm"]
    assert ask.translate("a.qasm and b.qasm on stim", ROWS, PRESETS, families=families).argv[2:] == [
        "circuit=qasm", "circuit.path=a.qasm,b.qasm"]
    for text, message in (("my.qasm on cirq at 10 qubits", "sets its own qubit count"),
                          ("my.qasm and ghz on cirq", "name no other circuit family"),
                          ("qasm on cirq", "circuit qasm needs its path")):
        with pytest.raises(ask.NotUnderstood, match=message):
            ask.translate(text, ROWS, PRESETS, families=families)
    with pytest.raises(ask.NotUnderstood, match=r"'my.qasm': OpenQASM files need the qasm circuit family"):
        ask.translate("my.qasm on cirq", ROWS, PRESETS, families=_families("ghz", "qft"))


def test_mqt_bench_benchmarks_follow_its_name():
    families = {**_families("ghz", "qaoa"), "mqt": {"name": "mqt", "benchmark": "ghz", "level": "alg"}}
    assert ask.translate("mqt bench qaoa, dj and wstate on cirq at 8 qubits", ROWS, PRESETS,
                         families=families).argv == [
        "-m", "backend=cirq", "circuit=mqt", "circuit.benchmark=qaoa,dj,wstate", "n_qubits=8"]
    assert ask.translate("qaoa on cirq", ROWS, PRESETS, families=families).argv[2] == "circuit=qaoa"


def test_compute_modes_only_where_the_option_exists():
    modes = ["sampling", "statevector", "expectation"]
    assert ask.translate("statevector of ghz on cirq, 10 qubits", ROWS, PRESETS, compute=modes).argv == [
        "-m", "backend=cirq", "circuit=ghz", "n_qubits=10", "compute=statevector"]
    translation = ask.translate("expectation of Z0 Z1 + 0.5 X2 on qsim ghz 4 qubits", ROWS, PRESETS,
                                compute=modes, observable=True)
    assert translation.argv[-2:] == ["compute=expectation", "observable=Z0 Z1 + 0.5 X2"]
    assert translation.command.endswith("compute=expectation 'observable=Z0 Z1 + 0.5 X2'")
    with pytest.raises(ask.NotUnderstood, match="compute modes need qbench's `compute` option"):
        ask.translate("statevector of ghz on cirq", ROWS, PRESETS, compute=None)
    # sampling is what qbench does without the option
    assert ask.translate("sampling ghz on cirq", ROWS, PRESETS, compute=None).argv == [
        "-m", "backend=cirq", "circuit=ghz"]


# ---------------------------------------------------------------------------- never a wrong run
WRONG_RUNS = [
    ("qft depth 50", "depth applies to random, random_clifford only: qft has no depth"),
    ("ghz and random at depth 30 on cirq", "ghz has no depth"),
    ("cirq ghz 4..10 with 1.5 shots", "shot counts are whole numbers"),
    ("cirq ghz with noise 150%", "not a probability"),
    ("cirq at 5% qubits", "a percentage is a noise strength"),
    ("fusion on vs off on cirq and qiskit", "not an option of cirq"),
    ("cirq and qsim except cirq", "names cirq to run and to leave out"),
    ("cirq 3 to 5 times", "list the repetitions"),
    ("cirq 3 and 5 times", "one value for the repetitions"),
    ("cirq ghz with 0 replicates", "replicate counts start at 1"),
    ("cirq ghz with 3 and 5 replicates", "one value for the replicate counts"),
    ("cirq depth up to 50", "say where the depths start"),
    ("cirq for 30 seconds", "did not understand '30', 's"),
    ("random 50 on cirq", "did not understand '50'"),   # a depth or a size: not guessed
]


@pytest.mark.parametrize("request_text,message", WRONG_RUNS, ids=[r[0] for r in WRONG_RUNS])
def test_an_option_that_does_not_apply_is_refused_with_the_reason(request_text, message):
    families = {**_families("ghz", "qft", "random", "random_clifford")}
    with pytest.raises(ask.NotUnderstood, match=message):
        ask.translate(request_text, ROWS, PRESETS, families=families)


def test_fusion_without_a_backend_means_the_backends_that_have_it():
    translation = ask.translate("fusion on vs off, qft 20 qubits", ROWS, PRESETS)
    having = [b for b in shipped_options("backend")
              if "fusion_enable" in yaml.safe_load((CONF_DIR / "backend" / f"{b}.yaml").read_text())]
    assert translation.argv == ["-m", f"backend={','.join(having)}", "backend.fusion_enable=true,false",
                                "circuit=qft", "n_qubits=20"]
    assert "the backends with a fusion option" in translation.summary


def test_numbers_after_at_are_the_quantity_the_request_is_about():
    noise = ask.translate("noise benchmark of cirq on ghz 4 qubits at 0.02 and 0.08", ROWS, PRESETS)
    assert noise.argv[-2:] == ["noise=depolarizing", "noise.strength=0.02,0.08"]
    assert "n_qubits=4" in noise.argv
    assert ask.translate("cirq on ghz at 12", ROWS, PRESETS).argv[-1] == "n_qubits=12"
    # a strength is taken once: the next number after "with" is the qubits
    assert ask.translate("bit flip on cirq at 0.05 with 12", ROWS, PRESETS).argv[1:] == [
        "backend=cirq", "n_qubits=12", "noise=bit_flip", "noise.strength=0.05"]


def test_plan_of_a_threads_sweep_composes(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ask.main(["stim with 2 threads vs 1 thread on ghz 4 qubits"], ROWS, PRESETS) == 0
    out = capsys.readouterr().out
    assert "Command:    python -m qbench -m backend=stim circuit=ghz n_qubits=4 execution.threads=1,2\n" in out
    assert "2 points: 2 will run, 0 skipped, 0 unavailable" in out


def test_plan_of_replicates_composes_each_point_that_many_times(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ask.main(["stim on ghz 4 and 6 qubits with 3 replicates"], ROWS, PRESETS) == 0
    out = capsys.readouterr().out
    command = "python -m qbench -m 'execution.replicate=range(3)' backend=stim circuit=ghz n_qubits=4,6"
    assert f"Command:    {command}\n" in out
    assert "6 points: 6 will run, 0 skipped, 0 unavailable" in out


def test_run_of_an_exclusion_and_repetitions_goes_through_the_cli_launch(tmp_path):
    # every available backend but all others: stim alone, 2 timed repetitions, 1e3 shots
    others = [row.option for row in collect() if row.available and row.option != "stim"]
    said = ", ".join("qiskit" if name == "qiskit-aer" else name for name in others)
    result = run_qbench("ask", "--run", f"all backends but {said}: ghz 4 qubits, quick, 2 times, 1e3 shots, "
                        "2 threads", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Read:       understood 'qiskit' as qiskit-aer" in result.stdout
    records = sweep_records(tmp_path)
    assert [(r["backend"], r["status"]) for r in records] == [("stim", "success")]
    assert records[0]["config"]["shots"] == 1000 and records[0]["environment"]["threads"] == 2
    assert len(records[0]["metrics"]["execution_times_seconds"]) >= 2
