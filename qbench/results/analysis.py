"""A loaded sweep's comparison tables: who ran (`series`) and what (`workload`) for every row, then
cells by workload, qubits and series (medians, intervals of the median, memory), per-series
averages, scalability steps and noise tolerance. qbench.results.summary writes them out."""
from __future__ import annotations

import statistics
from collections import defaultdict

from qbench.results import crosscheck, records

# Options that make one backend two series when the sweep varies them (e.g. backend.precision=single,double).
SERIES_OPTIONS = ("device", "precision", "method")


def noise_level(row: dict) -> tuple:
    """(model, strength), where a `none` model counts as strength 0 whatever its strength says."""
    model = row.get("noise_model") or "none"
    return (model, 0.0) if model == "none" else (model, float(row.get("noise_strength") or 0.0))


def annotate(rows: list[dict]) -> dict:
    """Give each readable row its `series` (who ran: the backend, plus the options the sweep varies
    for it) and `workload` (what ran: the circuit, plus depth/noise/shots where the sweep varies
    them), so that a table cell or a chart line never mixes two different things. Variation is
    judged on successful points: those hold the options the adapter actually used (stim's
    precision reads 'exact (stabilizer tableau)' there, the configured 'single' when skipped)."""
    readable = [r for r in rows if r["status"] != records.UNREADABLE]
    ok = [r for r in readable if r["status"] == "success"]
    options = defaultdict(lambda: defaultdict(set))
    depths = defaultdict(set)
    for r in ok:
        for key in SERIES_OPTIONS:
            options[r["backend"]][key].add(r[key])
        depths[r.get("circuit") or r["circuit_type"]].add(r["depth"])
    varied = [k for k in SERIES_OPTIONS if any(len(seen[k]) > 1 for seen in options.values())]
    noise_varies = len({noise_level(r) for r in ok}) > 1
    shots_vary = len({r["shots"] for r in ok}) > 1
    circuit_of = {}
    modes_vary = len({r.get("compute") for r in ok}) > 1  # then also a series per compute mode
    for r in readable:
        extra = ", ".join([str(r[k]) for k in varied] + ([str(r.get("compute"))] if modes_vary else []))
        r["series"] = f"{r['backend']} ({extra})" if extra else str(r["backend"])
        circuit = r.get("circuit") or r["circuit_type"]
        base = str(circuit) + (f" d={r['depth']}" if len(depths[circuit]) > 1 else "")
        base += f" {r['compute']}" if r.get("compute") not in (None, "sampling") else ""  # one table per mode
        model, strength = noise_level(r)
        workload = base + (f" {model}({strength:g})" if noise_varies and model != "none" else "")
        workload += f" {r['shots']} shots" if shots_vary else ""
        r["base_workload"], r["workload"] = base, workload
        circuit_of[workload] = str(circuit)
    return circuit_of


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _qubits(row: dict) -> int | None:
    n = row["n_qubits"]
    return int(n) if n is not None and float(n).is_integer() else None


def matrix(rows: list[dict], metric: str) -> dict:
    """workload -> n_qubits -> series -> median of `metric` (medians, because repeated points or
    seeds land in the same cell)."""
    cells = defaultdict(list)
    for r in rows:
        n = _qubits(r)
        if n is not None and r[metric] is not None:
            cells[(r["workload"], n, r["series"])].append(r[metric])
    out: dict = {}
    for (workload, n, series), values in sorted(cells.items()):
        out.setdefault(workload, {}).setdefault(n, {})[series] = statistics.median(values)
    return out


def intervals(rows: list[dict]) -> dict:
    """workload -> n_qubits -> series -> the cell's 95 % interval of the median (qbench.results.stats)
    with its samples, CV and outliers. A cell of one record has that record's interval; a cell of
    several (seeds, reruns) has none: their samples measure different runs."""
    cells = defaultdict(list)
    for r in rows:
        n = _qubits(r)
        if n is not None and r["execution_time_seconds"] is not None:
            cells[(r["workload"], n, r["series"])].append(r)
    out: dict = {}
    for (workload, n, series), group in sorted(cells.items()):
        r = group[0]
        single = len(group) == 1
        out.setdefault(workload, {}).setdefault(n, {})[series] = {
            "median": statistics.median(g["execution_time_seconds"] for g in group),
            "ci_low": r["execution_time_ci_low_seconds"] if single else None,
            "ci_high": r["execution_time_ci_high_seconds"] if single else None,
            "ci_level": r["execution_time_ci_level"] if single else None,
            "samples": r["execution_time_samples"] if single else None, "records": len(group),
            "cv": r["execution_time_cv"] if single else None, "outliers": r["execution_time_outliers"] if single else None,
        }
    return out


