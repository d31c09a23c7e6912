"""The post-hoc summarizer: one sweep directory in, sweep-level files out.

`qbench summarize [SWEEP_DIR|latest]` (qbench.cli.summarize), and at the end of every multirun
(qbench.app.callbacks).
Every result.json is read once; failed, skipped, unreadable and missing points are
reported, never fatal. Written into the sweep directory: summary.json, comparison.json,
results.csv, report.md (qbench.report) and the charts (qbench.plots); then
outputs/latest is pointed at the newest sweep.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from qbench.circuits import canonical
from qbench.results import progress, records, stats, sweep_folder
from qbench.results.analysis import SERIES_OPTIONS, analyse

log = logging.getLogger("qbench")

LATEST = "latest"
SWEEP_PREFIX = "bench_"  # hydra.sweep.dir of conf/config.yaml: bench_YYYYMMDD_HHMMSS sorts by start time
# The histograms are most of a record's bytes; they stay in each point's result.json.
DROPPED_FIELDS = ["measurements.histogram"]
HISTOGRAM = b'"histogram": {'
METRICS = ("execution_time_seconds", *stats.FIELDS, "execution_cpu_share", "execution_page_faults_per_run", "dry_run_seconds", "convert_seconds", "verify_seconds", "import_seconds",
           "fidelity", "tvd", "gate_count", "two_qubit_gate_count", "circuit_depth", "memory_peak_mb",
           "memory_baseline_mb", "memory_run_mb", "memory_estimate_mb", "throughput_shots_per_second", "bandwidth_efficiency", "expectation_value", "expectation_error")
CSV_FIELDS = ("point", "backend", "status", "n_qubits", "circuit_type", "circuit", "compute", "depth", "noise_model", "noise_strength",
              "shots", "seed", "replicate", "precision", "device", "method", "threads", *METRICS, "repetitions_stop",
              "fidelity_method", "attempts",
              "reason", "run_id", "started_at", "completed_at")


class NoResults(Exception):
    """The directory holds no result.json (yet)."""


@dataclass
class Summary:
    directory: Path
    benchmark_id: str
    rows: list[dict]  # one per result.json, flattened (results.csv); unreadable files included
    records: list[dict]  # the readable records without DROPPED_FIELDS (summary.json)
    missing: list[str]  # point directories Hydra started that have no result.json: killed or still running
    counts: Counter
    overrides: list[str]  # the sweep's command-line overrides, from multirun.yaml
    comparison: dict = field(default_factory=dict)
    scalability: dict = field(default_factory=dict)  # workload -> series -> [(n, next n, t(next)/t(n))]
    noise: list[dict] = field(default_factory=list)  # fidelity vs noise strength, when the sweep varies it
    workload_circuit: dict = field(default_factory=dict)  # workload -> its circuit type (one chart panel each)
    points: list[str] = field(default_factory=list)  # the point folder of each of `records`
    crosscheck: list[dict] = field(default_factory=list)  # backends against each other (qbench.results.crosscheck)
    not_started: list[str] = field(default_factory=list)  # points of the sweep's plan with no folder at all

    @property
    def failed(self) -> int:
        return progress.failed_count(self.counts)


# ---- reading -------------------------------------------------------------------------------------

def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _number(value):
    """A metric, or None where it is missing or not a number (failed points, hand-edited files)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return value


