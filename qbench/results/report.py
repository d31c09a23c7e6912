"""report.md: what a person reads after a sweep, rendered from a qbench.summarize.Summary."""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

from qbench.results import progress, stats

MAX_PROBLEM_ROWS = 200  # a sweep with thousands of failures lists the first ones; results.csv has them all
NOISE_REFERENCE = 0.05  # the design's tolerance figure: F(0.05)/F(0)
MACHINE_FIELDS = (("hostname", "host"), ("platform", "platform"), ("cpu_model", "CPU"), ("cpu_cores", "cores"),
                  ("ram_gb", "RAM (GB)"), ("gpu_available", "GPU"), ("python_version", "Python"))


def fmt_time(seconds) -> str:
    if seconds is None:
        return "–"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def fmt_fidelity(f) -> str:
    """Near 1, the distance from 1 is what tells backends apart (single vs double precision)."""
    if f is None:
        return "–"
    return f"1 − {1 - f:.1e}" if 0.999 < f < 1 else f"{f:.4f}"


def fmt_ratio(x: float) -> str:
    return f"×{x:.3g}" if x < 1000 else f"×{x:,.0f}"


def fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ").strip() if value is not None else "–"


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _noise_column(summary) -> tuple[str, dict] | None:
    """Per series, the mean of F(s)/F(0) over circuits and sizes, at s = 0.05 when the sweep ran it."""
    strengths = sorted({s for entry in summary.noise for s in entry["tolerance"]})
    if not strengths:
        return None
    ref = NOISE_REFERENCE if NOISE_REFERENCE in strengths else strengths[-1]
    ratios = defaultdict(list)
    for entry in summary.noise:
        if ref in entry["tolerance"]:
            ratios[entry["series"]].append(entry["tolerance"][ref])
    return f"F({ref:g})/F(0)", {s: sum(v) / len(v) for s, v in ratios.items()}


def overview(summary) -> str:
    starts = sorted(r["started_at"] for r in summary.rows if r.get("started_at"))
    ends = sorted(r["completed_at"] for r in summary.rows if r.get("completed_at"))
    lines = [f"# Benchmark report: {summary.benchmark_id}\n"]
    if summary.overrides:
        lines.append(f"Sweep: `qbench -m {' '.join(summary.overrides)}`  ")
    if starts and ends:
        lines.append(f"From {starts[0]} to {ends[-1]}  ")
    line = progress.final_line(summary.counts)
    if summary.missing:
        line += f"; {len(summary.missing)} started points have no result (killed or still running)"
    if summary.not_started:
        line += f"; {len(summary.not_started)} points of the sweep never started"
    lines.append(f"**{line}**\n")
    return "\n".join(lines) + "\n"


def by_backend(summary) -> str:
    backends = summary.comparison["backends"]
    if not backends:
        return "## Summary by backend\n\nNo point succeeded: nothing to compare.\n"
    noise = _noise_column(summary)
    headers = ["backend", "runs", "avg time", "min time", "max time", "avg fidelity", "avg gates", "avg peak MB",
               "bandwidth eff."]
    rows = []
    for series, s in backends.items():
        rows.append([series, s["num_runs"], fmt_time(s["avg_time"]), fmt_time(s["min_time"]), fmt_time(s["max_time"]),
                     fmt_fidelity(s["avg_fidelity"]), fmt(s["avg_gate_count"], 4), fmt(s["avg_memory_mb"], 4),
                     fmt(s.get("avg_bandwidth_efficiency"), 3)])
        if noise:
            rows[-1].append(fmt(noise[1].get(series), 4))
    if noise:
        headers.append(noise[0])
    return ("## Summary by backend\n\nSuccessful points only; times are the median of each point's timed "
            "repetitions. *bandwidth eff.*: the time a perfect state-vector simulator would need at this "
            "machine's measured memory bandwidth (one read+write pass over the state per circuit layer) "
            "divided by the measured time; above 1 means the state fits in cache. *avg fidelity*: over all the "
            "backend's verified points, whatever their kind (state or histogram fidelity, noisy or not); the "
            "fidelity rankings below compare like with like.\n\n" + table(headers, rows))


