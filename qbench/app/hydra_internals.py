"""The one module of qbench/ that uses Hydra's internals, each with a public fallback.

Why internals at all, in three places only:

- speed: pre-flight composes every point of a command before anything runs (bad input: one
  line, exit 2). Hydra composes each job from scratch (the defaults tree and every yaml file),
  though the jobs of a sweep mostly differ in values (`n_qubits=4,6,...`), which Hydra applies
  after composing the groups. `SweepComposer` composes the groups once per distinct set of
  choices and applies the value overrides to a copy as Hydra applies them
  (`ConfigLoaderImpl._apply_overrides_to_config`), with the `hydra.overrides.task` list and
  the `hydra.job.override_dirname` Hydra derives from them (`get_overrides_dirname`).
  Anything unusual (a `hydra.*` override in a job, an override Hydra rejects) takes Hydra's own
  path, errors included. A launcher's jobs compose their own configs (Hydra's joblib launcher in
  each worker, submitit in each SLURM job) through the sweeper's config loader: the sweeper hands
  them a `SweepConfigLoader`, which composes through a `SweepComposer` kept per process, so a
  worker composes a sweep's groups once, not once per job. The loader also carries the sweep's
  distinct choice sets, and a job waiting for its fork server composes them ahead
  (`compose_ahead`), so a worker's later jobs find their groups composed. Where pre-flight
  composed the groups from the very master config the launch's sweeper got, the loader adopts
  them instead (`SweepConfigLoader.adopt`), and carries them pickled into every job: no job then
  composes a group at all. Figures: docs/PERFORMANCE.md.
- the basic sweeper's own class, which qbench's sweeper extends (`basic_sweeper_class`).
- the same answers as hydra.main: the arguments are parsed by Hydra's own parser
  (`hydra._internal.utils.get_args_parser`), and a sweep is expanded by the basic sweeper's
  own split (`BasicSweeper.split_arguments`), so pre-flight sees exactly the command and the
  points Hydra will launch.

Each internal is looked up when first needed and checked: it must exist and take the
parameters qbench passes. When one is missing or changed (Hydra's main branch has removed
`get_overrides_dirname`), that piece takes Hydra's public path instead: the config loader's
`load_sweep_config`, the public override parser with `Override.sweep_string_iterator()` in
the basic sweeper's order, an argparse copy of hydra.main's options. A Hydra upgrade costs
speed, never correctness. `QBENCH_HYDRA_PUBLIC=1` forces the public path everywhere (a
diagnostic switch; tests/app/test_hydra_public.py uses it to check that both paths give the
same points, configs and errors).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import importlib
import inspect
import itertools
import os
import pickle
import uuid
from typing import Sequence

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

COMPOSE_ERRORS = (HydraException, OmegaConfBaseException, ValueError)
PUBLIC_ENV = "QBENCH_HYDRA_PUBLIC"

# name: (module, attribute, the parameters qbench calls it with)
_INTERNALS = {
    "get_args_parser": ("hydra._internal.utils", "get_args_parser", ()),
    "split_arguments": ("hydra._internal.core_plugins.basic_sweeper", "BasicSweeper.split_arguments",
                        ("overrides", "max_batch_size")),
    "apply_overrides": ("hydra._internal.config_loader_impl", "ConfigLoaderImpl._apply_overrides_to_config",
                        ("overrides", "cfg")),
    "get_overrides_dirname": ("hydra._internal.config_loader_impl", "get_overrides_dirname",
                              ("overrides", "exclude_keys", "item_sep", "kv_sep")),
    "BasicSweeper": ("hydra._internal.core_plugins.basic_sweeper", "BasicSweeper", ("max_batch_size", "params")),
}


def internal(name: str):
    """Hydra's internal `name`, or None (forced off, missing, or not callable as qbench calls it)."""
    if os.environ.get(PUBLIC_ENV) == "1":
        return None
    return _lookup(name)


@functools.cache
def _lookup(name: str):
    module, attribute, parameters = _INTERNALS[name]
    try:
        found = importlib.import_module(module)
        for part in attribute.split("."):
            found = getattr(found, part)
        signature = inspect.signature(found)
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    return found if tuple(signature.parameters) == parameters else None


# -- the arguments, parsed as hydra.main parses them --------------------------------------------
def args_parser() -> argparse.ArgumentParser:
    """The argument parser of a Hydra app, as hydra.main builds it."""
    get_args_parser = internal("get_args_parser")
    parser = get_args_parser() if get_args_parser is not None else None
    return parser if isinstance(parser, argparse.ArgumentParser) else public_args_parser()


