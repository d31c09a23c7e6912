"""The result record: its schema, its stable id, and the one place it is written."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = "1.0"
RESULT_FILE = "result.json"
STATUSES = ("success", "error", "timeout", "skipped", "unavailable")
FAILED_STATUSES = ("error", "timeout")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def run_id(point: dict, versions: dict) -> str:
    """Stable id of a point: the same config on the same package versions gives the same id."""
    payload = json.dumps({"point": point, "versions": versions}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def write_atomic(path: Path, record: dict) -> None:
    """Write JSON so that readers see either the old file or the whole new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=2, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: Path) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def find_results(sweep_dir: Path) -> list[Path]:
    return sorted(Path(sweep_dir).glob(f"*/{RESULT_FILE}")) + sorted(Path(sweep_dir).glob(RESULT_FILE))
