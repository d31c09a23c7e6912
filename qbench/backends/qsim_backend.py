"""qsim: Google's C++ state-vector simulator through qsimcirq (single precision only).

With noise, the cirq channels go into the circuit and QSimSimulator runs them as quantum
trajectories, one per repetition (qsim has no density-matrix simulator).

`backend.device=GPU` sets QSimOptions(use_gpu=True, gpu_mode=...): `+backend.gpu_mode=0` (qsim's
default) runs qsim's own CUDA kernels, any other value NVIDIA cuStateVec. qsimcirq has those kernels
only when built from source with CUDA: the PyPI wheels are CPU-only.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

from qbench import environment
from qbench.backends.base import RunSpec
from qbench.backends.cirq_backend import CirqInterfaceBackend, cirq_observable, to_cirq
from qbench.circuits.canonical import Circuit
from qbench.circuits.noise import Noise


class QsimBackend(CirqInterfaceBackend):
    modules = ("qsimcirq", "cirq")
    forkable = True  # load() only imports; OpenMP starts its threads at the first parallel region
    shared_modules = ("cirq",)  # qsimcirq imports cirq
    packages = ("qsimcirq", "cirq-core")
    precisions = ("single",)  # qsim's kernels are float32
    extra_options = ("max_fused_gate_size", "gpu_mode")  # gpu_mode: GPU only
    noise_methods = ("trajectories",)

    @property
    def gpu_mode(self) -> int:
        return self.options.get("gpu_mode", 0)

    def available(self) -> str | None:
        if self.device != "GPU":
            return super().available()
        if not environment.gpu_available():
            return environment.NO_CUDA_DEVICE
        found = importlib.util.find_spec("qsimcirq")  # a top-level spec: nothing is imported
        if found is None:
            return "Python module 'qsimcirq' is not installed"
        # qsimcirq imports qsim_cuda (gpu_mode 0) or qsim_custatevec (other values) when it was compiled.
        module, needs = (("qsim_cuda", "the CUDA toolkit") if self.gpu_mode == 0 else
                         ("qsim_custatevec", "the CUDA toolkit and cuQuantum (CUQUANTUM_ROOT)"))
        if not any((Path(folder) / (module + suffix)).exists() for folder in found.submodule_search_locations
                   for suffix in importlib.machinery.EXTENSION_SUFFIXES):
            return (f"qsimcirq {environment.package_version('qsimcirq')} has no GPU build here (no qsimcirq.{module} "
                    f"extension: the PyPI wheels are CPU-only); build qsimcirq from source with {needs}")
        return None

    def describe(self):
        described = {**super().describe(), "max_fused_gate_size": self.options.get("max_fused_gate_size", 2)}
        if self.device == "GPU":
            described["gpu_mode"] = self.gpu_mode
        return described

    def prepare(self, circuit: Circuit, spec: RunSpec):
        import cirq
        import qsimcirq

        noise = Noise.of(spec)
        body, qubits = to_cirq(circuit, noise)
        # qsim rejects cirq's measurement confusion maps; a bit flip on every qubit just before the
        # measurement is the same readout error.
        readout = [cirq.bit_flip(noise.readout).on_each(*qubits)] if noise.name == "readout" else []
        gpu = {"use_gpu": True, "gpu_mode": self.gpu_mode} if self.device == "GPU" else {}
        # qsim defaults to 1 CPU thread; its maintainers expect users to set cpu_threads.
        options = qsimcirq.QSimOptions(cpu_threads=self.threads or spec.threads,
                                       max_fused_gate_size=self.options.get("max_fused_gate_size", 2), **gpu)
        simulator = qsimcirq.QSimSimulator(qsim_options=options, seed=spec.seed)
        return {"body": body, "measured": body + readout + cirq.measure(*qubits, key="m"),
                "simulator": simulator, "shots": spec.shots, "qubits": qubits,
                "compute": spec.compute, "observable": cirq_observable(spec, qubits)}
