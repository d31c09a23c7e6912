"""What a person watching a sweep sees: a line per finished point and a count at the end."""
from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

from qbench.circuits import canonical
from qbench.results import records

log = logging.getLogger("qbench")
SWEEP_SIZE_ENV = "QBENCH_SWEEP_SIZE"  # set by the qbench CLI after expanding the sweep


def point_line(record: dict) -> str:
    cfg = record.get("config", {})
    seconds = record.get("metrics", {}).get("execution_time_seconds")
    detail = f"{seconds:.4g}s" if seconds is not None else (record.get("reason") or "")
    noise = cfg.get("noise_model")
    noise_part = f" {noise}({cfg.get('noise_strength')})" if noise and noise != "none" else ""
    circuit = canonical.label(cfg.get("circuit_type"), cfg.get("circuit_options"))  # qasm:FILE, mqt:NAME(LEVEL)
    return (f"{record.get('backend')} {cfg.get('n_qubits')}q {circuit}{noise_part}: "
            f"{record['status']} {detail}")


def point_finished(record: dict, sweep_dir: Path) -> None:
    done = len(records.find_results(sweep_dir))
    total = os.environ.get(SWEEP_SIZE_ENV, "?")
    log.info("[%d/%s] %s", done, total, point_line(record))


def count_statuses(sweep_dir: Path) -> Counter:
    return Counter((records.read(p) or {}).get("status", records.UNREADABLE) for p in records.find_results(sweep_dir))


def failed_count(counts: Counter) -> int:
    """The points that count as failed: error, timeout, and a result.json that does not parse."""
    return sum(counts[s] for s in records.FAILED_STATUSES) + counts[records.UNREADABLE]


def final_line(counts: Counter) -> str:
    failed = failed_count(counts)
    return (f"{sum(counts.values())} points: {counts['success']} successful, "
            f"{counts['skipped'] + counts['unavailable']} skipped/unavailable, {failed} failed")
