"""The Hydra application: one call of `task` = one benchmark point."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("qbench")


def concurrency_of(hydra_cfg) -> int:
    """How many points of this launch run at once on this machine (joblib's n_jobs, else 1)."""
    n_jobs = hydra_cfg.launcher.get("n_jobs") if hydra_cfg.mode == RunMode.MULTIRUN else None
    if n_jobs is None:
        return 1
    return (os.cpu_count() or 1) if n_jobs < 0 else int(n_jobs)


def benchmark_dir(hydra_cfg) -> Path:
    return Path(hydra_cfg.sweep.dir if hydra_cfg.mode == RunMode.MULTIRUN else hydra_cfg.run.dir)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def task(cfg: DictConfig) -> str:
    # Imported here so that `--help`, `--cfg` and shell completion stay fast (NumPy and qbench's
    # run machinery are only needed once a point runs).
    from qbench import progress, tracking
    from qbench.runner import finished_record, run_point

    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    directory = benchmark_dir(hydra_cfg)
    record = finished_record(cfg, output_dir)
    if record is not None:  # a resumed sweep: this point already finished, keep it as it is
        log.info("kept the earlier %s result in %s", record["status"], output_dir)
    else:
        record = run_point(cfg, output_dir, directory.name, concurrency_of(hydra_cfg))
    single_run = hydra_cfg.mode != RunMode.MULTIRUN  # a sweep's points are logged by its SweepTracker
    if single_run and not tracking.is_logged(output_dir, record):
        tracking.log_point(cfg.tracking, OmegaConf.to_container(cfg, resolve=True), record, output_dir, None)
    progress.point_finished(record, directory)
    return record["status"]
