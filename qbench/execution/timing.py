"""The timing protocol of one point, executed where the simulation runs.

This is the only code that times a simulator. It runs inside an isolated worker
(`qbench.execution.workers`) or, with `execution.isolation=none`, in the Hydra job itself.
"""
from __future__ import annotations

import resource
import time

from qbench import pipes
from qbench.backends.registry import load_backend
from qbench.execution import calibration, heap
from qbench.execution.verify import verify


def measure(request: dict) -> dict:
    """Convert, dry-run, warm up, time `repetitions` runs, then verify (untimed).

    Memory: the resident size before the point (`memory_baseline_mb`), the peak during it
    (`memory_peak_mb`) and the difference, what the point itself needed (`memory_run_mb`)."""
    point_started = time.perf_counter()  # timeout_per_run counts from the request
    backend, import_seconds = load_backend(request["backend"])
    circuit, spec, execution = request["circuit"], request["spec"], request["execution"]
    heap_mode = heap.prepare(execution.get("heap", "default"))
    memory_baseline_mb = pipes.resident_mb()  # the process before the point: interpreter and imported libraries
    pipes.reset_peak_rss()

    start = time.perf_counter()
    prepared = backend.prepare(circuit, spec)
    convert_seconds = time.perf_counter() - start

    # No result of qbench's own runs stays alive into the next run, as a user's loop drops each one:
    # a state vector held from the previous repetition would double a point's memory, and one result
    # held can change how glibc's heap hands memory back on every run (docs/PERFORMANCE.md, "heap").
    start = time.perf_counter()
    backend.run(prepared)
    dry_run_seconds = time.perf_counter() - start

    start = time.perf_counter()
    for _ in range(execution["warmup_runs"]):
        backend.run(prepared)
    warmup_seconds = time.perf_counter() - start

    last = [None]  # the last timed run's result: the histogram and the verification read it
    cpu_seconds = [0.0]  # this process's CPU time over the timed runs: wall >> CPU means it was made to wait

    def timed_run() -> float:
        last[0] = None  # the previous repetition's result is gone before this one runs
        cpu = time.process_time()
        start = time.perf_counter()
        last[0] = backend.run(prepared)
        elapsed = time.perf_counter() - start
        cpu_seconds[0] += time.process_time() - cpu
        return elapsed

    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times, stop = calibration.repeat(timed_run, calibration.Plan.from_execution(execution), point_started)
    # page faults are counted, not timed: a heap that hands back and re-faults its arrays on every
    # run shows here as plainly as in the times, without the machine's noise
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    raw = last[0]
    memory_peak_mb = pipes.peak_rss_mb()
    memory_run_mb = None
    if memory_peak_mb is not None and memory_baseline_mb is not None:
        memory_run_mb = max(0.0, memory_peak_mb - memory_baseline_mb)
    # A simulator in a child process of its own (QuEST, LRET) holds its state there: add that
    # process's peak to the total and to the point's own share (the child exists for the point).
    child_peak = getattr(backend, "child_peak_rss_mb", None)
    if child_peak is not None and memory_peak_mb is not None:
        child_mb = child_peak(prepared) or 0.0
        memory_peak_mb += child_mb
        memory_run_mb = (memory_run_mb or 0.0) + child_mb

    histogram = backend.histogram(prepared, raw)
    start = time.perf_counter()
    verification = verify(backend, prepared, circuit, histogram, spec, execution["verify_max_qubits"], raw)
    verify_seconds = time.perf_counter() - start
    return {
        "histogram": histogram,
        "import_seconds": import_seconds,
        "convert_seconds": convert_seconds,
        "dry_run_seconds": dry_run_seconds,
        "warmup_seconds": warmup_seconds,
        "execution_times_seconds": times,
        "repetitions_stop": stop,
        "execution_cpu_seconds": cpu_seconds[0],
        "execution_minor_faults": faults,
        "memory_peak_mb": memory_peak_mb,
        "memory_baseline_mb": memory_baseline_mb,
        "memory_run_mb": memory_run_mb,
        "heap": heap_mode,
        "verification": verification,
        "verify_seconds": verify_seconds,
        "backend_details": {**backend.describe(), **backend.noise_details(circuit, spec)},
    }
