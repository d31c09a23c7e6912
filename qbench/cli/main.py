"""`qbench` / `python -m qbench`: Hydra runs and sweeps, plus qbench's own subcommands.

Plain Hydra usage (`-m`, `--cfg job`, `--help`, tab completion) behaves exactly as
Hydra does. Before launching, every point of the sweep is composed and validated so
that bad input costs one line and exit code 2, before anything runs or is written.
"""
from __future__ import annotations

import importlib
import os
import sys

EXIT_BAD_INPUT = 2
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:function, one-line help)
    "summarize": ("qbench.summarize:main", "summary, comparison, results.csv, report.md and charts of a sweep"),
    "backends": ("qbench.backends_table:main", "which configured backends are ready here, with versions (--json)"),
    "plan": ("qbench.plan:main", "show what a qbench command would run, without running it (--json)"),
    "ask": ("qbench.ask:main", "turn a plain-English request into the qbench command and its plan (--run, --json)"),
    "rerun-failed": ("qbench.rerun:main", "re-run the error/timeout and missing points of a sweep (default: latest)"),
    "ui": ("qbench.tracking:ui", "open the MLflow UI on the local store (mlruns/mlflow.db)"),
}


def error(message: str) -> int:
    print(f"qbench: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def print_help() -> None:
    print("usage: qbench [SUBCOMMAND ...] | [HYDRA OPTIONS] [OVERRIDES ...]\n")
    print("Benchmark quantum circuit simulators. Without a subcommand, qbench is the Hydra app:")
    print("  qbench -m backend=cirq,stim n_qubits=4,8        sweep (see `qbench --hydra-help`)")
    print("  qbench --cfg job backend=qsim                   show the composed config\n")
    print("subcommands:")
    for name, (_, summary) in SUBCOMMANDS.items():
        print(f"  {name:<14} {summary}")
    print()
    print("Hydra's own help (config groups and options) follows.\n")


def _hydra_passthrough(args) -> bool:
    """Hydra commands that launch nothing: no pre-flight needed."""
    return bool(args.help or args.hydra_help or args.cfg or args.info or args.shell_completion)


def preflight(args, on_point=None):
    """(the command composed, every point validated: a sweep.Expansion, None), or (None, the one-line
    error). `on_point` sees each point as soon as it is composed, before any is validated."""
    from qbench import sweep
    from qbench.compose import COMPOSE_ERRORS
    from qbench.validate import ConfigError, check_point

    try:
        expansion = sweep.compose_command(args.overrides, args.multirun, args.config_dir,
                                          args.config_name or "config", on_point=on_point)
        for point in expansion.points:
            check_point(point.cfg)
    except ConfigError as exc:
        return None, str(exc)
    except COMPOSE_ERRORS as exc:
        return None, sweep.one_line(exc)
    return expansion, None


def run_hydra(argv: list[str]) -> int:
    from qbench import zygote

    if "-m" in argv or "--multirun" in argv:
        zygote.spawn()  # a bare Python, told below which simulators to import (none: it exits)
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_args(argv)
    if not _hydra_passthrough(args):
        from qbench.progress import SWEEP_SIZE_ENV

        expansion, problem = preflight(args, zygote.SweepPreloader() if args.multirun else None)
        if problem:
            zygote.stop()
            return error(problem)
        os.environ[SWEEP_SIZE_ENV] = str(len(expansion.points))
        from qbench import sweep

        sweep.preflight = expansion  # Hydra's sweeper need not compose every job again, nor the joblib launcher's jobs
        if args.multirun and len(expansion.points) > 1:
            zygote.serve()  # imports done (or nearly): forks the sweep's workers from here on
        else:
            zygote.stop()
    else:
        zygote.stop()
        if args.help:
            print_help()

    from qbench import app, callbacks

    sys.argv = [sys.argv[0], *argv]
    app.task()
    zygote.stop()
    return 1 if callbacks.outcome["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        target, _ = SUBCOMMANDS[argv[0]]
        module, _, function = target.partition(":")
        return getattr(importlib.import_module(module), function)(argv[1:])
    return run_hydra(argv)


def _exit_without_teardown(code: int) -> None:
    """Exit as Python would, minus freeing every module one by one (~0.4 s after a sweep: Hydra,
    NumPy, matplotlib): non-daemon threads joined, atexit handlers run, output flushed first."""
    import atexit
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # logging.shutdown among them
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def entry_point() -> None:
    _exit_without_teardown(main())
