"""GPU variants: Aer's CUDA build, qsim's CUDA/cuStateVec kernels, lightning.gpu, cuStateVec itself.

Without a CUDA device every GPU point must be `unavailable` with the adapter's exact reason, and
checking that must import no GPU library. The runs against the exact references (as in
test_backends.py) run where a CUDA device and `pip install 'qbench[gpu]'` are present, and skip
with the reason otherwise; QBENCH_REQUIRE_GPU=1 turns those skips into failures (qsim's GPU
variants excepted: PyPI has no qsimcirq GPU build to require).
"""
import json
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from qbench.circuits import canonical as circuits
from qbench import environment
from qbench.backends import qiskit_aer_backend
from qbench.backends.base import RunSpec
from qbench.backends.registry import instantiate_backend
from qbench.execution.timing import measure
from qbench.execution.resources import memory_check
from qbench.execution.runner import run_point
from tests.helpers import assert_matches_reference, compose_point, run_qbench, sweep_records

SHOTS = 4000
# variant -> overrides composing it; every shipped backend with a GPU path.
GPU_VARIANTS = {
    "qiskit-aer": ("backend=qiskit-aer", "backend.device=GPU"),
    "qiskit-aer-no-custatevec": ("backend=qiskit-aer", "backend.device=GPU", "+backend.custatevec=false"),
    "qsim-cuda": ("backend=qsim", "backend.device=GPU", "+backend.gpu_mode=0"),
    "qsim-custatevec": ("backend=qsim", "backend.device=GPU", "+backend.gpu_mode=1"),
    "pennylane": ("backend=pennylane", "backend.device=GPU"),
    "cuquantum": ("backend=cuquantum",),
}
GPU_LIBRARIES = ("cupy", "cuquantum", "qiskit_aer", "qsimcirq", "pennylane", "pennylane_lightning", "cirq")
no_cuda = pytest.mark.skipif(environment.gpu_available(), reason="a CUDA device is here: see the GPU run tests")


def backend_config(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_point(*overrides).backend, resolve=True)


def runnable(variant: str):
    """The adapter of a GPU variant, or a skip (a failure with QBENCH_REQUIRE_GPU=1) saying why it cannot run."""
    adapter = instantiate_backend(backend_config(*GPU_VARIANTS[variant]))
    reason = adapter.available()
    if reason and os.environ.get("QBENCH_REQUIRE_GPU") == "1" and not variant.startswith("qsim"):
        pytest.fail(f"QBENCH_REQUIRE_GPU=1 but {variant}: {reason}")
    if reason:
        pytest.skip(reason)
    return adapter


def in_subprocess(code: str) -> tuple[str, list[str]]:
    """Run qbench code in a fresh interpreter: its stdout, and which GPU/simulator libraries it imported."""
    script = f"import json, sys\n{code}\nprint(json.dumps([m for m in {GPU_LIBRARIES!r} if m in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out, imported = result.stdout.rstrip("\n").rsplit("\n", 1)
    return out, json.loads(imported)


# -- no CUDA device: every GPU point is unavailable, with the reason --------------------------------
@no_cuda
def test_gpu_vs_cpu_sweep_runs_cpu_and_records_gpu_unavailable(workdir):
    result = run_qbench("-m", "backend=qiskit-aer", "backend.device=CPU,GPU", "execution=quick",
                        "tracking.enabled=false", cwd=workdir)
    assert result.returncode == 0, result.stderr
    records = {r["config"]["backend_options"]["device"]: r for r in sweep_records(workdir)}
    assert records["CPU"]["status"] == "success" and records["CPU"]["metrics"]["fidelity"] >= 1 - 1e-6
    assert records["GPU"]["status"] == "unavailable" and records["GPU"]["attempts"] == []
    assert records["GPU"]["reason"] == "no CUDA device (no /dev/nvidia0, nvidia-smi not found)"
    assert "2 points: 1 successful, 1 skipped/unavailable, 0 failed" in result.stdout + result.stderr


@no_cuda
@pytest.mark.parametrize("variant", GPU_VARIANTS)
def test_every_gpu_variant_is_unavailable_without_a_cuda_device(variant, workdir):
    record = run_point(compose_point(*GPU_VARIANTS[variant], "execution=quick"), workdir, "test")
    assert record["status"] == "unavailable", record["reason"]
    assert record["reason"] == environment.NO_CUDA_DEVICE
    assert record["config"]["backend_options"]["device"] == "GPU"


@no_cuda
def test_backends_table_shows_the_gpu_rows_with_reasons_without_importing_gpu_libraries():
    out, imported = in_subprocess("from qbench.cli.main import main; main(['backends', '--json', 'backend.device=GPU'])")
    assert imported == []
    rows = {row["option"]: row for row in json.loads(out)}
    for option in ("qiskit-aer", "qsim", "pennylane", "cuquantum"):
        assert rows[option]["device"] == "GPU" and not rows[option]["available"]
        assert rows[option]["reason"] == environment.NO_CUDA_DEVICE, option
    assert rows["qiskit-aer"]["devices"] == ["CPU"]  # the CPU build still runs
    assert rows["cuquantum"]["devices"] == []
    assert set(rows["cuquantum"]["versions"]) == {"cuquantum-python-cu12", "custatevec-cu12", "cupy-cuda12x"}
    assert "qiskit-aer-gpu" in rows["qiskit-aer"]["versions"]
    assert "pennylane-lightning-gpu" in rows["pennylane"]["versions"]


