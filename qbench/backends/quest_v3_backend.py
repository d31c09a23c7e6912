"""quest-v3: QuEST v3 (PyPI `pyquest` 0.0.1, CPU, OpenMP, double precision) in an interpreter of its own.

pyquest imports only with numpy < 2 and cirq requires numpy >= 2, so QuEST runs in a separate
interpreter (`make quest-env` builds .venv-quest). `load()` starts `quest_server.py` in it ONCE per
worker and keeps it alive; every later call is one round trip of a length-prefixed pickle over
pipes. The timed `run` is that round trip: QuEST simulates from |0...0>, computes the exact outcome
probabilities (calcProbOfAllOutcomes) and samples `shots` outcomes with a seeded NumPy generator in
the QuEST process (QuEST v3 has no multi-shot sampler). `QuestV3Backend.ping` measures the IPC part.

Noise: QuEST applies channels to density matrices only (mixDepolarising, mixDephasing, mixDamping,
mixPauli), so a noisy point on backend.method=statevector switches to createDensityQureg and says
so in its record (`method: density_matrix`, `noise_method: density_matrix`). QuEST refuses
strengths past a channel's maximally mixing limit (see STRENGTH_LIMITS): those points are skipped.
Readout noise flips the sampled bits in the QuEST process, as `qbench.noise` defines it.
"""
from __future__ import annotations

import functools
import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np

from qbench import pipes
from qbench.backends.base import Backend, RunSpec, little_endian_to_canonical
from qbench.backends.quest_common import QuestChannels
from qbench.backends.subprocesses import die_with_parent
from qbench.circuits.canonical import Circuit, Gate
from qbench.circuits.noise import Noise, placed

SERVER = Path(__file__).with_name("quest_server.py")
# Relative interpreter paths are looked up from the cwd, then from the checkout qbench runs from.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PYTHON_ENV = "QBENCH_QUEST_PYTHON"

# canonical gate -> (QuEST v3 function, parameters appended after the qubits)
QUEST_GATES = {"h": "hadamard", "x": "pauliX", "y": "pauliY", "z": "pauliZ", "s": "sGate", "t": "tGate",
               "rx": "rotateX", "ry": "rotateY", "rz": "rotateZ", "cx": "controlledNot",
               "cz": "controlledPhaseFlip", "swap": "swapGate", "cp": "controlledPhaseShift"}
# sdg/tdg are phase shifts: diag(1, e^{-i pi/2}) and diag(1, e^{-i pi/4}) exactly.
QUEST_PHASES = {"sdg": -math.pi / 2, "tdg": -math.pi / 4}
# qbench channel of strength p -> QuEST v3 call; mixDepolarising(p) is X, Y, Z each with p/3, as qbench defines it.
QUEST_CHANNELS = {"depolarizing": lambda q, p: ("mixDepolarising", (q, p)),
                  "bit_flip": lambda q, p: ("mixPauli", (q, p, 0.0, 0.0)),
                  "phase_flip": lambda q, p: ("mixDephasing", (q, p)),
                  "amplitude_damping": lambda q, p: ("mixDamping", (q, p))}
# QuEST v3 validation: a channel may not pass its maximally mixing point (error "cannot exceed ...").
STRENGTH_LIMITS = {"depolarizing": (0.75, "mixDepolarising"), "bit_flip": (0.5, "mixPauli"),
                   "phase_flip": (0.5, "mixDephasing")}
PRECISIONS = {1: "single", 2: "double", 4: "quad"}

_PROBE = ("import importlib.util as u, importlib.metadata as m, json; "
          "v = lambda d: m.version(d) if u.find_spec(d) else None; "
          "print(json.dumps({'pyquest': v('pyquest'), 'numpy': v('numpy')}))")


def interpreter_candidates(configured: str) -> list[Path]:
    """Where the QuEST interpreter may be: $QBENCH_QUEST_PYTHON or backend.python; relative paths from
    the cwd, then from the qbench checkout (so runs from any directory find the repo's .venv-quest)."""
    path = Path(os.environ.get(PYTHON_ENV) or configured).expanduser()
    if path.is_absolute():
        return [path]
    return list(dict.fromkeys([Path.cwd() / path, PROJECT_ROOT / path]))


@functools.lru_cache(maxsize=None)
def _probe(python: str) -> dict:
    """pyquest's and numpy's versions in that interpreter, without importing pyquest (no QuEST start)."""
    try:
        out = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{python} does not run: {exc}"}
    if out.returncode != 0:
        return {"error": f"{python} does not run: {(out.stderr.strip().splitlines() or ['no message'])[-1]}"}
    return json.loads(out.stdout)


def to_quest(circuit: Circuit, noise: Noise) -> list[tuple[str, tuple]]:
    """The canonical circuit with the channels of `noise`, as QuEST v3 calls (name, args)."""
    ops = []
    for item in placed(circuit, noise):
        if not isinstance(item, Gate):
            ops.append(QUEST_CHANNELS[item.name](item.qubit, item.strength))
        elif item.name in QUEST_PHASES:
            ops.append(("phaseShift", (*item.qubits, QUEST_PHASES[item.name])))
        elif item.name == "u":  # u(theta, phi, lambda) = rz(phi) ry(theta) rz(lambda) up to a global phase
            (q,), (theta, phi, lam) = item.qubits, item.params
            ops += [("rotateZ", (q, lam)), ("rotateY", (q, theta)), ("rotateZ", (q, phi))]
        else:
            ops.append((QUEST_GATES[item.name], (*item.qubits, *item.params)))
    return ops


