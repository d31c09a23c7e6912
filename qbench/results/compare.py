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
3. **Multiple comparisons.** A sweep compares many points at once, so p-values are adjusted with
   Holm's step-down method (family-wise error rate <= alpha over all pairs; `--correction none`
   switches it off).
4. **Verdict.** `slower` needs all three: the ratio beyond 1 + threshold, its whole interval beyond
   it, and the adjusted p below alpha; `faster` the same below 1 / (1 + threshold). Anything else
   is `same`; a `same` whose interval reaches beyond the band is marked inconclusive (more
   repetitions would tell). Requiring the interval and the test both is what keeps a busy machine's
   noise from being called a regression: a shift that is significant but small, or large but in
   few noisy samples, is not one.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from qbench.results import records, stats
from qbench.results.summary import read_without_histogram

ALPHA = 0.05
THRESHOLD = 0.10
RESAMPLES = 4000
SEED = 0
VERDICTS = ("slower", "faster", "same")
# What a point computes: two points are the same point only if all of these agree.
MATCH_KEYS = ("backend.name", "circuit.name", "circuit.fingerprint", "n_qubits", "noise.name", "noise.strength",
              "shots", "backend.method", "compute")
# Keys that change the circuit itself: comparing across them (--by) cannot match the fingerprint.
CIRCUIT_KEYS = ("circuit.name", "circuit.depth", "circuit.seed", "n_qubits")
# Where each part of a record lands among its keys; environment keys are shown, never matched.
ENVIRONMENT = ("hostname", "platform", "cpu_model", "cpu_cores", "ram_gb", "gpu_available", "python_version",
               "threads", "concurrent_workers", "heap")


class CompareError(ValueError):
    """Input qbench compare cannot work with: one line, exit code 2."""


# ---- reading ------------------------------------------------------------------------------------

