"""`qbench compare BASE NEW`: did a change make points faster or slower, and is that real?

Two sweeps in, one verdict per point that both ran:

1. **Matching.** Points are paired by what they compute: backend, circuit and its fingerprint,
   qubits, noise model and strength, shots, method (MATCH_KEYS). Where a sweep runs one such point
   several ways (backend.precision=single,double, backend.threads=1,2), the options it varies are
   matched too. Everything else that differs between the pair (package versions, backend options,
   execution settings, the machine) is reported as the reason to compare, never matched on.
   `--by KEY=A:B` compares two values of one option instead: KEY is left out of the matching, BASE's
   points with KEY=A are paired with NEW's points with KEY=B (BASE and NEW may be one sweep). A
   circuit key (circuit.depth, n_qubits, ...) changes the circuit, so its fingerprint is not
   matched then.
2. **Per pair.** ratio = median(NEW) / median(BASE) (> 1: NEW is slower); its 95 % confidence
   interval from a seeded bootstrap (both sides resampled with replacement, the ratio of the
   resampled medians, the 2.5 and 97.5 percentiles); a two-sided Mann-Whitney U test on the raw
   samples (SciPy's, exact for small samples without ties).
   **Replicates.** Where both sides ran the point several times (`execution.replicate=range(3)`:
   separate processes at separate times of the sweep), their samples are not independent draws:
   each replicate shares its process and the machine's speed of its moment, and a test that trusts
   every sample calls such a shift a change. The replicate is then the unit, as Kalibera and Jones
   ("Rigorous benchmarking in reasonable time", 2013) take the execution: each replicate's median, and
   a t-test on their logarithms (Student's, Welch's where the sides ran unequal numbers of replicates)
   gives the ratio (of the replicates' geometric means), its interval and p. The interval then holds
   how far the machine moved between the replicates, which is what one sweep against another has to
   beat (docs/PERFORMANCE.md, "Replicates").
3. **Multiple comparisons.** A sweep compares many points at once, so p-values are adjusted with
   Holm's step-down method (family-wise error rate <= alpha over all pairs; `--correction none`
   switches it off).
4. **Verdict.** `slower` needs all three: the ratio beyond 1 + threshold, its whole interval beyond
   it, and the adjusted p below alpha; `faster` the same below 1 / (1 + threshold). Anything else
   is `same`; a `same` whose interval reaches beyond the band is marked inconclusive (more
   repetitions would tell). Requiring the interval and the test both is what keeps a busy machine's
   noise from being called a regression: a shift that is significant but small, or large but in
   few noisy samples, is not one.
5. **Time apart.** Each pair keeps how far apart its sides began (`seconds_apart`). The tests above
   judge the samples; a machine whose own speed moved between two sweeps (APART_SECONDS) is beyond
   them, and the report says so where points were called changed.
"""
from __future__ import annotations

import hashlib
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from qbench.results import stats
from qbench.results.compare_match import (REPLICATE_KEY, CompareError, Matching, Point, Sweep, By, load_sweep, match,
                                          parse_by, pools_replicates, text)

ALPHA = 0.05
THRESHOLD = 0.10
RESAMPLES = 4000
SEED = 0
VERDICTS = ("slower", "faster", "same")
CONTENDED = 0.8  # one side's CPU share below this fraction of the other's: the machine, not the code
BUSY = 0.7  # a one-thread point that got less than this CPU second per second timed: a busy machine
# Pairs timed this far apart (the median pair) get a warning: a machine's own speed can move by more than
# the threshold between minutes (docs/PERFORMANCE.md, bench/machine_drift.py), which no statistic on the
# two sides' samples can tell from a change of the code.
APART_SECONDS = 60
# Which test a row's p and interval came from (its `test` in compare.json)
RANK_TEST = "mann-whitney"  # one level: every sample of each side
REPLICATES_TEST = "t-test over replicates"  # both sides ran replicates: one median per replicate
band = stats.threshold_band

__all__ = ["CompareError", "By", "Sweep", "Point", "load_sweep", "parse_by", "text", "compare", "Options",
           "Comparison", "band", "verdict", "holm", "ratio_ci", "replicates_ratio", "mann_whitney", "least_p",
           "seconds_apart", "APART_SECONDS", "REPLICATE_KEY", "RANK_TEST", "REPLICATES_TEST"]


