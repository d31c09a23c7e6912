"""qbench.jobs.run_job has the effects and the return of Hydra's own run_job, job by job."""
import copy
import os
import shutil
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra._internal.callbacks import Callbacks
from hydra.core.utils import JobStatus, run_job as hydra_run_job
from hydra.types import HydraContext, RunMode
from hydra.version import setbase
from omegaconf import OmegaConf, open_dict

from qbench import jobs, sweep
from qbench.compose import SweepComposer

TRICKY = {"plain": "text", "number_like": "1e-3", "bool_like": "yes", "null_like": "null", "empty": "",
          "unicode": "Grüße, 量子 — ✓", "quotes": "it's \"quoted\"", "colon": "a: b", "hash": "# not a comment",
          "multiline": "line one\nline two\n", "long": "word " * 40, "leading_space": "  x", "tab": "a\tb",
          "list": [1, "2", 3.5, None, True], "nested": {"k": ["v", {"deep": "${plain}"}]}}


def test_to_yaml_writes_what_omegaconf_writes():
    cfg = OmegaConf.create(TRICKY)
    assert jobs.to_yaml(cfg) == OmegaConf.to_yaml(cfg)


@pytest.fixture()
def hydra(tmp_path):
    setbase("1.3")  # as qbench's app declares
    hydra = sweep._hydra(None)
    yield hydra
    GlobalHydra.instance().clear()


def _job_config(hydra, tmp_path, extra_master=(), job=("backend=cirq", "n_qubits=4"), num=3):
    master = hydra.compose_config("config", ["hydra/launcher=joblib", f"hydra.sweep.dir={tmp_path}/sweep",
                                             *extra_master], run_mode=RunMode.MULTIRUN)
    config = SweepComposer(hydra.config_loader).load_sweep_config(master, list(job))
    with open_dict(config):  # as the launcher sets them
        config.hydra.job.id, config.hydra.job.num = f"{config.hydra.job.name}_{num}", num
    return master, config


def _observe(run, hydra, master, config, task_function) -> dict:
    """Everything one run of a job leaves behind, and its JobReturn."""
    context = HydraContext(config_loader=hydra.config_loader, callbacks=Callbacks(master))
    before_cwd, before_hydra = os.getcwd(), HydraConfig.instance().cfg
    ret = run(context, copy.deepcopy(config), task_function)  # each runner changes the config it is given
    job_dir = Path(ret.hydra_cfg.hydra.runtime.output_dir)
    files = {str(p.relative_to(job_dir)): p.read_bytes() for p in sorted(job_dir.rglob("*")) if p.is_file()}
    observed = {
        "files": files, "job_dir": str(job_dir), "status": ret.status, "task_name": ret.task_name,
        "return": repr(ret._return_value), "overrides": ret.overrides, "working_dir": ret.working_dir,
        "cfg": OmegaConf.to_yaml(ret.cfg), "cfg_meta": ret.cfg._metadata,
        "hydra_cfg": OmegaConf.to_yaml(ret.hydra_cfg), "hydra_cfg_keys": list(ret.hydra_cfg.keys()),
        "hydra_cfg_own_parent": ret.hydra_cfg.hydra._get_parent() is ret.hydra_cfg,
        "seen": list(_SEEN), "cwd_restored": os.getcwd() == before_cwd,
        "hydra_config_restored": HydraConfig.instance().cfg is before_hydra,
    }
    _SEEN.clear()
    shutil.rmtree(job_dir)
    return observed


_SEEN: list = []


def _task(cfg):
    hydra_cfg = HydraConfig.get()
    _SEEN.append({"task": OmegaConf.to_yaml(cfg), "hydra": OmegaConf.to_yaml(HydraConfig.instance().cfg),
                  "output_dir": hydra_cfg.runtime.output_dir, "num": hydra_cfg.job.num, "cwd": os.getcwd(),
                  "env": os.environ.get("QBENCH_TEST_ENV"), "struct": OmegaConf.is_struct(cfg),
                  "interpolated": OmegaConf.select(cfg, "tracking.experiment", default=None)})
    return f"{cfg.backend.name} {cfg.n_qubits}"


def _failing_task(cfg):
    _task(cfg)
    raise RuntimeError("the task failed")


def _hydras(context, config, task_function):
    return hydra_run_job(task_function=task_function, config=config, job_dir_key="hydra.sweep.dir",
                         job_subdir_key="hydra.sweep.subdir", hydra_context=context)


def _ours(context, config, task_function):
    return jobs.run_job(context, config, task_function,
                        resolve_dirs_with_job_config=jobs.needs_job_hydra_config(config))


