"""Hydra's public path gives exactly what qbench's faster path through Hydra's internals gives.

qbench.app.hydra_internals uses a few of Hydra's internals, each with a public fallback. These
tests force the fallback (QBENCH_HYDRA_PUBLIC=1, or, in a subprocess, internals that look moved
or changed, as after a Hydra upgrade) and compare: the same points, the same composed configs,
the same errors for bad input, the same `qbench plan` and `qbench backends`.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from qbench.app import hydra_internals
from qbench.app.hydra_internals import PUBLIC_ENV, PublicComposer, SweepComposer, sweep_composer
from qbench.app.sweep import compose_command, hydra_session
from qbench.cli import backends_table, plan
from qbench.cli.preflight import preflight
from tests.helpers import BAD_INPUTS, PLUGIN_CONF, ROOT

# glob(*), a group choice sweep, range() (a value sweep) and a plain value sweep
SWEEP = ["noise=glob(*)", "backend=cirq,stim", "n_qubits=range(4,8,2)", "shots=100,200"]


def on_both_paths(monkeypatch, compute):
    """(compute() through Hydra's internals, compute() through Hydra's public path)."""
    monkeypatch.delenv(PUBLIC_ENV, raising=False)
    assert hydra_internals.internal("apply_overrides") is not None  # the pinned Hydra has them
    fast = compute()
    monkeypatch.setenv(PUBLIC_ENV, "1")
    assert all(hydra_internals.internal(name) is None for name in hydra_internals._INTERNALS)
    public = compute()
    monkeypatch.delenv(PUBLIC_ENV)
    return fast, public


def composed(overrides, config_dir=None):
    expansion = compose_command(overrides, True, config_dir)
    return ([p.overrides for p in expansion.points], OmegaConf.to_yaml(expansion.master),
            [OmegaConf.to_yaml(p.cfg) for p in expansion.points])


def test_the_public_path_gives_the_same_points_and_configs(monkeypatch):
    fast, public = on_both_paths(monkeypatch, lambda: composed([*SWEEP, "hydra/launcher=joblib"]))
    points, _, configs = fast
    noises = len(points) // 8
    assert noises >= 5 and len(points) == noises * 8
    # the basic sweeper's order: the product of the axes, the last one varying fastest
    assert points[:3] == [["noise=amplitude_damping", "backend=cirq", "n_qubits=4", "shots=100"],
                          ["noise=amplitude_damping", "backend=cirq", "n_qubits=4", "shots=200"],
                          ["noise=amplitude_damping", "backend=cirq", "n_qubits=6", "shots=100"]]
    assert public[0] == points  # same points, same order
    assert public[1] == fast[1]  # same master config
    for point, fast_cfg, public_cfg in zip(points, configs, public[2]):
        assert public_cfg == fast_cfg, point  # same composed config, hydra node included


def test_the_public_path_adds_a_config_dir_where_hydra_main_does(monkeypatch):
    sweep = ["backend=faulty,stim", "n_qubits=3,4"]
    fast, public = on_both_paths(monkeypatch, lambda: composed(sweep, str(PLUGIN_CONF)))
    assert fast == public
    sources = OmegaConf.create(fast[2][0]).hydra.runtime.config_sources
    assert [(s.provider, s.schema, s.path) for s in sources] == [
        ("hydra", "pkg", "hydra.conf"), ("main", "pkg", "qbench.conf"),
        ("command-line", "file", str(PLUGIN_CONF)), ("schema", "structured", "")]


def test_the_composers_of_each_path(monkeypatch):
    fast, public = on_both_paths(monkeypatch, lambda: type(sweep_composer(_loader())))
    assert (fast, public) == (SweepComposer, PublicComposer)


def _loader():
    with hydra_session() as loader:
        return loader


BAD = [*(args for args, _ in BAD_INPUTS),
       ["-m", "n_qubits=[1"], ["n_qubits=4,6"], ["-m", "hydra.verbose=true,false", "n_qubits=4"],
       ["-m", "backend=cirq", "no_such_key=1,2"], ["-m", "n_qubits=interval(1,2)"], ["-m", "backend=glob(zzz*)"],
       ["--config-dir", "/no/such/dir", "n_qubits=4"]]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_the_public_path_gives_the_same_errors(args, monkeypatch):
    def problem():
        expansion, message = preflight(hydra_internals.args_parser().parse_args(args))
        assert expansion is None
        return message

    fast, public = on_both_paths(monkeypatch, problem)
    assert fast and public == fast


ARGVS = [[], ["-m", "a=1", "b=2,3"], ["--cfg", "job", "x=1"], ["-c", "hydra", "-p", "hydra.job", "--resolve"],
         ["--info"], ["--info", "searchpath"], ["-cd", "d", "-cn", "c", "-cp", "p", "-m", "x=1,2"], ["-r", "x=1"],
         ["--shell-completion", "install=bash"], ["--hydra-help"], ["-h"], ["--experimental-rerun", "f.pickle"]]


def test_the_public_args_parser_parses_as_hydra_main_does():
    hydras = hydra_internals.internal("get_args_parser")()
    ours = hydra_internals.public_args_parser()
    for argv in ARGVS:
        assert vars(ours.parse_args(argv)) == vars(hydras.parse_args(argv)), argv
    for bad in (["--cfg", "nope"], ["--info", "nope"], ["--no-such-option"]):
        for parser in (hydras, ours):
            with pytest.raises(SystemExit):
                parser.parse_args(bad)


def _plan(argv):
    result, problem = plan.build(argv)
    assert problem is None, problem
    result.pop("available_memory_bytes")  # what the machine has free now, not what the plan says
    return result


def test_plan_and_backends_are_the_same_on_the_public_path(monkeypatch):
    argv = ["-m", "backend=glob(*)", "n_qubits=4", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    fast, public = on_both_paths(monkeypatch, lambda: _plan(argv))
    assert fast["total"] == len(fast["points"]) >= 10 and public == fast
    fast, public = on_both_paths(monkeypatch, lambda: backends_table.collect(config_dir=str(PLUGIN_CONF)))
    assert "faulty" in {row.option for row in fast} and public == fast


# -- after a Hydra upgrade: internals moved or changed, in a fresh process ---------------------------
MOVED = """hydra_internals._INTERNALS = {name: (module, "moved_away", params)
                              for name, (module, _, params) in hydra_internals._INTERNALS.items()}"""
CHANGED = """import hydra._internal.config_loader_impl as impl
original = impl.get_overrides_dirname
impl.get_overrides_dirname = lambda *args, **kwargs: original(*args, **kwargs)  # Hydra's own calls still work"""
HARNESS = """import sys
from qbench.app import hydra_internals
{patch}
assert hydra_internals.internal("get_overrides_dirname") is None
from qbench.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _qbench(*argv: str, patch: str | None, cwd: Path) -> subprocess.CompletedProcess:
    command = ["-c", HARNESS.format(patch=patch)] if patch else ["-m", "qbench"]
    return subprocess.run([sys.executable, *command, *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


PLAN = ["plan", "--json", "-m", "backend=cirq,stim", "circuit=ghz,qft", "n_qubits=range(4,8,2)", "shots=10,20"]
BACKENDS = ["backends", "--json", "--config-dir", str(PLUGIN_CONF)]


def _json(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    if isinstance(output, dict):
        output.pop("available_memory_bytes")  # what the machine has free now, not what the plan says
    return output


@pytest.fixture(scope="module")
def through_internals(tmp_path_factory):
    """`qbench plan` and `qbench backends` as the pinned Hydra gives them, with its internals."""
    cwd = tmp_path_factory.mktemp("commands")  # one folder for all: some reasons name paths under it
    return cwd, [_json(_qbench(*argv, patch=None, cwd=cwd)) for argv in (PLAN, BACKENDS)]


@pytest.mark.parametrize("patch", [MOVED, CHANGED], ids=["moved", "changed"])
def test_commands_work_the_same_when_hydra_internals_move(patch, through_internals):
    cwd, (expected_plan, expected_backends) = through_internals
    plan_output, backends_output = (_json(_qbench(*argv, patch=patch, cwd=cwd)) for argv in (PLAN, BACKENDS))
    assert plan_output == expected_plan and plan_output["total"] == 16
    assert backends_output == expected_backends
    bad = _qbench("-m", "backend=cirq,nope", patch=patch, cwd=cwd)
    assert bad.returncode == 2 and bad.stderr.startswith("qbench: error: unknown backend 'nope'")


def test_a_sweep_runs_when_hydra_internals_move(tmp_path):
    result = _qbench("-m", "backend=stim", "n_qubits=3,4", "execution=quick", "tracking.enabled=false",
                     patch=MOVED, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    records = [json.loads(p.read_text()) for p in tmp_path.glob("outputs/bench_*/*/result.json")]
    assert sorted((r["config"]["n_qubits"], r["status"]) for r in records) == [(3, "success"), (4, "success")]


def test_only_the_quarantine_imports_hydra_internals():
    allowed = {ROOT / "qbench" / "app" / "hydra_internals.py"}
    found = [path for folder in ("qbench", "hydra_plugins") for path in (ROOT / folder).rglob("*.py")
             if re.search(r"hydra\._internal", path.read_text()) and path not in allowed]
    assert not found, f"Hydra internals outside qbench/app/hydra_internals.py: {found}"


def test_the_basic_sweepers_base_is_also_found_through_hydras_own_config():
    from hydra.core.plugins import Plugins

    Plugins.instance()  # Hydra's core plugins register their configs (a first scan executes their modules anew)
    from hydra_plugins.qbench_plugins.basic_sweeper import QbenchBasicSweeper
    from qbench.app.hydra_internals import public_basic_sweeper_class

    assert QbenchBasicSweeper.__mro__[1] is public_basic_sweeper_class()
