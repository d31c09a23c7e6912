"""Reading two sweeps and pairing their points for `qbench compare` (qbench.results.compare).

A point's keys are named as on the command line (backend.threads, circuit.depth, execution.heap;
environment.* and package.* for where it ran). Two points are the same point when MATCH_KEYS agree,
and the options a sweep varies among such points (SPLIT: backend.precision=single,double) agree too.
`--by KEY=A:B` leaves KEY out of the matching and pairs BASE's KEY=A points with NEW's KEY=B points.
The replicates of one point (REPLICATE_KEY: `execution.replicate=range(3)`) are one point with a group of
samples per replicate, never matched on.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from qbench.results import records
from qbench.results.summary import read_without_histogram

# What a point computes: two points are the same point only if all of these agree.
MATCH_KEYS = ("backend.name", "circuit.name", "circuit.fingerprint", "n_qubits", "noise.name", "noise.strength",
              "shots", "backend.method", "compute")
# Keys that change the circuit itself: comparing across them (--by) cannot match the fingerprint.
CIRCUIT_KEYS = ("circuit.name", "circuit.depth", "circuit.seed", "n_qubits")
# Where each part of a record lands among its keys; environment keys are shown, never matched.
# Which replicate of a point a record is: its own process at its own time of the sweep (README "Comparing two sweeps").
REPLICATE_KEY = "execution.replicate"
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
    keys.setdefault(REPLICATE_KEY, 0)  # the first replicate's record leaves it out (its run_id stays as it was)
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
    name: str  # its folder in the sweep (the first replicate's)
    record: dict  # the first replicate's
    keys: dict
    samples: list[float]  # every replicate's, pooled
    groups: list[list[float]] | None = None  # one list per replicate (default: [samples])
    records: list[dict] | None = None  # one per replicate (default: [record])

    def __post_init__(self):
        self.groups = self.groups or [self.samples]
        self.records = self.records or [self.record]


def pools_replicates(by: By | None) -> bool:
    """Whether a point's replicates are pooled into one point: always, but where `--by
    execution.replicate=0:1` compares two replicates instead."""
    return not (by and by.key == REPLICATE_KEY)


def pooled(replicates: list[Point]) -> Point:
    """The replicates of one point (execution.replicate=0,1,...) as one point: their samples pooled, and
    kept apart by replicate, so the comparison can tell the spread between processes from within one."""
    if len(replicates) == 1:
        return replicates[0]
    first = replicates[0]
    return Point(first.name, first.record, first.keys, [t for p in replicates for t in p.samples],
                 [p.samples for p in replicates], [p.record for p in replicates])


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
    if key in identity or (by and key == by.key) or key in ("circuit.fingerprint", REPLICATE_KEY):
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
    duplicates: int  # records dropped because a newer record of the same point (and replicate) was in the same sweep


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

    pool = pools_replicates(by)

    def index(points: list[Point]) -> tuple[dict, int]:
        out, dropped = {}, 0
        for p in sorted(points, key=lambda p: str(_dict(p.record.get("timestamps")).get("completed_at") or "")):
            replicates = out.setdefault(tuple(p.keys.get(k) for k in full), {})
            replicate = p.keys.get(REPLICATE_KEY) if pool else None
            dropped += replicate in replicates
            replicates[replicate] = p  # the newest record of a point (replicate) run twice wins
        merged = {key: pooled([replicates[r] for r in sorted(replicates, key=lambda r: r or 0)])
                  for key, replicates in out.items()}
        return merged, dropped

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