def public_args_parser() -> argparse.ArgumentParser:
    """hydra.main's options (Hydra 1.3), for when its own parser cannot be reached."""
    from hydra import __version__

    parser = argparse.ArgumentParser(add_help=False, description="Hydra")
    parser.add_argument("--help", "-h", action="store_true", help="Application's help")
    parser.add_argument("--hydra-help", action="store_true", help="Hydra's help")
    parser.add_argument("--version", action="version", help="Show Hydra's version and exit",
                        version=f"Hydra {__version__}")
    parser.add_argument("overrides", nargs="*",
                        help="Any key=value arguments to override config values (use dots for.nested=overrides)")
    parser.add_argument("--cfg", "-c", choices=["job", "hydra", "all"],
                        help="Show config instead of running [job|hydra|all]")
    parser.add_argument("--resolve", action="store_true",
                        help="Used in conjunction with --cfg, resolve config interpolations before printing.")
    parser.add_argument("--package", "-p", help="Config package to show")
    parser.add_argument("--run", "-r", action="store_true", help="Run a job")
    parser.add_argument("--multirun", "-m", action="store_true",
                        help="Run multiple jobs with the configured launcher and sweeper")
    parser.add_argument("--shell-completion", "-sc", action="store_true",
                        help="Install or Uninstall shell completion (see `--hydra-help`)")
    parser.add_argument("--config-path", "-cp", help="Overrides the config_path specified in hydra.main()")
    parser.add_argument("--config-name", "-cn", help="Overrides the config_name specified in hydra.main()")
    parser.add_argument("--config-dir", "-cd", help="Adds an additional config dir to the config search path")
    parser.add_argument("--experimental-rerun", help="Rerun a job from a previous config pickle")
    info = ["all", "config", "defaults", "defaults-tree", "plugins", "searchpath"]
    parser.add_argument("--info", "-i", const="all", nargs="?", action="store", choices=info,
                        help=f"Print Hydra information [{'|'.join(info)}]")
    return parser


# -- a sweep's jobs, in the basic sweeper's order -----------------------------------------------
def split_arguments(overrides) -> list[list[str]]:
    """Every job of a sweep's parsed overrides, in the basic sweeper's order."""
    split = internal("split_arguments")
    if split is not None:
        return [job for batch in split(overrides, None) for job in batch]
    return public_split_arguments(overrides)