def _value(v):
    """Hashable, comparable text-or-number of a config value (1 and 1.0 are one value)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, (int, float)):
        return v
    return json.dumps(v, sort_keys=True, default=str)


def text(v) -> str:
    """A value as a user writes it on the command line (true, null, 2, single)."""
    v = _value(v)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


def point_keys(record: dict) -> dict:
    """Every key of a record, named as on the command line: backend.threads, circuit.depth,
    execution.repetitions; environment.hostname and package.<name> for where it ran."""
    cfg = record.get("config") if isinstance(record.get("config"), dict) else {}
    options = cfg.get("backend_options") if isinstance(cfg.get("backend_options"), dict) else {}
    noise = cfg.get("noise_model") or "none"
    keys = {"backend.name": record.get("backend") or options.get("name"), "circuit.name": cfg.get("circuit_type"),
            "circuit.depth": cfg.get("depth"), "circuit.seed": cfg.get("circuit_seed"),
            "circuit.fingerprint": cfg.get("circuit_fingerprint"), "n_qubits": cfg.get("n_qubits"),
            "noise.name": noise, "noise.strength": 0.0 if noise == "none" else cfg.get("noise_strength"),
            "noise.method": cfg.get("noise_method"), "shots": cfg.get("shots"), "seed": cfg.get("seed"),
            "compute": cfg.get("compute") or "sampling"}  # records from before compute modes: sampling
    for key, value in options.items():
        if key != "name":
            keys[f"backend.{key}"] = value
    execution = cfg.get("execution") if isinstance(cfg.get("execution"), dict) else {}
    for key, value in execution.items():
        keys[f"execution.{key}"] = value
    known = {"n_qubits", "depth", "circuit_type", "circuit_seed", "noise_model", "noise_strength", "noise_method",
             "mode", "shots", "seed", "backend_options", "execution", "circuit_fingerprint", "compute"}
    for key, value in cfg.items():  # fields added later (compute mode, circuit options) match as they are
        if key not in known:
            keys[key] = value
    env = record.get("environment") if isinstance(record.get("environment"), dict) else {}
    for key in ENVIRONMENT:
        if key in env:
            keys[f"environment.{key}"] = env[key]
    packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
    for name, version in packages.items():
        keys[f"package.{name}"] = version
    return {k: _value(v) for k, v in keys.items()}


@dataclass
class Point:
    name: str  # its folder in the sweep
    record: dict
    keys: dict
    samples: list[float]


@dataclass
class Sweep:
    path: Path
    benchmark_id: str
    points: list[Point]  # successful, with timed samples
    not_compared: list[dict]  # the others: point, status, reason


def load_sweep(path: Path) -> Sweep:
    path = Path(path)
    found = records.find_results(path)
    if not found:
        raise CompareError(f"{path} has no result.json: not a sweep directory")
    points, others, ids = [], [], Counter()
    for result in found:
        name = result.parent.relative_to(path).as_posix()
        record = read_without_histogram(result)
        if not isinstance(record, dict) or "status" not in record:
            others.append({"point": name, "status": records.UNREADABLE, "reason": "result.json does not parse"})
            continue
        ids[record.get("benchmark_id")] += 1
        metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
        samples = [float(t) for t in metrics.get("execution_times_seconds") or []
                   if isinstance(t, (int, float)) and not isinstance(t, bool) and t == t]
        if record.get("status") != "success" or not samples:
            others.append({"point": name, "status": record.get("status"),
                           "reason": record.get("reason") or ("no timed samples" if not samples else None)})
            continue
        points.append(Point(name, record, point_keys(record), samples))
    benchmark_id = next((i for i, _ in ids.most_common() if i), path.resolve().name)
    return Sweep(path, str(benchmark_id), points, others)


# ---- matching -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class By:
    key: str
    base: object = None  # the value BASE's points must have (None: whatever single value they have)
    new: object = None
    given: bool = False  # whether values were named (KEY=A:B)


def parse_value(raw: str):
    """A value from the command line, as Hydra would read it: true/false/null, numbers, else text."""
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", "~"):
        return None
    for cast in (int, float):
        try:
            return _value(cast(raw))
        except ValueError:
            pass
    return raw.strip()


def parse_by(raw: str) -> By:
    key, sep, values = raw.partition("=")
    key = key.strip()
    if not key or (sep and values.count(":") != 1):
        raise CompareError(f"--by {raw!r}: expected KEY or KEY=BASE_VALUE:NEW_VALUE, e.g. backend.threads=2:1")
    if not sep:
        return By(key)
    base, new = values.split(":")
    return By(key, parse_value(base), parse_value(new), True)


def _identity_keys(by: By | None) -> tuple:
    keys = [k for k in MATCH_KEYS if not by or k != by.key]
    if by and by.key in CIRCUIT_KEYS:
        keys.remove("circuit.fingerprint")
    return tuple(keys)


def _matchable(key: str, identity: tuple, by: By | None) -> bool:
    """Options that may tell apart two points of one sweep with the same identity."""
    if key in identity or (by and key == by.key) or key == "circuit.fingerprint":
        return False
    return not key.startswith(("environment.", "package."))


def _select(sweep: Sweep, by: By | None, value, side: str) -> list[Point]:
    if not by:
        return sweep.points
    if by.given:
        return [p for p in sweep.points if p.keys.get(by.key) == value]
    values = sorted({text(p.keys.get(by.key)) for p in sweep.points})
    if len(values) > 1:
        raise CompareError(f"{side} holds several values of {by.key} ({', '.join(values)}): name the two to "
                           f"compare, e.g. --by {by.key}={values[0]}:{values[1]}")
    return sweep.points


@dataclass
class Matching:
    identity: tuple
    split: tuple  # options varied within a sweep, matched as well
    pairs: list[tuple[Point, Point]]
    only_base: list[Point]
    only_new: list[Point]
    duplicates: int  # points dropped because a newer record of the same point was in the same sweep


def match(base: Sweep, new: Sweep, by: By | None = None) -> Matching:
    present = set().union(*(p.keys for p in base.points + new.points))
    identity = tuple(k for k in _identity_keys(by) if k in present)  # e.g. `compute` only in newer records
    if by and by.key not in present:
        options = sorted(k for k in present if k.startswith("backend.") and k != "backend.name")
        raise CompareError(f"--by {by.key}: no point of BASE or NEW has this key; e.g. {', '.join(options[:8])}")
    base_points = _select(base, by, by.base if by else None, "BASE")
    new_points = _select(new, by, by.new if by else None, "NEW")
    if by and by.given and not base_points:
        raise CompareError(f"BASE has no successful point with {by.key}={text(by.base)}")
    if by and by.given and not new_points:
        raise CompareError(f"NEW has no successful point with {by.key}={text(by.new)}")

    # Options a sweep varies among points of one identity are matched too.
    split = set()
    for points in (base_points, new_points):
        groups = defaultdict(list)
        for p in points:
            groups[tuple(p.keys.get(k) for k in identity)].append(p)
        for group in groups.values():
            if len(group) > 1:
                for key in set().union(*(p.keys for p in group)):
                    if _matchable(key, identity, by) and len({p.keys.get(key) for p in group}) > 1:
                        split.add(key)
    split = tuple(sorted(split))
    full = identity + split

    def index(points: list[Point]) -> tuple[dict, int]:
        out, dropped = {}, 0
        for p in sorted(points, key=lambda p: str(_dict(p.record.get("timestamps")).get("completed_at") or "")):
            key = tuple(p.keys.get(k) for k in full)
            dropped += key in out
            out[key] = p  # the newest record of a point run twice wins
        return out, dropped

    base_index, dropped_base = index(base_points)
    new_index, dropped_new = index(new_points)
    pairs = [(base_index[k], new_index[k]) for k in sorted(base_index, key=_sort_key) if k in new_index]
    only_base = [base_index[k] for k in sorted(base_index, key=_sort_key) if k not in new_index]
    only_new = [new_index[k] for k in sorted(new_index, key=_sort_key) if k not in base_index]
    return Matching(identity, split, pairs, only_base, only_new, dropped_base + dropped_new)


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _sort_key(key: tuple) -> tuple:
    return tuple((0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, str(v)) for v in key)


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


def band(threshold: float) -> tuple[float, float]:
    """Ratios within which a change is too small to call: [1 / (1 + t), 1 + t], symmetric in log."""
    return 1 / (1 + threshold), 1 + threshold


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


def _side(point: Point) -> dict:
    ordered = sorted(point.samples)
    ci = stats.median_ci(ordered)
    described = stats.describe(ordered)
    return {"point": point.name, "n": len(ordered), "median": stats.median(ordered),
            "ci": [ci[0], ci[1]] if ci else None, "cv": described["execution_time_cv"],
            "outliers": described["execution_time_outliers"]}


def _differences(a: Point, b: Point, identity: tuple) -> dict:
    out = {}
    for key in sorted(set(a.keys) | set(b.keys)):
        if key in identity or key == "circuit.fingerprint":
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
        ratio = new_side["median"] / base_side["median"] if base_side["median"] > 0 else math.inf
        ci = ratio_ci(a.samples, b.samples, options.resamples, _seed(options.seed, name))
        differences = _differences(a, b, matching.identity)
        for key, (va, vb) in differences.items():
            changes[(key, text(va), text(vb))] += 1
            raw.setdefault((key, text(va), text(vb)), (va, vb))
        result.rows.append({"label": name, "key": {k: a.keys.get(k) for k in matching.identity + matching.split},
                            "base": base_side, "new": new_side, "ratio": ratio, "ratio_ci": list(ci),
                            "p_value": mann_whitney(a.samples, b.samples),
                            "least_p": least_p(len(a.samples), len(b.samples)), "differences": differences})
    pvalues = [r["p_value"] for r in result.rows]
    adjusted = holm(pvalues) if options.correction == "holm" else pvalues
    low, high = band(options.threshold)
    for row, p_adj in zip(result.rows, adjusted):
        row["p_adjusted"] = p_adj
        row["verdict"] = verdict(row["ratio"], tuple(row["ratio_ci"]), p_adj, options.threshold, options.alpha)
        row["conclusive"] = row["verdict"] != "same" or (low <= row["ratio_ci"][0] and row["ratio_ci"][1] <= high)
        row["note"] = _note(row, options)
    result.differences = [{"key": k, "base": raw[(k, va, vb)][0], "new": raw[(k, va, vb)][1], "points": n}
                          for (k, va, vb), n in sorted(changes.items(), key=lambda kv: (-kv[1], kv[0]))]
    return result


def _note(row: dict, options: Options) -> str:
    """Why a `same` is not a proof of sameness, when it is not."""
    if row["conclusive"]:
        return ""
    if row["least_p"] >= options.alpha:
        return (f"{row['base']['n']} vs {row['new']['n']} samples cannot reach p < {options.alpha:g} in a rank "
                "test: raise execution.repetitions or execution.min_time")
    return (f"the interval reaches beyond +-{options.threshold:.0%}: more repetitions (execution.min_time) "
            "or a quieter machine would tell")


# ---- writing ------------------------------------------------------------------------------------

def to_json(result: Comparison) -> dict:
    o = result.options
    low, high = band(o.threshold)
    m = result.matching
    return {
        "base": {"path": str(result.base.path), "benchmark_id": result.base.benchmark_id},
        "new": {"path": str(result.new.path), "benchmark_id": result.new.benchmark_id},
        "by": {"key": o.by.key, "base": o.by.base, "new": o.by.new} if o.by else None,
        "threshold": o.threshold, "band": [low, high], "alpha": o.alpha, "correction": o.correction,
        "test": "Mann-Whitney U, two-sided", "interval": f"bootstrap of the ratio of medians, {o.resamples} "
                                                          f"resamples, seed {o.seed}, 95 %",
        "matched_on": list(m.identity + m.split), "counts": dict(result.counts),
        "differences": result.differences, "points": result.rows,
        "only_in_base": [p.name for p in m.only_base], "only_in_new": [p.name for p in m.only_new],
        "duplicates_dropped": m.duplicates,
        "not_compared": {"base": result.base.not_compared, "new": result.new.not_compared},
    }


def write(result: Comparison, out_dir: Path) -> list[Path]:
    from qbench.results import compare_report, plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records.write_atomic(out_dir / "compare.json", to_json(result))
    chart = plots.compare_chart(result, out_dir / "compare.png")
    records.write_text_atomic(out_dir / "compare.md", compare_report.markdown(result, chart))
    return [out_dir / "compare.md", out_dir / "compare.json"] + ([chart] if chart else [])