@pytest.mark.parametrize("extra_master, task_function", [
    ((), _task),
    ((), _failing_task),
    (("hydra.job.chdir=true", "+hydra.job.env_set.QBENCH_TEST_ENV=set"), _task),
    (("hydra.sweep.subdir=${hydra:job.override_dirname}_${hydra.job.num}",), _task),  # the hydra resolver
], ids=["plain", "failing", "chdir-env", "hydra-resolver"])
def test_run_job_does_what_hydras_does(hydra, tmp_path, extra_master, task_function):
    master, config = _job_config(hydra, tmp_path, extra_master)
    assert jobs.needs_job_hydra_config(config) == ("${hydra:" in " ".join(extra_master))
    expected = _observe(_hydras, hydra, master, config, task_function)
    got = _observe(_ours, hydra, master, config, task_function)
    assert got == expected
    assert set(expected["files"]) == {".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml",
                                      f"{config.hydra.job.name}.log"}
    assert expected["status"] == (JobStatus.FAILED if task_function is _failing_task else JobStatus.COMPLETED)
    assert expected["seen"][0]["num"] == 3


def test_the_hydra_resolver_in_the_output_folder_needs_the_job_config(hydra, tmp_path):
    """Without HydraConfig set first, `${hydra:...}` in the folder would read the launching config."""
    master, config = _job_config(hydra, tmp_path, ["hydra.sweep.subdir=${hydra:job.override_dirname}"])
    HydraConfig.instance().set_config(master)
    expected = _observe(_hydras, hydra, master, config, _task)["job_dir"]
    assert expected.endswith("backend=cirq,n_qubits=4")
    assert _observe(_ours, hydra, master, config, _task)["job_dir"] == expected


# -- the joblib launcher's jobs get the pre-flight's configs, which are Hydra's --------------------------
def test_a_sweeps_jobs_get_exactly_the_configs_hydra_composes(tmp_path, monkeypatch):
    """A real joblib sweep: the CLI's pre-flight configs are shipped to the jobs (its master config is
    Hydra's own), and every job's .hydra files are those of Hydra's own composition and run_job."""
    from tests.conftest import run_qbench

    workdir = tmp_path
    sweep_dir = workdir / "sweep"
    command = ["-m", "backend=cirq,stim", "circuit=ghz", "n_qubits=3,4", "execution=quick",
               "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}"]
    result = run_qbench(*command, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "job configs: composed by pre-flight" in result.stdout + result.stderr

    monkeypatch.chdir(workdir)  # hydra.runtime.cwd, as the sweep had it
    setbase("1.3")
    hydra = sweep._hydra(None)
    try:
        master = OmegaConf.load(sweep_dir / "multirun.yaml")  # Hydra's master config, as its sweeper saved it
        jobs_in_order = [[f"backend={b}", "circuit=ghz", f"n_qubits={n}", "execution=quick"]
                         for b in ("cirq", "stim") for n in (3, 4)]  # the sweeper's order
        for num, job in enumerate(jobs_in_order):
            expected = hydra.config_loader.load_sweep_config(master, job)
            with open_dict(expected):  # what the launcher and run_job set
                expected.hydra.job.id, expected.hydra.job.num = f"{expected.hydra.job.name}_{num}", num
                job_dir = sweep_dir / OmegaConf.select(expected, "hydra.sweep.subdir")
                expected.hydra.runtime.output_dir = str(job_dir)
            saved = {p.name: p.read_text() for p in (job_dir / ".hydra").iterdir()}
            expected_task = copy.deepcopy(expected)
            with open_dict(expected_task):
                del expected_task["hydra"]
            assert saved["config.yaml"] == OmegaConf.to_yaml(expected_task), job
            assert saved["hydra.yaml"] == OmegaConf.to_yaml(OmegaConf.masked_copy(expected, "hydra")), job
            assert saved["overrides.yaml"] == OmegaConf.to_yaml(expected.hydra.overrides.task), job
    finally:
        GlobalHydra.instance().clear()


def test_preflight_configs_are_used_only_for_an_identical_master(hydra, tmp_path):
    expansion = sweep.compose_command(["backend=cirq,stim", "n_qubits=4"], multirun=True)
    jobs_overrides = [point.overrides for point in expansion.points]
    master = copy.deepcopy(expansion.master)
    assert expansion.configs_for(master, jobs_overrides) == [point.cfg for point in expansion.points]
    assert expansion.configs_for(master, [["backend=qsim", "n_qubits=4"]]) is None  # a job it did not compose
    with open_dict(master):
        master.shots = 10  # another master: its jobs differ
    assert expansion.configs_for(master, jobs_overrides) is None
