"""Length-prefixed pickle messages over pipes, and a process's peak memory.

Standard library only, on purpose: qbench's worker processes use it, and so does the QuEST
interpreter (numpy < 2, none of qbench's dependencies), which imports this file directly.
"""
from __future__ import annotations

import os
import pickle
import select
import struct
import time

HEADER = struct.Struct("!Q")
PROTOCOL = 4  # readable by every CPython qbench meets (the QuEST interpreter may be another 3.x)


def write_message(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=PROTOCOL)
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd: int, size: int, deadline: float | None = None) -> bytes:
    """`size` bytes from `fd`; EOFError if the writer is gone, TimeoutError past `deadline` (monotonic)."""
    chunks, remaining = [], size
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int, deadline: float | None = None):
    (size,) = HEADER.unpack(read_exact(fd, HEADER.size, deadline))
    return pickle.loads(read_exact(fd, size, deadline))


def reset_peak_rss() -> None:
    """Writing 5 to clear_refs resets VmHWM (Linux >= 4.0): the next peak is this run's, not the process's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (VmRSS, VmHWM, ...) in MiB; None where /proc is not there."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM) in MiB."""
    return status_mb("VmHWM")


def resident_mb() -> float | None:
    """This process's resident memory now (VmRSS) in MiB."""
    return status_mb("VmRSS")
