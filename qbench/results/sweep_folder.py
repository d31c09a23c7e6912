"""A sweep's folder: created exclusively, and owned by one live launch at a time.

Two sweeps started in the same second from the same directory would both be
`outputs/bench_YYYYMMDD_HHMMSS`; the second gets `..._2` instead. A launch into a folder
(a new sweep, a resume, `qbench rerun-failed`) holds an `fcntl` lock on its `.qbench.lock`
for as long as it runs, so a second launch into a folder whose sweep is alive is refused;
the kernel drops the lock when the process dies, so a killed sweep can be resumed at once.
"""
from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

LOCK_FILE = ".qbench.lock"
PLAN_FILE = "qbench_plan.json"  # every point of the command that made (or last resumed) the sweep
_held: dict[str, object] = {}  # folder -> its open lock file: the lock lives as long as this process


class SweepFolderError(Exception):
    """The folder cannot be used: busy (another live launch holds it) or not writable. One line."""


def _unwritable(path: Path, exc: OSError) -> SweepFolderError:
    why = {errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.EROFS: "read-only file system",
           errno.ENOSPC: "no space left on the device"}.get(exc.errno, exc.strerror or str(exc))
    return SweepFolderError(f"cannot write into {path}: {why}; allowed: a writable folder "
                            f"(choose one with hydra.sweep.dir=... or hydra.run.dir=...)")


def create_unique(path: Path) -> Path:
    """`path`, or `path_2`, `path_3`, ... : the first that did not exist, created now by this process."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for number in range(1, 10_000):
            candidate = path if number == 1 else path.with_name(f"{path.name}_{number}")
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as exc:
        raise _unwritable(path, exc) from None
    raise SweepFolderError(f"{path}: 10,000 sweeps of that name already exist; allowed: another hydra.sweep.dir")


def ensure_writable(path: Path) -> Path:
    """Create `path` (and its parents) if missing and prove it takes a file, before anything runs."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".qbench-write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise _unwritable(path, exc) from None
    return path


def hold(path: Path) -> None:
    """Own `path` for the rest of this process, or raise SweepFolderError naming the live launch that does."""
    path = ensure_writable(path)
    key = str(path.resolve())
    if key in _held:
        return
    try:
        handle = open(path / LOCK_FILE, "a+")
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise SweepFolderError(f"{path} belongs to a sweep that is still running (process {owner}); allowed: wait for "
                               f"it to end (or stop it), or launch into another hydra.sweep.dir") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _held[key] = handle


def write_plan(path: Path, points: list[list[str]]) -> None:
    """The sweep's points (each its task overrides, in launch order), for reports of unfinished sweeps."""
    from qbench.results import records

    records.write_atomic(Path(path) / PLAN_FILE, {"points": points})


def planned_points(path: Path) -> list[list[str]] | None:
    """The points of the sweep's plan, or None for a sweep made before plans were written."""
    from qbench.results import records

    plan = records.read(Path(path) / PLAN_FILE)
    return plan.get("points") if isinstance(plan, dict) else None


def job_overrides(point_dir: Path) -> list[str] | None:
    """A point folder's task overrides, as Hydra saved them (.hydra/overrides.yaml); None if it has none."""
    import yaml

    try:
        loaded = yaml.safe_load((Path(point_dir) / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):  # none, or cut short (a full disk)
        return None
    return [str(o) for o in loaded] if isinstance(loaded, list) else None


def point_folders(sweep_dir: Path) -> dict[tuple[str, ...], str]:
    """The sweep's point folders by their overrides (sorted): what a relaunch matches its points against."""
    found = {}
    for entry in sorted(Path(sweep_dir).iterdir()) if Path(sweep_dir).is_dir() else ():
        if entry.is_dir() and not entry.name.startswith("."):
            overrides = job_overrides(entry)
            if overrides is not None:
                found.setdefault(tuple(sorted(overrides)), entry.name)
    return found
