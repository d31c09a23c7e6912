"""A launch (`python -m qbench [-m] OVERRIDES`): pre-flight, the sweep folder claimed, then Hydra's own app."""
from __future__ import annotations

import errno
import logging
import os
import shlex
import signal
import sys
from pathlib import Path

from qbench.app import state
from qbench.app.task import LAUNCHER_PID_ENV
from qbench.app.hydra_internals import args_parser
from qbench.app.sweep import sweep_dir_given, sweep_dir_override
from qbench.cli.errors import error
from qbench.cli.preflight import launches_nothing, preflight
from qbench.execution import lifetime
from qbench.results import records, sweep_folder
from qbench.results.progress import SWEEP_SIZE_ENV

EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}
# What the file system can say while a sweep writes: the sweep stops, says so in one line, and resumes later.
STORAGE_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                  errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                  errno.EPERM: "permission denied", errno.EIO: "input/output error"}


def _claim_folder(args, expansion, argv: list[str]) -> tuple[Path, list[str]]:
    """The folder this launch writes into, created (a new sweep: exclusively) and owned until it ends;
    the argv that makes Hydra use exactly that folder."""
    if not args.multirun:
        run_dir = Path(str(expansion.points[0].cfg.hydra.run.dir))
        return sweep_folder.ensure_writable(run_dir), argv
    given = sweep_dir_given(args.overrides)
    folder = Path(str(expansion.master.hydra.sweep.dir))
    if given:  # a resume or rerun-failed: the folder may exist; it must not be in use
        sweep_folder.hold(folder)
        argv = _resume_in_place(folder, expansion, args, argv)
    else:
        folder = sweep_folder.create_unique(folder)  # two sweeps started in one second: bench_..._2
        sweep_folder.hold(folder)
        argv = [*argv, sweep_dir_override(folder)]  # the override pre-flight composed with (as_launched)
    if not any(o.startswith("hydra/sweeper=qbench_list") for o in args.overrides):  # rerun-failed keeps the plan
        # what the sweep is, point by point: a report of a killed sweep names the points that never started
        sweep_folder.write_plan(folder, [point.overrides for point in expansion.points])
    return folder, argv


def _resume_in_place(folder: Path, expansion, args, argv: list[str]) -> list[str]:
    """A relaunch into a sweep whose points sit in folders of other job numbers (the command grew,
    shrank or was reordered): each point goes back to its own folder, where its finished record is
    kept when the run_id matches, and new points get fresh folders. Through the list sweeper, as
    rerun-failed does; an unchanged command needs none of this."""
    from omegaconf import OmegaConf, open_dict

    if any(o.startswith(("hydra/sweeper=", "hydra.sweeper.")) for o in args.overrides):
        return argv  # rerun-failed (already placed) or a sweeper of the user's own
    existing = sweep_folder.point_folders(folder)
    if not existing:
        return argv
    taken, placed, moved = set(existing.values()), [], False
    for number, point in enumerate(expansion.points):
        with open_dict(point.cfg):
            point.cfg.hydra.job.num = number
        default = str(OmegaConf.to_container(point.cfg.hydra.sweep, resolve=True)["subdir"])
        subdir = existing.get(tuple(sorted(point.overrides)))
        if subdir is None:  # a new point: its own folder, never one of another point's
            subdir, extra = default, 1
            while subdir in taken:
                extra += 1
                subdir = f"{default}_{extra}"
            taken.add(subdir)
        moved |= subdir != default
        placed.append({"overrides": point.overrides, "subdir": subdir})
    if not moved:
        return argv
    plan = folder / ".qbench_relaunch.json"
    records.write_atomic(plan, {"sweep_size": len(placed), "points": placed})
    return [*argv, "hydra/sweeper=qbench_list", f"hydra.sweeper.points_file={plan.resolve()}"]


def _stop_on_signals(folder: Path | None, multirun: bool, argv: list[str]) -> None:
    """SIGINT and SIGTERM end the launch cleanly: every process below this one killed, one line, 130/143."""
    launcher = os.getpid()

    def stop(signum, _frame):
        if os.getpid() != launcher:  # a forked child that inherited the handler: die as by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if state.cluster_jobs():  # SLURM jobs are not our processes: cancel them by id
            import subprocess

            subprocess.run(["scancel", *state.cluster_jobs()], capture_output=True, timeout=30, check=False)
        lifetime.kill_descendants()
        total = os.environ.get(SWEEP_SIZE_ENV, "?")
        done = len(records.find_results(folder)) if folder is not None and folder.is_dir() else 0
        again = (f"qbench rerun-failed {folder}" if multirun and folder is not None
                 else "python -m qbench " + shlex.join(argv))
        print(f"interrupted: {done} of {total} points finished; resume with: {again}", file=sys.stderr, flush=True)
        os._exit(EXIT_SIGNAL[signum])

    for signum in EXIT_SIGNAL:
        signal.signal(signum, stop)


def run_hydra(argv: list[str]) -> int:
    """Launch as `python -m qbench ARGV`; the exit code: 2 bad input, 1 a point failed, else 0."""
    from qbench.execution import collector, forkserver

    collector.freeze_long_lived()  # Hydra and qbench, imported: out of the sweep's garbage collections
    args = args_parser().parse_args(argv)
    folder = None
    if not launches_nothing(args):
        # A sweep's fork servers start importing as pre-flight composes the points that need
        # them; a command pre-flight refuses stops them again (a one-point sweep starts none).
        servers = forkserver.Servers(wait_for=2) if args.multirun else None
        expansion, problem = preflight(args, on_point=servers.add if servers else None,
                                       on_jobs=servers.expect if servers else None, launching=True)
        if problem:
            forkserver.stop()
            return error(problem)
        try:
            folder, argv = _claim_folder(args, expansion, argv)
        except sweep_folder.SweepFolderError as exc:
            forkserver.stop()
            return error(str(exc))
        os.environ[SWEEP_SIZE_ENV] = str(len(expansion.points))
        os.environ[LAUNCHER_PID_ENV] = str(os.getpid())
        state.set_preflight(expansion)  # Hydra's sweeper need not compose every job again
        _stop_on_signals(folder, args.multirun, argv)
        if servers is not None:
            servers.close()  # every point known: the servers fork workers once all have imported

    from qbench.app import task

    sys.argv = [sys.argv[0], *argv]
    # Hydra reports an exception out of a launch as a traceback and exits; qbench's own tasks never
    # raise, so what arrives here is the file system failing under Hydra's own writes (handled below).
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    logging.raiseExceptions = False  # a full disk: no "--- Logging error ---" per log line, one line below
    try:
        task.main()
    except OSError as exc:
        if exc.errno not in STORAGE_ERRORS or folder is None:
            raise
        return _stopped_by_storage(exc, folder, args.multirun, argv)
    finally:
        forkserver.stop()
    return 1 if state.failed_points() else 0


def _stopped_by_storage(exc: OSError, folder: Path, multirun: bool, argv: list[str]) -> int:
    from qbench.app import callbacks

    lifetime.kill_descendants()
    if multirun:
        callbacks.abandon(folder)
    done = len(records.find_results(folder))
    again = f"qbench rerun-failed {folder}" if multirun else "python -m qbench " + shlex.join(argv)
    print(f"qbench: error: the sweep stopped: cannot write {exc.filename or folder}: {STORAGE_ERRORS[exc.errno]}; "
          f"{done} of {os.environ.get(SWEEP_SIZE_ENV, '?')} points finished; make room, then: {again}",
          file=sys.stderr, flush=True)
    return 1
