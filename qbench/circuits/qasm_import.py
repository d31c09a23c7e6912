"""A user's OpenQASM 2 or 3 file as a canonical circuit (`circuit=qasm circuit.path=FILE`).

Read with Qiskit's own loaders: `qiskit.qasm2` (qelib1.inc gates as Qiskit's standard gates, custom
`gate` definitions, `include` next to the file) and `qiskit.qasm3` (through the pinned
qiskit-qasm3-import). Then `qiskit_convert`: final measurements and barriers dropped, everything
decomposed into the canonical gate set at optimization_level=0. A mid-circuit measurement, a reset or
classical control is refused as bad input naming the line of the file: Qiskit's circuits carry no
source positions, so the file's statements are scanned here to find that line.
"""
from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from qbench.circuits.model import Circuit, CircuitInputError

ALLOWED = "the path of an OpenQASM 2 or 3 file (circuit.path=my.qasm)"
_VERSION = re.compile(r"^\s*OPENQASM\s+(\d+)(?:\.\d+)?\s*$")
_KEYWORD = {"reset": re.compile(r"^reset\b"),
            "classical control": re.compile(r"^(if|while|for|switch|box)\b\s*[\s(]")}
_MEASURE = re.compile(r"\bmeasure\b")


def file_sha256(path) -> str | None:
    try:
        return hashlib.sha256(Path(str(path)).expanduser().read_bytes()).hexdigest()
    except (OSError, TypeError, ValueError):
        return None


def disagreement(path, given: int, in_file: int) -> str:
    return (f"n_qubits={given} disagrees with circuit.path={path}, which has {in_file} qubits; allowed: no "
            f"n_qubits (the file sets it) or n_qubits={in_file}")


def load(path) -> Circuit:
    """The file's circuit, canonical. CircuitInputError (one line, naming the file) for anything refused."""
    if not isinstance(path, str) or not path.strip():
        raise CircuitInputError(f"circuit.path={path!r} is not allowed; allowed: {ALLOWED}")
    resolved = Path(path).expanduser().absolute()
    try:
        stat = resolved.stat()
    except OSError as exc:
        raise CircuitInputError(f"circuit.path={path}: {exc.strerror or exc}; allowed: {ALLOWED}") from None
    if not resolved.is_file():
        raise CircuitInputError(f"circuit.path={path}: not a file; allowed: {ALLOWED}")
    return _load(str(resolved), stat.st_mtime_ns, stat.st_size, path)


@functools.lru_cache(maxsize=64)
def _load(resolved: str, _mtime_ns: int, _size: int, given: str) -> Circuit:
    """Cached per file version: pre-flight validates every point of a sweep over one file."""
    from qbench.circuits import qiskit_convert

    data = Path(resolved).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CircuitInputError(f"circuit.path={given}: not a text file; allowed: {ALLOWED}") from None
    statements = split_statements(text)
    version = _version(statements)
    qc = _parse(resolved, given, version)
    metadata = {"path": resolved, "file_name": Path(resolved).name, "sha256": hashlib.sha256(data).hexdigest(),
                "qasm_version": version}
    try:
        return qiskit_convert.to_canonical(qc, "qasm", metadata)
    except qiskit_convert.Refusal as refusal:
        line = refused_line(statements, refusal.kind, refusal.index)
        where = f" line {line}" if line else ""
        raise CircuitInputError(f"circuit.path={given}{where}: {refusal.kind} is not supported ({refusal.detail}); "
                                "allowed: gates, barriers and final measurements") from None
    except CircuitInputError as exc:
        raise CircuitInputError(f"circuit.path={given}: {exc}") from None


def _parse(resolved: str, given: str, version: int):
    try:
        if version == 2:
            from qiskit import qasm2

            return qasm2.load(resolved, include_path=(str(Path(resolved).parent), *qasm2.LEGACY_INCLUDE_PATH),
                              custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
                              custom_classical=qasm2.LEGACY_CUSTOM_CLASSICAL)
        from qiskit import qasm3

        return qasm3.load(resolved)
    except ImportError as exc:  # qiskit-qasm3-import missing: an installation problem, said plainly
        raise CircuitInputError(f"circuit.path={given}: reading OpenQASM 3 needs qiskit-qasm3-import ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - the loader's own parse error (QASM2ParseError, QASM3ImporterError, ...)
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise CircuitInputError(f"circuit.path={given}: OpenQASM {version} the loader refuses: {message}") from None


# ---- where in the file ------------------------------------------------------------------------------

def split_statements(text: str) -> list[tuple[int, str]]:
    """(line, text) of each statement, comments removed; a statement ends at `;`, `{` or `}`."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    statements, current, start, line = [], [], None, 1
    for char in text:
        if char in ";{}":
            if current and "".join(current).strip():
                statements.append((start, " ".join("".join(current).split())))
            current, start = [], None
        else:
            if start is None and not char.isspace():
                start = line
            if start is not None:
                current.append(char)
        if char == "\n":
            line += 1
    if current and "".join(current).strip():
        statements.append((start, " ".join("".join(current).split())))
    return statements


def _version(statements) -> int:
    for _, statement in statements[:1]:
        match = _VERSION.match(statement)
        if match:
            return int(match.group(1))
    return 3  # OpenQASM 3 lets a file leave its version out; 2 requires it


def _register_sizes(statements) -> dict[str, int]:
    sizes = {}
    for _, s in statements:
        for pattern in (r"^qreg\s+(\w+)\s*\[\s*(\d+)\s*\]$", r"^qubit\s*\[\s*(\d+)\s*\]\s*(\w+)$",
                        r"^qubit\s+(\w+)$", r"^qreg\s+(\w+)$"):
            match = re.match(pattern, s)
            if match:
                groups = match.groups()
                name, size = (groups[1], int(groups[0])) if groups[0].isdigit() else (groups[0], int(groups[1]) if len(groups) > 1 else 1)
                sizes[name] = size
    return sizes


def _operand_size(operand: str, sizes: dict[str, int]) -> int:
    """How many measure instructions a measure statement's operand (`q`, `q[3]`, `q[0:2]`) makes."""
    operand = operand.strip()
    match = re.match(r"^(\w+)\s*\[(.*)\]$", operand)
    if not match:
        return sizes.get(operand, 1)
    index = match.group(2).strip()
    if index.startswith("{"):
        return index.count(",") + 1
    bounds = [b.strip() for b in index.split(":")]
    if len(bounds) >= 2 and bounds[0].isdigit() and bounds[-1].isdigit():
        step = int(bounds[1]) if len(bounds) == 3 and bounds[1].isdigit() else 1
        return len(range(int(bounds[0]), int(bounds[-1]) + 1, max(step, 1)))
    return 1


def refused_line(statements, kind: str, index: int) -> int | None:
    """The line of the `index`-th instruction of `kind` (reset, classical control, mid-circuit measurement)."""
    if kind in _KEYWORD:
        lines = [line for line, s in statements if _KEYWORD[kind].match(s)]
        return lines[min(index, len(lines) - 1)] if lines else None
    sizes, seen = _register_sizes(statements), 0
    for line, s in statements:
        if not _MEASURE.search(s):
            continue
        operand = _MEASURE.split(s, maxsplit=1)[1].split("->")[0]
        seen += _operand_size(operand, sizes)
        if seen > index:
            return line
    return None
