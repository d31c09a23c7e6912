"""The Hydra application: one call of `task` = one benchmark point."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

log = logging.getLogger("qbench")
LAUNCHER_PID_ENV = "QBENCH_LAUNCHER_PID"  # set by qbench.cli.launch for the processes of its launch


def benchmark_dir(hydra_cfg) -> Path:
    return Path(hydra_cfg.sweep.dir if hydra_cfg.mode == RunMode.MULTIRUN else hydra_cfg.run.dir)


@hydra.main(version_base="1.3", config_path="pkg://qbench.conf", config_name="config")
def main(cfg: DictConfig) -> str:
    # Imported here so that `--help`, `--cfg` and shell completion stay fast (NumPy and qbench's
    # run machinery are only needed once a point runs).
    from qbench.app.hydra_internals import compose_ahead
    from qbench.execution import collector, lifetime
    from qbench.execution.resources import concurrency
    from qbench.execution.runner import finished_record, run_point
    from qbench.results import progress, records, tracking

    if os.environ.get(LAUNCHER_PID_ENV) == str(os.getppid()):
        # a joblib (loky) worker: it ends with the launching process, and quickly when loky ends it;
        # what its first job imported is left out of its garbage collections (qbench.execution.collector)
        lifetime.watch_parent()
        collector.settle_worker()
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    directory = benchmark_dir(hydra_cfg)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    record = finished_record(cfg, output_dir)
    if record is not None:  # a resumed sweep: this point already finished, keep it as it is
        log.info("kept the earlier %s result in %s", record["status"], output_dir)
    else:
        # while this job waits for its fork server, the sweep's other groups are composed (hydra_internals)
        record = run_point(cfg, output_dir, directory.name, concurrency(hydra_cfg.launcher, multirun),
                           idle_work=compose_ahead)
    if not multirun and not tracking.is_logged(output_dir, record):  # a sweep's points: its SweepTracker
        tracking.log_point(cfg.tracking, records.task_config(cfg), record, output_dir)
    progress.point_finished(record, directory)
    return record["status"]
