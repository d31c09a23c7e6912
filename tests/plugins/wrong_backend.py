"""TEST-ONLY backend that gives a wrong answer on purpose (never shipped in conf/backend/).

It is cirq's real simulator with qubit 0 flipped in every answer it reports: each sample's first
bit, the state vector (X on qubit 0), and an expectation value shifted by 0.5. It stands in for a
fast simulator with a bug, so that the summary's cross-check between backends can be shown to
catch it where no exact reference exists.
"""
from __future__ import annotations

import numpy as np

from qbench.backends.cirq_backend import CirqBackend


class WrongBackend(CirqBackend):
    def histogram(self, prepared, raw):
        flipped: dict[str, int] = {}
        for bits, count in super().histogram(prepared, raw).items():
            key = ("1" if bits[0] == "0" else "0") + bits[1:]
            flipped[key] = flipped.get(key, 0) + count
        return flipped

    def answer(self, prepared, raw):
        value = super().answer(prepared, raw)
        if prepared["compute"] == "statevector":
            n = len(prepared["qubits"])
            return np.flip(np.asarray(value).reshape((2,) * n), axis=0).reshape(-1)
        return value + 0.5
