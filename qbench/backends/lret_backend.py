"""LRET (github.com/kunal5556/LRET): a C++ low-rank density-matrix simulator, rho = L L^dagger.

`lret-phase7` and `lret-cirq-scalability` run its CLI `quantum_sim` in JSON mode (`--input-json F
--output-json G`), the only way it takes an arbitrary circuit; the two are builds of two branches
(`phase-7`, `cirq-scalability-comparison`, which adds a native DEPOLARIZE op). The timed `run` is
one invocation of the CLI, as its users run it: process start, simulation, LRET's own sampling of
`shots` outcomes, the output file. LRET's own numbers (`execution_time_ms`, simulation only, and
`final_rank`) are recorded beside qbench's in config.backend_options.

`lret-pennylane` runs the same engine through its PennyLane device `qlret.mixed` (Python package
`qlret` from LRET's python/ directory, not on PyPI), which drives `quantum_sim` the same way.

No LRET code or binary ships with qbench: build it yourself (README "QuEST and LRET").
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from qbench.circuits import reference
from qbench.backends.base import Backend, RunSpec, little_endian_to_canonical
from qbench.backends.subprocesses import die_with_parent  # the same need: no child outlives a killed worker
from qbench.circuits.canonical import Circuit, Gate
from qbench.circuits.noise import Channel, Noise, placed

EXECUTABLE = "quantum_sim"
# canonical gate -> LRET JSON op (json_interface.cpp); LRET has no controlled phase: see to_lret.
LRET_GATES = {"h": "H", "x": "X", "y": "Y", "z": "Z", "s": "S", "sdg": "SDG", "t": "T", "tdg": "TDG",
              "rx": "RX", "ry": "RY", "rz": "RZ", "cx": "CNOT", "cz": "CZ", "swap": "SWAP"}
DECOMPOSED = {"cp": "U1(t/2) a; CNOT a,b; U1(-t/2) b; CNOT a,b; U1(t/2) b (exact, no global phase)",
              "u": "RZ(l); RY(t); RZ(p) for u(t, p, l) (exact up to a global phase)"}
REPOSITORY = "https://github.com/kunal5556/LRET"


def kraus_op(channel: Channel) -> dict:
    """A KRAUS op with the reference's own Kraus operators: LRET applies it as written."""
    return {"name": "KRAUS", "wires": [channel.qubit],
            "kraus_operators": [{"real": k.real.tolist(), "imag": k.imag.tolist()}
                                for k in reference.kraus_operators(channel)]}


def to_lret(circuit: Circuit, noise: Noise, depolarize_op: bool = False) -> list[dict]:
    """The canonical circuit with the channels of `noise`, as LRET JSON operations.

    Wires are qubit numbers; the first wire of CNOT is the control. Gate noise is a KRAUS op after
    each gate (or, where the build has it, DEPOLARIZE(p), X/Y/Z each p/3 as qbench defines it).
    Readout noise is a bit flip on every qubit just before measurement: the same distribution as
    flipping each measured bit, since LRET's JSON mode has no measurement noise of its own.
    """
    ops: list[dict] = []
    for item in placed(circuit, noise):
        if not isinstance(item, Gate):
            if depolarize_op and item.name == "depolarizing":
                ops.append({"name": "DEPOLARIZE", "wires": [item.qubit], "params": [item.strength]})
            else:
                ops.append(kraus_op(item))
        elif item.name == "cp":
            (a, b), (theta,) = item.qubits, item.params
            ops += [{"name": "U1", "wires": [a], "params": [theta / 2]}, {"name": "CNOT", "wires": [a, b]},
                    {"name": "U1", "wires": [b], "params": [-theta / 2]}, {"name": "CNOT", "wires": [a, b]},
                    {"name": "U1", "wires": [b], "params": [theta / 2]}]
        elif item.name == "u":
            (q,), (theta, phi, lam) = item.qubits, item.params
            ops += [{"name": "RZ", "wires": [q], "params": [lam]}, {"name": "RY", "wires": [q], "params": [theta]},
                    {"name": "RZ", "wires": [q], "params": [phi]}]
        else:
            ops.append({"name": LRET_GATES[item.name], "wires": list(item.qubits),
                        **({"params": list(item.params)} if item.params else {})})
    if noise.name == "readout":
        ops += [kraus_op(Channel("bit_flip", noise.readout, q)) for q in range(circuit.n_qubits)]
    return ops


