"""OpenQASM files qbench did not write (Qiskit's qasm2/qasm3 exports of its circuit library, hand-written
files with custom gates), read into canonical circuits: the decomposition is checked against Qiskit's own
state vector of the original circuit, and every refusal is one line naming the file's line."""
import math
from pathlib import Path

import numpy as np
import pytest

from qbench.backends.base import little_endian_to_canonical
from qbench.circuits import canonical as circuits
from qbench.circuits import qasm_import, reference
from qbench.circuits.model import Gate, clifford_gates

FILES = Path(__file__).resolve().parent / "qasm"  # files written by hand, as a user would
CUSTOM_GATES = (FILES / "custom_gates.qasm").read_text()
CLIFFORD_ANGLES = (FILES / "clifford_angles.qasm").read_text()
# file -> what qbench refuses in it; the refused line is marked `// REFUSED` in the file
REFUSED = {"mid_circuit.qasm": "mid-circuit measurement", "mid_circuit3.qasm": "mid-circuit measurement",
           "reset.qasm": "reset", "classical_control.qasm": "classical control",
           "classical_control3.qasm": "classical control"}


def refused_line(name: str) -> int:
    return next(i for i, line in enumerate((FILES / name).read_text().splitlines(), 1) if "// REFUSED" in line)


def qiskit_state(qc) -> np.ndarray:
    """Qiskit's own state of a circuit (measurements removed), in qbench's bit order."""
    from qiskit.quantum_info import Statevector

    return little_endian_to_canonical(Statevector(qc.remove_final_measurements(inplace=False)).data, qc.num_qubits)


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def library_circuits():
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import QFTGate, quantum_volume

    qft = QuantumCircuit(4)
    qft.x([0, 2])
    qft.append(QFTGate(4), range(4))
    custom = QuantumCircuit(3, name="custom")
    sub = QuantumCircuit(2, name="entangle")
    sub.h(0)
    sub.cx(0, 1)
    sub.rzz(0.7, 0, 1)
    custom.append(sub.to_gate(), [0, 2])
    custom.ccx(0, 1, 2)
    custom.cswap(2, 0, 1)
    custom.measure_all()
    return {"qft": qft, "quantum_volume": quantum_volume(4, seed=7), "custom": custom}


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("name", ["qft", "quantum_volume", "custom"])
def test_qiskit_exports_decompose_to_the_same_state(tmp_path, name, version):
    from qiskit import qasm2, qasm3

    original = library_circuits()[name]
    dumps = qasm2.dumps if version == 2 else qasm3.dumps
    path = write(tmp_path, f"{name}.qasm", dumps(original.decompose() if version == 2 else original))
    circuit = circuits.build("qasm", None, path=str(path))
    assert circuit.n_qubits == original.num_qubits
    assert {g.name for g in circuit.gates} <= set(circuits.GATES)
    assert reference.state_fidelity(qiskit_state(original), reference.statevector(circuit)) > 1 - 1e-9
    meta = circuit.metadata
    assert meta["qasm_version"] == version and meta["file_name"] == f"{name}.qasm" and len(meta["sha256"]) == 64
    assert meta["qubits_before"] == meta["qubits_after"] == original.num_qubits
    assert meta["gate_count_after"] == circuit.gate_count and sum(meta["gates_after"].values()) == circuit.gate_count


