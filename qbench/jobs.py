"""Hydra's `run_job` for the jobs of a local sweep, with the same effects and less copying.

Hydra's own run_job spends ~40 ms a job here on copies of the job's config: HydraConfig
is set twice (each a deep masked copy), the task config and the Hydra config are each
deep-copied again, and three YAML files are written with PyYAML's pure-Python emitter.
A sweep job's config is composed for that job alone, so most of those copies protect
nothing. This runner makes the one masked copy HydraConfig needs, copies only the task's
part of the config, and writes the same YAML bytes with libyaml's emitter. The job's
output folder, `.hydra/*.yaml` files, log configuration, callbacks, environment,
working directory and returned JobReturn are Hydra's; tests/test_jobs.py compares the two
side by side.
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml
from hydra import version
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, _flush_loggers, configure_log, env_override
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf._utils import get_omega_conf_dumper

DIR_KEY, SUBDIR_KEY = "hydra.sweep.dir", "hydra.sweep.subdir"


def _yaml_dumper():
    """OmegaConf's YAML dumper (its quoting of strings that read as numbers or booleans) on
    libyaml's emitter, which writes the same text ~3x faster; PyYAML's own where libyaml is absent."""
    omegaconf_dumper = get_omega_conf_dumper()
    if not getattr(yaml, "__with_libyaml__", False):
        return omegaconf_dumper

    class LibyamlOmegaConfDumper(yaml.CDumper):
        pass

    LibyamlOmegaConfDumper.add_representer(str, omegaconf_dumper.str_representer)
    return LibyamlOmegaConfDumper


_DUMPER = _yaml_dumper()


def to_yaml(cfg) -> str:
    """OmegaConf.to_yaml(cfg), byte for byte."""
    container = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    return yaml.dump(container, default_flow_style=False, allow_unicode=True, sort_keys=False, Dumper=_DUMPER)


def _save(cfg, filename: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / filename, "w", encoding="utf-8") as file:
        file.write(to_yaml(cfg))


def task_config(config: DictConfig) -> DictConfig:
    """The job's config without its `hydra` node: what Hydra gets by deep-copying the whole config
    and deleting `hydra` from the copy, built by copying only the other keys."""
    task_cfg = OmegaConf.masked_copy(config, [key for key in config.keys() if key != "hydra"])
    task_cfg._metadata.flags = dict(config._metadata.flags)  # struct mode, as the deep copy keeps it
    OmegaConf.copy_cache(from_config=config, to_config=task_cfg)  # resolved ${now:...} values
    return task_cfg


def needs_job_hydra_config(config: DictConfig) -> bool:
    """Whether the config uses the `${hydra:...}` resolver, which reads HydraConfig. Hydra sets
    HydraConfig to the job's config before it resolves the job's output folder; so does
    `run_job` then, and only then (the resolver is the only way that setting is seen)."""
    return "${hydra:" in to_yaml(config)


def run_job(hydra_context: HydraContext, config: DictConfig, task_function: TaskFunction,
            resolve_dirs_with_job_config: bool = True) -> JobReturn:
    """hydra.core.utils.run_job(task_function, config, "hydra.sweep.dir", "hydra.sweep.subdir",
    hydra_context) for a config composed for this job alone (it is changed, as Hydra changes it).

    resolve_dirs_with_job_config=False skips HydraConfig's first setting, which only matters where
    the output folder's keys use `${hydra:...}` (see needs_job_hydra_config)."""
    callbacks = hydra_context.callbacks
    old_cwd = os.getcwd()
    orig_hydra_cfg = HydraConfig.instance().cfg
    if resolve_dirs_with_job_config:
        HydraConfig.instance().set_config(config)
    output_dir = os.path.join(str(OmegaConf.select(config, DIR_KEY)), str(OmegaConf.select(config, SUBDIR_KEY)))
    with read_write(config.hydra.runtime):
        with open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = os.path.abspath(output_dir)
    HydraConfig.instance().set_config(config)
    # set_config's masked copy is made for this job and never changed: it serves as Hydra's
    # deep copy of it (`hydra_cfg`), and gets a parent of its own once the job is over, as a copy has.
    hydra_cfg = HydraConfig.instance().cfg
    _chdir = None
    try:
        ret = JobReturn()
        task_cfg = task_config(config)
        ret.cfg = task_cfg
        ret.hydra_cfg = hydra_cfg
        ret.overrides = OmegaConf.to_container(config.hydra.overrides.task)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        _chdir = hydra_cfg.hydra.job.chdir
        if _chdir is None:
            _chdir = not version.base_at_least("1.2")  # Hydra warns about that old default; qbench declares 1.3
        if _chdir:
            os.chdir(output_dir)
            ret.working_dir = output_dir
        else:
            ret.working_dir = os.getcwd()
        configure_log(config.hydra.job_logging, config.hydra.verbose)
        if config.hydra.output_subdir is not None:
            hydra_output = Path(config.hydra.runtime.output_dir) / Path(config.hydra.output_subdir)
            _save(task_cfg, "config.yaml", hydra_output)
            _save(hydra_cfg, "hydra.yaml", hydra_output)
            _save(config.hydra.overrides.task, "overrides.yaml", hydra_output)
        with env_override(hydra_cfg.hydra.job.env_set):
            callbacks.on_job_start(config=config, task_function=task_function)
            try:
                ret.return_value = task_function(task_cfg)
                ret.status = JobStatus.COMPLETED
            except Exception as e:
                ret.return_value = e
                ret.status = JobStatus.FAILED
        ret.task_name = JobRuntime.instance().get("name")
        _flush_loggers()
        callbacks.on_job_end(config=config, job_return=ret)
        return ret
    finally:
        HydraConfig.instance().cfg = orig_hydra_cfg
        hydra_cfg.hydra._set_parent(hydra_cfg)
        if _chdir:
            os.chdir(old_cwd)
