"""The statistics behind every timing (qbench.results.stats), the calibration of repetitions
(qbench.execution.calibration) and the tests of qbench compare, against exact values and SciPy."""
import math
import random

import numpy as np
import pytest
from scipy import stats as scipy_stats

from qbench.execution import calibration
from qbench.results import compare, stats


# ---- one point's samples ------------------------------------------------------------------------

@pytest.mark.parametrize("n", [6, 7, 9, 10, 20, 31, 50, 100, 1000, 1500])
def test_median_interval_is_the_narrowest_order_statistic_interval_with_95_percent(n):
    k, coverage = stats.median_ci_rank(n)
    exact = lambda rank: 1 - 2 * scipy_stats.binom.cdf(rank - 1, n, 0.5)  # noqa: E731
    assert coverage == pytest.approx(exact(k), rel=1e-9) and coverage >= 0.95
    assert exact(k + 1) < 0.95  # one rank narrower would not cover


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5])
def test_below_six_samples_there_is_no_95_percent_interval(n):
    assert stats.median_ci_rank(n) is None
    assert stats.describe([0.01 * (i + 1) for i in range(n)])["execution_time_ci_low_seconds"] is None


def test_the_median_interval_covers_the_true_median_as_often_as_it_says():
    rng = np.random.default_rng(7)
    covered = 0
    trials = 2000
    for _ in range(trials):  # a skewed timing-like distribution: lognormal, true median 1.0
        low, high, _ = stats.median_ci(sorted(rng.lognormal(0.0, 0.5, 15)))
        covered += low <= 1.0 <= high
    k, coverage = stats.median_ci_rank(15)
    assert covered / trials == pytest.approx(coverage, abs=0.015)  # 0.965 exactly; binomial noise ~0.004


def test_describe_matches_numpy():
    samples = [0.0121, 0.0118, 0.0125, 0.0119, 0.0190, 0.0120, 0.0122, 0.0117, 0.0123, 0.0120]
    d = stats.describe(samples)
    assert d["execution_time_min_seconds"] == min(samples) and d["execution_time_max_seconds"] == max(samples)
    assert d["execution_time_mean_seconds"] == pytest.approx(np.mean(samples))
    assert d["execution_time_std_seconds"] == pytest.approx(np.std(samples, ddof=1))
    assert d["execution_time_cv"] == pytest.approx(np.std(samples, ddof=1) / np.mean(samples))
    q1, q3 = np.percentile(samples, [25, 75])
    assert d["execution_time_iqr_seconds"] == pytest.approx(q3 - q1)
    ordered = sorted(samples)
    assert (d["execution_time_ci_low_seconds"], d["execution_time_ci_high_seconds"]) == (ordered[1], ordered[8])
    assert d["execution_time_ci_level"] == pytest.approx(1 - 2 * 11 / 1024)
    assert d["execution_time_outliers"] == 1  # the 19.0 ms sample
    assert d["execution_time_samples"] == 10


def test_outliers_by_modified_z_score():
    assert stats.outliers([1.0, 1.1]) == 0
    assert stats.outliers([10.0, 10.1, 9.9, 10.2, 9.8]) == 0
    # 0.6745 * |x - median| / MAD > 3.5: median 10, MAD 0.1, so |x - 10| > 0.519 is one
    assert stats.outliers([10.0, 10.1, 9.9, 10.1, 9.9, 10.6]) == 1
    assert stats.outliers([10.0, 10.1, 9.9, 10.1, 9.9, 10.5]) == 0
    assert stats.outliers([10.0] * 7 + [100.0]) == 1  # MAD 0: what differs from the median stands out
    normal = np.random.default_rng(3).normal(1.0, 0.01, 200)
    assert stats.outliers(normal) <= 2


def test_ties_by_overlapping_intervals():
    assert stats.intervals_overlap((1.0, 2.0), (1.9, 3.0))
    assert not stats.intervals_overlap((1.0, 2.0), (2.1, 3.0))
    assert not stats.intervals_overlap(None, (1.0, 2.0))


# ---- calibration of repetitions -----------------------------------------------------------------

class FakeClock:
    """Time that advances only by the samples 'run': the loop's decisions, free of this machine's speed."""

    def __init__(self, samples):
        self.now, self.samples, self.calls = 0.0, iter(samples), 0

    def run(self) -> float:
        sample = next(self.samples)
        self.now += sample
        self.calls += 1
        return sample

    def __call__(self) -> float:
        return self.now


def _repeat(samples, **plan):
    clock = FakeClock(samples)
    times, stop = calibration.repeat(clock.run, calibration.Plan(**plan), 0.0, clock)
    return times, stop


