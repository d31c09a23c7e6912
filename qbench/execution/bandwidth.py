"""How far each simulator is from the memory-bandwidth limit of this machine.

A STREAM-like probe (NumPy copy and scale-add over arrays far larger than the caches)
measures the machine's memory bandwidth once; the result is cached per machine. A
perfect state-vector simulator must still read and write the whole state once per
layer of the circuit (fusing a layer into one sweep is the best case), so

    ideal_seconds = circuit_depth x 2 x state_bytes / bandwidth
    bandwidth_efficiency = ideal_seconds / execution_time_seconds

Sampling shots is ignored (it is small next to a pass over a large state). Small states
live in caches, where efficiency above 1 just means "faster than main memory".
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from qbench import environment
from qbench.results import records

PROBE_BYTES = 256 * 2**20  # per array: far beyond any L3 cache here


def cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qbench"
    key = "".join(c if c.isalnum() else "_" for c in f"{platform.node()}_{environment.cpu_model()}")
    return base / f"bandwidth_{key}.json"


def probe(repeats: int = 5) -> float:
    """Best observed bytes/s of `b = a` and `a += 3*b` (bytes read + written)."""
    a = np.ones(PROBE_BYTES // 8)
    b = np.empty_like(a)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(b, a)
        best = max(best, 2 * a.nbytes / (time.perf_counter() - start))
        start = time.perf_counter()
        a += 3.0 * b  # reads a and b, writes a temporary and a: 4 array passes
        best = max(best, 4 * a.nbytes / (time.perf_counter() - start))
    return best


def machine_bandwidth() -> float:
    """Bytes/s of this machine, probed once and cached."""
    path = cache_path()
    try:
        return float(json.loads(path.read_text())["bytes_per_second"])
    except (OSError, ValueError, KeyError):
        pass
    measured = probe()
    # a unique temporary name: two sweeps starting at once may both probe, and both write whole files
    records.write_atomic(path, {"bytes_per_second": measured, "probe_bytes": PROBE_BYTES,
                                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return measured


def efficiency(state_bytes: int, circuit_depth: int, seconds: float, bandwidth: float) -> dict:
    ideal = circuit_depth * 2 * state_bytes / bandwidth
    return {"memory_bandwidth_gb_s": bandwidth / 1e9, "ideal_seconds": ideal,
            "bandwidth_efficiency": ideal / seconds if seconds > 0 else None}