def test_cuquantum_row_is_gpu_only_and_plan_imports_no_gpu_library():
    out, imported = in_subprocess("from qbench.cli.main import main; main(['backends', '--json'])")
    assert imported == []
    row = next(r for r in json.loads(out) if r["option"] == "cuquantum")
    assert row["device"] == "GPU" and "CPU" not in row["devices"]
    out, imported = in_subprocess("from qbench.cli.main import main; main(['plan', '--json', '-m', "
                                  "'backend=qiskit-aer,qsim,pennylane,cuquantum', 'backend.device=CPU,GPU'])")
    assert imported == []
    points = {(p["backend"], p["device"]): p for p in json.loads(out)["points"]}
    assert points[("cuquantum", "CPU")]["reason"] == "cuquantum runs on the GPU only (backend.device=GPU)"
    if not environment.gpu_available():
        for backend in ("qiskit-aer", "qsim", "pennylane", "cuquantum"):
            assert points[(backend, "GPU")]["reason"] == environment.NO_CUDA_DEVICE


# -- a device but not the GPU build: the next reason in line ---------------------------------------
@pytest.fixture
def device_without_gpu_packages(tmp_path, monkeypatch):
    """A stand-in nvidia-smi (an 80 GiB GPU) on PATH: the adapters see a device and check their packages."""
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 81920\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    for cached in (environment.gpu_memory_bytes, qiskit_aer_backend.gpu_unavailable):
        cached.cache_clear()
    yield
    for cached in (environment.gpu_memory_bytes, qiskit_aer_backend.gpu_unavailable):
        cached.cache_clear()


@pytest.mark.parametrize("variant,package,reason", [
    ("qiskit-aer", "qiskit-aer-gpu", "qiskit-aer-gpu is not installed (pip install 'qbench[gpu]')"),
    ("pennylane", "pennylane-lightning-gpu", "pennylane-lightning-gpu is not installed (pip install 'qbench[gpu]')"),
    ("cuquantum", "cuquantum-python-cu12", "cuquantum-python-cu12 is not installed (pip install 'qbench[gpu]')"),
])
def test_with_a_device_the_reason_is_the_missing_gpu_package(variant, package, reason, device_without_gpu_packages):
    if environment.package_version(package):
        pytest.skip(f"{package} is installed here")
    assert instantiate_backend(backend_config(*GPU_VARIANTS[variant])).available() == reason


@pytest.mark.parametrize("variant,module,needs", [
    ("qsim-cuda", "qsim_cuda", "the CUDA toolkit"),
    ("qsim-custatevec", "qsim_custatevec", "the CUDA toolkit and cuQuantum (CUQUANTUM_ROOT)"),
])
def test_with_a_device_pypi_qsimcirq_says_it_has_no_gpu_build(variant, module, needs, device_without_gpu_packages):
    import qsimcirq

    if getattr(qsimcirq, "qsim_gpu" if module == "qsim_cuda" else "qsim_custatevec") is not None:
        pytest.skip(f"this qsimcirq has {module}")
    version = environment.package_version("qsimcirq")
    assert instantiate_backend(backend_config(*GPU_VARIANTS[variant])).available() == (
        f"qsimcirq {version} has no GPU build here (no qsimcirq.{module} extension: the PyPI wheels are CPU-only); "
        f"build qsimcirq from source with {needs}")


def test_gpu_memory_guard_uses_the_gpu_memory(device_without_gpu_packages):
    gpu = instantiate_backend(backend_config("backend=qiskit-aer", "backend.device=GPU"))
    estimate, reason = memory_check(gpu, 34, 4, None)
    assert estimate == 8 * 2**34
    assert reason == "needs ~128.00 GiB (state vector 2^34 x 8 B) but the GPU has 80.00 GiB (nvidia-smi memory.total)"
    # 32 GiB fits the 80 GiB GPU whatever the host has: GPU runs do not share it (gpu_slot)
    assert memory_check(gpu, 32, 4, None) == (8 * 2**32, None)
    cpu = instantiate_backend(backend_config("backend=qiskit-aer"))
    assert "per worker" in memory_check(cpu, 40, 4, None)[1]  # 8 TiB: host memory, shared by 4 workers


