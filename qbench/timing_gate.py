"""The timing gate of a local sweep: timed work shares it, the sweep's MLflow writer takes it alone.

The writer (`qbench.results.sweep_tracker`) runs in the launching process beside the points. Lowering
its CPU priority keeps it off a busy core, but not off a spare one: with a core to spare (the basic
launcher's one point at a time), its work there (importing MLflow, sqlite's commits) shares the
memory and caches of the timed runs on the other core: pennylane's 20-qubit point ran 4.5-12 % slower
than in the same sweep untracked (docs/PERFORMANCE.md, "The timing gate"). A user's own script has no
such neighbour, so qbench's timed runs should not either.

So a point holds the gate shared from its conversion to its last timed run (`timing`), and the writer
does each piece of its work (opening the store, logging one point, closing the sweep) holding it
exclusively (`exclusive`), between timed runs. It is an advisory lock (flock) on one file in the sweep
folder, and the kernel drops a holder's lock when the holder dies. Only local launchers get one: a
lock on a cluster's shared filesystem would neither be reliable nor mean anything across machines.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

FILE = ".timing-gate"  # in the sweep folder, removed when the sweep ends
LOCAL_LAUNCHERS = ("BasicLauncher", "JoblibLauncher")


def for_sweep(sweep_dir, launcher_target: str | None, tracking_enabled: bool) -> Path | None:
    """The gate of this sweep: for a tracked sweep on this machine (a local launcher), else None."""
    if not tracking_enabled or not str(launcher_target or "").endswith(LOCAL_LAUNCHERS):
        return None
    return Path(sweep_dir) / FILE


@contextlib.contextmanager
def _held(path, operation: int):
    """Holds the gate; yields the seconds it waited for it (0 without a gate)."""
    descriptor, waited = None, 0.0
    if path:
        try:  # never fail a run for its gate: without it the point runs as it would untracked
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            started = time.perf_counter()
            fcntl.flock(descriptor, operation)  # waits; the syscall releases the GIL meanwhile
            waited = time.perf_counter() - started
        except OSError:
            if descriptor is not None:
                os.close(descriptor)
            descriptor = None
    try:
        yield waited
    finally:
        if descriptor is not None:
            os.close(descriptor)  # closing the only descriptor of this open file releases its lock


def timing(path):
    """Held by a point over its timed work (shared: points time side by side, as the sweep runs them)."""
    return _held(path, fcntl.LOCK_SH)


def exclusive(path):
    """Held by the writer over one piece of its work: no point is timing meanwhile."""
    return _held(path, fcntl.LOCK_EX)


def remove(path) -> None:
    if path:
        Path(path).unlink(missing_ok=True)
