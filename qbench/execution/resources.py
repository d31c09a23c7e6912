"""What a point may use on this machine: cores and threads, memory (the guard), GPU slots, and how
many points of a launch run at once. Shared by the runner and `qbench plan`, so a plan says what
the run will do."""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path

from qbench import environment

log = logging.getLogger("qbench")
LARGE_QUBITS_WARNING = 25
LARGE_STATE_WARNING_BYTES = 2**28  # 256 MiB: a 25-qubit single-precision state vector


def concurrency(launcher_cfg, multirun: bool) -> int:
    """How many points of this launch run at once on this machine: the joblib launcher's n_jobs
    (-1 = every core) in a multirun, else 1."""
    n_jobs = launcher_cfg.get("n_jobs") if multirun and launcher_cfg is not None else None
    if n_jobs is None:
        return 1
    return (os.cpu_count() or 1) if n_jobs < 0 else int(n_jobs)


def usable_cores() -> int:
    """Cores this process may use: a SLURM allocation's, else its CPU affinity's."""
    if os.environ.get("SLURM_CPUS_PER_TASK"):
        return int(os.environ["SLURM_CPUS_PER_TASK"])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_for(cfg: dict, concurrency: int) -> int:
    """execution.threads, else the cores shared among concurrent workers."""
    if cfg["execution"].get("threads"):
        return cfg["execution"]["threads"]
    return max(1, usable_cores() // max(1, concurrency))


def gib(n_bytes: int) -> str:
    """A byte count in GiB for a message; a state of 1100 qubits is past what a float can hold."""
    if n_bytes.bit_length() > 1000:
        return f"2^{n_bytes.bit_length() - 1 - 30} GiB"
    return f"{n_bytes / 2**30:.2f} GiB"


def megabytes(n_bytes: int) -> float | None:
    """A byte count in MiB for a record, None where no float can hold it."""
    return n_bytes / 2**20 if n_bytes.bit_length() <= 1000 else None


def memory_check(backend, n_qubits: int, concurrency: int, memory_limit_gb) -> tuple[int, str | None]:
    """(estimated bytes, reason to skip or None). The estimate is the simulator's state only."""
    estimate = backend.memory_estimate_bytes(n_qubits)
    if n_qubits > LARGE_QUBITS_WARNING and estimate >= LARGE_STATE_WARNING_BYTES:  # not a stabilizer's few KiB
        log.warning("%s at %d qubits needs ~%s of state", backend.name, n_qubits, gib(estimate))
    if memory_limit_gb and estimate > memory_limit_gb * 2**30:
        return estimate, (f"needs ~{gib(estimate)} ({backend.memory_formula(n_qubits)}), "
                          f"over execution.memory_limit_gb={memory_limit_gb}")
    gpu = environment.gpu_memory_bytes() if backend.device == "GPU" else None
    if gpu:  # the state lives on the GPU, which gpu_slot gives to one run at a time
        if estimate > gpu:
            return estimate, (f"needs ~{gib(estimate)} ({backend.memory_formula(n_qubits)}) but the GPU "
                              f"has {gpu / 2**30:.2f} GiB (nvidia-smi memory.total)")
        return estimate, None
    available = environment.available_memory_bytes()
    per_worker = available // max(1, concurrency)
    if available and estimate > per_worker:
        return estimate, (f"needs ~{gib(estimate)} ({backend.memory_formula(n_qubits)}) but only "
                          f"{per_worker / 2**30:.2f} GiB is available per worker "
                          f"({available / 2**30:.2f} GiB free / {concurrency} concurrent)")
    return estimate, None


def precheck(backend, circuit, spec, concurrency: int,
             memory_limit_gb) -> tuple[str | None, str | None, int | None]:
    """(status, reason, memory estimate) before anything runs: supports? -> available? -> memory guard.
    status None means the point will run; shared with `qbench plan` so the plan says what the run does."""
    reason = backend.supports(circuit, spec)
    if reason:
        return "skipped", reason, None
    unavailable = backend.available()
    if unavailable:
        return "unavailable", unavailable, None
    estimate, reason = memory_check(backend, circuit.n_qubits, concurrency, memory_limit_gb)
    return ("skipped" if reason else None), reason, estimate


@contextlib.contextmanager
def gpu_slot(device: str, gpus: int):
    """Machine-wide lock so that at most `gpus` GPU runs execute at once."""
    if device != "GPU":
        yield
        return
    lock_dir = Path(tempfile.gettempdir()) / "qbench-gpu-locks"
    lock_dir.mkdir(exist_ok=True)
    while True:
        for slot in range(gpus):
            handle = open(lock_dir / f"slot{slot}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        time.sleep(0.1)


