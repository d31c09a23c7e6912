"""Expand a Hydra command line into its points exactly as Hydra's basic sweeper would.

Used before launching (to validate every point: bad input exits 2 before anything
runs) and by `qbench plan`.
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
from omegaconf import DictConfig

from qbench.compose import SweepComposer

CONFIG_MODULE = "pkg://qbench.conf"
# Set by the CLI once its pre-flight has composed and validated every point of the command.
preflight_checked = False


@dataclass
class Point:
    overrides: list[str]
    cfg: DictConfig


def _hydra(config_dir: str | None) -> Hydra:
    search_path = create_config_search_path(CONFIG_MODULE)
    if config_dir is not None:
        path = os.path.abspath(config_dir)
        if not os.path.isdir(path):
            raise HydraException(f"Additional config directory '{path}' not found")
        search_path.prepend(provider="command-line", path=f"file://{path}", anchor=SearchPathQuery(provider="schema"))
    GlobalHydra.instance().clear()
    return Hydra.create_main_hydra2(task_name="qbench", config_search_path=search_path)


def expand(overrides: list[str], multirun: bool, config_dir: str | None = None,
           config_name: str = "config", on_point=None) -> list[Point]:
    """Every point the command would launch, each composed (with its hydra node), each passed to
    `on_point` (if given) as soon as it is.

    As in Hydra, each point's own overrides are the task overrides only; `hydra.*` and
    `hydra/...` overrides shape every composition but are not part of a point.
    """
    try:
        hydra = _hydra(config_dir)
        if not multirun:
            cfg = hydra.compose_config(config_name, overrides, run_mode=RunMode.RUN)
            return [Point(list(overrides), cfg)]
        base = hydra.compose_config(config_name, overrides, run_mode=RunMode.MULTIRUN)
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
        return points
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
