"""Run one point and write its record: the one place a run is executed.

Order (DESIGN.md): validate -> build canonical circuit -> supports? -> available?
-> memory guard -> isolated worker (retries) -> verify -> result.json.
A run never raises: every failure becomes a record with a status.
"""
from __future__ import annotations

import logging
import statistics
import time
import traceback
from pathlib import Path

from omegaconf import OmegaConf

from qbench import environment
from qbench.backends.base import RunSpec
from qbench.backends.registry import instantiate_backend, known_packages
from qbench.circuits import canonical as circuits
from qbench.execution import bandwidth
from qbench.execution.footprint import cap_too_small
from qbench.execution.pool import run_isolated
from qbench.execution.resources import gpu_slot, megabytes, precheck, threads_for
from qbench.execution.timing import measure
from qbench.execution.validate import check_point
from qbench.execution.workers import WorkerFailure
from qbench.results import records, stats

log = logging.getLogger("qbench")


def _execute_with_retries(request: dict, ex: dict, threads: int, idle_work=None) -> tuple[dict | None, list[dict]]:
    """Outcome of the first attempt that succeeds, and every attempt's summary."""
    attempts = []
    for number in range(1, ex["retries"] + 2):
        started = time.perf_counter()
        try:
            if ex["isolation"] == "process":
                outcome = run_isolated(request, ex["timeout_per_run"], threads, ex["memory_limit_gb"], idle_work)
            else:
                outcome = measure(request)
            attempts.append({"attempt": number, "status": "success", "seconds": time.perf_counter() - started})
            return outcome, attempts
        except WorkerFailure as failure:
            attempts.append({"attempt": number, "status": failure.status, "seconds": time.perf_counter() - started,
                             "phase": failure.phase,  # import (the library's) or run (the point's)
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


def record_lost_job(cfg, output_dir: Path, benchmark_id: str, status: str, error_type: str, message: str) -> dict:
    """The record of a point whose job died outside qbench's reach (scancel, a SLURM time limit)."""
    plain = records.task_config(cfg)
    record = _new_record(plain, benchmark_id)
    record["config"] = records.point_config(plain)
    try:
        record["run_id"] = point_run_id(plain)
    except Exception:  # noqa: BLE001 - the record is still worth writing without an id
        pass
    record.update(status=status, reason=message, error={"type": error_type, "message": message, "traceback": None},
                  attempts=[{"attempt": 1, "status": status, "error": {"type": error_type, "message": message}}])
    record["timestamps"]["completed_at"] = records.now_iso()
    records.write_atomic(Path(output_dir) / records.RESULT_FILE, record)
    return record


def run_point(cfg, output_dir: Path, benchmark_id: str, concurrency: int = 1, idle_work=None) -> dict:
    """Execute one composed point and write `output_dir/result.json`. Never raises.

    `idle_work`: called while the point waits for its forked worker (`forkserver.fork_worker`)."""
    wall_start = time.perf_counter()
    plain = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else cfg
    record = _new_record(plain, benchmark_id)
    try:
        _fill_record(record, plain, Path(output_dir), concurrency, idle_work)
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
    return records.run_id(records.point_config(plain), backend.versions())


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


def _fill_record(record: dict, plain: dict, output_dir: Path, concurrency: int, idle_work=None) -> None:
    """Fill `record` in place: checks, then the isolated execution, then the metrics."""
    record["config"] = records.point_config(plain)
    check_point(plain)
    backend = instantiate_backend(plain["backend"])
    threads = backend.threads or threads_for(plain, concurrency)
    record["run_id"] = point_run_id(plain, backend)
    record["environment"] = {**environment.machine(known_packages()), "threads": threads, "concurrent_workers": concurrency}

    build_start = time.perf_counter()
    record["config"].setdefault("compute", "sampling")
    record["config"].setdefault("observable", None)
    try:  # imports, QASM parsing, MQT Bench generation and decomposition: all here, before any worker
        circuit = circuits.build_from_config(plain["circuit"], plain["n_qubits"])
    except circuits.CircuitUnavailable as exc:  # e.g. a size MQT Bench cannot make: skipped, with its reason
        record.update(status="skipped", reason=str(exc))
        return
    record["metrics"].update(build_seconds=time.perf_counter() - build_start, **circuit.stats(),
                             num_qubits_simulated=circuit.n_qubits)
    record["config"]["circuit_fingerprint"] = circuit.fingerprint()
    if plain["n_qubits"] is None:  # circuit=qasm: the file's width
        record["config"]["n_qubits"] = circuit.n_qubits
    if circuit.metadata.get("gate_count_after") is not None:  # imported or generated: where it came from
        record["config"]["circuit_source"] = dict(circuit.metadata)
    spec = RunSpec(shots=plain["shots"], seed=plain["seed"], threads=threads, noise=dict(plain["noise"]),
                   compute=plain.get("compute") or "sampling",
                   observable=plain.get("observable") if plain.get("compute") == "expectation" else None)
    ex = plain["execution"]

    status, reason, estimate = precheck(backend, circuit, spec, concurrency, ex["memory_limit_gb"])
    if estimate is not None:
        record["metrics"]["memory_estimate_mb"] = megabytes(estimate)
    if not status and ex["memory_limit_gb"] and ex["isolation"] == "process":
        reason = cap_too_small(plain["backend"], threads, ex["memory_limit_gb"], estimate, ex["timeout_per_run"])
        status = "skipped" if reason else None
    if status:
        record.update(status=status, reason=reason)
        return

    request = {"backend": plain["backend"], "circuit": circuit, "spec": spec,
               "execution": {k: ex.get(k) for k in ("warmup_runs", "repetitions", "verify_max_qubits", "min_time",
                                                    "max_repetitions", "target_rel_ci", "timeout_per_run", "heap",
                                                    "replicate")}}
    with gpu_slot(backend.device, ex["gpus"]):
        outcome, record["attempts"] = _execute_with_retries(request, ex, threads, idle_work)
    if outcome is None:
        last = record["attempts"][-1]
        record.update(status=last["status"], error=last["error"],
                      reason=f"{len(record['attempts'])} attempt(s) failed; last: {last['error']['message']}")
        return

    times = outcome["execution_times_seconds"]
    median = statistics.median(times)
    record["config"]["backend_options"].update(outcome["backend_details"])
    record["environment"]["heap"] = outcome["heap"]  # qbench.execution.heap: default or pinned
    record["environment"]["worker"] = outcome.get("worker", "in-process")  # forked, spawned (or isolation=none)
    record["metrics"].update(
        execution_time_seconds=median, execution_times_seconds=times, **stats.describe(times),
        repetitions_stop=outcome.get("repetitions_stop"),
        # CPU seconds of the worker per wall second of timed runs: ~1 for one busy thread, lower when
        # other processes took the core (a simulator in a child process of its own shows ~0)
        execution_cpu_share=outcome["execution_cpu_seconds"] / sum(times) if sum(times) > 0 else None,
        # the worker's minor page faults per timed run (its own process: a simulator's child not counted)
        execution_page_faults_per_run=outcome["execution_minor_faults"] / len(times),
        dry_run_seconds=outcome["dry_run_seconds"], warmup_seconds=outcome["warmup_seconds"],
        import_seconds=outcome["import_seconds"],
        convert_seconds=outcome["convert_seconds"], verify_seconds=outcome["verify_seconds"],
        memory_peak_mb=outcome["memory_peak_mb"],
        memory_baseline_mb=outcome["memory_baseline_mb"], memory_run_mb=outcome["memory_run_mb"],
        throughput_shots_per_second=plain["shots"] / median if median > 0 and spec.compute == "sampling" else None,
        **outcome["verification"],
    )
    record["measurements"] = {"histogram": outcome["histogram"], "total_shots": sum(outcome["histogram"].values())}
    if backend.representation == "statevector" and backend.method == "statevector" and spec.noise["name"] == "none":
        record["metrics"].update(bandwidth.efficiency(backend.memory_estimate_bytes(circuit.n_qubits), circuit.depth,
                                                      median, bandwidth.machine_bandwidth()))
    record["status"] = "success"
