"""Hydra's submitit launchers, fitted to qbench.

Two differences from `hydra/launcher=submitit_slurm`:
- resources left as `auto` are sized from qbench's own settings: `timeout_min` from
  the per-run timeout, retries and import margin; `mem_gb` from the memory estimate
  of the largest point; `cpus_per_task` from the threads; `gpus_per_node` for GPU
  backends; `setup` activates the submitting Python environment on the node;
- a job that dies outside qbench (scancel, the SLURM time limit, a node failure)
  becomes an `error`/`timeout` record and the launcher returns; the stock launcher
  raises on the first such job and Hydra then aborts the multirun.
Jobs that are not qbench points (another Hydra app on this launcher) get the baseline sizes and
the stock behaviour; Hydra's own launcher test suites run on it (tests/app/test_launchers.py).
"""
from __future__ import annotations

import logging
import math
import os
import shlex
import sys
from pathlib import Path
from typing import Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)
AUTO = "auto"
IMPORT_MARGIN_S = 120      # worker start and library import, not part of timeout_per_run
BASELINE_MEMORY_GB = 1.5   # Python, the simulator libraries and MLflow in one job


def is_qbench_point(cfg) -> bool:
    """A qbench point's config, not another Hydra app's (Hydra's own launcher test suites run their
    apps on this launcher): only a qbench point is sized and gets a record when its job is lost."""
    return all(key in cfg for key in ("backend", "execution", "n_qubits"))


class QbenchSubmititMixin:
    def _job_configs(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list:
        from qbench.app.hydra_internals import sweep_composer

        composer = sweep_composer(self.hydra_context.config_loader)
        configs = []
        for job_num, overrides in enumerate(job_overrides, start=initial_job_idx):
            cfg = composer.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg.hydra.job):
                cfg.hydra.job.num = job_num
            configs.append(cfg)
        return configs

    def _auto_params(self, configs: list) -> dict:
        """Values for every resource the user left as `auto` (another app's jobs: the baseline)."""
        from qbench.backends.registry import instantiate_backend

        timeout_s, memory_gb, cpus, gpus = 60.0, BASELINE_MEMORY_GB, 1, 0
        for cfg in filter(is_qbench_point, configs):
            ex, backend_cfg = cfg.execution, OmegaConf.to_container(cfg.backend, resolve=True)
            timeout_s = max(timeout_s, ex.timeout_per_run * (ex.retries + 1) + IMPORT_MARGIN_S)
            backend = instantiate_backend(backend_cfg)
            memory_gb = max(memory_gb, BASELINE_MEMORY_GB + backend.memory_estimate_bytes(cfg.n_qubits) / 2**30)
            cpus = max(cpus, backend_cfg.get("threads") or ex.threads or 1)
            gpus = max(gpus, 1 if str(backend_cfg.get("device")).upper() == "GPU" else 0)
        sized = {"timeout_min": math.ceil(timeout_s * 1.25 / 60), "mem_gb": math.ceil(memory_gb * 1.2),
                 "cpus_per_task": cpus, "gpus_per_node": gpus or None}
        if sys.prefix != sys.base_prefix:  # the same virtual environment on the compute node
            sized["setup"] = [f"source {Path(sys.prefix) / 'bin' / 'activate'}"]
        else:
            sized["setup"] = None
        return sized

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """The stock launch, with sized resources and results collected job by job.

        The stock method ends with `[j.results()[0] for j in jobs]`, which raises on the
        first cancelled job; everything before that is reproduced here unchanged.
        """
        import submitit

        from qbench.results import records

        configs = self._job_configs(job_overrides, initial_job_idx)
        sized = self._auto_params(configs)
        params = self._executor_params({k: (sized.get(k) if v == AUTO else v) for k, v in self.params.items()})
        log.info("qbench %s resources: %s", self._EXECUTOR,
                 {k: params.get(k) for k in ("timeout_min", "mem_gb", "cpus_per_task", "gpus_per_node")})

        init_keys = {"submitit_folder", "max_num_timeout"}
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=params["submitit_folder"],
                                         **{f"{self._EXECUTOR}_max_num_timeout": params.get("max_num_timeout", 0)})
        base_keys = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base_keys else f"{self._EXECUTOR}_{k}": v
                                      for k, v in params.items() if k not in init_keys and k != "_target_"})
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info("Submitit '%s' sweep output dir : %s", self._EXECUTOR, sweep_dir)
        job_params = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        launched_at = records.now_iso()
        jobs = executor.map_array(self, *zip(*job_params))
        from qbench.app import state

        state.add_cluster_jobs(self._EXECUTOR, [job.job_id for job in jobs])  # cancelled if the launch is stopped
        return self._collect(jobs, configs, launched_at)

    def _executor_params(self, params: dict) -> dict:
        return params

    def _collect(self, jobs, configs, launched_at: str) -> list[JobReturn]:
        from qbench.execution.runner import record_lost_job
        from qbench.results import records

        returns = []
        for job, cfg in zip(jobs, configs):
            try:
                returns.append(job.results()[0])
                continue
            except Exception as exc:  # noqa: BLE001 - cancelled, timed out, node failure
                if not is_qbench_point(cfg):
                    raise  # as the stock launcher does: no qbench record to write
                state = job.state
                failure = exc
            sweep_dir = Path(str(cfg.hydra.sweep.dir))
            output_dir = sweep_dir / str(cfg.hydra.sweep.subdir)
            record = records.read(output_dir / records.RESULT_FILE)
            if record is None or record["timestamps"]["started_at"] < launched_at:
                # The job died before writing its own record: write one from SLURM's account of it.
                status = "timeout" if "TIMEOUT" in state else "error"
                first_line = (str(failure).strip().splitlines() or [type(failure).__name__])[0]
                message = f"{self._EXECUTOR} job {job.job_id} ended {state} before writing a result: {first_line}"
                record = record_lost_job(cfg, output_dir, sweep_dir.name, status, f"Job{state.title()}", message)
            log.error("%s job %s ended %s: %s", self._EXECUTOR, job.job_id, state, record["reason"])
            returns.append(JobReturn(overrides=list(cfg.hydra.overrides.task), cfg=cfg, working_dir=str(output_dir),
                                     task_name="qbench", status=JobStatus.COMPLETED,
                                     _return_value=record["status"]))
        return returns


class QbenchSlurmLauncher(QbenchSubmititMixin, SlurmLauncher):
    pass


class QbenchLocalLauncher(QbenchSubmititMixin, LocalLauncher):
    def _executor_params(self, params: dict) -> dict:
        """submitit's local controller opens its logs in the job's folder (`%j`: its pid) as soon as it
        starts, while the submitting process creates that folder only after starting it: on a busy
        machine the controller sometimes wins and dies (FileNotFoundError), and its point is lost.
        A setup line makes the controller's shell create the folder first (`$$`: the shell's pid,
        which submitit takes as the job id when there is a setup)."""
        folder = str(Path(str(params["submitit_folder"])).expanduser().absolute())
        if "%j" in folder:
            before, _, after = folder.partition("%j")
            mkdir = f"mkdir -p {shlex.quote(before)}$${shlex.quote(after) if after else ''}"
            params = {**params, "setup": [mkdir, *(params.get("setup") or [])]}
        return params
