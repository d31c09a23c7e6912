"""`qbench backends` (which configured backends are ready, cheaply) and the one `qbench` entry point."""
import json
import subprocess
import sys

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from qbench.cli import main as cli
from qbench.cli.backends_table import collect
from tests.helpers import PLUGIN_CONF, run_qbench

SHIPPED = {"cirq": "cirq-core", "pennylane": "pennylane", "qiskit-aer": "qiskit-aer", "qsim": "qsimcirq",
           "stim": "stim"}
HEAVY = ("cirq", "qiskit", "qiskit_aer", "pennylane", "qsimcirq", "stim", "mlflow")


def test_json_lists_every_shipped_backend_available_without_importing_any_simulator():
    script = ("import sys; from qbench.cli.main import main; main(['backends', '--json']); "
              f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", "import json; " + script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    table, imported = result.stdout.rstrip("\n").rsplit("\n", 1)  # the JSON, then the modules' line
    assert json.loads(imported) == []
    rows = {row["option"]: row for row in json.loads(table)}
    for option, package in SHIPPED.items():
        row = rows[option]
        assert row["available"] and row["reason"] is None and row["device"] == "CPU" and "CPU" in row["devices"]
        assert row["versions"][package], f"{option}: no version for {package}"


def test_every_yaml_of_the_group_is_a_row_with_the_adapter_reason(tmp_path):
    conf = tmp_path / "backend"
    conf.mkdir()
    (conf / "aer-gpu.yaml").write_text("_target_: qbench.backends.qiskit_aer_backend.QiskitAerBackend\n"
                                       "name: aer-gpu\ndevice: GPU\n")
    (conf / "not-installed.yaml").write_text("_target_: no_such_package.Sim\nname: not-installed\n")
    rows = {row.option: row for row in collect(config_dir=str(tmp_path))}
    assert set(SHIPPED) | {"aer-gpu", "not-installed"} <= set(rows)
    assert not rows["aer-gpu"].available and rows["aer-gpu"].reason.startswith("no CUDA device")
    assert rows["aer-gpu"].device == "GPU" and rows["aer-gpu"].versions["qiskit-aer"]
    assert rows["not-installed"].reason == ("adapter no_such_package.Sim cannot be loaded: "
                                            "ModuleNotFoundError: No module named 'no_such_package'")


def test_searchpath_backends_appear_too(capsys):
    assert cli.main(["backends", f"hydra.searchpath=[file://{PLUGIN_CONF}]"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["backend", "status", "device", "can", "use", "versions"]
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "faulty" in lines
    for option in SHIPPED:
        assert lines[option].split()[1] == "available"


def test_bad_config_dir_is_one_line_exit_2(capsys, tmp_path):
    assert cli.main(["backends", "--config-dir", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip() == (f"qbench: error: Additional config directory "
                                               f"'{tmp_path / 'missing'}' not found")


# -- one entry point -------------------------------------------------------------------------
def test_help_lists_the_subcommands_then_hydra_help(tmp_path):
    result = run_qbench("--help", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("backends", "plan", "ask"):
        assert any(line.split()[:1] == [name] for line in result.stdout.splitlines()), name
    assert "backend: cirq" in result.stdout  # Hydra's own help follows


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_subcommand_names_cannot_be_hydra_overrides(name):
    # A Hydra override always has '=' (or a +/~ prefix): a bare word is never one, so
    # `qbench NAME` cannot shadow `python -m qbench OVERRIDE`.
    with pytest.raises(HydraException):
        OverridesParser.create().parse_overrides([name])
    assert not name.startswith(("-", "+", "~")) and "=" not in name


def test_hydra_shell_completion_still_works(tmp_path):
    result = run_qbench("--shell-completion", "install=bash", cwd=tmp_path)
    assert result.returncode == 0 and "complete" in result.stdout