def public_split_arguments(overrides) -> list[list[str]]:
    """The basic sweeper's expansion through the public Override API: one axis per key (a later
    override of a key replaces its values in the key's first place), the product of the axes."""
    axes: dict[str, list[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        if not override.is_sweep_override():
            axes[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            axes[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            raise HydraException(f"BasicSweeper does not support sweep type : {override.value_type.name}")
    return [list(job) for job in itertools.product(*axes.values())]


def basic_sweeper_class() -> type:
    """Hydra's BasicSweeper, the base of qbench's (hydra_plugins/qbench_plugins/basic_sweeper.py):
    imported where Hydra 1.3 keeps it, else the class Hydra's own `hydra/sweeper=basic` config names."""
    return internal("BasicSweeper") or public_basic_sweeper_class()


def public_basic_sweeper_class() -> type:
    """The class Hydra's `hydra/sweeper=basic` config instantiates (registered with its core plugins)."""
    from hydra.core.config_store import ConfigStore
    from hydra.utils import get_class

    return get_class(ConfigStore.instance().load("hydra/sweeper/basic.yaml").node["_target_"])


# -- each job's config ---------------------------------------------------------------------------
def sweep_composer(config_loader):
    """What composes the jobs of a sweep: `SweepComposer` where Hydra's internals allow it, else
    Hydra's own `config_loader.load_sweep_config` (the same configs, composed from scratch). A
    `SweepConfigLoader` (the launcher's loader) already composes through this process's composer."""
    if isinstance(config_loader, SweepConfigLoader):
        return config_loader
    apply, dirname = internal("apply_overrides"), internal("get_overrides_dirname")
    repository = getattr(config_loader, "repository", None)
    if apply is None or dirname is None or not callable(getattr(repository, "group_exists", None)):
        return PublicComposer(config_loader)
    return SweepComposer(config_loader, apply, dirname)


class PublicComposer:
    """Hydra's public `ConfigLoader.load_sweep_config`, one job at a time."""

    def __init__(self, config_loader):
        self.loader = config_loader

    def load_sweep_config(self, master_config: DictConfig, overrides: Sequence[str]) -> DictConfig:
        return self.loader.load_sweep_config(master_config, list(overrides))

    def compositions(self) -> Compositions:
        return Compositions()  # composes every job from scratch: nothing kept for another process


@dataclasses.dataclass
class Compositions:
    """A SweepComposer's work, to be adopted by another process's composer of the same sweep."""
    groups: dict = dataclasses.field(default_factory=dict)  # choices -> the groups Hydra composed for them
    parsed: dict = dataclasses.field(default_factory=dict)  # an override line -> its parse


class SweepComposer(PublicComposer):
    """`load_sweep_config(master, overrides)`, equal to Hydra's ConfigLoader's, with cached group composition."""

    def __init__(self, config_loader, apply_overrides, get_overrides_dirname):
        super().__init__(config_loader)
        self.parser = OverridesParser.create(config_loader=config_loader)
        self._apply_overrides = apply_overrides
        self._overrides_dirname = get_overrides_dirname
        self._by_choices: dict[tuple[str, ...], DictConfig] = {}
        self._pickled: dict[tuple[str, ...], bytes] = {}  # the same groups, pickled: each job's copy (`_copy`)
        self._parsed: dict[str, object] = {}  # an override line -> its parse (a sweep repeats most lines)

    def _parse(self, line: str):
        if line not in self._parsed:
            self._parsed[line] = self.parser.parse_overrides([line])[0]
        return self._parsed[line]

    def _split(self, overrides: list[str]):
        """(parsed overrides, which are group choices), or None where Hydra's own path must compose
        the job (an override it rejects, a `hydra.*` override)."""
        try:
            parsed = [self._parse(line) for line in overrides]
        except COMPOSE_ERRORS:
            return None
        if any(o.is_hydra_override() for o in parsed):
            return None
        repo = self.loader.repository
        # Hydra's own split (defaults_list.Overrides): a group choice, or a config value override.
        return parsed, [not isinstance(o.value(), dict) and repo.group_exists(o.key_or_group) for o in parsed]

    def choices_of(self, overrides: Sequence[str]) -> tuple[str, ...] | None:
        """The group choices this job's groups are composed (and cached) by; None: not cached."""
        split = self._split(list(overrides))
        return None if split is None else tuple(o.input_line for o, c in zip(*split) if c)

    def composed(self, choices: tuple[str, ...]) -> bool:
        return choices in self._by_choices

    def compositions(self) -> Compositions:
        """What this composer has composed and parsed so far."""
        # a parse keeps its parser's config loader (for glob sweeps only): not one to carry into other processes
        return Compositions(dict(self._by_choices),
                            {line: dataclasses.replace(o, config_loader=None) for line, o in self._parsed.items()})

    def adopt(self, compositions: Compositions) -> None:
        """Groups composed elsewhere from the same master config (`SweepConfigLoader.adopt` checks
        that), and override lines parsed there (a process's first parse warms Hydra's grammar up: ~0.1 s)."""
        for choices, cfg in compositions.groups.items():
            if choices not in self._by_choices:
                self._keep(choices, cfg)
        for line, parsed in compositions.parsed.items():
            self._parsed.setdefault(line, parsed)

    def groups(self, master_config: DictConfig, choices: tuple[str, ...]) -> DictConfig:
        """These choices' groups, composed by Hydra the first time they are asked for (cached)."""
        if choices not in self._by_choices:
            self._keep(choices, self.loader.load_sweep_config(master_config, list(choices)))
        return self._by_choices[choices]

    def _keep(self, choices: tuple[str, ...], cfg: DictConfig) -> None:
        """Cache these groups, and their pickle made now: in a joblib worker, the plugin rescan before
        each job redefines the launchers' config classes, and a node typed by an earlier definition no
        longer pickles (it is deep-copied then, as before)."""
        self._by_choices[choices] = cfg
        try:
            self._pickled[choices] = pickle.dumps(cfg)
        except (pickle.PicklingError, TypeError, AttributeError):
            self._pickled.pop(choices, None)

    def _copy(self, master_config: DictConfig, choices: tuple[str, ...]) -> DictConfig:
        """A job's own copy of these choices' groups: unpickled from their bytes, the same config as a
        deep copy (OmegaConf pickles nodes, flags and resolved values whole) in about a third of the
        time (docs/PERFORMANCE.md); a deep copy where they did not pickle."""
        groups = self.groups(master_config, choices)
        pickled = self._pickled.get(choices)
        return pickle.loads(pickled) if pickled is not None else copy.deepcopy(groups)

    def load_sweep_config(self, master_config: DictConfig, overrides: Sequence[str]) -> DictConfig:
        overrides = list(overrides)
        split = self._split(overrides)
        if split is None:
            return self.loader.load_sweep_config(master_config, overrides)  # Hydra's own path, errors included
        parsed, is_choice = split
        choices = tuple(o.input_line for o, choice in zip(parsed, is_choice) if choice)
        cfg = self._copy(master_config, choices)
        try:
            self._apply_overrides([o for o, c in zip(parsed, is_choice) if not c], cfg)
        except COMPOSE_ERRORS:
            return self.loader.load_sweep_config(master_config, overrides)
        cfg.hydra.overrides.task = [o.input_line for o in parsed]
        dirname = cfg.hydra.job.config.override_dirname
        cfg.hydra.job.override_dirname = self._overrides_dirname(
            overrides=parsed, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep, exclude_keys=dirname.exclude_keys)
        return cfg


_composers: dict[str, PublicComposer] = {}  # per process: sweep token -> the composer of its jobs
_ahead: dict[str, tuple[DictConfig, list[tuple[str, ...]]]] = {}  # token -> (master, choice sets still to compose)


def compose_ahead() -> bool:
    """Compose one group choice set that a later job of this process's sweep will need; False when
    none is left. For a job that waits anyway (its fork server still importing): the sweep's other
    choice sets are then composed in time that would otherwise be idle, not at the start of the
    later jobs (each is a full Hydra composition; figures in docs/PERFORMANCE.md)."""
    for token, (master, pending) in _ahead.items():
        if pending:
            try:
                _composers[token].groups(master, pending.pop(0))
            except COMPOSE_ERRORS:
                pass  # the job that needs it composes it itself, and reports what is wrong
            return True
    return False


# Every job of a sweep carries the adopted compositions (~15 kB a choice set): a SLURM job's pickle on
# disk too. Beyond this, a job's process composes what it needs, as it would without them.
ADOPTED_MAX_BYTES = 256 * 1024


class SweepConfigLoader(ConfigLoader):
    """Hydra's config loader (public interface, every method delegated) whose `load_sweep_config`
    goes through `sweep_composer`, one per process and sweep. The launchers pickle the sweeper's
    context into every job; the token it carries finds, in a worker process, the composer that
    earlier jobs of the same sweep filled, so their groups are not composed again."""

    def __init__(self, loader: ConfigLoader):
        self.loader = loader
        self.token = uuid.uuid4().hex
        self.choice_sets: list[tuple[str, ...]] = []  # of the sweep's jobs (`expect`), for `compose_ahead`
        self.adopted: bytes | None = None  # pre-flight's group compositions, pickled (`adopt`)

    def _composer(self) -> PublicComposer:
        composer = _composers.get(self.token)
        if composer is None:
            composer = _composers[self.token] = sweep_composer(self.loader)
            if self.adopted is not None and isinstance(composer, SweepComposer):  # a job's process: none composed yet
                composer.adopt(pickle.loads(self.adopted))
        return composer

    def adopt(self, composed_from: DictConfig, compositions: Compositions, master_config: DictConfig) -> bool:
        """Take pre-flight's group compositions (`compositions`, composed from the master config
        `composed_from`) for the jobs of `master_config`, the master Hydra's sweeper got, when the
        two masters are equal: here, and pickled into every job (up to ADOPTED_MAX_BYTES in all;
        beyond, each job's process composes them, as without pre-flight). True if adopted."""
        composer = self._composer()
        if not compositions.groups or not isinstance(composer, SweepComposer):
            return False
        if OmegaConf.to_container(composed_from, resolve=False) != OmegaConf.to_container(master_config, resolve=False):
            return False  # e.g. a sweep folder taken meanwhile: the launch's master names another one
        for cfg in compositions.groups.values():  # as Hydra's load_sweep_config does: the master's resolved values (`now`)
            OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        composer.adopt(compositions)
        pickled = pickle.dumps(compositions)
        self.adopted = pickled if len(pickled) <= ADOPTED_MAX_BYTES else None
        return True

    def expect(self, jobs: Sequence[Sequence[str]]) -> None:
        """The jobs the launcher will run (the sweeper's batch): their distinct group choice sets
        travel with this loader into every job, so a waiting job can compose them ahead."""
        composer = self._composer()
        if isinstance(composer, SweepComposer):
            found = (composer.choices_of(job) for job in jobs)
            self.choice_sets = list(dict.fromkeys(c for c in found if c is not None))

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        composer = self._composer()
        config = composer.load_sweep_config(master_config, sweep_overrides)
        if self.token not in _ahead and isinstance(composer, SweepComposer):  # this process's first job
            _ahead[self.token] = (master_config, [c for c in self.choice_sets if not composer.composed(c)])
        return config

    def load_configuration(self, *args, **kwargs) -> DictConfig:
        return self.loader.load_configuration(*args, **kwargs)

    def get_search_path(self):
        return self.loader.get_search_path()

    def get_sources(self):
        return self.loader.get_sources()

    def list_groups(self, parent_name: str):
        return self.loader.list_groups(parent_name)

    def get_group_options(self, *args, **kwargs):
        return self.loader.get_group_options(*args, **kwargs)

    def compute_defaults_list(self, *args, **kwargs):
        return self.loader.compute_defaults_list(*args, **kwargs)


def sweep_context(hydra_context: HydraContext) -> HydraContext:
    """The context a sweeper hands its launcher: the same callbacks, a `SweepConfigLoader`."""
    loader = hydra_context.config_loader
    if not isinstance(loader, SweepConfigLoader):
        loader = SweepConfigLoader(loader)
    return HydraContext(config_loader=loader, callbacks=hydra_context.callbacks)
