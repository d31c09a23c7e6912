"""Names as people write them, for `qbench ask`: backends, circuit families, noise models.

Every name comes from what is configured here: the backend group's options (`qbench backends`),
the circuit and noise yaml files that ship (qbench.conf.shipped_options). A yaml added later is
understood by its own name without a code change; the aliases below are only other spellings of
names that may exist, and an alias whose name is not configured is refused with that reason.
Small typos are read as the nearest name (one edit for short names, two for long ones) and the
reading is reported ("understood 'quiskit' as qiskit-aer"), never applied silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from qbench.conf import CONF_DIR, shipped_options

# Other spellings of names (design: agent4's tables; the libraries' own names for themselves).
BACKEND_ALIASES = {
    "qiskit-aer": ("qiskit", "aer", "aer simulator", "aersimulator", "qiskit aer simulator", "qiskit aer"),
    "qsim": ("qsimcirq", "qsim cirq"),
    "pennylane": ("penny lane", "lightning", "lightning qubit", "pennylane lightning"),
    "lret-phase7": ("lret", "lret phase 7"),
    "cuquantum": ("cu quantum", "custatevec"),
    "cirq": (), "stim": (), "quest": (), "lret-cirq-scalability": (), "lret-pennylane": (),  # the design's
}
FAMILY_ALIASES = {
    "random_clifford": ("clifford", "cliffords", "random cliffords"),
    "qft": ("quantum fourier transform", "fourier transform", "fourier"),
    "iqft": ("inverse qft", "inverse quantum fourier transform", "inverse fourier transform"),
    "quantum_volume": ("quantum volume", "qv"),
    "qpe": ("phase estimation", "quantum phase estimation"),
    "qaoa": ("maxcut qaoa",),
    "mqt": ("mqt bench", "mqtbench"),
    "qasm": ("openqasm",),
}
MODEL_ALIASES = {
    "depolarizing": ("depolarising", "depolarization", "depolarisation", "depolarize"),
    "readout": ("readout error", "measurement error", "readout errors", "measurement errors"),
    "phase_flip": ("dephasing",),
}
KIND_WORDS = {"backend": "backend", "family": "circuit family", "model": "noise model"}


def key(text: str) -> str:
    """A name however it is joined or cased: 'Qiskit Aer', 'qiskit-aer', 'qiskit_aer' -> 'qiskitaer'."""
    return re.sub(r"[\s_.-]+", "", text.lower())


def distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from a to b."""
    prev2, prev = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            row.append(cost)
        prev2, prev = prev, row
    return prev[-1]


@lru_cache(maxsize=256)
def _read(path: str, mtime_ns: int) -> dict:
    """A yaml file's keys, read once per version of the file (libyaml when there is one)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(), Loader=loader) or {}


def read_yaml(path: Path) -> dict:
    return _read(str(path), path.stat().st_mtime_ns)


def _family_configs() -> dict[str, dict]:
    return {name: read_yaml(CONF_DIR / "circuit" / f"{name}.yaml") for name in shipped_options("circuit")}


def _compute_modes() -> list[str] | None:
    """The compute modes this qbench has: a `compute` group, or the design's three once
    config.yaml has a top-level `compute` key; None while it has neither (checked at run time)."""
    group = shipped_options("compute")
    if group:
        return group
    return ["sampling", "statevector", "expectation"] if "compute" in read_yaml(CONF_DIR / "config.yaml") else None


@dataclass
class Catalog:
    """What the request may name, as configured here."""
    backends: list[str]                 # options of the backend group (available or not)
    available: list[str]                # those `qbench backends` reports available, in its order
    families: dict[str, dict]           # circuit family -> its yaml (depth, path, ... keys)
    models: list[str]                   # noise models, "none" excluded
    presets: list[str]
    compute: list[str] | None           # compute modes, None: no `compute` option yet
    observable: bool = False            # a top-level `observable` key exists

    @classmethod
    def build(cls, backend_rows: list, presets: list[str] | None = None, families: dict | None = None,
              compute: list[str] | None | str = "configured", observable: bool | None = None) -> "Catalog":
        """From `qbench backends` rows; the rest from the shipped configs unless given (tests)."""
        config = read_yaml(CONF_DIR / "config.yaml")
        return cls(
            backends=[row.option for row in backend_rows],
            available=[row.option for row in backend_rows if row.available],
            families=_family_configs() if families is None else families,
            models=[m for m in shipped_options("noise") if m != "none"],
            presets=shipped_options("experiment") if presets is None else presets,
            compute=_compute_modes() if compute == "configured" else compute,
            observable="observable" in config if observable is None else observable,
        )

    def takes_depth(self, family: str) -> bool:
        """Only families whose yaml gives a depth take one (today random and random_clifford)."""
        return self.families.get(family, {}).get("depth") is not None

    def needs_input(self, family: str) -> str | None:
        """The key a family cannot run without (qasm's path), if any."""
        for name, value in self.families.get(family, {}).items():
            if name in ("path", "benchmark") and (value is None or value == "???"):
                return name
        return None

    def runnable_families(self) -> list[str]:
        """"All circuit types": the built-in families, not those that import a circuit from a
        file (`path`) or a suite (`benchmark`: MQT Bench)."""
        return [f for f in self.families if not {"path", "benchmark"} & set(self.families[f])]

    def backend_options(self, backend: str) -> dict | None:
        """A shipped backend's config keys (None for one qbench does not ship)."""
        path = CONF_DIR / "backend" / f"{backend}.yaml"
        return read_yaml(path) if path.exists() else None

    def names(self) -> dict[str, tuple[str, str]]:
        """key -> (kind, canonical name): every name and alias whose name exists here, plus aliases
        of names that do not (kind 'absent-KIND'), so that they are refused with the reason. A key
        that could be two things is the backend (written last), else the family."""
        table: dict[str, tuple[str, str]] = {}
        for kind, present, aliases in (("model", self.models, MODEL_ALIASES),
                                       ("family", list(self.families), FAMILY_ALIASES),
                                       ("backend", self.backends, BACKEND_ALIASES)):
            for name, spelled in aliases.items():
                for alias in (name, *spelled):
                    table[key(alias)] = (kind if name in present else f"absent-{kind}", name)
            for name in present:
                table[key(name)] = (kind, name)
        return table


def closest(word: str, table: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    """The one name a typo is nearest to, or None (too short, too far, or two names as near)."""
    if len(word) < 4 or not word.isalpha():
        return None
    allowed = 1 if len(word) < 8 else 2
    best, found = allowed + 1, set()
    for name_key, entry in table.items():
        if len(name_key) < 4 or entry[0].startswith("absent") or abs(len(name_key) - len(word)) > allowed:
            continue
        d = distance(word, name_key)
        if d < best:
            best, found = d, {entry}
        elif d == best:
            found.add(entry)
    return found.pop() if best <= allowed and len(found) == 1 else None
