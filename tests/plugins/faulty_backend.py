"""TEST-ONLY backend that causes real faults on demand (never shipped in conf/backend/).

It stands in for a simulator that crashes: the faults themselves are real (a real
SIGSEGV, a real hang, a real allocation past the worker's address-space cap).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import numpy as np

from qbench.backends.base import Backend, histogram_from_samples


class FaultyBackend(Backend):
    modules = ("numpy",)
    forkable = True  # load() only imports NumPy: its faults are tested in forked workers too
    packages = ("numpy",)

    def load(self):
        if self.options.get("fault") == "hang_import":  # a library whose import never returns
            time.sleep(3600)
        super().load()

    def prepare(self, circuit, spec):
        if self.options.get("prepared_log"):  # which processes converted a circuit, in order
            with open(self.options["prepared_log"], "a") as log:
                log.write(f"{os.getpid()} {circuit.n_qubits}\n")
        return {"n": circuit.n_qubits, "shots": spec.shots}

    def run(self, prepared):
        fault = self.options.get("fault", "none")
        if fault == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif fault == "abort":
            os.abort()
        elif fault == "hang":
            time.sleep(3600)
        elif fault == "hang_with_helper":
            # a helper with no death signal (as one killed before its signal was set), and one in a
            # session of its own (as LRET's folder guardian, which must outlive the worker), then a hang
            helper = subprocess.Popen(["sleep", "3600"])
            guardian = subprocess.Popen(["sleep", "3600"], start_new_session=True)
            with open(self.options["helper_pid_file"], "w") as out:
                out.write(f"{helper.pid} {guardian.pid}")
            time.sleep(3600)
        elif fault == "slow":
            time.sleep(float(self.options.get("seconds", 1.5)))
        elif fault == "raise":
            raise RuntimeError("simulated library failure")
        elif fault == "allocate":
            # 64 GiB: far past any execution.memory_limit_gb the tests set.
            return np.ones(8 * 2**30, dtype=np.float64)
        elif fault == "flaky":
            # Fails in the first worker it meets, succeeds after a retry on a fresh worker.
            marker = self.options["marker_file"]
            if not os.path.exists(marker):
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGSEGV)
        return np.zeros((prepared["shots"], prepared["n"]), dtype=np.uint8)

    def histogram(self, prepared, raw):
        return histogram_from_samples(raw)