def per_series(rows: list[dict]) -> dict:
    groups = defaultdict(list)
    for r in rows:
        groups[r["series"]].append(r)
    out = {}
    for series, group in sorted(groups.items()):
        times = [r["execution_time_seconds"] for r in group if r["execution_time_seconds"] is not None]
        out[series] = {
            "num_runs": len(group), "avg_time": _mean(times), "min_time": min(times, default=None),
            "max_time": max(times, default=None), "avg_fidelity": _mean(r["fidelity"] for r in group),
            "avg_gate_count": _mean(r["gate_count"] for r in group),
            "avg_memory_mb": _mean(r["memory_peak_mb"] for r in group),
            # of state-vector runs only: ideal time at the machine's memory bandwidth / measured time
            "avg_bandwidth_efficiency": _mean(r["bandwidth_efficiency"] for r in group),
        }
    return out


def scalability(times: dict) -> dict:
    """workload -> series -> [(n, next n, t(next n)/t(n))] over the sizes the sweep ran."""
    out: dict = {}
    for workload, by_n in times.items():
        curves = defaultdict(list)
        for n in sorted(by_n):
            for series, t in by_n[n].items():
                curves[series].append((n, t))
        for series, points in sorted(curves.items()):
            steps = [(n0, n1, t1 / t0) for (n0, t0), (n1, t1) in zip(points, points[1:]) if t0 > 0]
            if steps:
                out.setdefault(workload, {})[series] = steps
    return out


def noise_tolerance(rows: list[dict]) -> list[dict]:
    """Fidelity against noise strength per (series, circuit, noise model, n), with F(s)/F(0);
    empty unless the sweep varies the noise strength."""
    if len({noise_level(r)[1] for r in rows}) < 2:
        return []
    noiseless, noisy = defaultdict(list), defaultdict(lambda: defaultdict(list))
    for r in rows:
        n = _qubits(r)
        if n is None or r["fidelity"] is None:
            continue
        model, strength = noise_level(r)
        if strength == 0:
            noiseless[(r["series"], r["base_workload"], n)].append(r["fidelity"])
        else:
            noisy[(r["series"], r["base_workload"], model, n)][strength].append(r["fidelity"])
    out = []
    for (series, workload, model, n), by_strength in sorted(noisy.items()):
        zero = noiseless.get((series, workload, n))
        fidelity = {0.0: statistics.median(zero)} if zero else {}
        fidelity.update((s, statistics.median(v)) for s, v in sorted(by_strength.items()))
        f0 = fidelity.get(0.0)
        out.append({"series": series, "workload": workload, "noise_model": model, "n_qubits": n,
                    "fidelity": fidelity,
                    "tolerance": {s: f / f0 for s, f in fidelity.items() if s and f0}})
    return out


def analyse(summary):
    """Fill a loaded qbench.results.summary.Summary (this module cannot import it: it imports this one)."""
    summary.workload_circuit = annotate(summary.rows)
    ok = [r for r in summary.rows if r["status"] == "success"]
    times = matrix(ok, "execution_time_seconds")
    summary.comparison = {"benchmark_id": summary.benchmark_id, "backends": per_series(ok), "times": times,
                          "intervals": intervals(ok), "fidelities": matrix(ok, "fidelity"),
                          "memory": {"run_mb": matrix(ok, "memory_run_mb"), "estimate_mb": matrix(ok, "memory_estimate_mb")}}
    summary.scalability = scalability(times)
    summary.noise = noise_tolerance(ok)
    summary.crosscheck = crosscheck.check(summary.directory, summary.records, summary.points)
    return summary


# ---- writing -------------------------------------------------------------------------------------
