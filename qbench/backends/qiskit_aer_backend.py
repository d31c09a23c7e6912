"""qiskit-aer: IBM's C++ simulator (AerSimulator), driven as a Qiskit user would.

With noise, an Aer NoiseModel attaches the errors to the gate instructions. `backend.method`
decides how Aer simulates it: density_matrix is exact, statevector (and Aer's other per-shot
methods) samples one noisy circuit per shot. qbench's default `statevector` is resolved by
noise.method (auto: density_matrix while 2^n < shots, as Aer's own `automatic` would).

`backend.device=GPU` runs the same AerSimulator with device="GPU", which needs Aer's CUDA build
(the qiskit-aer-gpu distribution); its statevector uses cuStateVec unless `+backend.custatevec=false`.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import importlib.metadata
from pathlib import Path

from qbench import environment
from qbench.backends.base import COMPUTE_MODES, Backend, RunSpec, little_endian_to_canonical
from qbench.circuits.canonical import GATES, Circuit
from qbench.circuits.noise import Noise

# Aer methods that take a noise model, and how each simulates it.
NOISE_METHODS = {"statevector": "trajectories", "density_matrix": "density_matrix",
                 "matrix_product_state": "trajectories", "stabilizer": "trajectories",
                 "extended_stabilizer": "trajectories"}
# Aer methods with a GPU implementation (AerSimulator's own table; tensor_network is GPU only).
GPU_METHODS = ("statevector", "density_matrix", "unitary", "tensor_network")
# Aer methods whose state save_statevector returns (Aer's SaveStatevector instruction).
STATEVECTOR_METHODS = ("statevector", "matrix_product_state", "extended_stabilizer")


def aer_observable(spec: RunSpec, n_qubits: int):
    """compute=expectation: the Pauli sum as a SparsePauliOp (canonical qubit q = Qiskit qubit q)."""
    from qiskit.quantum_info import SparsePauliOp

    return SparsePauliOp.from_sparse_list(
        [("".join(p for _, p in factors), [q for q, _ in factors], c) for c, factors in spec.pauli_sum.terms],
        num_qubits=n_qubits)


def to_qiskit(circuit: Circuit, measure: bool):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(circuit.n_qubits, circuit.n_qubits if measure else 0)
    for g in circuit.gates:
        getattr(qc, g.name)(*g.params, *g.qubits)
    if measure:
        qc.measure(range(circuit.n_qubits), range(circuit.n_qubits))
    return qc


def one_qubit_error(noise: Noise):
    """The gate-noise channel of `noise` as an Aer QuantumError on one qubit."""
    from qiskit_aer.noise import amplitude_damping_error, depolarizing_error, pauli_error

    p = noise.strength
    if noise.name == "depolarizing":
        # Aer's depolarizing_error(lam) is (1-lam) rho + lam I/2: X, Y, Z each lam/4, so lam = 4p/3.
        return depolarizing_error(4 * p / 3, 1)
    if noise.name == "bit_flip":
        return pauli_error([("X", p), ("I", 1 - p)])
    if noise.name == "phase_flip":
        return pauli_error([("Z", p), ("I", 1 - p)])
    return amplitude_damping_error(p)


def noise_model(noise: Noise):
    """The qbench noise model as an Aer NoiseModel: errors on every canonical gate's qubits, or readout."""
    from qiskit_aer.noise import NoiseModel, ReadoutError

    # Every canonical gate is a basis gate (NoiseModel's default basis is rz/sx/cx), so nothing is
    # decomposed and the errors land on the canonical gates.
    model = NoiseModel(basis_gates=list(GATES))
    if noise.name == "readout":
        p = noise.strength
        model.add_all_qubit_readout_error(ReadoutError([[1 - p, p], [p, 1 - p]]))
        return model
    error = one_qubit_error(noise)
    for arity in (1, 2):
        # A two-qubit gate gets the one-qubit error on each of its qubits: error (x) error.
        names = [name for name, (k, _, _) in GATES.items() if k == arity]
        model.add_all_qubit_quantum_error(error if arity == 1 else error.tensor(error), names)
    return model


@functools.lru_cache(maxsize=1)
def gpu_unavailable() -> str | None:
    """Why Aer cannot run on a GPU here, or None. Imports nothing, so `qbench backends`/`plan` stay cheap."""
    if not environment.gpu_available():
        return environment.NO_CUDA_DEVICE
    version = environment.package_version("qiskit-aer-gpu")
    if version is None:
        return "qiskit-aer-gpu is not installed (pip install 'qbench[gpu]')"
    if not gpu_build_on_disk():
        return ("qiskit-aer-gpu is installed but the qiskit_aer on disk is not its CUDA build (qiskit-aer and "
                "qiskit-aer-gpu share those files; the last one installed wins): "
                f"pip install --force-reinstall --no-deps qiskit-aer-gpu=={version}")
    return None


def gpu_build_on_disk() -> bool:
    """Whether Aer's compiled simulator on disk is qiskit-aer-gpu's: its hash in that distribution's RECORD.

    What AerSimulator().available_devices() would say (it reports the build, not the hardware),
    without importing qiskit_aer.
    """
    for path in importlib.metadata.distribution("qiskit-aer-gpu").files or ():
        if path.name.startswith("controller_wrappers") and path.hash:
            located = Path(path.locate())
            if not located.exists():  # `pip uninstall qiskit-aer` removes the files both share
                return False
            digest = base64.urlsafe_b64encode(hashlib.sha256(located.read_bytes()).digest()).rstrip(b"=").decode()
            return digest == path.hash.value
    return False


