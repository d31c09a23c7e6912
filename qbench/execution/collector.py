"""Python's cyclic garbage collector in qbench's own long-lived processes: the launching process
and Hydra's joblib (loky) workers. Never in a point's worker: what runs there is what a user's
script runs, and is timed as such.

A full collection walks every object its process holds, and most of those live as long as the
process: Hydra and OmegaConf, qbench, matplotlib once the charts are warm. In the design's sweep
each of these three processes (the launching one, two workers) spent 0.4-0.8 s in full
collections, CPU taken from the points on a small machine (docs/PERFORMANCE.md). `gc.freeze()` (public,
documented) moves every object tracked at that moment into a permanent generation that
collections skip; objects made later are collected as before. What is garbage at that moment
(little, right after imports or a job) is never freed: bounded, once per call.
"""
from __future__ import annotations

import atexit
import gc

_settled = False


def freeze_long_lived() -> None:
    """Leave what this process holds now out of its later collections: call it once the process
    holds what it keeps (its imports, the sweep's compositions, matplotlib)."""
    gc.freeze()


def settle_worker() -> None:
    """In a joblib worker, from its first job on (once per process): what it holds now is left out
    of its later collections, and, when it exits, everything it holds is left out of the
    interpreter's last collection (`gc.freeze()` as the first exit handler). That last collection
    was most of a worker's exit, ~0.1-0.25 s after the sweep's last job, and the launching process
    waits for it. Every exit handler still runs, logging's flush included; the OS takes the memory back."""
    global _settled
    if not _settled:
        _settled = True
        gc.freeze()
        atexit.register(gc.freeze)  # the last registered runs first