# ---- statistics ---------------------------------------------------------------------------------

def _seed(seed: int, label: str) -> int:
    """Each pair's own stream: its interval does not depend on which other points were compared."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{label}".encode()).digest()[:8], "little")


def ratio_ci(base: list[float], new: list[float], resamples: int = RESAMPLES, seed: int = SEED,
             level: float = stats.LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of median(new) / median(base): each side resampled with
    replacement `resamples` times (seeded), the ratio of the resampled medians."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a, b = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    med_a = np.median(a[rng.integers(0, len(a), (resamples, len(a)))], axis=1)
    med_b = np.median(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1)
    ratios = med_b / med_a
    tail = (1 - level) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(low), float(high)


def replicates_ratio(base: list[list[float]], new: list[list[float]],
                     level: float = stats.LEVEL) -> tuple[float, tuple[float, float], float]:
    """Where both sides ran the point several times (lists of samples, one per replicate): the replicate is
    the unit. Each replicate's median, in logs; ratio = exp(mean(log NEW) - mean(log BASE)), the ratio of
    the replicates' geometric means; its interval and two-sided p-value from a t-test on those logs.
    Student's (pooled variance) where both sides ran as many replicates, with which it stays robust to
    unequal spreads; Welch's (Welch-Satterthwaite degrees of freedom) where the counts differ. With 3
    replicates a side, Welch's few degrees of freedom would widen the interval of a real 2x past the
    threshold whenever one side's replicates happen to agree. Returns (ratio, interval, p)."""
    from scipy.stats import t as student

    a = [math.log(stats.median(g)) for g in base]
    b = [math.log(stats.median(g)) for g in new]
    diff = statistics.fmean(b) - statistics.fmean(a)
    if len(a) == len(b):
        df = len(a) + len(b) - 2
        pooled = ((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b)) / df
        se = math.sqrt(pooled * (1 / len(a) + 1 / len(b)))
    else:
        va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1)) + (vb ** 2 / (len(b) - 1))) if se else 1
    if se == 0:  # every replicate of each side alike: nothing varies to test against
        return math.exp(diff), (math.exp(diff), math.exp(diff)), 1.0 if diff == 0 else 0.0
    q = float(student.ppf((1 + level) / 2, df))
    p = float(2 * student.sf(abs(diff) / se, df))
    return math.exp(diff), (math.exp(diff - q * se), math.exp(diff + q * se)), p


