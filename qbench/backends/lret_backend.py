"""LRET (github.com/kunal5556/LRET): a C++ low-rank density-matrix simulator, rho = L L^dagger.

`lret-phase7` and `lret-cirq-scalability` run its CLI `quantum_sim` in JSON mode (`--input-json F
--output-json G`), the only way it takes an arbitrary circuit; the two are builds of two branches
(`phase-7`, `cirq-scalability-comparison`, which adds a native DEPOLARIZE op). The timed `run` is
one invocation of the CLI, as its users run it: process start, simulation, LRET's own sampling of
`shots` outcomes, the output file. LRET's own numbers (`execution_time_ms`, simulation only, and
`final_rank`) are recorded beside qbench's in config.backend_options.

`lret-pennylane` (qbench.backends.lret_pennylane_backend) runs the same engine through its
PennyLane device `qlret.mixed`.

Which build is which: both report `QuantumLRET-Sim v1.0.0`, so `available()` probes a binary
with a one-qubit DEPOLARIZE job (cached per executable): only cirq-scalability-comparison runs it.
Every LRET backend finds `quantum_sim` by one rule (`LretBackend.candidates`) and takes the first
build of its own branch.

No child outlives a killed worker: quantum_sim starts under util-linux `setpriv --pdeathsig KILL`
(the death signal survives execve, and subprocess can still vfork: no preexec_fn); a worker killed
at its timeout has its own processes killed first (`Worker.kill_with_helpers`: setpriv sets the
signal only once it runs); and a point's
files live in a `Scratch` folder that a guardian removes if the worker is SIGKILLed.

No LRET code or binary ships with qbench: build it yourself (README "QuEST and LRET").
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from qbench import pipes
from qbench.circuits import reference
from qbench.backends.base import Backend, RunSpec, little_endian_to_canonical
from qbench.circuits.canonical import Circuit, Gate
from qbench.circuits.noise import Channel, Noise, placed

EXECUTABLE = "quantum_sim"
# canonical gate -> LRET JSON op (json_interface.cpp); LRET has no controlled phase: see to_lret.
LRET_GATES = {"h": "H", "x": "X", "y": "Y", "z": "Z", "s": "S", "sdg": "SDG", "t": "T", "tdg": "TDG",
              "rx": "RX", "ry": "RY", "rz": "RZ", "cx": "CNOT", "cz": "CZ", "swap": "SWAP"}
DECOMPOSED = {"cp": "U1(t/2) a; CNOT a,b; U1(-t/2) b; CNOT a,b; U1(t/2) b (exact, no global phase)",
              "u": "RZ(l); RY(t); RZ(p) for u(t, p, l) (exact up to a global phase)"}
REPOSITORY = "https://github.com/kunal5556/LRET"
# The branch of a build -> its folder under backends/ in the cwd (the original design's places).
BUILD_FOLDERS = {"phase-7": "lret-phase7", "cirq-scalability-comparison": "lret-cirq-scalability"}
PROBE_JOB = {"circuit": {"num_qubits": 1, "operations": [{"name": "DEPOLARIZE", "wires": [0], "params": [0.1]}]},
             "config": {"epsilon": 1e-4, "shots": 1}}
PROBE_TIMEOUT_SECONDS = 30


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


# -- launching quantum_sim ---------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def death_signal() -> tuple[tuple[str, ...], object, str]:
    """(command prefix, preexec_fn, description): how a quantum_sim child dies with its worker.

    util-linux `setpriv --pdeathsig KILL --` sets the death signal and execs the command (the signal
    survives execve), so subprocess launches by vfork. A preexec_fn would force a full fork of the
    worker (~330 MB: 7.7 ms per launch instead of 1.9 ms): only where setpriv lacks --pdeathsig
    (util-linux < 2.33, e.g. RHEL 8)."""
    setpriv = shutil.which("setpriv")
    if setpriv:
        try:
            works = subprocess.run([setpriv, "--pdeathsig", "KILL", "--", "true"], capture_output=True,
                                   timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            works = False
        if works:
            return (setpriv, "--pdeathsig", "KILL", "--"), None, "setpriv --pdeathsig KILL (util-linux)"
    if sys.platform.startswith("linux"):
        from qbench.backends.subprocesses import die_with_parent

        return (), die_with_parent, "preexec_fn prctl(PR_SET_PDEATHSIG) (no setpriv --pdeathsig: a full fork per launch)"
    return (), None, "none (no setpriv, not Linux): quantum_sim may outlive a killed worker"


def launch(command: list[str], **kwargs) -> subprocess.Popen:
    """Start `command` (quantum_sim ...) so that it is SIGKILLed when this process dies."""
    prefix, preexec, _ = death_signal()
    return subprocess.Popen([*prefix, *command], preexec_fn=preexec, **kwargs)


# A child's ru_maxrss (wait4, RUSAGE_CHILDREN) is at least its parent's resident size when it was
# started: until its exec it shares (vfork) or copies (fork) the parent's memory, and exec records
# that memory's peak. So a quantum_sim started by a 300 MB worker reports >= 300 MB whatever it used.
# Started by this small launcher (`python -I -S`, ~10 MB), it reports its own peak (above ~10 MB).
MEASURE = ("import os, sys; pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ); "
           "_, status, usage = os.wait4(pid, 0); open(sys.argv[1], 'w').write(str(usage.ru_maxrss)); "
           "sys.exit(os.waitstatus_to_exitcode(status))")
SMALL_LAUNCHER = "one more untimed call, started by a small launcher that wait4s on quantum_sim"


def measuring(command: list[str], peak_file: Path) -> list[str]:
    """`command` (an absolute path first) under the small launcher, which writes its peak RSS (KiB)
    to `peak_file`; the launcher itself goes to `launch`, which gives it the death signal."""
    return [sys.executable, "-I", "-S", "-c", MEASURE, str(peak_file), *death_signal()[0], *command]


class Scratch:
    """A point's temporary folder, removed even when its worker is SIGKILLed (a timeout).

    A guardian `sh` in a session of its own (a kill of the worker's process group spares it) waits
    on a pipe that only this process holds; when the pipe closes, this process is gone, and the
    guardian removes the folder, and again a second later (a child killed with the worker may have
    been writing into it). A normal end removes the folder here and kills the guardian.
    """

    GUARD = 'read _; rm -rf -- "$0"; sleep 1; rm -rf -- "$0"'

    def __init__(self, prefix: str = "qbench-lret-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._guardian = subprocess.Popen(["/bin/sh", "-c", self.GUARD, str(self.path)], stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._guardian.poll() is None:
            self._guardian.kill()
        self._guardian.wait()
        self._guardian.stdin.close()


@functools.lru_cache(maxsize=None)
def _probe(executable: str, stamp: tuple) -> tuple[str | None, str]:
    """(branch, what the probe saw) for the binary `executable` at `stamp` (its mtime and size)."""
    with tempfile.TemporaryDirectory(prefix="qbench-lret-probe-") as folder:
        job, out = Path(folder, "probe.json"), Path(folder, "probe.out.json")
        job.write_text(json.dumps(PROBE_JOB))
        try:
            process = launch([executable, "--input-json", str(job), "--output-json", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            stdout, stderr = process.communicate(timeout=PROBE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None, f"the DEPOLARIZE probe ran past {PROBE_TIMEOUT_SECONDS} s"
        except OSError as exc:
            return None, f"the DEPOLARIZE probe could not start it: {exc}"
        said = (stderr or stdout).strip().splitlines()
        said = said[-1].strip() if said else "no output file"
        try:
            ran = process.returncode == 0 and json.loads(out.read_text()).get("status") == "success"
        except (OSError, ValueError, AttributeError):
            ran = False
    if ran:
        return "cirq-scalability-comparison", "it runs DEPOLARIZE"
    if "Unsupported gate: DEPOLARIZE" in stderr:
        return "phase-7", f"it refuses DEPOLARIZE: {said}"
    return None, f"the DEPOLARIZE probe exited with {process.returncode}: {said}"


def probe(executable: str) -> tuple[str | None, str]:
    """Which LRET branch a quantum_sim was built from (both report the same version): a one-qubit
    DEPOLARIZE job runs on cirq-scalability-comparison only, phase-7 refuses it. Cached per binary."""
    status = os.stat(executable)
    return _probe(executable, (status.st_mtime_ns, status.st_size))


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
        self._scratch: Scratch | None = None
        self._resolved: tuple[str | None, str | None] | None = None
        self._peak: tuple[float | None, str | None] = (None, None)  # quantum_sim's peak MB, how it was read

    # -- which quantum_sim -------------------------------------------------------------------
    def candidates(self) -> list[str]:
        """Where quantum_sim may be, the same rule for every LRET backend: backend.executable alone;
        else `quantum_sim` on PATH (if on_path), then backends/<build folder of the branch>/build/quantum_sim
        under the cwd (lret-phase7 for phase-7, lret-cirq-scalability for cirq-scalability-comparison)."""
        if self.executable_option:
            return [str(Path(self.executable_option).expanduser().absolute())]
        found = [f"{EXECUTABLE} on PATH"] if self.on_path else []
        folder = BUILD_FOLDERS.get(self.branch, self.name)
        return [*found, str(Path.cwd() / "backends" / folder / "build" / EXECUTABLE)]

    def resolve(self) -> tuple[str | None, str | None]:
        """(the first candidate built from this backend's branch, None), or (None, why none)."""
        if self._resolved is None:
            seen = []
            for place in self.candidates():
                path = shutil.which(EXECUTABLE) if place.endswith(" on PATH") else place
                if not (path and os.path.isfile(path) and os.access(path, os.X_OK)):
                    continue
                path = str(Path(path).absolute())
                branch, detail = probe(path)
                if branch == self.branch:
                    self._resolved = (path, None)
                    return self._resolved
                what = f"a {branch} build" if branch else "not a working quantum_sim"
                seen.append(f"{path} is {what} ({detail})")
            advice = f"build branch '{self.branch}' of {REPOSITORY} and set backend.executable=/path/to/{EXECUTABLE}"
            if seen:
                reason = (f"{self.name} needs a {EXECUTABLE} built from LRET branch '{self.branch}': "
                          f"{'; '.join(seen)}: {advice}")
            else:
                reason = f"LRET's {EXECUTABLE} not found at {' or '.join(self.candidates())}: {advice}"
            self._resolved = (None, reason)
        return self._resolved

    def executable(self) -> str | None:
        return self.resolve()[0]

    def available(self):
        if self.device == "GPU":
            return "qbench drives LRET's CPU build (its GPU build needs cuQuantum and is not wired here)"
        return self.resolve()[1]

    def load(self) -> None:
        super().load()
        self.resolve()  # the probe belongs to the worker's start, not to a point's convert time

    def versions(self):
        executable = self.executable()
        return {EXECUTABLE: _version(executable) if executable else None}

    def describe(self):
        reported = [json.loads(call["raw"]) for call in self._calls]
        executable = self.executable()
        return {**super().describe(), "executable": executable, "branch": self.branch,
                "branch_probe": probe(executable)[1] if executable else None,
                "epsilon": self.epsilon, "decomposed": DECOMPOSED,
                "noise_ops": "DEPOLARIZE (depolarizing), KRAUS (others)" if self.depolarize_op else "KRAUS",
                "sampler_seed": "LRET seeds its sampler from the clock: shots are not reproducible by seed",
                "parent_death": death_signal()[2],
                "quantum_sim_peak_mb": self._peak[0], "quantum_sim_peak": self._peak[1],
                # LRET's own report of every call of the point (dry run, warm-ups, timed runs, in order):
                "lret_execution_time_ms": [r["execution_time_ms"] for r in reported],
                "lret_final_rank": [r["final_rank"] for r in reported]}

    # -- the timed protocol --------------------------------------------------------------------
    def new_scratch(self) -> Path:
        """A fresh folder for this point's files; the previous point's is removed."""
        if self._scratch is not None:
            self._scratch.close()
        self._scratch = Scratch()
        return self._scratch.path

    def _document(self, circuit: Circuit, spec: RunSpec, shots: int, export_state: bool) -> dict:
        config = {"epsilon": self.epsilon, "initial_rank": 1, "export_state": export_state,
                  "num_threads": spec.threads}  # num_threads: read by the cirq-scalability branch only
        if shots:
            config["shots"] = shots
        return {"circuit": {"num_qubits": circuit.n_qubits,
                            "operations": to_lret(circuit, Noise.of(spec), self.depolarize_op)},
                "config": config}

    def prepare(self, circuit: Circuit, spec: RunSpec):
        folder = self.new_scratch()
        (folder / "run.json").write_text(json.dumps(self._document(circuit, spec, spec.shots, False)))
        (folder / "state.json").write_text(json.dumps(self._document(circuit, spec, 0, True)))
        self._calls, self._peak = [], (None, None)
        env = dict(os.environ, OMP_NUM_THREADS=str(spec.threads))
        return {"n_qubits": circuit.n_qubits, "folder": folder, "env": env, "executable": self.executable()}

    def _invoke(self, prepared, name: str) -> dict:
        """Run quantum_sim on `name`.json; returns its output bytes and the process's peak RSS."""
        folder = prepared["folder"]
        output = folder / f"{name}.out.json"
        output.unlink(missing_ok=True)
        process = launch([prepared["executable"], "--input-json", str(folder / f"{name}.json"),
                          "--output-json", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=prepared["env"])
        errors = process.stderr.read()
        process.stderr.close()
        _, status, usage = os.wait4(process.pid, 0)  # wait4: this child's own peak memory (setpriv execs it)
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
        """quantum_sim's peak over the point's calls: wait4's, when it tops this process's own peak
        (then it is quantum_sim's own, see MEASURE); otherwise one more untimed call, measured."""
        peak = max((call["peak_rss_mb"] for call in self._calls), default=None)
        if peak is not None and peak > (pipes.peak_rss_mb() or 0.0):
            self._peak = (peak, "wait4 on each quantum_sim of the point (above this process's own peak)")
            return peak
        folder = prepared["folder"]
        process = launch(measuring([prepared["executable"], "--input-json", str(folder / "run.json"),
                                    "--output-json", str(folder / "measure.out.json")], folder / "peak_kb"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=prepared["env"])
        _, errors = process.communicate()
        if process.returncode != 0:
            raise LretError(f"{EXECUTABLE} exited with {process.returncode} (memory measurement): "
                            f"{errors.decode(errors='replace').strip()}")
        self._peak = (int((folder / "peak_kb").read_text()) / 1024, SMALL_LAUNCHER)
        return self._peak[0]