def test_custom_gates_ccx_cu1_u3_rzz_cswap_and_barriers(tmp_path):
    from qiskit import qasm2

    path = write(tmp_path, "custom.qasm", CUSTOM_GATES)
    circuit = circuits.build("qasm", None, path=str(path))
    original = qasm2.loads(CUSTOM_GATES, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    assert reference.state_fidelity(qiskit_state(original), reference.statevector(circuit)) > 1 - 1e-9
    before = circuit.metadata["gates_before"]
    assert before["majority"] == 1 and before["measure"] == 4 and before["barrier"] == 1
    assert circuit.metadata["gate_count_before"] == 8  # h u3 cu1 rzz cswap majority u rz: barrier, measure not counted
    # u3 and u stay one canonical u each (no rz.ry.rz triple), ccx becomes Clifford+T
    assert {"u", "t", "tdg", "cx"} <= set(circuit.metadata["gates_after"])
    assert not circuit.is_clifford and "t" in circuit.non_clifford_gates()


def test_the_same_file_is_the_same_circuit_and_its_hash_changes_with_it(tmp_path):
    path = write(tmp_path, "c.qasm", CUSTOM_GATES)
    a = circuits.build("qasm", None, path=str(path))
    b = circuits.build("qasm", 4, path=str(path))
    assert a.fingerprint() == b.fingerprint()
    path.write_text(CUSTOM_GATES.replace("rz(pi/2)", "rz(pi/3)"))
    c = circuits.build("qasm", None, path=str(path))
    assert c.fingerprint() != a.fingerprint() and c.metadata["sha256"] != a.metadata["sha256"]


def test_clifford_angles_are_recognised_so_stim_runs_the_file(tmp_path):
    path = write(tmp_path, "clifford.qasm", CLIFFORD_ANGLES)
    circuit = circuits.build("qasm", None, path=str(path))
    assert circuit.is_clifford, circuit.non_clifford_gates()
    assert not circuits.build("qasm", None, path=str(write(tmp_path, "t.qasm", CLIFFORD_ANGLES.replace(
        "rz(pi/2)", "rz(pi/4)")))).is_clifford


@pytest.mark.parametrize("name, angles", [("rz", (k * math.pi / 2,)) for k in range(-4, 5)]
                         + [("rx", (k * math.pi / 2,)) for k in range(-4, 5)]
                         + [("ry", (k * math.pi / 2,)) for k in range(-4, 5)]
                         + [("u", (a * math.pi / 2, b * math.pi / 2, c * math.pi / 2))
                            for a, b, c in [(1, 0, 2), (1, 1, 1), (2, 3, 0), (3, -1, 1), (0, 0, 1)]])
def test_clifford_forms_are_the_gate_up_to_a_global_phase(name, angles):
    gate = Gate(name, (0,), angles)
    parts = clifford_gates(gate)
    assert parts is not None and all(circuits.GATES[p.name][2] for p in parts)
    product = np.eye(2, dtype=complex)
    for part in parts:
        product = reference.gate_matrix(part) @ product
    overlap = abs(np.trace(product.conj().T @ reference.gate_matrix(gate))) / 2
    assert overlap == pytest.approx(1.0, abs=1e-12)


def test_controlled_phase_of_pi_is_cz_and_other_angles_are_not_clifford():
    assert [g.name for g in clifford_gates(Gate("cp", (0, 1), (math.pi,)))] == ["cz"]
    assert clifford_gates(Gate("cp", (0, 1), (2 * math.pi,))) == ()
    assert clifford_gates(Gate("cp", (0, 1), (math.pi / 2,))) is None
    assert clifford_gates(Gate("rz", (0,), (0.3,))) is None and clifford_gates(Gate("t", (0,))) is None


@pytest.mark.parametrize("name", REFUSED)
def test_refusals_name_the_line_of_the_file(name):
    with pytest.raises(circuits.CircuitInputError) as refused:
        circuits.build("qasm", None, path=str(FILES / name))
    message = str(refused.value)
    assert "\n" not in message and f"line {refused_line(name)}:" in message and REFUSED[name] in message, message


def test_statement_lines_skip_comments_and_count_broadcast_measurements():
    text = "OPENQASM 2.0;\n// comment; with a semicolon\nqreg a[2];\nqreg b[3];\nmeasure a -> c;\nmeasure b[1] -> d[0];\n"
    statements = qasm_import.split_statements(text)
    assert statements[1] == (3, "qreg a[2]")
    # measurements 0-1 come from line 5 (register a), measurement 2 from line 6
    assert [qasm_import.refused_line(statements, "mid-circuit measurement", i) for i in (0, 1, 2)] == [5, 5, 6]


def test_a_file_that_is_not_openqasm_is_one_line_naming_it(tmp_path):
    path = write(tmp_path, "nonsense.qasm", "OPENQASM 2.0;\nqreg q[2];\nfoo q[0];\n")
    with pytest.raises(circuits.CircuitInputError) as refused:
        circuits.build("qasm", None, path=str(path))
    assert str(refused.value).startswith(f"circuit.path={path}: OpenQASM 2") and "\n" not in str(refused.value)
    with pytest.raises(circuits.CircuitInputError, match="No such file"):
        circuits.build("qasm", None, path=str(tmp_path / "missing.qasm"))
    with pytest.raises(circuits.CircuitInputError, match="disagrees"):
        circuits.build("qasm", 3, path=str(write(tmp_path, "ok.qasm", CUSTOM_GATES)))