def mann_whitney(base: list[float], new: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (SciPy picks the exact distribution for small
    samples without ties, the normal approximation with tie correction otherwise)."""
    from scipy.stats import mannwhitneyu

    if len(set(base) | set(new)) == 1:
        return 1.0  # every sample equal: nothing to tell apart (SciPy would warn and return nan)
    return float(mannwhitneyu(new, base, alternative="two-sided").pvalue)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment: the i-th smallest of m p-values times (m - i), made monotone,
    capped at 1. Rejecting where the adjusted p < alpha keeps the family-wise error rate <= alpha."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def verdict(ratio: float, ci: tuple[float, float], p_adjusted: float, threshold: float, alpha: float) -> str:
    low, high = band(threshold)
    if p_adjusted < alpha and ratio > high and ci[0] > high:
        return "slower"
    if p_adjusted < alpha and ratio < low and ci[1] < low:
        return "faster"
    return "same"


def least_p(n_base: int, n_new: int) -> float:
    """The smallest two-sided p-value a rank test can reach with these sample sizes (complete
    separation): 2 / C(n_base + n_new, n_base). Above alpha, no difference can be significant."""
    return min(1.0, 2 / math.comb(n_base + n_new, n_base))


# ---- the comparison -----------------------------------------------------------------------------

@dataclass
class Options:
    threshold: float = THRESHOLD
    alpha: float = ALPHA
    correction: str = "holm"
    resamples: int = RESAMPLES
    seed: int = SEED
    by: By | None = None


@dataclass
class Comparison:
    base: Sweep
    new: Sweep
    options: Options
    matching: Matching
    rows: list[dict] = field(default_factory=list)
    differences: list[dict] = field(default_factory=list)  # key, base, new, points: what changed

    @property
    def counts(self) -> Counter:
        return Counter({v: 0 for v in VERDICTS}) + Counter(r["verdict"] for r in self.rows)

    @property
    def median_seconds_apart(self) -> float | None:
        """How far apart in time the pairs' two sides began (the median pair); None where no record says."""
        gaps = [r["seconds_apart"] for r in self.rows if r.get("seconds_apart") is not None]
        return statistics.median(gaps) if gaps else None


def label(point: Point, split: tuple, varied: set) -> str:
    """A short name of what the point computes: `qsim random d=20 20q`, plus what else sets it apart
    (not the --by key: the two sides differ in it by design)."""
    k = point.keys
    parts = [str(k.get("backend.name")), str(k.get("circuit.name"))]
    if "circuit.depth" in varied and k.get("circuit.depth") is not None:
        parts.append(f"d={k['circuit.depth']}")
    parts.append(f"{k.get('n_qubits')}q")
    if k.get("noise.name") not in (None, "none"):
        parts.append(f"{k['noise.name']}({text(k.get('noise.strength'))})")
    if "shots" in varied:
        parts.append(f"{k.get('shots')} shots")
    parts += [f"{key}={text(k.get(key))}" for key in split]
    return " ".join(parts)


def _started(record: dict) -> str | None:
    stamps = record.get("timestamps")
    started = stamps.get("started_at") if isinstance(stamps, dict) else None
    return started if isinstance(started, str) else None


def seconds_apart(base: str | None, new: str | None) -> float | None:
    """Seconds between two records' `started_at` (ISO 8601), None where either is missing or unreadable."""
    try:
        return abs((datetime.fromisoformat(new) - datetime.fromisoformat(base)).total_seconds())
    except (TypeError, ValueError):
        return None


def _side(point: Point) -> dict:
    ordered = sorted(point.samples)
    ci = stats.median_ci(ordered) if len(point.groups) == 1 else None  # replicates' samples are not independent
    described = stats.describe(ordered)
    shares = [r.get("metrics", {}).get("execution_cpu_share") for r in point.records]
    shares = [s for s in shares if isinstance(s, (int, float)) and not isinstance(s, bool)]
    started = sorted(s for s in map(_started, point.records) if s)
    return {"point": point.name, "n": len(ordered), "replicates": len(point.groups), "median": stats.median(ordered),
            "ci": [ci[0], ci[1]] if ci else None, "cv": described["execution_time_cv"],
            "outliers": described["execution_time_outliers"],
            "cpu_share": min(shares) if shares else None,  # the replicate that got the least CPU
            "threads": point.keys.get("environment.threads"), "started_at": started[0] if started else None}


def contended(base: dict, new: dict) -> bool:
    """Whether other processes took CPU time from the timed runs: one side got clearly less CPU per
    wall second than the other (below CONTENDED of it), or a one-thread point got less than BUSY of
    a CPU. Times measured so differ by the machine, not by the code. Not judged where the work ran
    in another process (a share near 0) or where a record has no share (from before it was kept)."""
    a, b = base.get("cpu_share"), new.get("cpu_share")
    if a is None or b is None or min(a, b) < 0.05:
        return False
    if any(side.get("threads") == 1 and side["cpu_share"] < BUSY for side in (base, new)):
        return True
    return min(a, b) / max(a, b) < CONTENDED


def _differences(a: Point, b: Point, identity: tuple, by: By | None) -> dict:
    unshown = (REPLICATE_KEY,) if pools_replicates(by) else ()  # a pooled point's first replicate says 0
    out = {}
    for key in sorted(set(a.keys) | set(b.keys)):
        if key in identity or key == "circuit.fingerprint" or key in unshown:
            continue
        va, vb = a.keys.get(key), b.keys.get(key)
        if va != vb:
            out[key] = [va, vb]
    return out


def compare(base: Sweep, new: Sweep, options: Options | None = None) -> Comparison:
    options = options or Options()
    matching = match(base, new, options.by)
    if not matching.pairs:
        raise CompareError(f"no point of BASE ({base.path}) matches a point of NEW ({new.path}) by "
                           f"{', '.join(matching.identity)}" + (" (see --by)" if not options.by else ""))
    result = Comparison(base, new, options, matching)
    everyone = [p for pair in matching.pairs for p in pair] + matching.only_base + matching.only_new
    varied = {key for key in ("circuit.depth", "shots") if len({p.keys.get(key) for p in everyone}) > 1
              and not (options.by and options.by.key == key)}
    changes, raw = Counter(), {}  # (key, base text, new text) -> points; -> the values themselves
    for a, b in matching.pairs:
        name = label(a, matching.split, varied)
        base_side, new_side = _side(a), _side(b)
        if len(a.groups) > 1 and len(b.groups) > 1:
            ratio, ci, p_value = replicates_ratio(a.groups, b.groups)
            test, least = REPLICATES_TEST, 0.0
        else:
            ratio = new_side["median"] / base_side["median"] if base_side["median"] > 0 else math.inf
            ci = ratio_ci(a.samples, b.samples, options.resamples, _seed(options.seed, name))
            p_value, test = mann_whitney(a.samples, b.samples), RANK_TEST
            least = least_p(len(a.samples), len(b.samples))
        differences = _differences(a, b, matching.identity, options.by)
        for key, (va, vb) in differences.items():
            changes[(key, text(va), text(vb))] += 1
            raw.setdefault((key, text(va), text(vb)), (va, vb))
        result.rows.append({"label": name, "key": {k: a.keys.get(k) for k in matching.identity + matching.split},
                            "base": base_side, "new": new_side, "ratio": ratio, "ratio_ci": list(ci),
                            "p_value": p_value, "test": test,
                            "seconds_apart": seconds_apart(base_side["started_at"], new_side["started_at"]),
                            "least_p": least, "differences": differences})
    pvalues = [r["p_value"] for r in result.rows]
    adjusted = holm(pvalues) if options.correction == "holm" else pvalues
    low, high = band(options.threshold)
    for row, p_adj in zip(result.rows, adjusted):
        row["p_adjusted"] = p_adj
        row["verdict"] = verdict(row["ratio"], tuple(row["ratio_ci"]), p_adj, options.threshold, options.alpha)
        row["conclusive"] = row["verdict"] != "same" or (low <= row["ratio_ci"][0] and row["ratio_ci"][1] <= high)
        row["contended"] = contended(row["base"], row["new"])
        row["note"] = _note(row, options)
    result.differences = [{"key": k, "base": raw[(k, va, vb)][0], "new": raw[(k, va, vb)][1], "points": n}
                          for (k, va, vb), n in sorted(changes.items(), key=lambda kv: (-kv[1], kv[0]))]
    return result


def _note(row: dict, options: Options) -> str:
    """Why a `same` is not a proof of sameness, and why a difference may be the machine's."""
    notes = []
    if (row["base"]["replicates"] > 1) != (row["new"]["replicates"] > 1):
        one, other = ("BASE", "NEW") if row["base"]["replicates"] > 1 else ("NEW", "BASE")
        notes.append(f"only {one} ran replicates: the spread between processes is not counted, as {other} shows none; "
                     "run both with execution.replicate=range(3)")
    if row["contended"]:
        notes.append(f"BASE got {row['base']['cpu_share']:.0%} of a CPU per second timed, NEW "
                     f"{row['new']['cpu_share']:.0%}: other processes took CPU time from the timed runs, so a "
                     "difference may be the machine's; compare sweeps run on a quieter machine")
    if row["conclusive"]:
        return "; ".join(notes)
    if row["least_p"] >= options.alpha:
        notes.append(f"{row['base']['n']} vs {row['new']['n']} samples cannot reach p < {options.alpha:g} in a "
                     "rank test: raise execution.repetitions or execution.min_time")
    elif row["test"] == REPLICATES_TEST:
        notes.append(f"the interval reaches beyond +-{options.threshold:.0%}: the replicates differ among themselves; "
                     "more replicates (execution.replicate=range(5)) or a quieter machine would tell")
    else:
        notes.append(f"the interval reaches beyond +-{options.threshold:.0%}: more repetitions "
                     "(execution.min_time) or a quieter machine would tell")
    return "; ".join(notes)