def histogram_from_indices(indices, n_qubits: int) -> dict[str, int]:
    """LRET's samples are basis indices with qubit 0 as the least significant bit -> canonical bitstrings."""
    outcomes, counts = np.unique(np.asarray(indices, dtype=np.int64), return_counts=True)
    return {format(int(i), f"0{n_qubits}b")[::-1]: int(c) for i, c in zip(outcomes, counts)}


@functools.lru_cache(maxsize=None)
def _version(executable: str) -> str | None:
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


class LretError(RuntimeError):
    """quantum_sim failed."""


class LretBackend(Backend):
    forkable = False  # each run starts quantum_sim: spawned workers
    precisions = ("double",)  # Eigen MatrixXcd: complex<double> throughout
    extra_options = ()  # its options are the constructor's named ones
    # The memory guard counts a dense density matrix: to sample, JSON mode forms rho = L L^dagger (4^n).
    representation = "density_matrix"
    noise_methods = ("density_matrix",)  # the (truncated) density matrix, exact up to LRET's epsilon

    def __init__(self, *args, executable: str | None = None, on_path: bool = True, branch: str = "phase-7",
                 epsilon: float = 1e-4, depolarize_op: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.executable_option, self.on_path, self.branch = executable, on_path, branch
        self.epsilon, self.depolarize_op = epsilon, depolarize_op
        self._calls: list[dict] = []
        self._tmp: tempfile.TemporaryDirectory | None = None

    # -- cheap checks ------------------------------------------------------------------------
    def candidates(self) -> list[str]:
        """Where quantum_sim may be: backend.executable, else `quantum_sim` on PATH (if on_path),
        then backends/<name>/build/quantum_sim under the cwd (the original design's places)."""
        if self.executable_option:
            return [str(Path(self.executable_option).expanduser().absolute())]
        found = [f"{EXECUTABLE} on PATH"] if self.on_path else []
        return [*found, str(Path.cwd() / "backends" / self.name / "build" / EXECUTABLE)]

    def executable(self) -> str | None:
        for place in self.candidates():
            path = shutil.which(EXECUTABLE) if place.endswith(" on PATH") else place
            if path and os.path.isfile(path) and os.access(path, os.X_OK):
                return str(Path(path).absolute())
        return None

    def available(self):
        if self.device == "GPU":
            return "qbench drives LRET's CPU build (its GPU build needs cuQuantum and is not wired here)"
        if self.executable() is None:
            return (f"LRET's {EXECUTABLE} not found at {' or '.join(self.candidates())}: build branch "
                    f"'{self.branch}' of {REPOSITORY} and set backend.executable=/path/to/{EXECUTABLE}")
        return None

    def versions(self):
        executable = self.executable()
        return {EXECUTABLE: _version(executable) if executable else None}

    def describe(self):
        reported = [json.loads(call["raw"]) for call in self._calls]
        return {**super().describe(), "executable": self.executable(), "branch": self.branch,
                "epsilon": self.epsilon, "decomposed": DECOMPOSED,
                "noise_ops": "DEPOLARIZE (depolarizing), KRAUS (others)" if self.depolarize_op else "KRAUS",
                "sampler_seed": "LRET seeds its sampler from the clock: shots are not reproducible by seed",
                # LRET's own report of every call of the point (dry run, warm-ups, timed runs, in order):
                "lret_execution_time_ms": [r["execution_time_ms"] for r in reported],
                "lret_final_rank": [r["final_rank"] for r in reported]}

    # -- the timed protocol --------------------------------------------------------------------
    def _document(self, circuit: Circuit, spec: RunSpec, shots: int, export_state: bool) -> dict:
        config = {"epsilon": self.epsilon, "initial_rank": 1, "export_state": export_state,
                  "num_threads": spec.threads}  # num_threads: read by the cirq-scalability branch only
        if shots:
            config["shots"] = shots
        return {"circuit": {"num_qubits": circuit.n_qubits,
                            "operations": to_lret(circuit, Noise.of(spec), self.depolarize_op)},
                "config": config}

    def prepare(self, circuit: Circuit, spec: RunSpec):
        if self._tmp is not None:
            self._tmp.cleanup()
        self._tmp = tempfile.TemporaryDirectory(prefix="qbench-lret-")
        folder = Path(self._tmp.name)
        (folder / "run.json").write_text(json.dumps(self._document(circuit, spec, spec.shots, False)))
        (folder / "state.json").write_text(json.dumps(self._document(circuit, spec, 0, True)))
        self._calls = []
        env = dict(os.environ, OMP_NUM_THREADS=str(spec.threads))
        return {"n_qubits": circuit.n_qubits, "folder": folder, "env": env, "executable": self.executable()}

    def _invoke(self, prepared, name: str) -> dict:
        """Run quantum_sim on `name`.json; returns its output bytes and the process's peak RSS."""
        folder = prepared["folder"]
        output = folder / f"{name}.out.json"
        output.unlink(missing_ok=True)
        process = subprocess.Popen([prepared["executable"], "--input-json", str(folder / f"{name}.json"),
                                    "--output-json", str(output)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=prepared["env"], preexec_fn=die_with_parent)
        errors = process.stderr.read()
        process.stderr.close()
        _, status, usage = os.wait4(process.pid, 0)  # wait4: this child's own peak memory
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0 or not output.exists():
            raise LretError(f"{EXECUTABLE} exited with {process.returncode}: "
                            f"{errors.decode(errors='replace').strip() or 'no output file'}")
        return {"raw": output.read_bytes(), "peak_rss_mb": usage.ru_maxrss / 1024}

    def run(self, prepared):
        call = self._invoke(prepared, "run")
        self._calls.append(call)
        return call["raw"]

    def histogram(self, prepared, raw):
        return histogram_from_indices(json.loads(raw)["samples"], prepared["n_qubits"])

    def final_state(self, prepared):
        """The noiseless state: LRET's exported factor L is the state vector when its rank is 1."""
        state = json.loads(self._invoke(prepared, "state")["raw"])["state"]
        L = (np.asarray(state["L_real"]) + 1j * np.asarray(state["L_imag"])).reshape(state["rows"], state["cols"])
        return little_endian_to_canonical(L[:, 0], prepared["n_qubits"]) if L.shape[1] == 1 else None

    def child_peak_rss_mb(self, prepared) -> float | None:
        return max((call["peak_rss_mb"] for call in self._calls), default=None)


class LretPennylaneBackend(LretBackend):
    """LRET through its PennyLane device `qlret.mixed`: a QNode returning `qml.sample()`, which the
    device hands to quantum_sim in JSON mode (qml.counts is refused by the device)."""

    modules = ("qlret", "pennylane")
    packages = ("qlret", "pennylane")

    def available(self):
        if importlib.util.find_spec("qlret") is None:
            return ("Python module 'qlret' is not installed (LRET's python/ package, not on PyPI: "
                    f"pip install -e <LRET checkout>/python, from {REPOSITORY})")
        return super().available()

    def versions(self):
        return {**Backend.versions(self), **super().versions()}

    def describe(self):
        details = super().describe()
        return {**details, "device_name": "qlret.mixed", "lret_execution_time_ms": None, "lret_final_rank": None,
                "reported": "qlret.mixed does not pass LRET's execution_time_ms or final_rank on"}

    def prepare(self, circuit: Circuit, spec: RunSpec):
        import pennylane as qml
        import qlret

        from qbench.backends.pennylane_backend import apply_pennylane

        # qlret starts quantum_sim with the worker's environment, OMP_NUM_THREADS included.
        qlret.set_executable_path(self.executable())
        noise = Noise.of(spec)
        device = qml.device("qlret.mixed", wires=circuit.n_qubits, epsilon=self.epsilon)

        @qml.set_shots(spec.shots)
        @qml.qnode(device)
        def sample():
            apply_pennylane(circuit, noise)
            if noise.name == "readout":  # a bit flip on every qubit before measurement, as to_lret does
                for wire in range(circuit.n_qubits):
                    qml.BitFlip(noise.readout, wires=wire)
            return qml.sample()

        self._calls = []
        return {"qnode": sample, "n_qubits": circuit.n_qubits}

    def run(self, prepared):
        return prepared["qnode"]()

    def histogram(self, prepared, raw):
        return histogram_from_indices(raw, prepared["n_qubits"])

    def final_state(self, prepared):
        return None  # qlret.mixed returns no state: verified on its histogram

    def child_peak_rss_mb(self, prepared):
        return None  # qlret's subprocess is not ours to wait on