# -- what a GPU point records and refuses, decided without a GPU ------------------------------------
def test_gpu_options_are_recorded_on_gpu_only_and_cpu_is_unchanged():
    aer_cpu = instantiate_backend(backend_config("backend=qiskit-aer"))
    assert aer_cpu.aer_options() == aer_cpu.options and "custatevec" not in aer_cpu.describe()
    assert aer_cpu.packages == ("qiskit-aer", "qiskit")
    aer_gpu = instantiate_backend(backend_config(*GPU_VARIANTS["qiskit-aer-no-custatevec"]))
    assert aer_gpu.aer_options()["cuStateVec_enable"] is False and "custatevec" not in aer_gpu.aer_options()
    assert aer_gpu.describe()["custatevec"] is False
    assert instantiate_backend(backend_config(*GPU_VARIANTS["qiskit-aer"])).describe()["custatevec"] is True
    assert "gpu_mode" not in instantiate_backend(backend_config("backend=qsim")).describe()
    assert instantiate_backend(backend_config(*GPU_VARIANTS["qsim-custatevec"])).describe()["gpu_mode"] == 1
    assert instantiate_backend(backend_config("backend=pennylane")).describe()["device_name"] == "lightning.qubit"
    assert instantiate_backend(backend_config(*GPU_VARIANTS["pennylane"])).describe()["device_name"] == "lightning.gpu"


@pytest.mark.parametrize("overrides,reason", [
    (("backend=qiskit-aer", "backend.device=GPU", "backend.method=stabilizer"),
     "Aer runs method stabilizer on the CPU only (on the GPU: statevector, density_matrix, unitary, tensor_network)"),
    (("backend=pennylane", "backend.device=GPU", "noise=depolarizing"),
     "noise runs on default.mixed, a CPU-only device: use backend.device=CPU for noisy points"),
    (("backend=pennylane", "backend.device=GPU", "backend.device_name=default.qubit"),
     "default.qubit has no GPU version: backend.device=GPU runs lightning.gpu (twin of lightning.qubit)"),
    (("backend=cuquantum", "noise=bit_flip"),
     "cuquantum is a pure state vector (cuStateVec gates and sampler): noise 'bit_flip' is not simulated"),
])
def test_what_a_gpu_variant_cannot_run_is_skipped_with_the_reason(overrides, reason, workdir):
    record = run_point(compose_point(*overrides, "execution=quick"), workdir, "test")
    assert (record["status"], record["reason"]) == ("skipped", reason)


# -- the GPU runs themselves, against the exact references (skipped without a CUDA device) ---------
def run(adapter_config: dict, circuit, shots: int = SHOTS) -> dict:
    return measure({"backend": adapter_config, "circuit": circuit, "spec": RunSpec(shots=shots, seed=5, threads=1),
                    "execution": {"warmup_runs": 1, "repetitions": 2, "verify_max_qubits": 18}})


@pytest.mark.parametrize("variant", GPU_VARIANTS)
@pytest.mark.parametrize("family,n", [("ghz", 3), ("ghz", 7), ("qft", 4), ("qft", 6), ("random", 5),
                                      ("random_clifford", 6)])
def test_gpu_backend_matches_exact_reference(variant, family, n):
    adapter = runnable(variant)
    circuit = circuits.build(family, n, depth=6, seed=n + 100)
    assert adapter.supports(circuit, RunSpec(SHOTS, 5, 1)) is None
    outcome = run(backend_config(*GPU_VARIANTS[variant]), circuit)
    assert_matches_reference(outcome, n, SHOTS)
    assert len(outcome["execution_times_seconds"]) == 2
    assert outcome["backend_details"]["device"] == "GPU"


@pytest.mark.parametrize("variant", ["qiskit-aer", "pennylane", "cuquantum"])
def test_gpu_double_precision_is_also_exact(variant):
    runnable(variant)
    config = backend_config(*GPU_VARIANTS[variant], "backend.precision=double")
    outcome = run(config, circuits.build("random", 5, depth=8, seed=1))
    assert outcome["verification"]["fidelity"] >= 1 - 1e-10
    assert outcome["backend_details"]["precision"] == "double"


@pytest.mark.parametrize("variant", GPU_VARIANTS)
def test_gpu_bit_order_is_qubit_zero_first(variant):
    runnable(variant)
    # X on qubit 0, then CX 0 -> 2 (a gate whose two qubits are not interchangeable): always "101".
    circuit = circuits.Circuit("custom", 3, (circuits.Gate("x", (0,)), circuits.Gate("cx", (0, 2))))
    assert run(backend_config(*GPU_VARIANTS[variant]), circuit)["histogram"] == {"101": SHOTS}


@pytest.mark.parametrize("variant", ["qiskit-aer", "pennylane", "cuquantum"])
def test_gpu_point_through_the_isolated_worker(variant, workdir):
    runnable(variant)
    record = run_point(compose_point(*GPU_VARIANTS[variant], "n_qubits=10", "execution=quick"), workdir, "test")
    assert record["status"] == "success", record["reason"]
    assert record["metrics"]["fidelity"] >= 1 - 1e-6
    assert record["config"]["backend_options"]["device"] == "GPU"
    assert record["environment"]["gpu_available"] is True
