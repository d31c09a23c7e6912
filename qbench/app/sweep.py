"""Expand a Hydra command line into its points exactly as Hydra's basic sweeper would.

Used before launching (to validate every point: bad input exits 2 before anything
runs) and by `qbench plan`. The master config is composed as Hydra's app composes it
(version base 1.3, `hydra.mode` set), so the points are the very configs Hydra's launcher
would compose; the joblib launcher hands them to its jobs instead of composing them again.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.config_search_path import SearchPathQuery
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from hydra.version import setbase
from omegaconf import DictConfig, OmegaConf

from qbench.compose import SweepComposer

CONFIG_MODULE = "pkg://qbench.conf"
VERSION_BASE = "1.3"  # qbench.app's hydra.main declares it


@dataclass
class Point:
    overrides: list[str]
    cfg: DictConfig


@dataclass
class Expansion:
    master: DictConfig | None  # the multirun config the points were composed from (None: a single run)
    points: list[Point]

    def configs_for(self, master: DictConfig, job_overrides) -> list[DictConfig] | None:
        """These jobs' configs as Hydra's launcher would compose them from its `master`: the points'
        own, with the master's resolver cache (`${now:...}`) as Hydra's load_sweep_config copies it.
        None unless the points were composed from an identical master and include every job."""
        from qbench.jobs import to_yaml

        if self.master is None or to_yaml(self.master) != to_yaml(master):
            return None
        by_overrides = {tuple(point.overrides): point.cfg for point in self.points}
        configs = [by_overrides.get(tuple(overrides)) for overrides in job_overrides]
        if any(config is None for config in configs):
            return None
        for config in configs:
            OmegaConf.copy_cache(from_config=master, to_config=config)
        return configs


# Set by the CLI once its pre-flight has composed and validated every point of the command.
preflight: Expansion | None = None


def _hydra(config_dir: str | None) -> Hydra:
    search_path = create_config_search_path(CONFIG_MODULE)
    if config_dir is not None:
        path = os.path.abspath(config_dir)
        if not os.path.isdir(path):
            raise HydraException(f"Additional config directory '{path}' not found")
        search_path.prepend(provider="command-line", path=f"file://{path}", anchor=SearchPathQuery(provider="schema"))
    GlobalHydra.instance().clear()
    setbase(VERSION_BASE)
    return Hydra.create_main_hydra2(task_name="qbench", config_search_path=search_path)


def expand(overrides: list[str], multirun: bool, config_dir: str | None = None,
           config_name: str = "config", on_point=None) -> list[Point]:
    """Every point the command would launch, each composed (with its hydra node), each passed to
    `on_point` (if given) as soon as it is.

    As in Hydra, each point's own overrides are the task overrides only; `hydra.*` and
    `hydra/...` overrides shape every composition but are not part of a point.
    """
    return compose_command(overrides, multirun, config_dir, config_name, on_point).points


def compose_command(overrides: list[str], multirun: bool, config_dir: str | None = None,
                    config_name: str = "config", on_point=None) -> Expansion:
    """`expand`'s points, with the master config of a multirun."""
    mode = RunMode.MULTIRUN if multirun else RunMode.RUN
    # Hydra's app adds this override unless a config sets the mode (then the masters differ and the
    # launcher composes its jobs itself).
    given = any(override.startswith("hydra.mode=") for override in overrides)
    with_mode = list(overrides) if given else [*overrides, f"hydra.mode={mode.name}"]
    try:
        hydra = _hydra(config_dir)
        if not multirun:
            cfg = hydra.compose_config(config_name, with_mode, run_mode=mode)
            return Expansion(None, [Point(list(overrides), cfg)])
        base = hydra.compose_config(config_name, with_mode, run_mode=mode)
        parser = OverridesParser.create(config_loader=hydra.config_loader)
        parsed = parser.parse_overrides(list(overrides))
        task_overrides = [o.input_line for o in parsed if not o.is_hydra_override()]
        params = [f"{k}={v}" for k, v in (base.hydra.sweeper.get("params") or {}).items()]
        batches = BasicSweeper.split_arguments(parser.parse_overrides(params + task_overrides), None)
        jobs = [job for batch in batches for job in batch]
        composer = SweepComposer(hydra.config_loader)
        points = []
        for job in jobs:
            points.append(Point(job, composer.load_sweep_config(base, job)))
            if on_point is not None:
                on_point(points[-1])
        return Expansion(base, points)
    finally:
        GlobalHydra.instance().clear()


_MISSING = re.compile(r"Could not find '([^/']+)/([^']+)'")


def one_line(exc: BaseException) -> str:
    """Hydra's multi-line composition errors as one line saying what is allowed."""
    text = str(exc)
    missing = _MISSING.search(text)
    if isinstance(exc, MissingConfigException) and missing and exc.options is not None:
        group, name = missing.groups()
        return f"unknown {group} '{name}'; allowed: {', '.join(sorted(exc.options))}"
    return " ".join(text.split())
