"""The C heap of the process that times a simulator: glibc's own by default, pinned on request.

`execution.heap=default` leaves glibc's malloc exactly as a user's script has it. Points stay
comparable because each one runs in a fresh worker (`qbench.execution.pool`), not because the
allocator is tuned.

`execution.heap=pinned` fixes glibc's mmap and trim thresholds at the values glibc reaches on
its own after one large free, and hands the free heap back to the kernel before the point.
glibc moves those thresholds up the first time a large block is freed; until then every array
over 128 KiB is a fresh mmap (page faults on each gate) and the heap is trimmed as soon as
128 KiB sit free at its top. Pinned, the timed runs never see that transition, whatever ran in
the process before, but they are faster than a user's own script is (cirq at 18-20 qubits by
~15-20 %; docs/PERFORMANCE.md, bench/allocator_history.py).

Standard library only. Without glibc (macOS, musl) pinning does nothing and the record says
`default`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

HEAPS = ("default", "pinned")  # the values of execution.heap
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


def release_free_heap() -> bool:
    """Hand the heap's free memory back to the kernel (True where some was)."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


def prepare(mode: str) -> str:
    """Set this process's heap for a point as `execution.heap` asks; returns what it is now, as
    recorded in `environment.heap`: "pinned" or "default"."""
    if mode == "pinned" and pin_thresholds():
        release_free_heap()
    return "pinned" if _pinned else "default"
