"""Expand a Hydra command line into its points exactly as Hydra's basic sweeper would.

Used before launching (to validate every point: bad input exits 2 before anything
runs) and by `qbench plan`. The master config is composed as Hydra's app composes it
(version base 1.3, `hydra.mode` set), so the points are the very configs Hydra's launcher
would compose.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import MissingConfigException
from hydra.types import RunMode
from omegaconf import DictConfig

from qbench.app.hydra_internals import SweepComposer, create_hydra, split_arguments


@dataclass
class Point:
    overrides: list[str]
    cfg: DictConfig


@dataclass
class Expansion:
    master: DictConfig | None  # the multirun config the points were composed from (None: a single run)
    points: list[Point]


def compose_command(overrides: list[str], multirun: bool, config_dir: str | None = None,
                    config_name: str = "config", on_point=None) -> Expansion:
    """Every point the command would launch, each composed (with its hydra node) and passed to
    `on_point` (if given) as soon as it is, with the master config of a multirun.

    As in Hydra, each point's own overrides are the task overrides only; `hydra.*` and
    `hydra/...` overrides shape every composition but are not part of a point.
    """
    mode = RunMode.MULTIRUN if multirun else RunMode.RUN
    # Hydra's app adds this override unless a config sets the mode (then the masters differ and the
    # launcher composes its jobs itself).
    given = any(override.startswith("hydra.mode=") for override in overrides)
    with_mode = list(overrides) if given else [*overrides, f"hydra.mode={mode.name}"]
    try:
        hydra = create_hydra(config_dir)
        if not multirun:
            cfg = hydra.compose_config(config_name, with_mode, run_mode=mode)
            return Expansion(None, [Point(list(overrides), cfg)])
        base = hydra.compose_config(config_name, with_mode, run_mode=mode)
        parser = OverridesParser.create(config_loader=hydra.config_loader)
        parsed = parser.parse_overrides(list(overrides))
        task_overrides = [o.input_line for o in parsed if not o.is_hydra_override()]
        params = [f"{k}={v}" for k, v in (base.hydra.sweeper.get("params") or {}).items()]
        jobs = split_arguments(parser.parse_overrides(params + task_overrides))
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
