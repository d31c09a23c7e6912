"""qbench's submitit launcher (sizing, lost-job records) passes Hydra's own launcher test suites, on
submitit's local executor, parametrized as Hydra's submitit plugin parametrizes them in its tests.

Every case of both suites applies: their apps are not qbench points, and the launcher sizes those
with its baseline (qbench's sizing needs a point's backend, execution and n_qubits) and lets
their lost jobs raise, as the stock launcher does. The real cluster: tests/app/test_slurm.py.
"""
import copy
import math

from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite
from hydra.version import VersionBase
from pytest import fixture, mark

from hydra_plugins.qbench_plugins.submitit_launcher import IMPORT_MARGIN_S, QbenchLocalLauncher, QbenchSlurmLauncher
from tests.helpers import compose_point, run_qbench, sweep_records

# The suites' apps are not qbench: qbench's launcher configs reach them through the search path.
QBENCH_CONF = "hydra.searchpath=[pkg://qbench.conf]"


@fixture(autouse=True)
def fresh_version_base():
    """Hydra's version base as a fresh process has it (unset), where Hydra's suites expect to run:
    a Hydra app composed earlier in this process (version_base="1.3") must not change their defaults."""
    before = VersionBase.instance()
    fresh = copy.copy(before)
    fresh.__init__()  # VersionBase() would return the instance in use: it is a Singleton
    VersionBase.set_instance(fresh)
    yield
    VersionBase.set_instance(before)


@mark.parametrize("cls", [QbenchLocalLauncher, QbenchSlurmLauncher])
def test_discovery(cls):
    assert cls.__name__ in [x.__name__ for x in Plugins.instance().discover(Launcher)]


@mark.parametrize("launcher_name, overrides", [("qbench_local", [QBENCH_CONF, "hydra.launcher.timeout_min=2"])])
class TestQbenchLocalLauncher(LauncherTestSuite):
    pass


@mark.parametrize("task_launcher_cfg, extra_flags", [
    ({}, ["-m", "hydra/hydra_logging=disabled", "hydra/job_logging=disabled", QBENCH_CONF,
          "hydra/launcher=qbench_local", "hydra.launcher.gpus_per_node=0", "hydra.launcher.timeout_min=1"]),
])
class TestQbenchLocalLauncherIntegration(IntegrationTestSuite):
    pass


def test_a_qbench_sweep_on_the_local_executor_is_sized_from_its_points(workdir):
    result = run_qbench("-m", "backend=stim,cirq", "n_qubits=3,4", "execution=quick", "hydra/launcher=qbench_local",
                        cwd=workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    records = sweep_records(workdir)
    assert len(records) == 4 and {r["status"] for r in records} == {"success"}
    execution = compose_point("execution=quick").execution
    timeout_s = max(60, execution.timeout_per_run * (execution.retries + 1) + IMPORT_MARGIN_S)
    sized = {"timeout_min": math.ceil(timeout_s * 1.25 / 60), "mem_gb": 2, "cpus_per_task": 1, "gpus_per_node": None}
    assert f"qbench local resources: {sized}" in output
    sweep_dir = sorted((workdir / "outputs").glob("bench_*"))[-1]
    assert len(list(sweep_dir.glob(".submitit/*/*_log.out"))) == 4  # one submitit job per point
    assert (sweep_dir / "summary.json").exists()


def test_the_local_controller_finds_its_job_folder_made_before_it_starts(tmp_path):
    """submitit's local controller opens its logs in `<folder>/<job id>/` at once, while the submitting
    process makes that folder only after starting it (a race a busy machine lost: the point's job
    died unlogged, 3 of 6 sweeps here). The launcher's setup line makes the controller's own shell
    create it, named by the shell's pid, which submitit takes as the job id."""
    import subprocess

    from hydra_plugins.qbench_plugins.submitit_launcher import QbenchLocalLauncher

    params = QbenchLocalLauncher._executor_params(None, {"submitit_folder": str(tmp_path / "sub it" / "%j")})
    (setup,) = params["setup"]
    shell = subprocess.Popen(f"{setup} && ls -d {tmp_path}/'sub it'/$$", shell=True, stdout=subprocess.PIPE, text=True)
    assert shell.wait() == 0
    assert (tmp_path / "sub it" / str(shell.pid)).is_dir()