def _scalar(value):
    """Config values are grouped on: anything odd becomes its text so that it stays hashable."""
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def csv_row(record: dict, point: str) -> dict:
    cfg, metrics = _dict(record.get("config")), _dict(record.get("metrics"))
    options, error, stamps = _dict(cfg.get("backend_options")), _dict(record.get("error")), _dict(record.get("timestamps"))
    reason = record.get("reason") or (f"{error.get('type')}: {error.get('message')}" if error else None)
    attempts = record.get("attempts")
    row = {
        "point": point, "backend": _scalar(record.get("backend") or options.get("name")),
        "status": _scalar(record.get("status")), "n_qubits": _number(cfg.get("n_qubits")),
        "noise_strength": _number(cfg.get("noise_strength")),
        "threads": _scalar(_dict(record.get("environment")).get("threads")),
        "attempts": len(attempts) if isinstance(attempts, list) else 0, "reason": _scalar(reason),
        "run_id": _scalar(record.get("run_id")), "started_at": _text(stamps.get("started_at")),
        "completed_at": _text(stamps.get("completed_at")), "fidelity_method": _scalar(metrics.get("fidelity_method")),
        "repetitions_stop": _text(metrics.get("repetitions_stop")),
        "replicate": _number(_dict(cfg.get("execution")).get("replicate", 0)),  # the first replicate's record omits it
    }
    for key in ("circuit_type", "depth", "noise_model", "shots", "seed"):
        row[key] = _scalar(cfg.get(key))
    # a QASM file by its name, an MQT Bench circuit by benchmark and level; what each timed run computed
    row["circuit"] = _scalar(canonical.label(row["circuit_type"], _dict(cfg.get("circuit_options"))))
    row["compute"] = _scalar(cfg.get("compute") or "sampling")
    for key in SERIES_OPTIONS:
        row[key] = _scalar(options.get(key))
    if "execution_time_samples" not in metrics and isinstance(metrics.get("execution_times_seconds"), list):
        # a record from before the statistics were recorded: worked out from its samples
        samples = [t for t in metrics["execution_times_seconds"] if _number(t) is not None]
        metrics = {**metrics, **(stats.describe(samples) if samples else {})}
    for key in METRICS:
        row[key] = _number(metrics.get(key))
    return row


def _overrides(sweep_dir: Path) -> list[str]:
    import yaml  # Hydra's own dependency; only this small file needs it

    try:
        with open(sweep_dir / "multirun.yaml") as f:
            task = yaml.safe_load(f)["hydra"]["overrides"]["task"]
        return [str(o) for o in task] if isinstance(task, list) else []
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []


