"""Run one point and write its record: the one place a run is executed.

Order (DESIGN.md): validate -> build canonical circuit -> supports? -> available?
-> memory guard -> isolated worker (retries) -> verify -> result.json.
A run never raises: every failure becomes a record with a status.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import statistics
import tempfile
import time
import traceback
from pathlib import Path

from omegaconf import OmegaConf, open_dict

from qbench import bandwidth, circuits, environment, records
from qbench.backends.base import RunSpec
from qbench.measure import instantiate_backend, measure
from qbench.validate import check_point
from qbench.worker import WorkerFailure, run_isolated

log = logging.getLogger("qbench")
LARGE_QUBITS_WARNING = 25


def point_config(cfg: dict) -> dict:
    """The record's `config` section, with the original design's field names."""
    config = {
        "n_qubits": cfg["n_qubits"],
        "depth": cfg["circuit"].get("depth"),
        "circuit_type": cfg["circuit"]["name"],
        "circuit_seed": cfg["circuit"].get("seed"),
        "noise_model": cfg["noise"]["name"],
        "noise_strength": cfg["noise"]["strength"],
        "mode": cfg["backend"].get("method"),
        "shots": cfg["shots"],
        "seed": cfg["seed"],
        "backend_options": {k: v for k, v in cfg["backend"].items() if k not in ("_target_",)},
        "execution": dict(cfg["execution"]),
    }
    if cfg["noise"]["name"] != "none":  # only then: noiseless run_ids stay as they were
        config["noise_method"] = cfg["noise"].get("method")
    return config


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


def memory_check(backend, n_qubits: int, concurrency: int, memory_limit_gb) -> tuple[int, str | None]:
    """(estimated bytes, reason to skip or None). The estimate is the simulator's state only."""
    estimate = backend.memory_estimate_bytes(n_qubits)
    if n_qubits > LARGE_QUBITS_WARNING:
        log.warning("%s at %d qubits needs ~%.2f GiB of state", backend.name, n_qubits, estimate / 2**30)
    if memory_limit_gb and estimate > memory_limit_gb * 2**30:
        return estimate, (f"needs ~{estimate / 2**30:.2f} GiB ({backend.memory_formula(n_qubits)}), "
                          f"over execution.memory_limit_gb={memory_limit_gb}")
    gpu = environment.gpu_memory_bytes() if backend.device == "GPU" else None
    if gpu:  # the state lives on the GPU, which gpu_slot gives to one run at a time
        if estimate > gpu:
            return estimate, (f"needs ~{estimate / 2**30:.2f} GiB ({backend.memory_formula(n_qubits)}) but the GPU "
                              f"has {gpu / 2**30:.2f} GiB (nvidia-smi memory.total)")
        return estimate, None
    available = environment.available_memory_bytes()
    per_worker = available // max(1, concurrency)
    if available and estimate > per_worker:
        return estimate, (f"needs ~{estimate / 2**30:.2f} GiB ({backend.memory_formula(n_qubits)}) but only "
                          f"{per_worker / 2**30:.2f} GiB is available per worker "
                          f"({available / 2**30:.2f} GiB free / {concurrency} concurrent)")
    return estimate, None


