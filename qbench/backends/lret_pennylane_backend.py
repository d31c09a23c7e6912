"""lret-pennylane: LRET through its PennyLane device `qlret.mixed` (Python package `qlret` from
LRET's python/ directory, not on PyPI), which runs `quantum_sim` in JSON mode for every execution.

qlret starts quantum_sim itself (`subprocess.run` on the path given to `qlret.set_executable_path`,
its JSON files from `tempfile.NamedTemporaryFile` in the default temporary folder). So that no
child and no file outlives a worker killed on timeout, qbench hands qlret a two-line `sh` wrapper
in the point's `Scratch` folder, `exec setpriv --pdeathsig KILL -- quantum_sim "$@"`, and points
`tempfile.tempdir` (the tempfile module's documented default folder) at that folder while the
QNode runs. quantum_sim's peak memory is read from this process's reaped children
(RUSAGE_CHILDREN), because qlret's subprocess is not ours to wait4 on (or, where that cannot tell,
from one more call under lret_backend's small launcher).
"""
from __future__ import annotations

import importlib.util
import resource
import shlex
import tempfile
from pathlib import Path

from qbench import pipes
from qbench.backends.base import Backend, RunSpec
from qbench.backends.lret_backend import (EXECUTABLE, REPOSITORY, SMALL_LAUNCHER, LretBackend, death_signal,
                                          histogram_from_indices, measuring)
from qbench.circuits.canonical import Circuit
from qbench.circuits.noise import Noise


def children_peak_kb() -> int:
    """The largest peak RSS of any child this process has reaped so far (KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def write_wrapper(path: Path, command: list[str]) -> str:
    path.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(part) for part in command) + ' "$@"\n')
    path.chmod(0o700)
    return str(path)


class LretPennylaneBackend(LretBackend):
    """A QNode returning `qml.sample()` on qlret.mixed (the device refuses qml.counts)."""

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

        folder = self.new_scratch()  # first: the previous point's guardian is reaped before the baseline
        prefix = list(death_signal()[0])
        # qlret starts quantum_sim with the worker's environment, OMP_NUM_THREADS included.
        qlret.set_executable_path(write_wrapper(folder / EXECUTABLE, [*prefix, self.executable()]))
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

        self._calls, self._peak = [], (None, None)
        return {"qnode": sample, "n_qubits": circuit.n_qubits, "folder": folder, "prefix": prefix,
                "children_before_kb": children_peak_kb()}

    def run(self, prepared):
        saved, tempfile.tempdir = tempfile.tempdir, str(prepared["folder"])  # qlret's JSON files go there
        try:
            return prepared["qnode"]()
        finally:
            tempfile.tempdir = saved

    def histogram(self, prepared, raw):
        return histogram_from_indices(raw, prepared["n_qubits"])

    def final_state(self, prepared):
        return None  # qlret.mixed returns no state: verified on its histogram

    def child_peak_rss_mb(self, prepared):
        """quantum_sim's peak over the point's calls: the largest reaped child of this process
        (RUSAGE_CHILDREN), when it tops both that before the point and this process's own peak (then
        it is this point's quantum_sim, see lret_backend.MEASURE); otherwise one more untimed call
        through a wrapper that runs quantum_sim under the small launcher."""
        after = children_peak_kb() / 1024
        if after > max(prepared["children_before_kb"] / 1024, pipes.peak_rss_mb() or 0.0):
            self._peak = (after, "the largest child of this process (RUSAGE_CHILDREN), above its own peak")
            return after
        import qlret

        folder = prepared["folder"]
        command = [*death_signal()[0], *measuring([self.executable()], folder / "peak_kb")]
        qlret.set_executable_path(write_wrapper(folder / "measure_quantum_sim", command))
        try:
            self.run(prepared)
        finally:
            qlret.set_executable_path(str(folder / EXECUTABLE))
        self._peak = (int((folder / "peak_kb").read_text()) / 1024, SMALL_LAUNCHER)
        return self._peak[0]
