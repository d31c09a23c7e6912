"""Backend adapters by config: build one from its `_target_`, and load each once per process."""
from __future__ import annotations

import functools
import importlib
import time

from qbench.backends.base import Backend

# Adapters loaded in this process, keyed by their full config: imports happen once per worker.
_LOADED: dict[str, Backend] = {}


def instantiate_backend(config: dict) -> Backend:
    """Build the adapter a backend config names by `_target_` (cheap: no heavy import)."""
    options = dict(config)
    module_name, _, class_name = options.pop("_target_").rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)(**options)


def accepted_options(config: dict) -> set[str] | None:
    """The keys a config of this adapter may have (None: the adapter accepts any): the named
    parameters of its constructors and its declared extra_options. Imports only the adapter module."""
    import inspect

    module_name, _, class_name = str(config.get("_target_")).rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    if cls.extra_options is None:
        return None
    named = {name for klass in cls.__mro__ if "__init__" in vars(klass)
             for name, parameter in inspect.signature(klass.__init__).parameters.items()
             if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)}
    return {"_target_", *named, *cls.extra_options}


def backend_key(config: dict) -> str:
    """Equal for equal backend configs: the unit a worker loads and serves."""
    return repr(sorted(config.items()))


def load_backend(config: dict) -> tuple[Backend, float]:
    """The loaded adapter for this config and the seconds its import took (0 when reused)."""
    key = backend_key(config)
    if key in _LOADED:
        return _LOADED[key], 0.0
    backend = instantiate_backend(config)
    start = time.perf_counter()
    backend.load()
    _LOADED[key] = backend
    return backend, time.perf_counter() - start


@functools.lru_cache(maxsize=1)
def shipped_configs() -> tuple[dict, ...]:
    """The backend configs qbench ships (conf/backend/*.yaml), as written (not composed)."""
    import yaml

    from qbench.conf import CONF_DIR, shipped_options

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the fork root reads these at its start
    return tuple(yaml.load((CONF_DIR / "backend" / f"{option}.yaml").read_text(), Loader=loader)
                 for option in shipped_options("backend"))


def adapter_modules() -> list[str]:
    """The modules of the adapters qbench ships, in order, each once (importing them is cheap: an
    adapter imports its library only in `load`)."""
    return list(dict.fromkeys(str(config["_target_"]).rpartition(".")[0] for config in shipped_configs()))


@functools.lru_cache(maxsize=1)
def known_packages() -> tuple[str, ...]:
    """The packages of every backend qbench ships (conf/backend/*.yaml), on either device: the
    versions every record carries, so two sweeps can be compared whatever backends they ran."""
    packages: dict[str, None] = {}
    for config in shipped_configs():
        for device in ("CPU", "GPU"):
            try:
                packages.update(dict.fromkeys(instantiate_backend({**config, "device": device}).packages))
            except Exception:  # noqa: BLE001 - an adapter that cannot be built records no packages
                pass
    return tuple(packages)
