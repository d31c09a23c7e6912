"""Hydra's per-job composition of a sweep, composing the config groups once per distinct choice.

Hydra composes every job of a sweep from scratch (~90 ms here: the defaults tree and every
yaml file), and does it twice per job: when the sweeper validates a batch and again in the
job. The jobs of one sweep mostly differ in values (`n_qubits=4,6,...`), which Hydra applies
after composing the groups. So the groups are composed once per distinct set of choices and
the value overrides are applied to a copy exactly as Hydra applies them, including the
`hydra.overrides.task` list and `hydra.job.override_dirname` Hydra derives from them.
tests/test_compose.py checks the result equals Hydra's own; anything unusual (a `hydra.*`
override in a job, an override Hydra rejects) takes Hydra's own path, errors included.
"""
from __future__ import annotations

import copy
from typing import Sequence

import os

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path, get_args_parser
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.version import setbase
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

COMPOSE_ERRORS = (HydraException, OmegaConfBaseException, ValueError)
CONFIG_MODULE = "pkg://qbench.conf"
VERSION_BASE = "1.3"  # qbench.app.task's hydra.main declares it


def args_parser():
    """The argument parser of a Hydra app, exactly as hydra.main builds it."""
    return get_args_parser()


def create_hydra(config_dir: str | None) -> Hydra:
    """Hydra as hydra.main creates it for qbench's app (and a --config-dir DIR)."""
    search_path = create_config_search_path(CONFIG_MODULE)
    if config_dir is not None:
        path = os.path.abspath(config_dir)
        if not os.path.isdir(path):
            raise HydraException(f"Additional config directory '{path}' not found")
        search_path.prepend(provider="command-line", path=f"file://{path}", anchor=SearchPathQuery(provider="schema"))
    GlobalHydra.instance().clear()
    setbase(VERSION_BASE)
    return Hydra.create_main_hydra2(task_name="qbench", config_search_path=search_path)


def split_arguments(overrides) -> list[list[str]]:
    """Every job of a sweep's parsed overrides, in the basic sweeper's order."""
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


class SweepComposer:
    """`load_sweep_config(master, overrides)`, equal to Hydra's ConfigLoader's, with cached group composition."""

    def __init__(self, config_loader):
        self.loader = config_loader
        self.parser = OverridesParser.create(config_loader=config_loader)
        self._by_choices: dict[tuple[str, ...], DictConfig] = {}

    def load_sweep_config(self, master_config: DictConfig, overrides: Sequence[str]) -> DictConfig:
        overrides = list(overrides)
        try:
            parsed = self.parser.parse_overrides(overrides)
        except COMPOSE_ERRORS:
            return self.loader.load_sweep_config(master_config, overrides)  # Hydra's own error
        if any(o.is_hydra_override() for o in parsed):
            return self.loader.load_sweep_config(master_config, overrides)
        repo = self.loader.repository
        # Hydra's own split (defaults_list.Overrides): a group choice, or a config value override.
        is_choice = [not isinstance(o.value(), dict) and repo.group_exists(o.key_or_group) for o in parsed]
        choices = tuple(o.input_line for o, choice in zip(parsed, is_choice) if choice)
        if choices not in self._by_choices:
            self._by_choices[choices] = self.loader.load_sweep_config(master_config, list(choices))
        cfg = copy.deepcopy(self._by_choices[choices])
        try:
            ConfigLoaderImpl._apply_overrides_to_config([o for o, c in zip(parsed, is_choice) if not c], cfg)
        except COMPOSE_ERRORS:
            return self.loader.load_sweep_config(master_config, overrides)
        cfg.hydra.overrides.task = [o.input_line for o in parsed]
        dirname = cfg.hydra.job.config.override_dirname
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=parsed, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep, exclude_keys=dirname.exclude_keys)
        return cfg
