"""Canonical, backend-neutral circuits.

A circuit is built once per (family, n_qubits, depth, seed) and then translated
by each backend adapter; no library ever generates its own "random" circuit.
Bit order everywhere: qubit 0 is the first character of a bitstring and the most
significant bit of a state-vector index.
"""
from __future__ import annotations

import math

import numpy as np

from qbench.circuits.model import (  # noqa: F401 - the canonical names, re-exported where they always were
    ANGLE_TOLERANCE, GATES, Circuit, CircuitInputError, CircuitUnavailable, Gate, clifford_gates)

# The synthetic families written here, the standard ones (qbench.circuits.families), MQT Bench's
# (qbench.circuits.mqt) and a user's OpenQASM file (qbench.circuits.qasm_import).
FAMILIES = ("ghz", "qft", "random", "random_clifford", "quantum_volume", "qaoa", "qpe", "iqft", "mqt", "qasm")
DEPTH_FAMILIES = ("random", "random_clifford")  # the families a `depth` shapes; for the others it means nothing
# Config keys of a circuit besides name/depth/seed, per family (conf/circuit/NAME.yaml): recorded as
# config.circuit_options, and passed to build().
OPTIONS = {"qaoa": ("p",), "mqt": ("benchmark", "level"), "qasm": ("path",)}


def ghz(n_qubits: int) -> Circuit:
    gates = [Gate("h", (0,))] + [Gate("cx", (q, q + 1)) for q in range(n_qubits - 1)]
    return Circuit("ghz", n_qubits, tuple(gates))


