"""Backends checked against each other, point by point: verification that scales past the exact reference.

Above `verify_max_qubits` a circuit without a closed form has no reference to compare with, but every
backend that ran the same point (same circuit fingerprint, noise, compute mode and observable) must
give the same answer. For each such point with two or more successful backends:

* sampling: every pair of histograms by a two-sample test on their total-variation distance. Two
  independent samples of one distribution p, n1 and n2 shots, have E[TVD] <= 1/2 sum_x
  sqrt(p(1-p) (1/n1 + 1/n2)) (Jensen on each |q1(x) - q2(x)|), and TVD moves by at most 1/n1 (1/n2)
  per shot, so McDiarmid adds sqrt(ln(1/delta) (1/n1 + 1/n2) / 2). p is estimated by the pooled
  histogram; delta = FAILURE_PROBABILITY per pair. A pair past that bound disagrees.
* statevector: the states' digests (recorded by verification: the joint Z- and X-basis distributions of
  their first 6 qubits), largest difference within DIGEST_TOLERANCE of the coarser precision.
* expectation: |<H>_a - <H>_b| within the sum of the two runs' recorded tolerances.

A backend that disagrees with every other backend of a point, while those agree among themselves, is
named as the odd one out. Histograms are not in the summary's records: they are read from the
result.json of the points that need them, and only those.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from qbench.circuits import canonical
from qbench.results import records

FAILURE_PROBABILITY = 1e-6
DIGEST_TOLERANCE = {"single": 1e-3, "double": 1e-8}


def two_sample_tvd(a: dict, b: dict) -> tuple[float, float]:
    """(TVD between two histograms, the shot-noise bound it exceeds with probability < FAILURE_PROBABILITY
    when both sample one distribution)."""
    n1, n2 = sum(a.values()), sum(b.values())
    if not n1 or not n2:
        return 1.0, 0.0
    both = 1 / n1 + 1 / n2
    distance, spread = 0.0, 0.0
    for bits in a.keys() | b.keys():
        x, y = a.get(bits, 0), b.get(bits, 0)
        distance += abs(x / n1 - y / n2)
        p = (x + y) / (n1 + n2)
        spread += math.sqrt(p * (1 - p) * both)
    bound = 0.5 * spread + math.sqrt(math.log(1 / FAILURE_PROBABILITY) * both / 2)
    return 0.5 * distance, bound


def _precision(record: dict) -> str:
    precision = (record.get("config", {}).get("backend_options") or {}).get("precision")
    return "single" if precision == "single" else "double"  # stim's "exact (stabilizer tableau)" is exact


def _key(record: dict):
    cfg = record.get("config") or {}
    fingerprint = cfg.get("circuit_fingerprint")
    if record.get("status") != "success" or not fingerprint:
        return None
    noise = cfg.get("noise_model") or "none"
    return (fingerprint, noise, cfg.get("noise_strength") if noise != "none" else 0.0,
            cfg.get("compute") or "sampling", cfg.get("observable"), cfg.get("n_qubits"))


def _names(group: list[dict]) -> list[str]:
    """Backend names, with precision and device where one backend ran the point twice."""
    names = [str(r.get("backend")) for r in group]
    for i, r in enumerate(group):
        if names.count(str(r.get("backend"))) > 1:
            options = r.get("config", {}).get("backend_options") or {}
            names[i] = f"{r.get('backend')} ({options.get('precision')}, {options.get('device')})"
    return names


def _compare(compute: str, a: dict, b: dict, hist_a, hist_b) -> tuple[float, float] | None:
    """(statistic, bound) of one pair, or None where the pair has nothing comparable."""
    ma, mb = a.get("metrics", {}), b.get("metrics", {})
    if compute == "sampling":
        return None if hist_a is None or hist_b is None else two_sample_tvd(hist_a, hist_b)
    if compute == "statevector":
        xa, xb = ma.get("state_digest"), mb.get("state_digest")
        if not isinstance(xa, list) or not isinstance(xb, list) or len(xa) != len(xb):
            return None
        tolerance = DIGEST_TOLERANCE["single" if "single" in (_precision(a), _precision(b)) else "double"]
        return max((abs(x - y) for x, y in zip(xa, xb)), default=0.0), tolerance
    va, vb = ma.get("expectation_value"), mb.get("expectation_value")
    if not isinstance(va, (int, float)) or not isinstance(vb, (int, float)):
        return None
    return abs(va - vb), (ma.get("expectation_tolerance") or 1e-5) + (mb.get("expectation_tolerance") or 1e-5)


STATISTIC = {"sampling": "TVD", "statevector": "max digest difference", "expectation": "|<H> difference|"}


def check(sweep_dir: Path, kept: list[dict], points: list[str]) -> list[dict]:
    """One entry per point that two or more backends ran successfully (see the module docstring)."""
    groups = defaultdict(list)
    for record, point in zip(kept, points):
        key = _key(record)
        if key is not None:
            groups[key].append((record, point))
    out = []
    for (_, noise, strength, compute, observable, n), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if len(members) < 2:
            continue
        group = [r for r, _ in members]
        names = _names(group)
        histograms = [None] * len(group)
        if compute == "sampling":  # only now, only for these points: the summary's records have no histograms
            histograms = [((records.read(Path(sweep_dir) / p / records.RESULT_FILE) or {}).get("measurements") or {})
                          .get("histogram") for _, p in members]
        cfg = group[0].get("config") or {}
        label = canonical.label(cfg.get("circuit_type"), cfg.get("circuit_options"))
        what = f"{label} {n} q" + (f" {noise}({strength:g})" if noise != "none" else "") + \
            ("" if compute == "sampling" else f" {compute}" + (f" of {observable}" if observable else ""))
        pairs = []
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                compared = _compare(compute, group[i], group[j], histograms[i], histograms[j])
                if compared is not None:
                    statistic, bound = compared
                    pairs.append({"a": names[i], "b": names[j], "statistic": statistic, "bound": bound,
                                  "agree": statistic <= bound})
        if not pairs:
            continue
        wrong = [p for p in pairs if not p["agree"]]
        outlier = _odd_one_out(names, pairs)
        out.append({
            "point": what, "circuit": label, "n_qubits": n, "compute": compute, "noise": noise,
            "backends": names, "statistic": STATISTIC[compute], "pairs": pairs, "agree": not wrong,
            "outlier": outlier,
            "messages": [f"{p['a']} and {p['b']} disagree on {what}: {STATISTIC[compute]} {p['statistic']:.3g}, "
                         f"bound {p['bound']:.2g}" for p in wrong]
                        + ([f"{outlier} disagrees with every other backend on {what}"] if outlier else []),
        })
    return out


def _odd_one_out(names: list[str], pairs: list[dict]) -> str | None:
    """The one backend every pair it is in disagrees, while every other pair agrees (3 or more backends)."""
    if len(set(names)) < 3:
        return None
    for name in names:
        mine = [p for p in pairs if name in (p["a"], p["b"])]
        others = [p for p in pairs if name not in (p["a"], p["b"])]
        if mine and others and not any(p["agree"] for p in mine) and all(p["agree"] for p in others):
            return name
    return None
