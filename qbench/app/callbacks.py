"""Hydra callbacks: what happens once a run or a whole multirun has ended."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from qbench.app import state
from qbench.execution import collector
# bandwidth, tracking and the summary need NumPy/MLflow/matplotlib: imported in the hooks, because
# Hydra builds its callbacks even for `--help`.
from qbench.results import progress

log = logging.getLogger("qbench")

# The sweep's MLflow writer (qbench.results.sweep_tracker.SweepTracker) in the launching process. Not an
# attribute: Hydra pickles its callbacks into joblib workers, and a thread cannot be pickled.
_trackers: dict[str, object] = {}
_prewarming: dict[str, threading.Thread] = {}  # the chart warm-up of each running sweep (same reason)


def _prewarm_charts() -> None:
    from qbench.results import plots, tracking

    tracking.lower_this_threads_priority()
    try:
        plots.prewarm()
    except Exception:  # noqa: BLE001 - only a head start: the summary draws (and reports) for real
        pass


class QbenchCallback(Callback):
    def _finish(self, directory: Path) -> None:
        counts = progress.count_statuses(directory)
        state.set_failed_points(progress.failed_count(counts))
        log.info("%s -> %s", progress.final_line(counts), directory)

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        self._finish(Path(config.hydra.runtime.output_dir))

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from qbench.execution import bandwidth
        from qbench.results import sweep_tracker

        bandwidth.machine_bandwidth()  # probe once here, never in several parallel jobs at once
        sweep_dir = Path(config.hydra.sweep.dir)
        _trackers[str(sweep_dir)] = sweep_tracker.SweepTracker(config.tracking, sweep_dir, sweep_dir.name).start()
        warming = threading.Thread(target=_prewarm_charts, name="qbench-prewarm", daemon=True)
        warming.start()
        _prewarming[str(sweep_dir)] = warming

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        self._finish(sweep_dir)
        warming = _prewarming.pop(str(sweep_dir), None)
        if warming is not None:
            # matplotlib must be imported whole before the summary imports it too: two threads importing
            # it at once see a partially initialised module (ImportError in the summary)
            warming.join()
        collector.freeze_long_lived()  # matplotlib and the sweep's compositions: out of the summary's collections
        try:  # the records are already safe on disk: a broken report must not fail the sweep
            from qbench.results import summary

            summary.after_multirun(sweep_dir)
        except Exception:  # noqa: BLE001
            log.exception("could not summarize %s", sweep_dir)
        tracker = _trackers.pop(str(sweep_dir), None)
        if tracker is not None:
            tracker.finish(state.failed_points())  # every point logged, then the parent run ends (now)


def abandon(sweep_dir: Path) -> None:
    """A multirun Hydra did not finish (a full disk, a launcher error): its MLflow parent ends FAILED
    with what was logged, instead of staying RUNNING. Hydra calls no callback then; the CLI does."""
    warming = _prewarming.pop(str(sweep_dir), None)
    if warming is not None:
        warming.join()
    tracker = _trackers.pop(str(sweep_dir), None)
    if tracker is not None:
        from qbench.results import progress

        tracker.finish(progress.failed_count(progress.count_statuses(sweep_dir)), status="FAILED")
