"""The statistics of timed repetitions: what one point's samples say, and how sure that is.

Pure Python (no NumPy, no SciPy): a worker calls `median_ci` while it decides how many repetitions
to time, and the summary describes thousands of points. The comparison of two sweeps, which needs
resampling and a rank test, lives in qbench.results.compare.

- Centre: the median, which one slow repetition (a page fault, another process) does not move.
- Spread: standard deviation, coefficient of variation (std / mean), IQR (quartiles interpolated
  linearly, as NumPy's default).
- Uncertainty of the median: a distribution-free 95 % confidence interval from order statistics.
  The sample median's rank among n draws is Binomial(n, 1/2) around the true median, so the
  interval [x_(k), x_(n+1-k)] covers it with probability 1 - 2 P(B <= k-1), B ~ Binomial(n, 1/2),
  whatever the distribution of the times (they only need to be independent draws). The largest k
  whose coverage is still >= 95 % is used, and its exact coverage is recorded. Below 6 samples no
  such interval exists (even [min, max] covers with only 1 - 2^(1-n) = 94 % at n = 5): the
  interval is None then.
- Outliers: the modified z-score of Iglewicz and Hoaglin, M = 0.6745 (x - median) / MAD, with
  |M| > 3.5 flagged (their recommendation). hyperfine uses the same score with a looser cut (its
  |x - median| / MAD > 14.8, 10 standard deviations); as there, a MAD of 0 counts every sample
  that differs from the median.
"""
from __future__ import annotations

import functools
import math

LEVEL = 0.95
OUTLIER_Z = 3.5
MAD_TO_Z = 0.6745  # the 75 % quantile of the standard normal: M = 0.6745 (x - median) / MAD
NOISY_CV = 0.10  # a point whose repetitions vary more than this is listed as noisy in the report
MIN_SAMPLES_FOR_CI = 6  # the fewest samples with a 95 % order-statistic interval of the median

# The record's metrics, besides execution_time_seconds (the median) and execution_times_seconds (all).
FIELDS = ("execution_time_min_seconds", "execution_time_max_seconds", "execution_time_mean_seconds",
          "execution_time_std_seconds", "execution_time_iqr_seconds", "execution_time_cv",
          "execution_time_ci_low_seconds", "execution_time_ci_high_seconds", "execution_time_ci_level",
          "execution_time_outliers", "execution_time_samples")


def median(values) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def quantile(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted values, interpolated linearly between order statistics (NumPy's
    default method, Hyndman and Fan's type 7)."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@functools.lru_cache(maxsize=4096)
def median_ci_rank(n: int, level: float = LEVEL) -> tuple[int, float] | None:
    """(k, coverage): [x_(k), x_(n+1-k)] (1-based order statistics) is the narrowest interval whose
    coverage of the median, 1 - 2 P(Binomial(n, 1/2) <= k-1), is at least `level`; None when even
    [min, max] covers less. Summed in log space: 2^-n underflows from n = 1075 on."""
    if n < 2:
        return None
    log_half_n = -n * math.log(2)
    cdf, k = 0.0, 0
    # Invariant: cdf = P(B <= k-1). Raise k while the interval one rank narrower still has the level.
    while k + 1 <= n // 2:
        log_pmf = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + log_half_n
        narrower = cdf + math.exp(log_pmf)  # P(B <= k): the coverage of rank k+1 is 1 - 2 * this
        if 1 - 2 * narrower < level:
            break
        cdf, k = narrower, k + 1
    if k == 0:
        return None
    return k, 1 - 2 * cdf


def median_ci(ordered: list[float], level: float = LEVEL) -> tuple[float, float, float] | None:
    """(low, high, coverage) of the median of sorted samples (see the module docstring)."""
    rank = median_ci_rank(len(ordered), level)
    if rank is None:
        return None
    k, coverage = rank
    return ordered[k - 1], ordered[len(ordered) - k], coverage


def relative_halfwidth(ordered: list[float], level: float = LEVEL) -> float | None:
    """How far the interval reaches from the median, as a fraction of it (the larger side):
    0.05 means the true median is within about +-5 %. None without an interval."""
    ci = median_ci(ordered, level)
    if ci is None:
        return None
    mid = median(ordered)
    if mid <= 0:
        return None
    return max(mid - ci[0], ci[1] - mid) / mid


def outliers(values) -> int:
    """How many samples have a modified z-score beyond OUTLIER_Z (see the module docstring)."""
    values = list(values)
    if len(values) < 3:
        return 0  # with two samples nothing stands out from the rest
    mid = median(values)
    mad = median(abs(v - mid) for v in values)
    if mad == 0:
        return sum(1 for v in values if v != mid)
    return sum(1 for v in values if MAD_TO_Z * abs(v - mid) / mad > OUTLIER_Z)


def describe(times) -> dict:
    """The FIELDS of one point's timed repetitions (None where too few samples define one)."""
    ordered = sorted(float(t) for t in times)
    n = len(ordered)
    if n == 0:
        return {name: None for name in FIELDS}
    mean = sum(ordered) / n
    std = math.sqrt(sum((t - mean) ** 2 for t in ordered) / (n - 1)) if n > 1 else None
    ci = median_ci(ordered)
    return {
        "execution_time_min_seconds": ordered[0],
        "execution_time_max_seconds": ordered[-1],
        "execution_time_mean_seconds": mean,
        "execution_time_std_seconds": std,
        "execution_time_iqr_seconds": quantile(ordered, 0.75) - quantile(ordered, 0.25),
        "execution_time_cv": std / mean if std is not None and mean > 0 else None,
        "execution_time_ci_low_seconds": ci[0] if ci else None,
        "execution_time_ci_high_seconds": ci[1] if ci else None,
        "execution_time_ci_level": ci[2] if ci else None,
        "execution_time_outliers": outliers(ordered),
        "execution_time_samples": n,
    }


def intervals_overlap(a: tuple | None, b: tuple | None) -> bool:
    """Whether two (low, high) intervals share a point: then a ranking between them is a tie."""
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]


def threshold_band(threshold: float) -> tuple[float, float]:
    """Ratios of two times within which a change is too small to call (qbench compare's threshold):
    [1 / (1 + t), 1 + t], symmetric on a log scale (10 %: 0.909 .. 1.1)."""
    return 1 / (1 + threshold), 1 + threshold
