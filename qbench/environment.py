"""What machine and software a result was measured on (collected once per process)."""
from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shutil
import subprocess

# qbench's own stack, recorded in every result beside every configured backend's packages
# (qbench.backends.registry.known_packages, read from the adapters of conf/backend/).
BASE_PACKAGES = ("qbench", "numpy", "hydra-core", "omegaconf", "mlflow")


@functools.lru_cache(maxsize=None)
def package_version(name: str) -> str | None:
    """A distribution's version (None if not installed), read once per process: each look scans
    sys.path, and a worker asks for its backend's on every point."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_memory_bytes() -> int:
    """MemAvailable, or the cgroup limit when that is lower (containers, SLURM jobs)."""
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            raw = f.read().strip()
        if raw != "max":
            with open("/sys/fs/cgroup/memory.current") as f:
                cgroup_free = int(raw) - int(f.read().strip())
            available = cgroup_free if available is None else min(available, cgroup_free)
    except (OSError, ValueError):
        pass
    return available if available is not None else 0


# What every GPU adapter's available() says on a machine without one (checked first, before any package).
NO_CUDA_DEVICE = "no CUDA device (no /dev/nvidia0, nvidia-smi not found)"


def gpu_available() -> bool:
    return os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None


@functools.lru_cache(maxsize=1)
def gpu_memory_bytes() -> int | None:
    """Memory of the smallest NVIDIA GPU here (nvidia-smi memory.total), None when unknown.

    Total rather than free: GPU runs hold a machine-wide slot (qbench.execution.resources.gpu_slot),
    so no other point of the sweep is on the device; a free figure would move with whatever else
    happens to hold GPU memory at the moment of the check.
    """
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return min(int(mib) for mib in out.split()) * 2**20
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def machine(packages: tuple[str, ...] = ()) -> dict:
    """This machine, and the versions of BASE_PACKAGES and of `packages` (None: not installed)."""
    return {
        "platform": platform.platform(),
        "python_version": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 2),
        "gpu_available": gpu_available(),
        "hostname": platform.node(),
        "packages": {name: package_version(name) for name in dict.fromkeys((*BASE_PACKAGES, *packages))},
    }
