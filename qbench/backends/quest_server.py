"""The QuEST side of the `quest-v3` backend: run by the QuEST interpreter (.venv-quest), not by qbench's.

pyquest 0.0.1 (QuEST v3) imports only with numpy < 2, which qbench's own environment (cirq) forbids,
so QuEST lives in a process of its own. This script therefore imports only the standard library,
numpy, pyquest and qbench.pipes (standard library only).

Protocol (the adapter, `qbench.backends.quest_v3_backend`, is the other end): on stdin/stdout,
messages framed as an 8-byte big-endian length then a pickle (protocol 4) of plain Python data.
The server speaks first with its `hello` (versions, precision, threads); then it answers each
request {"op": ...} with {"ok": True, "value": ...} or {"ok": False, "error": "..."}:

    ping                  nothing: an empty round trip (the IPC cost inside every timed call)
    prepare               build the QuEST circuit and allocate the register (one program at a time)
    run                   simulate from |0...0>, then sample `shots` outcomes: bytes of uint64 indices
    state                 the final amplitudes (or density matrix) of the program, in QuEST's order
    peak_rss_mb           this process's peak resident memory since the last prepare
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

# This file runs as a script in the QuEST interpreter: qbench's stdlib-only pipe helpers are
# imported from the checkout (or installed copy) it lives in, nothing else of qbench.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from qbench.pipes import peak_rss_mb, read_message, reset_peak_rss, write_message  # noqa: E402


class Server:
    def __init__(self):
        import numpy as np
        import pyquest
        from pyquest import decoherence, unitaries
        from pyquest.initialisations import ZeroState

        self.np, self.pyquest = np, pyquest
        u, d = unitaries, decoherence
        # QuEST v3 API name -> pyquest operator. The adapter translates canonical gates and noise
        # channels into these names, so this table is the whole of what the server knows.
        self.ops = {
            "hadamard": lambda q: u.H(q),
            "pauliX": lambda q: u.X(q),
            "pauliY": lambda q: u.Y(q),
            "pauliZ": lambda q: u.Z(q),
            "sGate": lambda q: u.S(q),
            "tGate": lambda q: u.T(q),
            "phaseShift": lambda q, theta: u.PhaseShift(q, theta),
            "rotateX": lambda q, theta: u.Rx(q, theta),
            "rotateY": lambda q, theta: u.Ry(q, theta),
            "rotateZ": lambda q, theta: u.Rz(q, theta),
            "controlledNot": lambda c, t: u.X(t, controls=[c]),
            "controlledPhaseFlip": lambda c, t: u.Z(t, controls=[c]),
            "controlledPhaseShift": lambda c, t, theta: u.PhaseShift(t, theta, controls=[c]),
            "swapGate": lambda a, b: u.Swap([a, b]),
            "mixDepolarising": lambda q, p: d.Depolarising(q, p),
            "mixDephasing": lambda q, p: d.Dephasing(q, p),
            "mixDamping": lambda q, p: d.Damping(q, p),
            "mixPauli": lambda q, px, py, pz: d.PauliNoise(q, [px, py, pz]),
        }
        self.zero = ZeroState()
        self.program = None

    def hello(self) -> dict:
        from importlib.metadata import version

        env = self.pyquest.env
        return {"pyquest": version("pyquest"), "numpy": self.np.__version__, "precision": env.precision,
                "threads": env.num_threads, "openmp": env.openmp, "python": sys.version.split()[0]}

    def prepare(self, n_qubits: int, density_matrix: bool, ops: list, shots: int, seed: int,
                readout: float) -> None:
        np, pyquest = self.np, self.pyquest
        self.program = None  # frees the previous point's register before allocating this one
        reset_peak_rss()
        circuit = pyquest.Circuit([self.ops[name](*args) for name, args in ops])
        register = pyquest.Register(n_qubits, density_matrix=density_matrix)
        # Character i of a bitstring is qubit i: calcProbOfAllOutcomes over qubits (n-1, ..., 0) puts
        # qubit 0 in the most significant bit of the outcome index, the canonical order.
        order = list(range(n_qubits - 1, -1, -1))
        weights = (1 << np.arange(n_qubits - 1, -1, -1, dtype=np.uint64)).astype(np.uint64)
        self.program = {"circuit": circuit, "register": register, "order": order, "shots": shots,
                        "readout": readout, "weights": weights, "rng": np.random.default_rng(seed)}

    def simulate(self) -> None:
        program = self.program
        program["register"].apply_operator(self.zero)
        program["register"].apply_circuit(program["circuit"])

    def run(self) -> bytes:
        """Simulate, then draw `shots` outcomes from QuEST's exact probabilities (QuEST v3 has no multi-shot sampler)."""
        np = self.np
        program = self.program
        self.simulate()
        probs = np.clip(np.asarray(program["register"].prob_of_all_outcomes(program["order"])), 0, None)
        cdf = np.cumsum(probs)
        rng = program["rng"]
        outcomes = np.searchsorted(cdf, rng.random(program["shots"]) * cdf[-1], side="right")
        outcomes = np.minimum(outcomes, len(probs) - 1).astype(np.uint64)
        if program["readout"]:
            # Readout noise: every measured bit flips independently with probability p (qbench.noise).
            flips = rng.random((program["shots"], len(program["order"]))) < program["readout"]
            outcomes ^= (flips.astype(np.uint64) * program["weights"]).sum(axis=1, dtype=np.uint64)
        return outcomes.astype("<u8").tobytes()

    def state(self) -> dict:
        register = self.program["register"]
        self.simulate()
        amplitudes = register[:, :] if register.is_density_matrix else register[:]
        amplitudes = self.np.ascontiguousarray(amplitudes, dtype="<c16")
        return {"shape": amplitudes.shape, "data": amplitudes.tobytes()}

    def handle(self, message: dict):
        op = message["op"]
        if op == "ping":
            return None
        if op == "prepare":
            return self.prepare(**message["program"])
        if self.program is None:
            raise RuntimeError(f"'{op}' before any 'prepare'")
        if op == "run":
            return self.run()
        if op == "state":
            return self.state()
        if op == "peak_rss_mb":
            return peak_rss_mb()
        raise ValueError(f"unknown op {op!r}")


def main() -> None:
    requests, replies = os.dup(0), os.dup(1)
    # Anything QuEST or numpy prints must never corrupt the protocol channel: stdout goes to stderr.
    os.dup2(2, 1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    try:
        server = Server()
        write_message(replies, {"ok": True, "value": server.hello()})
    except BaseException as exc:  # noqa: BLE001 - tell the adapter why QuEST cannot start
        write_message(replies, {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                                "traceback": traceback.format_exc()})
        return
    while True:
        try:
            message = read_message(requests)
        except EOFError:
            return
        try:
            reply = {"ok": True, "value": server.handle(message)}
        except Exception as exc:  # noqa: BLE001 - the adapter raises it in the worker, as a record
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        write_message(replies, reply)


if __name__ == "__main__":
    main()
