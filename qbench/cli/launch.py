"""A launch (`python -m qbench [-m] OVERRIDES`): pre-flight, then Hydra's own app."""
from __future__ import annotations

import os
import sys

from qbench.app import state
from qbench.app.hydra_internals import args_parser
from qbench.cli.errors import error
from qbench.cli.preflight import launches_nothing, preflight
from qbench.results.progress import SWEEP_SIZE_ENV


def run_hydra(argv: list[str]) -> int:
    """Launch as `python -m qbench ARGV`; the exit code: 2 bad input, 1 a point failed, else 0."""
    from qbench.execution import forkserver

    args = args_parser().parse_args(argv)
    if not launches_nothing(args):
        expansion, problem = preflight(args)
        if problem:
            return error(problem)
        os.environ[SWEEP_SIZE_ENV] = str(len(expansion.points))
        state.set_preflight(expansion)  # Hydra's sweeper need not compose every job again
        if args.multirun and len(expansion.points) > 1:
            forkserver.start_for(expansion.points)  # imports each library once, forks the workers

    from qbench.app import task

    sys.argv = [sys.argv[0], *argv]
    try:
        task.main()
    finally:
        forkserver.stop()
    return 1 if state.failed_points() else 0