def test_a_fixed_count_without_min_time():
    times, stop = _repeat([0.001] * 100, repetitions=3)
    assert len(times) == 3 and stop == "repetitions"
    old_request = calibration.Plan.from_execution({"repetitions": 2, "warmup_runs": 0, "verify_max_qubits": 18})
    assert _repeat([0.001] * 100, **vars(old_request)) == ([0.001, 0.001], "repetitions")


def test_min_time_adds_repetitions_to_fast_points_only():
    times, stop = _repeat([0.002] * 1000, repetitions=3, min_time=0.05, max_repetitions=200)
    assert len(times) == 25 and stop == "min_time"  # 25 x 2 ms = 50 ms
    times, stop = _repeat([0.02] * 1000, repetitions=3, min_time=0.05, max_repetitions=200)
    assert len(times) == 3 and stop == "repetitions"
    # under 10 ms, never decided by three samples: the default min_time gives at least six
    for t in (0.0099, 0.009, 0.005, 0.001):
        assert len(_repeat([t] * 1000, repetitions=3, min_time=0.05, max_repetitions=200)[0]) >= 6
    times, stop = _repeat([0.00001] * 1000, repetitions=3, min_time=0.05, max_repetitions=200)
    assert len(times) == 200 and stop == "max_repetitions"
    # one slow sample does not end it early: counted as n x median, not as the raw sum
    times, _ = _repeat([0.005, 0.009, 0.040] + [0.009] * 100, repetitions=3, min_time=0.05, max_repetitions=200)
    assert len(times) == 6 and stats.median(times) < 0.010


