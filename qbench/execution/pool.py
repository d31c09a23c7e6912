"""Where a point's worker comes from: a fresh one for every point and every attempt.

Forked by the sweep's fork server where it has the point's library loaded (a local sweep's CPU
backends), spawned otherwise. No worker is reused: a point's time and memory then depend on
nothing that ran before it, and every point starts from the state of a process that has just
imported its library, as a user's script does (issue 18: glibc's heap is left at its defaults).
"""
from __future__ import annotations

from qbench.execution import forkserver
from qbench.execution.workers import LOAD_TIMEOUT_SECONDS, SpawnedWorker, WorkerFailure


def run_isolated(request: dict, timeout: float, threads: int, memory_limit_gb: float | None,
                 idle_work=None) -> dict:
    """Execute `qbench.execution.timing.measure(request)` in a fresh worker with a hard timeout.
    A failure raises `qbench.execution.workers.WorkerFailure`; the worker never outlives the call."""
    worker = (forkserver.fork_worker(request["backend"], threads, memory_limit_gb, idle_work,
                                     request["execution"].get("replicate") or 0)
              or SpawnedWorker(threads, memory_limit_gb))
    try:
        import_seconds = worker.import_seconds
        if not worker.loaded:  # spawned: the import is outside the timing, bounded by the point's own timeout
            try:
                import_seconds += worker.call({"op": "load", "backend": request["backend"]},
                                              min(LOAD_TIMEOUT_SECONDS, timeout))
            except WorkerFailure as failure:
                failure.phase = "import"
                name = request["backend"].get("name")
                failure.message = (f"importing {name}'s library exceeded timeout_per_run={timeout:g}s; worker killed"
                                   if failure.status == "timeout" else
                                   f"importing {name}'s library failed: {failure.message}")
                raise
        outcome = worker.call({"op": "measure", "request": request}, timeout)
        outcome["import_seconds"] += import_seconds
        outcome["worker"] = worker.how
        return outcome
    finally:
        worker.kill()
