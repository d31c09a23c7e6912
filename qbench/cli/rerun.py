"""`qbench rerun-failed [SWEEP_DIR|latest]`: finish a sweep.

Re-launches, with the sweep's own launcher and into the same folders, every point
whose status is `error` or `timeout` and every point of the original command that
has no result yet (a killed sweep). Finished points are neither re-run nor touched.
The summarizer then runs again (the end-of-multirun callback).
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from omegaconf import OmegaConf, open_dict

from qbench.app.hydra_internals import COMPOSE_ERRORS
from qbench.app.sweep import compose_command, one_line
from qbench.cli.errors import EXIT_BAD_INPUT, error
from qbench.results import records, sweep_folder, tracking
from qbench.results.summary import LATEST, latest_sweep


def resolve_sweep_dir(arg: str | None) -> Path:
    """SWEEP_DIR, or `latest` (the default): the newest sweep under outputs/."""
    if arg and arg != LATEST:
        return Path(arg)
    return latest_sweep().resolve()


def _relaunch_hydra_overrides(multirun_cfg) -> list[str]:
    """The sweep's own Hydra overrides (launcher, search path...), minus where and how it sweeps."""
    return [o for o in multirun_cfg.hydra.overrides.hydra
            if not o.startswith(("hydra.sweep.dir=", "hydra/sweeper=", "hydra.sweeper."))]


def _config_options(multirun_cfg) -> tuple[str | None, str]:
    """(the sweep's `--config-dir`, its `--config-name`), as Hydra recorded them in multirun.yaml:
    hydra.main's `--config-dir DIR` is the search path's `command-line` entry."""
    config_dir = next((str(source.path) for source in multirun_cfg.hydra.runtime.get("config_sources") or []
                       if source.provider == "command-line" and source.schema == "file"), None)
    return config_dir, str(multirun_cfg.hydra.job.get("config_name") or "config")


def points_to_rerun(sweep_dir: Path, multirun_cfg) -> tuple[list[dict], int]:
    """([{overrides, subdir, why}] for failed points and points with no result, size of the whole sweep)."""
    done: dict[tuple, Path] = {}
    todo = []
    for point_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        overrides = sweep_folder.job_overrides(point_dir)
        if overrides is None:
            continue
        record = records.read(point_dir / records.RESULT_FILE)
        if record is None:
            todo.append({"overrides": overrides, "subdir": point_dir.name, "why": "no result"})
        elif record.get("status") in records.FAILED_STATUSES:
            todo.append({"overrides": overrides, "subdir": point_dir.name, "why": record["status"]})
        elif multirun_cfg.tracking.enabled and not tracking.is_logged(point_dir, record):
            # finished, but the sweep died before logging it: relaunched, the job keeps its record and the
            # relaunch's SweepTracker logs it
            todo.append({"overrides": overrides, "subdir": point_dir.name, "why": "not yet in MLflow"})
        done[tuple(sorted(overrides))] = point_dir
    # Points the killed sweep never started: expand its command again, as Hydra did.
    command = list(multirun_cfg.hydra.overrides.task) + _relaunch_hydra_overrides(multirun_cfg)
    config_dir, config_name = _config_options(multirun_cfg)
    for number, point in enumerate(compose_command(command, True, config_dir, config_name).points):
        if tuple(sorted(point.overrides)) in done:
            continue
        with open_dict(point.cfg):
            point.cfg.hydra.job.num = number
        subdir = OmegaConf.to_container(point.cfg.hydra.sweep, resolve=True)["subdir"]
        todo.append({"overrides": point.overrides, "subdir": str(subdir), "why": "never started"})
    return todo, number + 1


def main(argv: list[str]) -> int:
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: qbench rerun-failed [SWEEP_DIR|latest]", file=sys.stderr)
        return EXIT_BAD_INPUT
    sweep_dir = resolve_sweep_dir(argv[0] if argv else None)
    multirun_file = sweep_dir / "multirun.yaml"
    if not multirun_file.exists():
        return error(f"{sweep_dir} is not a qbench sweep directory (no multirun.yaml); "
                     "allowed: a folder under outputs/ made by `qbench -m ...`, or latest")
    multirun_cfg = OmegaConf.load(multirun_file)
    try:
        todo, sweep_size = points_to_rerun(sweep_dir, multirun_cfg)
    except COMPOSE_ERRORS as exc:  # e.g. the sweep's --config-dir is gone
        return error(one_line(exc))
    if not todo:
        print(f"nothing to rerun in {sweep_dir}: every point has a finished result")
        return 0
    for item in todo:
        print(f"rerun {item['subdir']} ({item['why']}): {' '.join(item['overrides'])}")

    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    fixed_task = [o.input_line for o in parser.parse_overrides(list(multirun_cfg.hydra.overrides.task))
                  if not o.is_sweep_override()]
    hydra_overrides = _relaunch_hydra_overrides(multirun_cfg)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="qbench-rerun-", delete=False) as f:
        json.dump({"sweep_size": sweep_size, "points": todo}, f)
    from qbench.cli.launch import run_hydra

    config_dir, config_name = _config_options(multirun_cfg)
    options = [*(["--config-dir", config_dir] if config_dir else []), "--config-name", config_name]
    return run_hydra([*options, "-m", *fixed_task, *hydra_overrides, f"hydra.sweep.dir={sweep_dir.resolve()}",
                      "hydra/sweeper=qbench_list", f"hydra.sweeper.points_file={f.name}"])
