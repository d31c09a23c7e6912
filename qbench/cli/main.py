"""`qbench` / `python -m qbench`: Hydra runs and sweeps, plus qbench's own subcommands.

Plain Hydra usage (`-m`, `--cfg job`, `--help`, tab completion) behaves exactly as
Hydra does. Before launching, every point of the sweep is composed and validated
(qbench.cli.preflight) so that bad input costs one line and exit code 2, before
anything runs or is written.
"""
from __future__ import annotations

import atexit
import importlib
import os
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:function, one-line help)
    "summarize": ("qbench.cli.summarize:main", "summary, comparison, results.csv, report.md and charts of a sweep"),
    "backends": ("qbench.cli.backends_table:main", "which configured backends are ready here, with versions (--json)"),
    "plan": ("qbench.cli.plan:main", "show what a qbench command would run, without running it (--json)"),
    "ask": ("qbench.cli.ask:main", "turn a plain-English request into the qbench command and its plan (--run, --json)"),
    "rerun-failed": ("qbench.cli.rerun:main", "re-run the error/timeout and missing points of a sweep (default: latest)"),
    "ui": ("qbench.cli.ui:main", "open the MLflow UI on the local store (mlruns/mlflow.db)"),
    "compare": ("qbench.cli.compare:main", "did NEW get faster or slower than BASE? per point, with intervals and tests"),
}


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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        target, _ = SUBCOMMANDS[argv[0]]
        module, _, function = target.partition(":")
        return getattr(importlib.import_module(module), function)(argv[1:])
    if {"-h", "--help"} & set(argv):
        print_help()  # then Hydra's own
    from qbench.cli.launch import run_hydra

    return run_hydra(argv)


def entry_point() -> None:
    """Run the command, then end the process once every exit handler registered meanwhile has run
    (logging's flush, loky's shutdown of its workers, the fork servers' stop), without the
    interpreter tearing down each imported module one by one: ~0.45 s after a sweep of five
    libraries (docs/PERFORMANCE.md). A command that raised ends the ordinary way."""
    ended: list[int] = []
    atexit.register(_end_now, ended)  # registered first, so it runs last
    code = main()
    ended.append(code)
    sys.exit(code)


def _end_now(ended: list[int]) -> None:
    if not ended:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    code = ended[0]  # as sys.exit takes it: None is 0, an int itself, anything else 1
    os._exit(0 if code is None else code if isinstance(code, int) else 1)
