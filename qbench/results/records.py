"""The result record: its schema, its stable id, and the one place files are written whole."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = "1.0"
RESULT_FILE = "result.json"
FAILED_STATUSES = ("error", "timeout")
UNREADABLE = "unreadable"  # the status a result.json that does not parse counts as (a failed point)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def run_id(point: dict, versions: dict) -> str:
    """Stable id of a point: the same config on the same package versions gives the same id."""
    payload = json.dumps({"point": point, "versions": versions}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def task_config(cfg) -> dict:
    """A composed config as plain data, without Hydra's own node (unresolvable outside a job)."""
    from omegaconf import OmegaConf

    if isinstance(cfg, dict):
        return {k: v for k, v in cfg.items() if k != "hydra"}
    task_part = OmegaConf.masked_copy(cfg, [key for key in cfg.keys() if key != "hydra"])
    return OmegaConf.to_container(task_part, resolve=True)


def point_config(cfg: dict) -> dict:
    """The record's `config` section of a plain task config, with the original design's field names."""
    config = {
        "n_qubits": cfg["n_qubits"],
        "depth": cfg["circuit"].get("depth"),
        "circuit_type": cfg["circuit"]["name"],
        "circuit_seed": cfg["circuit"].get("seed"),
        "noise_model": cfg["noise"]["name"],
        "noise_strength": cfg["noise"]["strength"],
        "mode": cfg["backend"].get("method"),
        "shots": cfg["shots"],
        "seed": cfg["seed"],
        "backend_options": {k: v for k, v in cfg["backend"].items() if k not in ("_target_",)},
        "execution": dict(cfg["execution"]),
    }
    if not config["execution"].get("replicate"):  # the first (or only) replicate: run_ids stay as they were
        config["execution"].pop("replicate", None)
    if cfg["noise"]["name"] != "none":  # only then: noiseless run_ids stay as they were
        config["noise_method"] = cfg["noise"].get("method")
    from qbench.circuits import canonical

    options = canonical.circuit_options(cfg["circuit"])
    if options:  # qaoa, mqt, qasm only (the file's sha256, MQT Bench's version): other run_ids stay as they were
        config["circuit_options"] = {**options, **canonical.source_identity(cfg["circuit"])}
    if cfg.get("compute", "sampling") != "sampling":  # likewise: sampling points keep their run_ids
        config["compute"] = cfg["compute"]
        config["observable"] = cfg.get("observable") if cfg["compute"] == "expectation" else None
    return config


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see either the old one or the whole new one, never half.
    The file gets the mode any new file gets here (0666 less the umask), not mkstemp's 0600."""
    write_bytes_atomic(path, text.encode())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """write_text_atomic for bytes (charts)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, record: dict) -> None:
    """A JSON document written whole (see write_text_atomic)."""
    write_text_atomic(path, json.dumps(record, indent=2, default=str))


def read(path: Path) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def find_results(sweep_dir: Path) -> list[Path]:
    return sorted(Path(sweep_dir).glob(f"*/{RESULT_FILE}")) + sorted(Path(sweep_dir).glob(RESULT_FILE))
