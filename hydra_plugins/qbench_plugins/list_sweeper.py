"""A Hydra sweeper that launches an explicit list of points, each into a named subdir.

`qbench rerun-failed` uses it so that only the failed or missing points of a sweep
are launched again, with the sweep's own launcher (basic, joblib, SLURM), each
writing into the folder it had before.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper

from qbench.results.progress import SWEEP_SIZE_ENV


class ListSweeper(Sweeper):
    def __init__(self, points_file: str | None = None):
        self.points_file = points_file
        self.launcher = None
        self.config = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        plan = json.loads(Path(self.points_file).read_text())
        points = plan["points"]
        os.environ[SWEEP_SIZE_ENV] = str(plan["sweep_size"])  # progress counts the whole sweep's results
        jobs = [[*point["overrides"], f"hydra.sweep.subdir={point['subdir']}"] for point in points]
        return self.launcher.launch(jobs, initial_job_idx=0)
