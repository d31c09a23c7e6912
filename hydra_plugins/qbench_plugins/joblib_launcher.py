"""Hydra's joblib launcher, dispatching a sweep's points grouped by backend.

Importing a simulator costs seconds (cirq 2.5 s, pennylane 3 s) and each loky worker
imports every library it meets. The stock launcher hands points out one by one in sweep
order, so with two workers both import every library. Here the points of one backend go
to a worker as one chunk (split further only when there are more workers than backends),
so each library is imported by as few workers as possible. Job numbers, folders and
results are exactly the stock launcher's.
"""
from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def _backend_of(overrides: Sequence[str]) -> str:
    return next((o.split("=", 1)[1] for o in overrides if o.startswith("backend=")), "")


def chunks_by_backend(job_overrides: Sequence[Sequence[str]], workers: int) -> list[list[int]]:
    """Job positions in chunks: one per backend, split so that every worker has work."""
    groups: dict[str, list[int]] = defaultdict(list)
    for position, overrides in enumerate(job_overrides):
        groups[_backend_of(overrides)].append(position)
    per_group = max(1, workers // len(groups))
    chunks = []
    for positions in groups.values():
        size = math.ceil(len(positions) / per_group)
        chunks.extend(positions[i:i + size] for i in range(0, len(positions), size))
    return chunks


def _execute_chunk(jobs: list[tuple[int, Sequence[str], DictConfig | None]], hydra_context, config, task_function,
                   singleton_state, hydra_resolver_used: bool):
    """hydra_joblib_launcher's execute_job for each job of a chunk, running through qbench.jobs.run_job
    (Hydra's run_job, less copying). A job comes with its config (composed by the CLI's pre-flight), or
    is composed here through one SweepComposer."""
    from omegaconf import open_dict

    from qbench.compose import SweepComposer
    from qbench.jobs import run_job

    setup_globals()
    Singleton.set_state(singleton_state)
    composer = None
    returns = []
    for idx, overrides, sweep_config in jobs:
        if sweep_config is None:
            composer = composer or SweepComposer(hydra_context.config_loader)
            sweep_config = composer.load_sweep_config(config, overrides)
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
            sweep_config.hydra.job.num = idx
        # (the stock launcher also sets HydraConfig here; run_job sets it first thing anyway)
        returns.append(run_job(hydra_context, sweep_config, task_function,
                               resolve_dirs_with_job_config=hydra_resolver_used or any("hydra:" in o for o in overrides)))
    return returns


def _release_workers() -> None:
    """Let the loky workers exit now, alongside the summary, rather than when the process ends (~1 s).
    joblib keeps them for reuse in its module-level executor; a later Parallel starts new ones."""
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=False)


class QbenchJoblibLauncher(JoblibLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        # Imported here, not at the top: Hydra imports every hydra_plugins module at start-up.
        from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
        from joblib import Parallel, delayed

        from qbench import sweep
        from qbench.jobs import needs_job_hydra_config

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        joblib_cfg = dict(self.joblib, backend="loky")  # the threading backend is incompatible with Hydra
        process_joblib_cfg(joblib_cfg)
        n_jobs = int(joblib_cfg.get("n_jobs") or 1)
        workers = (os.cpu_count() or 1) if n_jobs < 0 else n_jobs
        chunks = chunks_by_backend(job_overrides, workers)
        log.info("Joblib.Parallel(n_jobs=%s) is launching %d jobs in %d per-backend chunks, sweep output dir : %s",
                 joblib_cfg.get("n_jobs"), len(job_overrides), len(chunks), sweep_dir)
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        singleton_state = Singleton.get_state()
        hydra_resolver_used = needs_job_hydra_config(self.config)
        # Pre-flight composed every job from an identical master config: its configs are shipped as they
        # are (~1 ms a job to pickle) instead of each worker composing them again (~10 ms a job, ~0.2 s a backend).
        composed = sweep.preflight.configs_for(self.config, job_overrides) if sweep.preflight else None
        log.info("job configs: %s", "composed by pre-flight" if composed else "composed in the workers")
        composed = composed or [None] * len(job_overrides)
        joblib_cfg["batch_size"] = 1  # a chunk is already a batch
        done = Parallel(**joblib_cfg)(
            delayed(_execute_chunk)([(initial_job_idx + p, job_overrides[p], composed[p]) for p in chunk], self.hydra_context,
                                    self.config, self.task_function, singleton_state, hydra_resolver_used)
            for chunk in chunks)
        _release_workers()
        by_position = {p: ret for chunk, rets in zip(chunks, done) for p, ret in zip(chunk, rets)}
        return [by_position[p] for p in range(len(job_overrides))]