def _interval(summary, workload, n, series) -> tuple | None:
    cell = summary.comparison.get("intervals", {}).get(workload, {}).get(n, {}).get(series) or {}
    return (cell["ci_low"], cell["ci_high"]) if cell.get("ci_low") is not None else None


def fmt_interval(interval: tuple | None) -> str:
    return f"[{fmt_time(interval[0])}, {fmt_time(interval[1])}]" if interval else ""


def _tied(summary, workload, n, ranked: list) -> list[str]:
    """The series whose 95 % interval overlaps the fastest's: the data cannot order them."""
    first = _interval(summary, workload, n, ranked[0][0])
    return [s for s, _ in ranked[1:] if stats.intervals_overlap(first, _interval(summary, workload, n, s))]


def time_matrix(summary) -> str:
    out = ["## Execution time per circuit and size\n\nMedian time of the timed call with its 95 % interval "
           "(distribution-free, from order statistics; none below 6 samples); the fastest in bold, "
           "~ where a backend's interval overlaps the fastest's (a tie).\n"]
    for workload, by_n in summary.comparison["times"].items():
        series = sorted({s for cells in by_n.values() for s in cells})
        rows = []
        for n, cells in by_n.items():
            ranked = sorted(cells.items(), key=lambda kv: kv[1])
            tied = set(_tied(summary, workload, n, ranked))
            row = [n]
            for s in series:
                if s not in cells:
                    row.append("–")
                    continue
                text = f"{fmt_time(cells[s])} {fmt_interval(_interval(summary, workload, n, s))}".strip()
                row.append(f"**{text}**" if s == ranked[0][0] else f"~ {text}" if s in tied else text)
            rows.append(row)
        out.append(f"### {workload}\n\n" + table(["qubits", *series], rows))
    return "\n".join(out)


def rankings(summary) -> str:
    out = ["## Rankings\n\n### Fastest per circuit and size\n\n`a ~ b`: a tie, their 95 % intervals overlap, so "
           "the samples cannot tell which is faster (a point without an interval, below 6 samples, is not "
           "tested for a tie).\n"]
    rows = []
    for workload, by_n in summary.comparison["times"].items():
        for n, cells in by_n.items():
            ranked = sorted(cells.items(), key=lambda kv: kv[1])
            (first, t0) = ranked[0]
            tied = _tied(summary, workload, n, ranked)
            rest = [kv for kv in ranked[1:] if kv[0] not in tied]
            runner = f"{rest[0][0]} ({fmt_ratio(rest[0][1] / t0)})" if rest and t0 > 0 else "–"
            slowest = f"{rest[-1][0]} ({fmt_ratio(rest[-1][1] / t0)})" if len(rest) > 1 and t0 > 0 else "–"
            fastest = " ~ ".join([first, *tied])
            rows.append([workload, n, fastest,
                         f"{fmt_time(t0)} {fmt_interval(_interval(summary, workload, n, first))}".strip(),
                         runner, slowest])
    out.append(table(["circuit", "qubits", "fastest", "time [95 % CI]", "runner-up", "slowest"], rows) if rows
               else "No timed point.\n")
    out += fidelity_rankings(summary)
    return "\n".join(out)


# Fidelities are ranked beside their own kind only: a state's overlap and a histogram's classical
# fidelity are different numbers, and a noisy point's histogram measures the noise, not the simulator.
FIDELITY_KINDS = {
    ("statevector", False): ("state fidelity (noiseless points)",
                             "`|⟨ideal|ψ⟩|²`, the overlap of the backend's final state with the exact reference state"),
    ("distribution", False): ("histogram fidelity (noiseless points)",
                              "classical fidelity of the backend's shots to the exact distribution, for a backend "
                              "that exposes no state (shot noise keeps it below 1)"),
    ("distribution", True): ("histogram fidelity (noisy points)",
                             "classical fidelity of the shots to the ideal noiseless distribution: what the noise cost"),
}


