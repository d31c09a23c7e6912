"""cuquantum: NVIDIA cuStateVec called directly through cuQuantum Python, as NVIDIA's samples do.

The state vector is a CuPy array on the GPU. Each canonical gate is one custatevec.apply_matrix call
with its matrix from `qbench.reference.gate_matrix` (complex64 single / complex128 double), and
shots come from cuStateVec's sampler. No circuit framework sits in between, so this is what the GPU
library itself costs. It is a pure state vector: noisy points are skipped.

Bit order: canonical qubit q is cuStateVec index bit q (bit 0 = least significant, as in Qiskit).
"""
from __future__ import annotations

import numpy as np

from qbench import environment
from qbench.backends.base import Backend, RunSpec, little_endian_to_canonical
from qbench.circuits.canonical import Circuit
from qbench.circuits.noise import Noise
from qbench.circuits.reference import gate_matrix

# precision -> (NumPy dtype, cudaDataType name, ComputeType name)
TYPES = {"single": (np.complex64, "CUDA_C_32F", "COMPUTE_32F"),
         "double": (np.complex128, "CUDA_C_64F", "COMPUTE_64F")}


def library():
    """cupy, cuquantum and its custatevec bindings (imported in the worker only)."""
    import cupy
    import cuquantum

    try:  # cuQuantum Python >= 25.03 moved the bindings here; 24.x (qbench[gpu]) has cuquantum.custatevec
        from cuquantum.bindings import custatevec
    except ImportError:
        from cuquantum import custatevec
    return cupy, cuquantum, custatevec


class CuquantumBackend(Backend):
    forkable = False  # GPU only: a CUDA context does not survive a fork
    packages = ("cuquantum-python-cu12", "custatevec-cu12", "cupy-cuda12x")
    noise_models = ("none",)
    # statevector: the state copied to host memory (cupy.asnumpy). No expectation call is wired here yet
    # (cuStateVec's compute_expectations_on_pauli_basis would be it): those points are skipped.
    compute_modes = ("sampling", "statevector")
    extra_options = ()

    def available(self) -> str | None:
        if self.device != "GPU":
            return "cuquantum runs on the GPU only (backend.device=GPU)"
        if not environment.gpu_available():
            return environment.NO_CUDA_DEVICE
        # Distributions, not find_spec: custatevec-cu12 alone already creates a `cuquantum` folder.
        for package in ("cuquantum-python-cu12", "cupy-cuda12x"):
            if environment.package_version(package) is None:
                return f"{package} is not installed (pip install 'qbench[gpu]')"
        return None

    def supports(self, circuit: Circuit, spec: RunSpec) -> str | None:
        if Noise.of(spec).noisy:
            return (f"{self.name} is a pure state vector (cuStateVec gates and sampler): noise "
                    f"'{Noise.of(spec).name}' is not simulated")
        return super().supports(circuit, spec)

    def load(self) -> None:
        self.cupy, self.cuquantum, self.custatevec = library()
        # One cuStateVec handle per worker: creating it allocates the library's default workspace on the GPU.
        self.handle = self.custatevec.create()

    def prepare(self, circuit: Circuit, spec: RunSpec):
        cupy, cuquantum, custatevec = self.cupy, self.cuquantum, self.custatevec
        dtype, data_type, compute_type = TYPES[self.precision]
        data_type, compute_type = cuquantum.cudaDataType[data_type], cuquantum.ComputeType[compute_type]
        n = circuit.n_qubits
        gates = []
        for gate in circuit.gates:
            matrix = np.ascontiguousarray(gate_matrix(gate), dtype=dtype)  # row-major, on the host
            # cuStateVec reads targets[0] as the matrix's least significant bit; gate_matrix makes the
            # first listed qubit the most significant one.
            gates.append((matrix, np.array(gate.qubits[::-1], dtype=np.int32)))
        workspace_size = max((custatevec.apply_matrix_get_workspace_size(
            self.handle, data_type, n, matrix.ctypes.data, data_type, custatevec.MatrixLayout.ROW, 0,
            len(targets), 0, compute_type) for matrix, targets in gates), default=0)
        return {"gates": gates, "shots": spec.shots, "n": n, "compute": spec.compute,
                "data_type": data_type, "compute_type": compute_type,
                "state": cupy.empty(2**n, dtype=dtype), "workspace": cupy.cuda.alloc(workspace_size),
                "workspace_size": workspace_size, "rng": np.random.default_rng(spec.seed),
                # sampled bit k is index bit k, i.e. qubit k
                "bit_ordering": np.arange(n, dtype=np.int32)}

    def _evolve(self, prepared) -> None:
        """|0...0>, then every gate, on the GPU."""
        custatevec, p = self.custatevec, prepared
        state = p["state"].data.ptr
        custatevec.initialize_state_vector(self.handle, state, p["data_type"], p["n"],
                                           custatevec.StateVectorType.ZERO)
        for matrix, targets in p["gates"]:
            custatevec.apply_matrix(self.handle, state, p["data_type"], p["n"], matrix.ctypes.data, p["data_type"],
                                    custatevec.MatrixLayout.ROW, 0, targets.ctypes.data, len(targets), 0, 0, 0,
                                    p["compute_type"], p["workspace"].ptr, p["workspace_size"])

    def run(self, prepared):
        cupy, custatevec, p = self.cupy, self.custatevec, prepared
        self._evolve(p)
        if p["compute"] == "statevector":
            return cupy.asnumpy(p["state"])  # device -> host; returns once the copy (and every gate) is done
        sampler, size = custatevec.sampler_create(self.handle, p["state"].data.ptr, p["data_type"], p["n"],
                                                  p["shots"])
        try:
            workspace = cupy.cuda.alloc(size)
            custatevec.sampler_preprocess(self.handle, sampler, workspace.ptr, size)
            bit_strings = np.empty(p["shots"], dtype=np.int64)
            randnums = p["rng"].random(p["shots"])
            custatevec.sampler_sample(self.handle, sampler, bit_strings.ctypes.data, p["bit_ordering"].ctypes.data,
                                      p["n"], randnums.ctypes.data, p["shots"],
                                      custatevec.SamplerOutput.RANDNUM_ORDER)
        finally:
            custatevec.sampler_destroy(sampler)
        # The clock must include every queued GPU operation, not just their launch.
        cupy.cuda.get_current_stream().synchronize()
        return bit_strings

    def histogram(self, prepared, raw):
        if prepared["compute"] != "sampling":
            return {}
        n = prepared["n"]
        values, counts = np.unique(raw, return_counts=True)
        # Bit q of a sample is qubit q; the canonical string puts qubit 0 first.
        return {format(int(v), f"0{n}b")[::-1]: int(c) for v, c in zip(values, counts)}

    def answer(self, prepared, raw):
        return little_endian_to_canonical(raw, prepared["n"])

    def final_state(self, prepared):
        self._evolve(prepared)
        return little_endian_to_canonical(self.cupy.asnumpy(prepared["state"]), prepared["n"])
