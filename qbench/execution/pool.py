"""The isolated workers of this process (a Hydra job or a joblib worker), reused across its points."""
from __future__ import annotations

import atexit

from qbench.backends.registry import backend_key
from qbench.execution import forkserver
from qbench.execution.workers import LOAD_TIMEOUT_SECONDS, SpawnedWorker, Worker, WorkerFailure

# Workers of this process (a Hydra job process or a joblib/loky worker), reused across jobs.
_POOL: dict[tuple, Worker] = {}


def run_isolated(request: dict, timeout: float, threads: int, memory_limit_gb: float | None) -> dict:
    """Execute `qbench.execution.timing.measure(request)` in a pooled worker with a hard timeout."""
    key = (backend_key(request["backend"]), threads, memory_limit_gb)
    worker = _POOL.get(key)
    if worker is None or not worker.alive():
        worker = _POOL[key] = (forkserver.fork_worker(request["backend"], threads, memory_limit_gb)
                               or SpawnedWorker(threads, memory_limit_gb))
    try:
        import_seconds = 0.0
        if not worker.loaded:
            import_seconds = worker.import_seconds + worker.call({"op": "load", "backend": request["backend"]},
                                                                 LOAD_TIMEOUT_SECONDS)
            worker.loaded = True
        outcome = worker.call({"op": "measure", "request": request}, timeout)
        outcome["import_seconds"] += import_seconds
        return outcome
    except WorkerFailure:
        worker.kill()
        _POOL.pop(key, None)
        raise


@atexit.register
def shutdown_pool() -> None:
    for worker in _POOL.values():
        worker.kill()
    _POOL.clear()