def fidelity_rankings(summary) -> list[str]:
    """One ranking per kind of fidelity (the record's fidelity_method, noisy or not)."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in summary.rows:
        if r["status"] == "success" and r.get("fidelity") is not None:
            groups[(r.get("fidelity_method"), (r.get("noise_model") or "none") != "none")][r["series"]].append(
                r["fidelity"])
    if not groups:
        return ["\n### Highest fidelity\n\nNo verified point.\n"]
    out = []
    order = list(FIDELITY_KINDS)
    for key in sorted(groups, key=lambda k: (order.index(k) if k in order else len(order), str(k))):
        title, what = FIDELITY_KINDS.get(key, (f"fidelity ({key[0]}{', noisy points' if key[1] else ''})",
                                               "as the record's fidelity_method says"))
        ranked = sorted(groups[key].items(), key=lambda sv: -sum(sv[1]) / len(sv[1]))
        rows = [[i, s, fmt_fidelity(sum(v) / len(v)), fmt_fidelity(min(v)), len(v)] for i, (s, v) in enumerate(ranked, 1)]
        out.append(f"\n### Highest {title}\n\n{what[0].upper() + what[1:]}; averaged over the backend's points "
                   "of this kind only.\n")
        out.append(table(["rank", "backend", "avg fidelity", "worst point", "points"], rows))
    return out


def scalability(summary) -> str:
    if not summary.scalability:
        return ""
    steps = {n1 - n0 for curves in summary.scalability.values() for pts in curves.values() for n0, n1, _ in pts}
    title = f"t(N+{steps.pop()})/t(N)" if len(steps) == 1 else "t(next N)/t(N)"
    out = [f"## Scalability: {title}\n\nHow much longer each step in qubits takes; "
           "'per qubit' is the geometric mean growth per added qubit over the whole range.\n"]
    for workload, curves in summary.scalability.items():
        columns = sorted({(n0, n1) for pts in curves.values() for n0, n1, _ in pts})
        rows = []
        for series, pts in curves.items():
            factor = {(n0, n1): f for n0, n1, f in pts}
            total = math.prod(factor.values())
            span = pts[-1][1] - pts[0][0]
            rows.append([series, *(fmt_ratio(factor[c]) if c in factor else "–" for c in columns),
                         fmt_ratio(total ** (1 / span)) if span > 0 and total > 0 else "–"])
        out.append(f"### {workload}\n\n" + table(["backend", *(f"{a}→{b}" for a, b in columns), "per qubit"], rows))
    return "\n".join(out)


def noise_tolerance(summary) -> str:
    if not summary.noise:
        return ""
    strengths = sorted({s for e in summary.noise for s in e["tolerance"]})
    rows = [[e["series"], e["workload"], e["noise_model"], e["n_qubits"], fmt_fidelity(e["fidelity"].get(0.0)),
             *(fmt(e["tolerance"].get(s), 4) for s in strengths)] for e in summary.noise]
    return ("## Noise tolerance\n\nF(s)/F(0): fidelity at noise strength s relative to the noiseless run "
            "(1 = unaffected).\n\n"
            + table(["backend", "circuit", "noise", "qubits", "F(0)", *(f"F({s:g})/F(0)" for s in strengths)], rows))


def cross_check(summary) -> str:
    """Backends against each other per point (qbench.results.crosscheck): the disagreements named first."""
    entries = getattr(summary, "crosscheck", None) or []
    if not entries:
        return ""
    wrong = [m for e in entries for m in e["messages"]]
    out = ["## Cross-check between backends\n\nEvery point two or more backends ran (same circuit fingerprint, "
           "noise, compute mode): histograms compared pairwise by their total-variation distance against the "
           "two-sample shot-noise bound (failure probability 1e-6 per pair), state vectors by their digests (the "
           "Z- and X-basis distributions of their first 6 qubits), expectation values by value. It verifies "
           "sizes the exact reference cannot.\n"]
    if wrong:
        out.append("**Disagreements:**\n\n" + "\n".join(f"- **{m}**" for m in wrong) + "\n")
    else:
        out.append(f"All {len(entries)} cross-checked points agree.\n")
    rows = []
    for e in entries[:MAX_PROBLEM_ROWS]:  # comparison.json has them all
        worst = max(e["pairs"], key=lambda p: p["statistic"] / p["bound"] if p["bound"] else math.inf)
        rows.append([e["point"], ", ".join(e["backends"]), e["statistic"], f"{worst['statistic']:.3g}",
                     f"{worst['bound']:.2g}", "agree" if e["agree"] else f"DISAGREE ({e['outlier'] or 'see above'})"])
    out.append(table(["point", "backends", "compared", "largest", "bound", "verdict"], rows))
    return "\n".join(out)


def _advice(row: dict) -> str:
    noisy = (row["execution_time_cv"] or 0) > stats.NOISY_CV
    outliers = row["execution_time_outliers"] or 0
    samples = row["execution_time_samples"] or 0
    share = row.get("execution_cpu_share")
    if share is not None and 0.05 < share < 0.7 and str(row.get("threads")) == "1":
        return (f"a quieter machine: this one-thread point got {share:.0%} of a CPU while timed (other processes "
                "took the rest)")
    if outliers and noisy:
        return ("something else ran during the point: a quieter machine (or fewer concurrent workers); "
                "the median already discounts the outliers")
    if outliers:
        return "a quieter machine; the median already discounts the outliers"
    if samples < 10:
        return "more repetitions (execution.repetitions, or execution.min_time for fast points)"
    return "a quieter machine, or execution.target_rel_ci=0.05 to repeat until the median is known within ±5 %"


def _row_interval(row: dict) -> tuple | None:
    low, high = row.get("execution_time_ci_low_seconds"), row.get("execution_time_ci_high_seconds")
    return (low, high) if low is not None and high is not None else None


def noisy_points(summary) -> str:
    """Points whose repetitions disagree: CV above 10 %, or outliers by the modified z-score."""
    ok = [r for r in summary.rows if r["status"] == "success" and r.get("execution_time_samples")]
    noisy = [r for r in ok if (r["execution_time_cv"] or 0) > stats.NOISY_CV or (r["execution_time_outliers"] or 0)]
    without = sum(1 for r in ok if r["execution_time_ci_low_seconds"] is None)
    if not ok:
        return ""
    out = ["## Noisy points\n"]
    if without:
        out.append(f"{without} of {len(ok)} points have fewer than {stats.MIN_SAMPLES_FOR_CI} timed samples, too few "
                   f"for a 95 % interval of the median: `execution.repetitions={stats.MIN_SAMPLES_FOR_CI}` (or a "
                   "larger `execution.min_time`) gives them one.\n")
    if not noisy:
        out.append(f"No point varies by more than {stats.NOISY_CV:.0%} (CV) or has outliers.\n")
        return "\n".join(out)
    out.append(f"CV: standard deviation / mean of the timed repetitions (listed above {stats.NOISY_CV:.0%}); "
               f"outliers: samples with a modified z-score above {stats.OUTLIER_Z:g}.\n")
    noisy.sort(key=lambda r: -(r["execution_time_cv"] or 0))
    rows = [[r["series"], r["workload"], r.get("n_qubits"),
             f"{fmt_time(r['execution_time_seconds'])} {fmt_interval(_row_interval(r))}".strip(),
             r["execution_time_samples"], f"{r['execution_time_cv'] or 0:.0%}", r["execution_time_outliers"],
             _advice(r)]
            for r in noisy[:MAX_PROBLEM_ROWS]]
    out.append(table(["backend", "circuit", "qubits", "median [95 % CI]", "samples", "CV", "outliers", "advice"], rows))
    if len(noisy) > MAX_PROBLEM_ROWS:
        out.append(f"… and {len(noisy) - MAX_PROBLEM_ROWS} more (results.csv has every point's CV and outliers).\n")
    return "\n".join(out)


def problems(summary) -> str:
    rows = sorted((r for r in summary.rows if r["status"] != "success"),
                  key=lambda r: (str(r["status"]), str(r.get("backend")), str(r.get("circuit_type")),
                                 r.get("n_qubits") or 0, r["point"]))
    if not rows and not summary.missing and not summary.not_started:
        return "## Skipped, unavailable and failed points\n\nNone: every point succeeded.\n"
    out = ["## Skipped, unavailable and failed points\n"]
    if rows:
        listed = [[r["status"], r.get("backend"), r.get("circuit") or r.get("circuit_type"), r.get("n_qubits"),
                   _noise(r), r.get("reason"), r["point"]] for r in rows[:MAX_PROBLEM_ROWS]]
        out.append(table(["status", "backend", "circuit", "qubits", "noise", "reason", "point"], listed))
        if len(rows) > MAX_PROBLEM_ROWS:
            out.append(f"… and {len(rows) - MAX_PROBLEM_ROWS} more (all in results.csv). Most frequent reasons:\n")
            reasons = Counter((r["status"], r.get("reason")) for r in rows)
            out.append(table(["status", "reason", "points"], [[s, why, k] for (s, why), k in reasons.most_common(10)]))
    if summary.missing:
        out.append(f"\nStarted but without a result.json (the sweep was killed, or is still running): "
                   f"{', '.join(summary.missing[:MAX_PROBLEM_ROWS])}"
                   + (" …" if len(summary.missing) > MAX_PROBLEM_ROWS else "") + "\n")
    if summary.not_started:
        shown = summary.not_started[:MAX_PROBLEM_ROWS]
        out.append(f"\nNever started ({len(summary.not_started)} of the sweep's points; `qbench rerun-failed` runs "
                   "them):\n\n" + table(["point (overrides)"], [[p] for p in shown])
                   + (f"… and {len(summary.not_started) - len(shown)} more\n" if len(summary.not_started) > len(shown)
                      else ""))
    return "\n".join(out)


def _noise(row: dict) -> str:
    model = row.get("noise_model")
    return "none" if not model or model == "none" else f"{model}({row.get('noise_strength')})"


def charts(paths: list[Path]) -> str:
    if not paths:
        return ""
    return "## Charts\n\n" + "\n\n".join(f"![{p.stem}]({p.name})" for p in paths) + "\n"


def environment(summary) -> str:
    machines = Counter(tuple(str(_env(r).get(k, "–")) for k, _ in MACHINE_FIELDS) for r in summary.records)
    if not machines:
        return ""
    rows = [[*machine, k] for machine, k in machines.most_common()]
    versions = defaultdict(Counter)
    for r in summary.records:
        packages = _env(r).get("packages")
        for package, version in (packages.items() if isinstance(packages, dict) else ()):
            versions[package][str(version or "not installed")] += 1
    packages = [[p, ", ".join(sorted(c))] for p, c in sorted(versions.items())]
    return ("## Environment\n\n" + table([label for _, label in MACHINE_FIELDS] + ["points"], rows)
            + ("\n" + table(["package", "version"], packages) if packages else ""))


def _env(record: dict) -> dict:
    env = record.get("environment")
    return env if isinstance(env, dict) else {}


def render(summary, chart_paths: list[Path]) -> str:
    sections = [overview(summary), by_backend(summary), rankings(summary), time_matrix(summary),
                scalability(summary), noise_tolerance(summary), cross_check(summary), noisy_points(summary),
                problems(summary),
                charts(chart_paths),
                environment(summary)]
    return "\n".join(s for s in sections if s)
