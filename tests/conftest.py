"""Shared helpers: compose the real configs, run the real CLI into temporary directories."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

TESTS = Path(__file__).resolve().parent
PLUGIN_CONF = TESTS / "plugins" / "conf"
# The test-only backend's module, for in-process tests and the worker processes they start.
sys.path.insert(0, str(TESTS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))


def compose_point(*overrides: str, with_plugins: bool = False):
    extra = [f"hydra.searchpath=[file://{PLUGIN_CONF}]"] if with_plugins else []
    with initialize_config_module("qbench.conf", version_base="1.3"):
        return compose("config", overrides=[*extra, *overrides])


def run_qbench(*args: str, cwd: Path, timeout: float = 600, plugins: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m qbench ARGS` for real in `cwd` (where outputs/ is created)."""
    env = dict(os.environ)
    if plugins:
        args = (*args, f"hydra.searchpath=[file://{PLUGIN_CONF}]")
    return subprocess.run([sys.executable, "-m", "qbench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def sweep_records(cwd: Path) -> list[dict]:
    """Every result.json of the newest sweep (or single run) under cwd/outputs."""
    dirs = sorted((cwd / "outputs").glob("bench_*")) or sorted((cwd / "outputs" / "runs").glob("*"))
    assert dirs, f"no sweep directory under {cwd / 'outputs'}"
    return [json.loads(p.read_text()) for p in sorted(dirs[-1].glob("**/result.json"))]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def assert_matches_reference(outcome: dict, n_qubits: int, shots: int) -> None:
    """A measured run agrees with its exact reference: state fidelity, and a histogram in the
    canonical bit order within shot noise of the exact distribution."""
    v = outcome["verification"]
    assert v["fidelity_method"] == "statevector"
    assert v["fidelity"] >= 1 - 1e-6, v
    assert sum(outcome["histogram"].values()) == shots
    assert all(len(bits) == n_qubits for bits in outcome["histogram"])
    assert v["tvd"] <= v["tvd_bound"], v
