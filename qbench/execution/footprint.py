"""What a worker needs before it holds any state: its address space and resident memory right after
importing its backend's library, measured once per (backend config, versions, threads) and cached.

`execution.memory_limit_gb` caps a worker's address space (RLIMIT_AS). A cap below what the library
itself maps at import (OpenBLAS reserves per-thread buffers, CUDA far more) does not fail cleanly: an
import can spin under it for minutes. So a cap is compared with this footprint before the point runs,
and a point that cannot start under it is skipped with both numbers.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from qbench.backends.registry import backend_key, instantiate_backend
from qbench.results import records

_PROBE = """
import json, sys
from qbench.backends.registry import load_backend
from qbench.pipes import status_mb
load_backend(json.loads(sys.argv[1]))
print(json.dumps({"vm_bytes": int(status_mb("VmPeak") * 2**20), "rss_bytes": int(status_mb("VmHWM") * 2**20)}))
"""


def _cache_path(backend_config: dict, threads: int) -> Path:
    versions = instantiate_backend(backend_config).versions()
    key = json.dumps([backend_key(backend_config), versions, threads, sys.executable], sort_keys=True, default=str)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qbench"
    return base / f"footprint-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def startup_footprint(backend_config: dict, threads: int, timeout: float) -> dict | None:
    """{"vm_bytes", "rss_bytes"} of a fresh process that has imported this backend's library, at these
    thread settings (uncapped); None where it cannot be measured within `timeout` (the point then runs
    and reports its own failure)."""
    path = _cache_path(backend_config, threads)
    cached = records.read(path)
    if cached:
        return cached
    from qbench.execution.workers import THREAD_ENV

    env = dict(os.environ, **{name: str(threads) for name in THREAD_ENV})
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(backend_config)], capture_output=True,
                             text=True, timeout=timeout, env=env)
        measured = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None
    if measured:
        try:
            records.write_atomic(path, measured)
        except OSError:
            pass  # an unwritable cache costs a measurement next time, nothing else
    return measured


def cap_too_small(backend_config: dict, threads: int, memory_limit_gb: float, estimate: int,
                  timeout: float) -> str | None:
    """Why the point cannot start under `execution.memory_limit_gb`, with the numbers; None if it can."""
    footprint = startup_footprint(backend_config, threads, timeout)
    if footprint is None:
        return None
    needed = footprint["vm_bytes"] + estimate
    if memory_limit_gb * 2**30 >= needed:
        return None
    return (f"execution.memory_limit_gb={memory_limit_gb:g} caps the worker's address space below what "
            f"{backend_config.get('name')} needs: {footprint['vm_bytes'] / 2**30:.2f} GiB mapped after importing its "
            f"library ({footprint['rss_bytes'] / 2**20:.0f} MiB resident; measured once at {threads} thread(s)) "
            f"plus {estimate / 2**30:.2f} GiB of state; allowed: at least {needed / 2**30:.2f}, or null (no cap)")
