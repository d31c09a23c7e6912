"""Expand a Hydra command line into its points exactly as Hydra's basic sweeper would.

Used before launching (to validate every point: bad input exits 2 before anything
runs), by `qbench plan`, `qbench rerun-failed` and `qbench backends`. Hydra is initialized
through its public compose API, as hydra.main initializes it for qbench's app (qbench's
config module, version base 1.3, `--config-dir` where hydra.main puts it), and the master
config is composed as Hydra's app composes it (`hydra.mode` set), so the points are the very
configs Hydra's launcher would compose. The faster paths through Hydra's internals are all
in qbench.app.hydra_internals.
"""
from __future__ import annotations

import copy
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import MissingConfigException, SearchPathException
from hydra.types import RunMode
from hydra.version import VersionBase
from omegaconf import DictConfig, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from qbench.app import state
from qbench.app.hydra_internals import Compositions, split_arguments, sweep_composer

CONFIG_MODULE = "qbench.conf"
VERSION_BASE = "1.3"  # qbench.app.task's hydra.main declares it


@contextmanager
def hydra_session(config_dir: str | None = None):
    """Hydra initialized for qbench's app; yields its config loader (Hydra's public ConfigLoader:
    load_configuration, load_sweep_config, get_group_options). `config_dir`: as `--config-dir`."""
    extra = None
    if config_dir is not None:
        extra = os.path.abspath(config_dir)
        if not os.path.isdir(extra):
            raise SearchPathException(f"Additional config directory '{extra}' not found")
    GlobalHydra.instance().clear()
    version_base = copy.copy(VersionBase.instance())  # put back after: Hydra apps of this process set their own
    state.set_config_dir(extra)  # read by hydra_plugins/qbench_plugins/search_path.py
    try:
        with initialize_config_module(CONFIG_MODULE, job_name="qbench", version_base=VERSION_BASE):
            state.set_config_dir(None)  # the search path is built; Hydra's own launch adds DIR itself
            loader = GlobalHydra.instance().config_loader()
            if extra is not None and f"file://{extra}" not in [str(s.full_path()) for s in loader.get_sources()]:
                raise SearchPathException(f"config directory '{extra}' did not reach Hydra's search path "
                                          "(is qbench's hydra_plugins package importable?)")
            yield loader
    finally:
        state.set_config_dir(None)
        GlobalHydra.instance().clear()
        VersionBase.set_instance(version_base)


@dataclass
class Point:
    overrides: list[str]
    cfg: DictConfig


@dataclass
class Expansion:
    master: DictConfig | None  # the multirun config the points were composed from (None: a single run)
    points: list[Point]
    # what composing a multirun's points composed (its groups) and parsed: the launch's jobs adopt it
    # where their master is this one (hydra_internals.SweepConfigLoader.adopt)
    compositions: Compositions = field(default_factory=Compositions)


def sweep_dir_given(overrides) -> bool:
    """The command names its sweep folder itself (a resume, rerun-failed): the launch adds no
    `sweep_dir_override` then."""
    return any(o.startswith("hydra.sweep.dir=") for o in overrides)


def sweep_dir_override(folder) -> str:
    """The override by which a launch makes Hydra use the sweep folder it claimed (qbench.cli.launch)."""
    return f"hydra.sweep.dir={folder}"


def as_launched(master: DictConfig, mode_added: bool) -> DictConfig:
    """The master config as Hydra's app will compose it for a new sweep, once the launch has claimed
    its folder and added `sweep_dir_override(folder)` to the command: the folder is the one the
    master names (the launch takes a `_2` only if another sweep took it meanwhile). A prediction:
    the launch's sweeper adopts the compositions made from it only if Hydra's own master equals it."""
    folder = str(Path(str(master.hydra.sweep.dir)))
    predicted = copy.deepcopy(master)
    hydra_overrides = list(predicted.hydra.overrides.hydra)
    # after the command's own overrides; Hydra's app appends `hydra.mode` after them all
    hydra_overrides.insert(len(hydra_overrides) - 1 if mode_added else len(hydra_overrides), sweep_dir_override(folder))
    with read_write(predicted.hydra), open_dict(predicted.hydra):
        predicted.hydra.sweep.dir = folder
        predicted.hydra.overrides.hydra = hydra_overrides
    return predicted


def compose_command(overrides: list[str], multirun: bool, config_dir: str | None = None,
                    config_name: str = "config", on_point=None, on_jobs=None, launching: bool = False) -> Expansion:
    """Every point the command would launch, each composed (with its hydra node) and passed to
    `on_point` (if given) as soon as it is, with the master config of a multirun. `on_jobs(master,
    jobs)`, if given, sees a multirun's master config and its jobs' overrides before any is composed.
    `launching`: the command is about to be launched (qbench.cli.launch), so a new sweep's points
    are composed from the master Hydra will compose once the launch has claimed the sweep folder
    (`as_launched`), and its jobs need not compose them again.

    As in Hydra, each point's own overrides are the task overrides only; `hydra.*` and
    `hydra/...` overrides shape every composition but are not part of a point.
    """
    mode = RunMode.MULTIRUN if multirun else RunMode.RUN
    # Hydra's app adds this override unless a config sets the mode (then the masters differ and the
    # launcher composes its jobs itself).
    given = any(override.startswith("hydra.mode=") for override in overrides)
    with_mode = list(overrides) if given else [*overrides, f"hydra.mode={mode.name}"]
    with hydra_session(config_dir) as loader:
        base = loader.load_configuration(config_name, with_mode, run_mode=mode)
        if not multirun:
            return Expansion(None, [Point(list(overrides), base)])
        parser = OverridesParser.create(config_loader=loader)
        parsed = parser.parse_overrides(list(overrides))
        task_overrides = [o.input_line for o in parsed if not o.is_hydra_override()]
        # The basic sweeper's own order: its `params` first, then the command line's.
        params = [f"{k}={v}" for k, v in (base.hydra.sweeper.get("params") or {}).items()]
        jobs = split_arguments(parser.parse_overrides(params + task_overrides))
        if on_jobs is not None:
            on_jobs(base, jobs)
        if launching and not sweep_dir_given(overrides):
            try:
                base = as_launched(base, mode_added=not given)
            except OmegaConfBaseException:
                pass  # a folder name that does not resolve: the launch reports it when it claims the folder
        composer = sweep_composer(loader)
        points = []
        for job in jobs:
            points.append(Point(job, composer.load_sweep_config(base, job)))
            if on_point is not None:
                on_point(points[-1])
        return Expansion(base, points, composer.compositions())


_MISSING = re.compile(r"Could not find '([^/']+)/([^']+)'")


def one_line(exc: BaseException) -> str:
    """Hydra's multi-line composition errors as one line saying what is allowed."""
    text = str(exc)
    missing = _MISSING.search(text)
    if isinstance(exc, MissingConfigException) and missing and exc.options is not None:
        group, name = missing.groups()
        return f"unknown {group} '{name}'; allowed: {', '.join(sorted(exc.options))}"
    return " ".join(text.split())