def test_target_precision_repeats_until_the_interval_is_narrow():
    rng = random.Random(1)
    noisy = [0.010 * (1 + 0.2 * rng.random()) for _ in range(5000)]
    times, stop = _repeat(noisy, repetitions=3, target_rel_ci=0.02, max_repetitions=2000)
    assert stop == "target_rel_ci"
    assert stats.relative_halfwidth(sorted(times)) <= 0.02
    assert len(times) < 2000
    assert stats.relative_halfwidth(sorted(times[:len(times) // 2])) > 0.02  # half as many were not enough
    times, stop = _repeat(noisy, repetitions=3, target_rel_ci=0.001, max_repetitions=300)
    assert len(times) == 300 and stop == "max_repetitions"


def test_extra_repetitions_stop_at_half_the_timeout_but_the_minimum_is_kept():
    times, stop = _repeat([1.0] * 1000, repetitions=3, min_time=100.0, max_repetitions=None, timeout=20.0)
    assert stop == "deadline" and len(times) == 10  # the 11th would end past 10 s
    times, stop = _repeat([8.0] * 10, repetitions=3, min_time=100.0, timeout=20.0)
    assert len(times) == 3  # the minimum always (a point that cannot afford it is the timeout's to kill)


# ---- comparing two samples ----------------------------------------------------------------------

def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert compare.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert compare.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_ratio_interval_is_seeded_and_covers_a_known_ratio():
    rng = np.random.default_rng(11)
    base = list(rng.lognormal(np.log(0.02), 0.05, 20))
    new = list(rng.lognormal(np.log(0.04), 0.05, 20))
    ci = compare.ratio_ci(base, new, seed=5)
    assert ci == compare.ratio_ci(base, new, seed=5)  # reproducible
    assert ci != compare.ratio_ci(base, new, seed=6)
    assert ci[0] < 2.0 < ci[1] and 1.8 < ci[0] and ci[1] < 2.2


def test_rank_test_is_scipys_mann_whitney():
    a, b = [1.0, 1.2, 1.1, 1.3, 1.15, 1.25], [1.4, 1.5, 1.45, 1.6, 1.35, 1.55]
    assert compare.mann_whitney(a, b) == pytest.approx(2 / math.comb(12, 6))  # exact: complete separation
    assert compare.least_p(6, 6) == pytest.approx(2 / 924)
    assert compare.least_p(3, 3) > 0.05  # three samples a side can never be significant
    assert compare.mann_whitney([1.0] * 5, [1.0] * 5) == 1.0


def _replicates(rng, centre, shifts, n=6, spread=0.02):
    """One side's replicates: each replicate's samples around centre x its own shift (the machine's speed of
    that replicate's moment), lognormal within."""
    return [list(rng.lognormal(np.log(centre * shift), spread, n)) for shift in shifts]


def test_replicates_carry_the_spread_between_them_into_the_interval_and_the_test():
    """Two sides of one unchanged point whose replicates ran at different speeds of the machine (0.9-1.3):
    pooled as independent samples, the rank test calls it changed; with the replicate as the unit, the
    spread between replicates widens the interval and the test says what it can tell."""
    rng = np.random.default_rng(3)
    base = _replicates(rng, 0.02, (1.0, 0.9, 0.95))
    new = _replicates(rng, 0.02, (1.3, 1.0, 1.2))
    flat_base, flat_new = sum(base, []), sum(new, [])
    assert compare.mann_whitney(flat_base, flat_new) < 1e-5  # a phantom, for a test that trusts every sample
    one_level = compare.ratio_ci(flat_base, flat_new, seed=1)
    ratio, (low, high), p = compare.replicates_ratio(base, new)
    assert low < 1.1 < ratio < high and p > 0.05
    assert high - low > 2 * (one_level[1] - one_level[0])
    assert compare.verdict(ratio, (low, high), p, 0.10, 0.05) == "same"
    # the same figures by SciPy: Student's t on the logs of the replicates' medians; Welch's for unequal counts
    a, b = np.log([np.median(g) for g in base]), np.log([np.median(g) for g in new])
    assert p == pytest.approx(scipy_stats.ttest_ind(b, a, equal_var=True).pvalue)
    assert ratio == pytest.approx(np.exp(b.mean() - a.mean()))
    welch = scipy_stats.ttest_ind(b[:2], a, equal_var=False)
    assert compare.replicates_ratio(base, new[:2])[2] == pytest.approx(welch.pvalue)


def test_replicates_still_see_a_real_2x_with_significance():
    rng = np.random.default_rng(4)
    base = _replicates(rng, 0.02, (1.0, 0.9, 0.95))
    new = _replicates(rng, 0.04, (1.3, 1.05, 1.2))
    ratio, (low, high), p = compare.replicates_ratio(base, new)
    assert 1.1 < low < ratio < high and 1.8 < ratio < 2.8 and p < 0.01
    assert compare.verdict(ratio, (low, high), p, 0.10, 0.05) == "slower"
    same = [[0.02] * 3] * 2  # every replicate alike on both sides: no spread to test against
    assert compare.replicates_ratio(same, same) == (1.0, (1.0, 1.0), 1.0)


@pytest.mark.parametrize("ratio, ci, p, expected", [
    (2.0, (1.8, 2.2), 0.001, "slower"),
    (2.0, (1.05, 2.9), 0.001, "same"),  # the interval reaches into the band
    (2.0, (1.8, 2.2), 0.2, "same"),  # not significant
    (1.08, (1.06, 1.10), 1e-6, "same"),  # significant but within the threshold
    (0.5, (0.45, 0.55), 0.001, "faster"),
    (0.92, (0.90, 0.93), 1e-6, "same"),  # 1/1.1 = 0.909: within the band
])
def test_verdict_needs_threshold_interval_and_significance(ratio, ci, p, expected):
    assert compare.verdict(ratio, ci, p, 0.10, 0.05) == expected


def test_by_and_threshold_parsing():
    assert compare.parse_by("backend.threads=2:1") == compare.By("backend.threads", 2, 1, True)
    assert compare.parse_by("backend.fusion_enable=true:false") == compare.By("backend.fusion_enable", True, False, True)
    assert compare.parse_by("backend.precision") == compare.By("backend.precision")
    with pytest.raises(compare.CompareError):
        compare.parse_by("backend.threads=2")


def test_contended_when_one_side_got_clearly_less_cpu():
    assert compare.contended({"cpu_share": 0.5}, {"cpu_share": 0.98})
    assert not compare.contended({"cpu_share": 0.9}, {"cpu_share": 0.98})
    assert not compare.contended({"cpu_share": 0.01}, {"cpu_share": 0.9})  # the work ran in another process
    assert not compare.contended({"cpu_share": None}, {"cpu_share": 0.9})  # a record from before
    assert compare.contended({"cpu_share": 0.45, "threads": 1}, {"cpu_share": 0.5, "threads": 1})  # both busy
    assert not compare.contended({"cpu_share": 1.3, "threads": 2}, {"cpu_share": 1.4, "threads": 2})


@pytest.mark.parametrize("override, allowed", [
    ("execution.min_time=-0.1", "a non-negative number of seconds (least total timed seconds per point)"),
    ("execution.max_repetitions=0", "null (no cap but min_time, target_rel_ci and the timeout) or a positive integer"),
    ("execution.target_rel_ci=5", "null (off) or a fraction in (0, 1), e.g. 0.05 for +-5 %"),
    ("execution.replicate=-1", "a non-negative integer (sweep it: execution.replicate=range(3))"),
])
def test_bad_calibration_keys_are_one_line_exit_2(override, allowed, tmp_path):
    from tests.helpers import run_qbench

    result = run_qbench(override, "tracking.enabled=false", cwd=tmp_path, timeout=120)
    key, _, value = override.partition("=")
    shown = repr(float(value)) if "." in value else value
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"qbench: error: {key}={shown} is not allowed; allowed: {allowed}\n"
    assert not (tmp_path / "outputs").exists()
