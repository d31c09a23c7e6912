"""A Qiskit QuantumCircuit (from an OpenQASM file, MQT Bench or Qiskit's library) as a canonical circuit.

Final measurements and barriers are dropped (qbench measures every qubit at the end, as for its own
families); whatever else is not a gate (a mid-circuit measurement, reset, classical control) is
refused. The rest is decomposed into qbench's gate set (model.GATES) by Qiskit's own transpiler at
optimization_level=0: every gate is translated, none is merged, cancelled or reordered. Called
outside any timed window (the Hydra job builds the circuit before its worker starts).
"""
from __future__ import annotations

from collections import Counter

from qbench.circuits.model import GATES, Circuit, CircuitInputError, Gate

BASIS = list(GATES)  # Qiskit's names for these gates are the same
DROPPED = ("barrier", "id", "delay", "global_phase")  # no-ops for a simulation from |0...0>
# Qiskit's control-flow instructions: classical control of any kind.
CONTROL_FLOW = ("if_else", "while_loop", "for_loop", "switch_case", "box", "break_loop", "continue_loop")


class Refusal(CircuitInputError):
    """A non-unitary instruction: `kind` (mid-circuit measurement, reset, classical control) and which
    instruction of its kind it is (`index`, 0 = the first), so an importer can name its source line."""

    def __init__(self, kind: str, index: int, detail: str):
        super().__init__(f"{kind} ({detail})")
        self.kind, self.index, self.detail = kind, index, detail


def unitary_part(qc):
    """The circuit without its final measurements and no-op instructions; Refusal for anything non-unitary.

    A measurement is final when no later instruction but a measurement or barrier touches its qubit.
    """
    from qiskit import QuantumCircuit

    measured: set = set()
    counts: Counter = Counter()
    kept = []
    for instruction in qc.data:
        name, qubits = instruction.operation.name, instruction.qubits
        if name in CONTROL_FLOW or getattr(instruction.operation, "condition", None) is not None:
            counts["classical control"] += 1
            raise Refusal("classical control", counts["classical control"] - 1, f"'{name}' instruction")
        if name == "reset":
            counts["reset"] += 1
            raise Refusal("reset", counts["reset"] - 1, "qbench simulates from |0...0> without resets")
        if name == "measure":
            counts["measure"] += 1
            measured.update(qubits)
            continue
        if name in DROPPED:
            continue
        touched = [q for q in qubits if q in measured]
        if touched:
            raise Refusal("mid-circuit measurement", _last_measure_of(qc, touched[0], instruction),
                          f"'{name}' acts on qubit {qc.find_bit(touched[0]).index} after it was measured; "
                          "qbench measures every qubit once, at the end")
        kept.append(instruction)
    out = QuantumCircuit(*qc.qregs, name=qc.name)
    for q in qc.qubits:  # loose qubits (no register) too
        if q not in out.qubits:
            out.add_bits([q])
    for instruction in kept:
        out.append(instruction.operation, instruction.qubits)
    return out


def _last_measure_of(qc, qubit, before) -> int:
    """Index, among all measurements of the circuit, of the last one on `qubit` before instruction `before`."""
    index, found = -1, 0
    for instruction in qc.data:
        if instruction is before:
            break
        if instruction.operation.name == "measure":
            if qubit in instruction.qubits:
                found = index + 1
            index += 1
    return found


def decompose(qc):
    """Qiskit's transpiler at optimization_level=0 into the canonical basis (no layout: no coupling map)."""
    from qiskit import transpile

    try:
        return transpile(qc, basis_gates=BASIS, optimization_level=0)
    except Exception as exc:  # noqa: BLE001 - the transpiler's own reason, e.g. an opaque gate without definition
        raise CircuitInputError(f"Qiskit's transpiler cannot decompose it into {', '.join(BASIS)}: "
                                f"{' '.join(str(exc).split())}") from exc


def to_canonical(qc, family: str, metadata: dict, seed: int | None = None) -> Circuit:
    """The whole conversion: unitary part -> decomposition -> canonical gates. metadata gains the
    qubit and gate counts before and after decomposition."""
    before = {name: int(k) for name, k in qc.count_ops().items()}
    unitary = unitary_part(qc)
    if unitary.parameters:
        raise CircuitInputError(f"the circuit has unbound parameters ({', '.join(p.name for p in unitary.parameters)})")
    decomposed = decompose(unitary)
    gates = []
    for instruction in decomposed.data:
        name = instruction.operation.name
        if name in DROPPED:
            continue
        if name not in GATES:
            raise CircuitInputError(f"decomposition left '{name}', which is not a canonical gate")
        gates.append(Gate(name, tuple(decomposed.find_bit(q).index for q in instruction.qubits),
                          tuple(float(p) for p in instruction.operation.params)))
    after = Counter(g.name for g in gates)
    metadata = {**metadata, "qubits_before": qc.num_qubits, "gates_before": before,
                "gate_count_before": sum(k for name, k in before.items() if name not in ("barrier", "measure")),
                "qubits_after": decomposed.num_qubits, "gates_after": dict(sorted(after.items())),
                "gate_count_after": len(gates), "global_phase_dropped": float(decomposed.global_phase)}
    return Circuit(family, decomposed.num_qubits, tuple(gates), seed=seed, metadata=metadata)
