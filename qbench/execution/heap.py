"""The C heap of the process that times a simulator: the same state for every point.

glibc moves its mmap and trim thresholds up the first time a large block is freed. Until then,
every intermediate array over 128 KiB is a fresh mmap (page faults on each gate) and freed heap is
handed back to the kernel as soon as 128 KiB sit free at its top. So the same call is slower in
a fresh process than after any big simulation has run in it (cirq, GHZ 16 qubits: 12.8-13.7 ms
fresh, 11.5-11.9 ms after a 20-qubit run; bench/results/allocator_history.json), and a point's
time would depend on which points its worker happened to run before it. Pinning both thresholds
at the values glibc reaches on its own after one large free removes that dependence; releasing
the free heap before each point keeps memory_peak_mb a measure of that point alone.

Standard library only. Without glibc (macOS, musl) both calls do nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's ceiling for its own dynamic threshold on 64-bit
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES  # what glibc sets beside it

_pinned = False


@functools.lru_cache(maxsize=1)
def _glibc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def pin_thresholds() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (once); True where they are pinned."""
    global _pinned
    if not _pinned:
        libc = _glibc()
        _pinned = bool(libc and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                       and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return _pinned


def describe() -> str:
    """How this process's heap was set for its timed runs, as recorded in each result."""
    if not _pinned:
        return "system default"
    return (f"glibc thresholds pinned (mmap {MMAP_THRESHOLD_BYTES >> 20} MiB, trim {TRIM_THRESHOLD_BYTES >> 20} MiB), "
            "free heap released before the point")


def release_free_heap() -> bool:
    """Hand the heap's free memory back to the kernel, so the next point's peak is its own (True
    where some was)."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))
