"""How many timed repetitions a point gets: chosen by its own samples, within limits.

As pytest-benchmark and Google Benchmark calibrate, a fixed count is too few for fast points (three
samples of a 3 ms call cannot tell its median from noise) and needlessly many for slow ones. The
rule, checked after each repetition:

- at least `repetitions` samples, always (the timeout kills a point that cannot afford them);
- then more, while the samples add up to less than `min_time` seconds, or while the 95 % interval
  of the median is wider than +-`target_rel_ci` of it (when set). "Add up" is counted robustly, as
  n x median: one slow sample (another process, a page fault) does not end the calibration early,
  and a point whose median is under min_time / 5 always gets at least 6 samples, enough for a 95 %
  interval of its median;
- never more than `max_repetitions` (nor fewer than `repetitions`), and no extra one once the
  point has used half of `timeout_per_run` (the rest is left for verification; the timeout still
  bounds the whole point).

Why the loop stopped is recorded (`metrics.repetitions_stop`), so a reader can tell a precise point
from one that ran out of repetitions or time.
"""
from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass
from typing import Callable

from qbench.results import stats

DEADLINE_SHARE = 0.5  # extra repetitions stop at this share of timeout_per_run


@dataclass(frozen=True)
class Plan:
    repetitions: int  # the minimum
    min_time: float = 0.0  # seconds of timed samples, at least
    max_repetitions: int | None = None  # None: no cap but min_time, target_rel_ci and the deadline
    target_rel_ci: float | None = None  # e.g. 0.05: stop once the median is known within +-5 %
    timeout: float | None = None  # the point's timeout_per_run

    @classmethod
    def from_execution(cls, execution: dict) -> "Plan":
        """The plan of an `execution` config section. Without min_time and target_rel_ci (older
        requests) it is a fixed count; max_repetitions below repetitions is lifted to it."""
        repetitions = int(execution["repetitions"])
        maximum = execution.get("max_repetitions")
        return cls(repetitions=repetitions, min_time=float(execution.get("min_time") or 0.0),
                   max_repetitions=max(int(maximum), repetitions) if maximum is not None else None,
                   target_rel_ci=execution.get("target_rel_ci"), timeout=execution.get("timeout_per_run"))


def repeat(run_once: Callable[[], float], plan: Plan, started: float, clock: Callable[[], float] = time.perf_counter,
           ) -> tuple[list[float], str]:
    """Call `run_once` (it returns one timed sample, in seconds) as `plan` says. `started` is the
    `clock` time the point began (its timeout counts from there). Returns the samples in the order
    they were taken, and why the loop stopped: "repetitions" (the minimum was enough), "min_time" or
    "target_rel_ci" (what the last extra sample was taken for), "max_repetitions" or "deadline"
    (half the timeout spent)."""
    times: list[float] = []
    ordered: list[float] = []
    maximum = plan.max_repetitions if plan.max_repetitions is not None else math.inf
    deadline = started + DEADLINE_SHARE * plan.timeout if plan.timeout else None
    precise = plan.target_rel_ci is None
    next_check = 0  # the precision test costs O(n): done after every sample up to 50, then every 10 %
    waiting_for = "repetitions"  # what the last extra sample was taken for
    while True:
        n = len(times)
        if n >= plan.repetitions:
            if not precise and n >= next_check:
                width = stats.relative_halfwidth(ordered)
                precise = width is not None and width <= plan.target_rel_ci
                next_check = n + 1 if n < 50 else n + n // 10
            n_times_median = n * (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
            short = n_times_median < plan.min_time
            if not short and precise:
                return times, waiting_for
            if n >= maximum:
                return times, "max_repetitions"
            # One more sample takes about as long as the slowest so far: stop if it would pass the deadline.
            if deadline is not None and clock() + ordered[-1] > deadline:
                return times, "deadline"
            waiting_for = "min_time" if short else "target_rel_ci"
        sample = run_once()
        times.append(sample)
        bisect.insort(ordered, sample)