def precheck(backend, circuit, spec: RunSpec, concurrency: int,
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


def _execute_with_retries(request: dict, ex: dict, threads: int) -> tuple[dict | None, list[dict]]:
    """Outcome of the first attempt that succeeds, and every attempt's summary."""
    attempts = []
    for number in range(1, ex["retries"] + 2):
        started = time.perf_counter()
        try:
            if ex["isolation"] == "process":
                outcome = run_isolated(request, ex["timeout_per_run"], threads, ex["memory_limit_gb"])
            else:
                outcome = measure(request)
            attempts.append({"attempt": number, "status": "success", "seconds": time.perf_counter() - started})
            return outcome, attempts
        except WorkerFailure as failure:
            attempts.append({"attempt": number, "status": failure.status, "seconds": time.perf_counter() - started,
                             "error": {"type": failure.error_type, "message": failure.message,
                                       "traceback": failure.traceback}})
        except Exception as exc:  # in-process mode: the simulator's own exception
            attempts.append({"attempt": number, "status": "error", "seconds": time.perf_counter() - started,
                             "error": {"type": type(exc).__name__, "message": str(exc),
                                       "traceback": traceback.format_exc()}})
        log.warning("attempt %d of %s failed: %s", number, request["backend"].get("name"),
                    attempts[-1]["error"]["message"])
    return None, attempts


def _new_record(plain: dict, benchmark_id: str) -> dict:
    return {
        "schema_version": records.SCHEMA_VERSION, "run_id": None, "benchmark_id": benchmark_id,
        "backend": plain.get("backend", {}).get("name"), "status": "error", "reason": None, "error": None,
        "attempts": [], "config": {}, "metrics": {}, "measurements": {"histogram": {}, "total_shots": 0},
        "environment": {}, "timestamps": {"started_at": records.now_iso(), "completed_at": None},
    }


def task_config(cfg) -> dict:
    """A job's composed config as plain data, without Hydra's own node (unresolvable outside a job)."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return OmegaConf.to_container(cfg, resolve=True)


def record_lost_job(cfg, output_dir: Path, benchmark_id: str, status: str, error_type: str, message: str) -> dict:
    """The record of a point whose job died outside qbench's reach (scancel, a SLURM time limit)."""
    plain = task_config(cfg)
    record = _new_record(plain, benchmark_id)
    record["config"] = point_config(plain)
    try:
        record["run_id"] = point_run_id(plain)
    except Exception:  # noqa: BLE001 - the record is still worth writing without an id
        pass
    record.update(status=status, reason=message, error={"type": error_type, "message": message, "traceback": None},
                  attempts=[{"attempt": 1, "status": status, "error": {"type": error_type, "message": message}}])
    record["timestamps"]["completed_at"] = records.now_iso()
    records.write_atomic(Path(output_dir) / records.RESULT_FILE, record)
    return record


def run_point(cfg, output_dir: Path, benchmark_id: str, concurrency: int = 1) -> dict:
    """Execute one composed point and write `output_dir/result.json`. Never raises."""
    wall_start = time.perf_counter()
    plain = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else cfg
    record = _new_record(plain, benchmark_id)
    try:
        _fill_record(record, cfg, plain, Path(output_dir), concurrency)
    except Exception as exc:  # qbench's own bug or a bad adapter: still a record, never a dead sweep
        record.update(status="error", reason=f"{type(exc).__name__}: {exc}",
                      error={"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()})
    record["metrics"]["wall_seconds"] = time.perf_counter() - wall_start
    record["timestamps"]["completed_at"] = records.now_iso()
    try:
        records.write_atomic(Path(output_dir) / records.RESULT_FILE, record)
    except Exception:  # noqa: BLE001 - e.g. disk full: log it, the sweep goes on
        log.exception("could not write %s", Path(output_dir) / records.RESULT_FILE)
    return record


def point_run_id(plain: dict, backend=None) -> str:
    """The stable id of a point: its record config and its backend's package versions."""
    backend = backend or instantiate_backend(plain["backend"])
    return records.run_id(point_config(plain), backend.versions())


def finished_record(cfg, output_dir: Path) -> dict | None:
    """The result already in `output_dir` for this very point, unless it failed (resuming a sweep)."""
    existing = records.read(Path(output_dir) / records.RESULT_FILE)
    if not existing or existing.get("status") in records.FAILED_STATUSES:
        return None
    try:
        run_id = point_run_id(OmegaConf.to_container(cfg, resolve=True))
    except Exception:  # noqa: BLE001 - an unbuildable config is run (and recorded) normally
        return None
    return existing if existing.get("run_id") == run_id else None


def _fill_record(record: dict, cfg, plain: dict, output_dir: Path, concurrency: int) -> None:
    """Fill `record` in place: checks, then the isolated execution, then the metrics."""
    record["config"] = point_config(plain)
    check_point(cfg if not isinstance(cfg, dict) else OmegaConf.create(cfg))
    backend = instantiate_backend(plain["backend"])
    threads = backend.threads or threads_for(plain, concurrency)
    record["run_id"] = point_run_id(plain, backend)
    record["environment"] = {**environment.machine(), "threads": threads, "concurrent_workers": concurrency}

    build_start = time.perf_counter()
    circuit = circuits.build(plain["circuit"]["name"], plain["n_qubits"], plain["circuit"].get("depth"),
                             plain["circuit"]["seed"])
    record["metrics"].update(build_seconds=time.perf_counter() - build_start, **circuit.stats(),
                             num_qubits_simulated=circuit.n_qubits)
    record["config"]["circuit_fingerprint"] = circuit.fingerprint()
    spec = RunSpec(shots=plain["shots"], seed=plain["seed"], threads=threads, noise=dict(plain["noise"]))
    ex = plain["execution"]

    status, reason, estimate = precheck(backend, circuit, spec, concurrency, ex["memory_limit_gb"])
    if estimate is not None:
        record["metrics"]["memory_estimate_mb"] = estimate / 2**20
    if status:
        record.update(status=status, reason=reason)
        return

    request = {"backend": plain["backend"], "circuit": circuit, "spec": spec,
               "execution": {k: ex[k] for k in ("warmup_runs", "repetitions", "verify_max_qubits")}}
    with gpu_slot(backend.device, ex["gpus"]):
        outcome, record["attempts"] = _execute_with_retries(request, ex, threads)
    if outcome is None:
        last = record["attempts"][-1]
        record.update(status=last["status"], error=last["error"],
                      reason=f"{len(record['attempts'])} attempt(s) failed; last: {last['error']['message']}")
        return

    times = outcome["execution_times_seconds"]
    median = statistics.median(times)
    record["config"]["backend_options"].update(outcome["backend_details"])
    record["environment"]["heap"] = outcome.get("heap")  # qbench.allocator: how the timed runs' heap behaved
    record["metrics"].update(
        execution_time_seconds=median, execution_times_seconds=times,
        dry_run_seconds=outcome["dry_run_seconds"], import_seconds=outcome["import_seconds"],
        convert_seconds=outcome["convert_seconds"], memory_peak_mb=outcome["memory_peak_mb"],
        throughput_shots_per_second=plain["shots"] / median if median > 0 else None, **outcome["verification"],
    )
    record["measurements"] = {"histogram": outcome["histogram"], "total_shots": sum(outcome["histogram"].values())}
    if backend.representation == "statevector" and backend.method == "statevector" and spec.noise["name"] == "none":
        record["metrics"].update(bandwidth.efficiency(backend.memory_estimate_bytes(circuit.n_qubits), circuit.depth,
                                                      median, bandwidth.machine_bandwidth()))
    record["status"] = "success"
