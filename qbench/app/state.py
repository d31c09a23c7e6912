"""The hand-offs between the CLI and the objects Hydra builds itself (its sweeper, its search-path
plugins, our callbacks), which Hydra gives no way to pass parameters to. One setter and one getter each.

- the pre-flight expansion: set by the CLI once every point is composed and validated, read
  by the sweeper so that it need not compose every job a second time;
- the extra config dir: set while pre-flight composes a command given `--config-dir DIR`, read
  by the search-path plugin that adds DIR where hydra.main adds it (Hydra's compose API has
  no parameter for it);
- the failed-point count: set by the callbacks when a run or multirun ends, read by the CLI
  for its exit code;
- the cluster jobs of this launch: added by the SLURM launcher as it submits them, cancelled by
  the CLI when the launch is stopped (SIGINT/SIGTERM), since they are not processes of ours.
"""
from __future__ import annotations

_preflight = None
_config_dir: str | None = None
_failed = 0


def set_preflight(expansion) -> None:
    global _preflight
    _preflight = expansion


def preflight():
    """The qbench.app.sweep.Expansion the CLI validated for this launch, or None."""
    return _preflight


def set_config_dir(path: str | None) -> None:
    global _config_dir
    _config_dir = path


def config_dir() -> str | None:
    """The absolute `--config-dir` of the command pre-flight is composing now, or None."""
    return _config_dir


def set_failed_points(count: int) -> None:
    global _failed
    _failed = count


def failed_points() -> int:
    """error + timeout + unreadable points of the run or multirun that just ended."""
    return _failed


_cluster_jobs: list[str] = []


def add_cluster_jobs(executor: str, job_ids: list[str]) -> None:
    if executor == "slurm":  # submitit's local executor runs its jobs as our own child processes
        _cluster_jobs.extend(str(job_id) for job_id in job_ids)


def cluster_jobs() -> list[str]:
    """SLURM job ids this launch submitted."""
    return list(_cluster_jobs)
