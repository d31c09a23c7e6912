"""`qbench summarize [SWEEP_DIR|latest]`: the sweep's summary files, made again at any time."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from qbench.cli.errors import error
from qbench.results import progress, sweep_folder, tracking
from qbench.results.summary import LATEST, SWEEP_PREFIX, NoResults, latest_sweep, summarize

log = logging.getLogger("qbench")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="qbench summarize",
        description="Write summary.json, comparison.json, results.csv, report.md and charts into a sweep directory.")
    parser.add_argument("sweep_dir", nargs="?", default=LATEST,
                        help=f"a sweep directory, or '{LATEST}' (outputs/{LATEST}, the newest sweep; the default)")
    parser.add_argument("--mlflow-experiment", metavar="NAME",
                        help="summarize the newest sweep of this MLflow experiment (its result.json artifacts)")
    parser.add_argument("--mlflow-uri", default=tracking.DEFAULT_URI, help="tracking URI (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.mlflow_experiment:
        try:
            args.sweep_dir = str(tracking.export_sweep(args.mlflow_uri, args.mlflow_experiment, Path("outputs")))
        except LookupError as exc:
            return error(str(exc))
    try:  # runs a dead sweep left RUNNING are closed here too
        tracking.close_stale(args.mlflow_uri, tracking.DEFAULT_EXPERIMENT)
    except Exception as exc:  # noqa: BLE001 - no store here is fine
        log.debug("no MLflow store to tidy: %s", exc)
    directory = Path(args.sweep_dir)
    if args.sweep_dir == LATEST:
        # Re-pointed first: a killed sweep never reached the callback that moves the link.
        directory = latest_sweep()
    if not directory.is_dir():
        if args.sweep_dir == LATEST:
            return error(f"{directory} does not exist: no outputs/{SWEEP_PREFIX}* sweep here; name a sweep directory")
        return error(f"{directory}: " + ("not a directory" if directory.exists() else "no such sweep directory"))
    try:
        sweep_folder.ensure_writable(directory)  # a read-only folder: one line, before any work
        summary, written = summarize(directory)
    except (NoResults, sweep_folder.SweepFolderError) as exc:
        return error(str(exc))
    print(progress.final_line(summary.counts) + (f", {len(summary.missing)} without a result" if summary.missing else "")
          + (f", {len(summary.not_started)} never started" if summary.not_started else ""))
    shown = f"{directory} -> {os.readlink(directory)}" if directory.is_symlink() else str(directory)
    print(f"wrote {', '.join(p.name for p in written)} into {shown}")
    return 0
