"""`qbench backends`: every configured backend, whether it can run here, and why not.

Built from the `backend` config group as Hydra sees it (qbench's own yaml files, plus a
user's --config-dir / hydra.searchpath), so a backend added later appears without code
changes. Cheap on purpose: an adapter's `available()` looks modules up with
importlib.util.find_spec and versions come from importlib.metadata, so no simulator
library is imported.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field

from hydra.types import RunMode
from omegaconf import OmegaConf

from qbench.app.hydra_internals import COMPOSE_ERRORS
from qbench.app.sweep import hydra_session, one_line
from qbench.backends.registry import instantiate_backend
from qbench.cli.errors import error

DEVICES = ("CPU", "GPU")


@dataclass
class BackendStatus:
    option: str                     # what `backend=OPTION` selects
    available: bool
    reason: str | None              # the adapter's own words when it cannot run here
    device: str | None = None       # the configured device
    devices: list[str] = field(default_factory=list)  # devices whose available() says yes
    versions: dict = field(default_factory=dict)
    target: str | None = None


def _status(option: str, backend_cfg: dict) -> BackendStatus:
    target = backend_cfg.get("_target_")
    try:
        backend = instantiate_backend(backend_cfg)
    except Exception as exc:  # noqa: BLE001 - a broken adapter is a row, not a crash of the table
        return BackendStatus(option, False, f"adapter {target} cannot be loaded: {type(exc).__name__}: {exc}",
                             target=target)
    reason = backend.available()
    # "Can use" is the adapter's own answer for each device, not a guess from the backend's name.
    devices = [device for device in DEVICES
               if (backend if device == backend.device
                   else instantiate_backend({**backend_cfg, "device": device})).available() is None]
    return BackendStatus(option, reason is None, reason, backend.device, devices, backend.versions(), target)


def collect(overrides: list[str] = (), config_dir: str | None = None,
            config_name: str = "config") -> list[BackendStatus]:
    """One row per option of the `backend` group, in Hydra's (sorted) order."""
    with hydra_session(config_dir) as loader:  # Hydra's public compose API and ConfigLoader
        options = loader.get_group_options("backend", config_name=config_name, overrides=list(overrides))
        rows = []
        for option in options:
            try:
                cfg = loader.load_configuration(config_name, [*overrides, f"backend={option}"], run_mode=RunMode.RUN)
            except COMPOSE_ERRORS as exc:
                rows.append(BackendStatus(option, False, f"config does not compose: {one_line(exc)}"))
                continue
            rows.append(_status(option, OmegaConf.to_container(cfg.backend, resolve=True)))
        return rows


def _versions_text(versions: dict) -> str:
    return ", ".join(f"{package} {version or 'not installed'}" for package, version in versions.items()) or "-"


def render(rows: list[BackendStatus]) -> str:
    table = [("backend", "status", "device", "can use", "versions"), *(
        (row.option, "available" if row.available else "unavailable", row.device or "-",
         ",".join(row.devices) or "-", _versions_text(row.versions)) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line[:4], widths)) + "  " + line[4]
             for line in table]
    reasons = [f"  {row.option}: {row.reason}" for row in rows if row.reason]
    ready = sum(row.available for row in rows)
    lines.append(f"\n{ready} of {len(rows)} configured backends are available.")
    if reasons:
        lines += ["Why not:", *reasons]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="qbench backends", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--config-dir", "-cd", help="a config directory of your own (its backend/ group counts)")
    parser.add_argument("overrides", nargs="*", help="e.g. hydra.searchpath=[file://my_conf]")
    args = parser.parse_args(argv)
    try:
        rows = collect(args.overrides, args.config_dir)
    except COMPOSE_ERRORS as exc:
        return error(one_line(exc))
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
    else:
        print(render(rows))
    return 0