def qft(n_qubits: int, seed: int) -> Circuit:
    """QFT applied to a seeded computational basis state |x> (X gates first).

    The exact output is analytic at any size: amplitude e^{2 pi i x k / 2^n} / sqrt(2^n)
    in the textbook convention, so the ideal distribution is uniform.
    """
    rng = np.random.default_rng(seed)
    bits = [int(b) for b in rng.integers(0, 2, n_qubits)]
    gates = [Gate("x", (q,)) for q, b in enumerate(bits) if b]
    for j in range(n_qubits):
        gates.append(Gate("h", (j,)))
        for k in range(j + 1, n_qubits):
            gates.append(Gate("cp", (k, j), (math.pi / 2 ** (k - j),)))
    for q in range(n_qubits // 2):
        gates.append(Gate("swap", (q, n_qubits - 1 - q)))
    return Circuit("qft", n_qubits, tuple(gates), seed=seed, metadata={"input_bits": bits})


def _brickwork_pairs(n_qubits: int, layer: int) -> list[tuple[int, int]]:
    start = layer % 2
    return [(q, q + 1) for q in range(start, n_qubits - 1, 2)]


def random_circuit(n_qubits: int, depth: int, seed: int) -> Circuit:
    """`depth` layers of random rx/ry/rz rotations on every qubit then a brickwork of CZs."""
    rng = np.random.default_rng(seed)
    gates: list[Gate] = []
    for layer in range(depth):
        for q in range(n_qubits):
            name = ("rx", "ry", "rz")[int(rng.integers(3))]
            gates.append(Gate(name, (q,), (float(rng.uniform(0, 2 * math.pi)),)))
        gates.extend(Gate("cz", pair) for pair in _brickwork_pairs(n_qubits, layer))
    return Circuit("random", n_qubits, tuple(gates), depth_param=depth, seed=seed)


def random_clifford(n_qubits: int, depth: int, seed: int) -> Circuit:
    """`depth` layers of random one-qubit Cliffords then a brickwork of randomly oriented CXs."""
    rng = np.random.default_rng(seed)
    singles = ("h", "s", "sdg", "x", "y", "z")
    gates: list[Gate] = []
    for layer in range(depth):
        for q in range(n_qubits):
            gates.append(Gate(singles[int(rng.integers(len(singles)))], (q,)))
        for a, b in _brickwork_pairs(n_qubits, layer):
            gates.append(Gate("cx", (a, b) if rng.integers(2) else (b, a)))
    return Circuit("random_clifford", n_qubits, tuple(gates), depth_param=depth, seed=seed)


def build(family: str, n_qubits: int | None, depth: int | None = None, seed: int = 0, **options) -> Circuit:
    """The one place a canonical circuit is made from its config (options: OPTIONS[family]).

    n_qubits None is allowed for `qasm` only: the file says. Raises CircuitInputError for a source
    that is bad input, CircuitUnavailable where the generator cannot make that size.
    """
    if family == "ghz":
        return ghz(n_qubits)
    if family == "qft":
        return qft(n_qubits, seed)
    if family == "random":
        return random_circuit(n_qubits, depth, seed)
    if family == "random_clifford":
        return random_clifford(n_qubits, depth, seed)
    if family in ("quantum_volume", "qaoa", "qpe", "iqft"):
        from qbench.circuits import families

        return families.build(family, n_qubits, seed, **options)
    if family == "mqt":
        from qbench.circuits import mqt

        return mqt.generate(options.get("benchmark"), options.get("level"), n_qubits, seed)
    if family == "qasm":
        from qbench.circuits import qasm_import

        circuit = qasm_import.load(options.get("path"))
        if n_qubits is not None and n_qubits != circuit.n_qubits:
            raise CircuitInputError(qasm_import.disagreement(options.get("path"), n_qubits, circuit.n_qubits))
        return circuit
    raise ValueError(f"unknown circuit family {family!r}; allowed: {', '.join(FAMILIES)}")


def circuit_options(circuit_cfg: dict) -> dict:
    """The options of a circuit config that build() takes besides name/depth/seed ({} for the first four)."""
    return {key: circuit_cfg.get(key) for key in OPTIONS.get(circuit_cfg.get("name"), ())}


def build_from_config(circuit_cfg: dict, n_qubits: int | None) -> Circuit:
    """build() of a composed `circuit` config node (as plain data) and the top-level n_qubits."""
    return build(circuit_cfg["name"], n_qubits, circuit_cfg.get("depth"), circuit_cfg.get("seed"),
                 **circuit_options(circuit_cfg))


def build_from_record(config: dict) -> Circuit | None:
    """The circuit a record's `config` ran, rebuilt (for its circuit.qasm artifact); None where that is not
    possible any more: an unknown family, a size that could not be made, a QASM file changed since."""
    family, options = config.get("circuit_type"), config.get("circuit_options") or {}
    if family not in FAMILIES or not config.get("n_qubits"):
        return None
    try:
        circuit = build(family, config["n_qubits"], config.get("depth"), config.get("circuit_seed"),
                        **{k: options.get(k) for k in OPTIONS.get(family, ())})
    except (CircuitInputError, CircuitUnavailable, ValueError, TypeError):
        return None
    if family == "qasm" and options.get("qasm_sha256") != circuit.metadata.get("sha256"):
        return None
    return circuit


def source_identity(circuit_cfg: dict) -> dict:
    """What besides its config decides a circuit: the QASM file's content, the MQT Bench version.
    Cheap (no import of Qiskit or MQT Bench); part of a point's run_id."""
    name = circuit_cfg.get("name")
    if name == "qasm":
        from qbench.circuits import qasm_import

        return {"qasm_sha256": qasm_import.file_sha256(circuit_cfg.get("path"))}
    if name == "mqt":
        from qbench.circuits import mqt

        return {"mqt_bench_version": mqt.version()}
    return {}


def label(circuit_type, options: dict | None = None) -> str:
    """How reports name a circuit: its family, the file name of a QASM file, the benchmark and level of MQT's."""
    options = options or {}
    if circuit_type == "qasm" and options.get("path"):
        return f"qasm:{str(options['path']).replace(chr(92), '/').rsplit('/', 1)[-1]}"
    if circuit_type == "mqt" and options.get("benchmark"):
        return f"mqt:{options['benchmark']}" + (f"({options['level']})" if options.get("level") else "")
    return str(circuit_type)