class QiskitAerBackend(Backend):
    modules = ("qiskit_aer", "qiskit")
    forkable = True  # load() only imports; OpenMP starts its threads at the first parallel region
    noise_methods = ("density_matrix", "trajectories")
    # AerSimulator options passed through as they are (its documented fusion/blocking/parallelism ones);
    # custatevec: GPU only, qbench's name for cuStateVec_enable
    extra_options = ("fusion_enable", "fusion_threshold", "fusion_max_qubit", "fusion_max_swap", "blocking_enable",
                     "blocking_qubits", "statevector_parallel_threshold", "custatevec")

    @property
    def packages(self) -> tuple[str, ...]:
        return ("qiskit-aer-gpu", "qiskit-aer", "qiskit") if self.device == "GPU" else ("qiskit-aer", "qiskit")

    def available(self) -> str | None:
        return gpu_unavailable() if self.device == "GPU" else super().available()

    compute_modes = COMPUTE_MODES

    def supports(self, circuit: Circuit, spec: RunSpec) -> str | None:
        if spec.compute == "statevector" and self.method not in STATEVECTOR_METHODS:
            return (f"Aer's save_statevector has no state of method {self.method} (it has: "
                    f"{', '.join(STATEVECTOR_METHODS)})")
        if self.device == "GPU":
            method = self.aer_method(circuit.n_qubits, spec)
            if method not in GPU_METHODS:
                return f"Aer runs method {method} on the CPU only (on the GPU: {', '.join(GPU_METHODS)})"
        return super().supports(circuit, spec)

    def describe(self) -> dict:
        described = super().describe()
        if self.device == "GPU":
            described["custatevec"] = self.custatevec
        return described

    @property
    def custatevec(self) -> bool:
        return bool(self.options.get("custatevec", True))

    def aer_options(self) -> dict:
        """backend.* options that are Aer's own, plus cuStateVec on the GPU (Aer's default leaves it off)."""
        options = {k: v for k, v in self.options.items() if k != "custatevec"}
        if self.device == "GPU":
            options["cuStateVec_enable"] = self.custatevec
        return options

    def aer_method(self, n_qubits: int, spec: RunSpec) -> str:
        """The Aer method of this point: backend.method, with qbench's statevector default resolved for noise."""
        if Noise.of(spec).noisy and self.method == "statevector":
            exact = super().noise_method(n_qubits, spec) == "density_matrix"
            return "density_matrix" if exact else "statevector"
        return self.method

    def noise_method(self, n_qubits: int, spec: RunSpec) -> str | None:
        method = NOISE_METHODS.get(self.aer_method(n_qubits, spec))
        requested = Noise.of(spec).method
        return method if requested in ("auto", method) else None

    def noise_details(self, circuit: Circuit, spec: RunSpec) -> dict:
        details = super().noise_details(circuit, spec)
        return {**details, "method": self.aer_method(circuit.n_qubits, spec)} if details else details

    def _simulator(self, spec: RunSpec, method: str, noise=None):
        from qiskit_aer import AerSimulator

        noisy = {"noise_model": noise} if noise else {}
        return AerSimulator(method=method, device=self.device, precision=self.precision,
                            max_parallel_threads=self.threads or spec.threads,
                            seed_simulator=spec.seed, **noisy, **self.aer_options())

    def prepare(self, circuit: Circuit, spec: RunSpec):
        noise = Noise.of(spec)
        simulator = self._simulator(spec, self.aer_method(circuit.n_qubits, spec),
                                    noise_model(noise) if noise.noisy else None)
        # No transpile: every canonical gate is an Aer basis gate, so transpile(optimization_level=0)
        # would return the same circuit after building Aer's target on every point (a large fixed cost).
        if spec.compute == "sampling":
            compiled, shots = to_qiskit(circuit, measure=True), spec.shots
        else:  # Aer's own save instructions: the state, or <H> computed inside the simulator
            compiled, shots = to_qiskit(circuit, measure=False), 1
            if spec.compute == "statevector":
                compiled.save_statevector()
            else:
                compiled.save_expectation_value(aer_observable(spec, circuit.n_qubits), range(circuit.n_qubits),
                                                label="expectation")
        return {"simulator": simulator, "compiled": compiled, "circuit": circuit,
                "spec": spec, "shots": shots, "compute": spec.compute}

    def run(self, prepared):
        return prepared["simulator"].run(prepared["compiled"], shots=prepared["shots"]).result()

    def histogram(self, prepared, raw):
        if prepared["compute"] != "sampling":
            return {}
        # Qiskit prints clbit 0 rightmost; the canonical order puts qubit 0 first.
        return {bits[::-1]: int(c) for bits, c in raw.get_counts().items()}

    def answer(self, prepared, raw):
        if prepared["compute"] == "statevector":
            return little_endian_to_canonical(raw.get_statevector().data, prepared["circuit"].n_qubits)
        return float(raw.data(0)["expectation"].real)

    def final_state(self, prepared):
        circuit = prepared["circuit"]
        qc = to_qiskit(circuit, measure=False)
        qc.save_statevector()
        simulator = self._simulator(prepared["spec"], self.method)
        state = simulator.run(qc).result().get_statevector()
        return little_endian_to_canonical(state.data, circuit.n_qubits)