def read_without_histogram(path: Path) -> dict | None:
    """records.read, minus the cost of parsing the histogram: it is most of a record's bytes
    (2^n keys) and the summary drops it anyway. qbench writes `"histogram": {` inside
    `"measurements"` with bitstring keys, so the first `}` after it closes it; if the text
    without it does not parse, the file is read the ordinary way."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    start = data.find(HISTOGRAM, data.find(b'"measurements": {'))
    if start >= 0:
        try:
            return json.loads(data[:start + len(HISTOGRAM)] + data[data.find(b"}", start):])
        except ValueError:
            pass
    return records.read(path)


def load(sweep_dir: Path) -> Summary:
    sweep_dir = Path(sweep_dir)
    paths = records.find_results(sweep_dir)
    rows, kept, points = [], [], []
    for path in paths:
        point = path.parent.relative_to(sweep_dir).as_posix()
        record = read_without_histogram(path)
        if not isinstance(record, dict) or "status" not in record:
            rows.append({"point": point, "status": records.UNREADABLE,
                         "reason": "result.json is not a valid record (truncated or corrupt JSON)"})
            continue
        rows.append(csv_row(record, point))
        _dict(record.get("measurements")).pop("histogram", None)
        kept.append(record)
        points.append(point)
    if not rows:
        raise NoResults(f"{sweep_dir} has no result.json: nothing to summarize")
    done = {path.parent.name for path in paths}
    missing = sorted(e.name for e in os.scandir(sweep_dir)
                     if e.is_dir() and e.name not in done and os.path.isdir(os.path.join(e.path, ".hydra")))
    ids = Counter(r.get("benchmark_id") for r in kept if r.get("benchmark_id"))
    benchmark_id = ids.most_common(1)[0][0] if ids else sweep_dir.resolve().name
    summary = Summary(sweep_dir, str(benchmark_id), rows, kept, missing, Counter(r["status"] for r in rows),
                      _overrides(sweep_dir))
    summary.points = points
    summary.not_started = never_started(sweep_dir)
    return summary


def never_started(sweep_dir: Path) -> list[str]:
    """The points of the sweep's plan (sweep_folder.PLAN_FILE, written at launch) that no folder holds: a
    killed sweep's report names them instead of counting only what ran. Each as its overrides' text."""
    planned = sweep_folder.planned_points(sweep_dir)
    if not planned:
        return []
    present = set(sweep_folder.point_folders(sweep_dir))
    return [" ".join(point) for point in planned if tuple(sorted(point)) not in present]


def _json_keys(value):
    """JSON object keys are text: qubit counts and noise strengths become "8" and "0.05"."""
    if isinstance(value, dict):
        return {(f"{k:g}" if isinstance(k, float) else str(k)): _json_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_keys(v) for v in value]
    return value


def summary_json(summary: Summary) -> dict:
    starts = [r["started_at"] for r in summary.rows if r.get("started_at")]
    ends = [r["completed_at"] for r in summary.rows if r.get("completed_at")]
    counts = summary.counts
    return {
        "benchmark_id": summary.benchmark_id, "started_at": min(starts, default=None),
        "completed_at": max(ends, default=None), "total_runs": len(summary.rows),
        "successful": counts["success"], "failed": summary.failed, "skipped": counts["skipped"],
        "unavailable": counts["unavailable"], "unreadable": counts[records.UNREADABLE], "status_counts": dict(counts),
        "missing_points": summary.missing, "not_started_points": summary.not_started, "dropped_fields": DROPPED_FIELDS, "results": summary.records,
    }


def results_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write(summary: Summary) -> list[Path]:
    from qbench.results import plots
    from qbench.results import report

    directory = summary.directory
    records.write_atomic(directory / "summary.json", summary_json(summary))
    scaling = {w: {s: [{"from": a, "to": b, "factor": f} for a, b, f in steps] for s, steps in curves.items()}
               for w, curves in summary.scalability.items()}
    comparison = dict(summary.comparison, scalability=scaling, crosscheck=summary.crosscheck)
    if summary.noise:
        comparison["noise_tolerance"] = summary.noise
    records.write_atomic(directory / "comparison.json", _json_keys(comparison))
    records.write_text_atomic(directory / "results.csv", results_csv(summary.rows))
    charts = plots.draw(summary)  # before the report, which shows only the charts that exist
    records.write_text_atomic(directory / "report.md", report.render(summary, charts))
    return [directory / name for name in ("summary.json", "comparison.json", "results.csv", "report.md")] + charts


def update_latest(outputs: Path) -> Path | None:
    """Point outputs/latest at the newest bench_* sweep in it: a relative link, swapped in with one
    rename so that readers always find a whole link."""
    sweeps = sorted(p.name for p in Path(outputs).glob(f"{SWEEP_PREFIX}*") if p.is_dir())
    link = Path(outputs) / LATEST
    if not sweeps or (link.exists() and not link.is_symlink()):
        return None
    if link.is_symlink() and os.readlink(link) == sweeps[-1]:
        return link
    tmp = link.with_name(f".{LATEST}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(sweeps[-1], tmp)
        os.replace(tmp, link)
    except OSError as exc:  # e.g. a file system without symbolic links: the summary still stands
        log.warning("could not point %s at %s: %s", link, sweeps[-1], exc)
        return None
    return link


def latest_sweep(outputs: Path = Path("outputs")) -> Path:
    """outputs/latest, re-pointed first: a killed sweep never reached the callback that moves it."""
    update_latest(outputs)
    return Path(outputs) / LATEST


def summarize(sweep_dir: Path) -> tuple[Summary, list[Path]]:
    summary = analyse(load(sweep_dir))
    written = write(summary)
    update_latest(Path(sweep_dir).absolute().parent)
    return summary, written


def after_multirun(sweep_dir: Path) -> None:
    """Called by qbench.callbacks when a multirun ends."""
    try:
        summary, written = summarize(sweep_dir)
    except NoResults as exc:
        log.info("%s", exc)
        update_latest(Path(sweep_dir).absolute().parent)
        return
    log.info("summary: %s", ", ".join(p.name for p in written))
    log.info("report: %s", summary.directory / "report.md")
