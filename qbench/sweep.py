"""Expand a Hydra command line into its points exactly as Hydra's basic sweeper would.

Used before launching (to validate every point: bad input exits 2 before anything
runs) and by `qbench plan`.
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.config_search_path import SearchPathQuery
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

CONFIG_MODULE = "pkg://qbench.conf"


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
           config_name: str = "config") -> list[Point]:
    """Every point the command would launch, each composed (with its hydra node).

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
        hydra_overrides = [o.input_line for o in parsed if o.is_hydra_override()]
        task_overrides = [o.input_line for o in parsed if not o.is_hydra_override()]
        params = [f"{k}={v}" for k, v in (base.hydra.sweeper.get("params") or {}).items()]
        batches = BasicSweeper.split_arguments(parser.parse_overrides(params + task_overrides), None)
        jobs = [job for batch in batches for job in batch]
        return _compose_jobs(hydra, parser, config_name, hydra_overrides, jobs)
    finally:
        GlobalHydra.instance().clear()


def _compose_jobs(hydra: Hydra, parser, config_name: str, hydra_overrides: list[str], jobs) -> list[Point]:
    """Compose every job, once per distinct set of group choices (a full compose costs ~50 ms).

    Value overrides are then applied the way Hydra applies them after composition, so the
    result is the config Hydra would compose; anything unusual falls back to a full compose.
    """
    repo = hydra.config_loader.repository
    composed: dict[tuple, DictConfig] = {}
    points = []
    for job in jobs:
        parsed = parser.parse_overrides(job)
        # Hydra's own split (defaults_list.Overrides): a group choice, or a config override.
        is_choice = [not isinstance(o.value(), dict) and repo.group_exists(o.key_or_group) for o in parsed]
        choices = tuple(o.input_line for o, choice in zip(parsed, is_choice) if choice)
        if choices not in composed:
            composed[choices] = hydra.compose_config(config_name, hydra_overrides + list(choices),
                                                     run_mode=RunMode.RUN)
        cfg = copy.deepcopy(composed[choices])
        try:
            ConfigLoaderImpl._apply_overrides_to_config([o for o, c in zip(parsed, is_choice) if not c], cfg)
        except COMPOSE_ERRORS:
            cfg = hydra.compose_config(config_name, hydra_overrides + job, run_mode=RunMode.RUN)
        points.append(Point(job, cfg))
    return points


_MISSING = re.compile(r"Could not find '([^/']+)/([^']+)'")


def one_line(exc: BaseException) -> str:
    """Hydra's multi-line composition errors as one line saying what is allowed."""
    text = str(exc)
    missing = _MISSING.search(text)
    if isinstance(exc, MissingConfigException) and missing and exc.options is not None:
        group, name = missing.groups()
        return f"unknown {group} '{name}'; allowed: {', '.join(sorted(exc.options))}"
    return " ".join(text.split())


COMPOSE_ERRORS = (HydraException, OmegaConfBaseException, ValueError)