class QuestError(RuntimeError):
    """The QuEST process refused a request or died."""


class QuestV3Backend(QuestChannels, Backend):
    strength_limits = STRENGTH_LIMITS
    forkable = False  # load() starts the QuEST interpreter: spawned workers
    packages = ("pyquest",)
    precisions = ("double",)  # the PyPI wheels are built with QuEST_PREC=2 (checked at load)
    noise_methods = ("density_matrix",)
    extra_options = ()  # its options are the constructor's named ones

    def __init__(self, *args, python: str = ".venv-quest/bin/python", **kwargs):
        super().__init__(*args, **kwargs)
        self.python_option = python
        self.process: subprocess.Popen | None = None
        self.hello: dict = {}

    # -- cheap checks ------------------------------------------------------------------------
    def python(self) -> Path | None:
        """The QuEST interpreter (not resolved: a venv's python is a symlink that must stay one)."""
        return next((p.absolute() for p in interpreter_candidates(self.python_option) if p.is_file()), None)

    def available(self):
        python = self.python()
        if python is None:
            looked = " or ".join(str(p) for p in interpreter_candidates(self.python_option))
            return f"QuEST interpreter not found at {looked}: run `make quest-env`"
        found = _probe(str(python))
        if "error" in found:
            return f"QuEST interpreter {found['error']}: run `make quest-env`"
        if found["pyquest"] is None:
            return f"pyquest is not installed in {python}: run `make quest-env`"
        if found["numpy"] is None or int(found["numpy"].split(".")[0]) >= 2:
            return f"pyquest 0.0.1 imports only with numpy<2, {python} has numpy {found['numpy']}: run `make quest-env`"
        if self.device == "GPU":
            return "no GPU build: the pyquest wheels are QuEST's CPU (OpenMP) build"
        return None

    def versions(self):
        python = self.python()
        return {"pyquest": _probe(str(python)).get("pyquest") if python else None}

    def supports(self, circuit: Circuit, spec: RunSpec):
        return self.refused_strength(spec) or super().supports(circuit, spec)

    def describe(self):
        return {**super().describe(), "python": str(self.python()), "quest": self.hello}

    # -- the QuEST process ---------------------------------------------------------------------
    def load(self) -> None:
        python = self.python()
        if python is None:
            raise QuestError(self.available())
        env = dict(os.environ)
        if self.threads:
            env["OMP_NUM_THREADS"] = str(self.threads)
        self.process = subprocess.Popen([str(python), str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=env, preexec_fn=die_with_parent, close_fds=True)
        self.hello = self._receive()
        if PRECISIONS.get(self.hello["precision"]) not in self.precisions:
            raise QuestError(f"this pyquest build is {PRECISIONS.get(self.hello['precision'])} precision, "
                             f"the adapter declares {self.precisions}")

    def _receive(self):
        try:
            reply = pipes.read_message(self.process.stdout.fileno())
        except EOFError:
            code = self.process.wait()
            raise QuestError(f"QuEST process exited with code {code} (its stderr is in the worker's log)") from None
        if not reply["ok"]:
            raise QuestError(f"QuEST: {reply['error']}\n{reply.get('traceback', '')}")
        return reply["value"]

    def call(self, op: str, **fields):
        """One request/reply round trip with the QuEST process."""
        try:
            pipes.write_message(self.process.stdin.fileno(), {"op": op, **fields})
        except BrokenPipeError:
            pass  # the reply read reports how it died
        return self._receive()

    def ping(self) -> None:
        """An empty round trip: the IPC cost included in every timed `run`."""
        self.call("ping")

    # -- the timed protocol --------------------------------------------------------------------
    def prepare(self, circuit: Circuit, spec: RunSpec):
        if self.process is None or self.process.poll() is not None:
            self.load()  # a QuEST process that died on an earlier point is replaced
        noise = Noise.of(spec)
        density = self.density_matrix(spec)
        self.call("prepare", program={"n_qubits": circuit.n_qubits, "density_matrix": density,
                                      "ops": to_quest(circuit, noise), "shots": spec.shots, "seed": spec.seed,
                                      "readout": noise.readout})
        return {"n_qubits": circuit.n_qubits, "density_matrix": density}

    def run(self, prepared):
        return self.call("run")

    def histogram(self, prepared, raw):
        outcomes, counts = np.unique(np.frombuffer(raw, dtype="<u8"), return_counts=True)
        n = prepared["n_qubits"]
        return {format(int(i), f"0{n}b"): int(c) for i, c in zip(outcomes, counts)}

    def final_state(self, prepared):
        """QuEST's amplitudes in canonical order (QuEST indexes qubit 0 as the least significant bit).

        A density matrix (backend.method=density_matrix, noiseless) is returned as its state vector when
        it is pure, Tr(rho^2) = 1: then every column j is psi * conj(psi_j), so the largest column is psi.
        """
        reply = self.call("state")
        n = prepared["n_qubits"]
        data = np.frombuffer(reply["data"], dtype="<c16").reshape(reply["shape"])
        if not prepared["density_matrix"]:
            return little_endian_to_canonical(data, n)
        if abs(np.vdot(data, data).real - 1) > 1e-9:  # Tr(rho^2) of a Hermitian rho: not pure
            return None
        column = data[:, int(np.argmax(np.diagonal(data).real))]
        return little_endian_to_canonical(column, n)

    def child_peak_rss_mb(self, prepared) -> float | None:
        """The QuEST process's peak resident memory for this point (its register lives there)."""
        return self.call("peak_rss_mb")
