"""quest: QuEST 4 from a user's source build, against the exact references.

qbench ships no QuEST. Without a build (CI) the backend must say exactly where it looked and how
to build one; the translation is checked on its own. With a build, point the environment at it:

    QBENCH_QUEST_LIBRARY=/path/to/build/libQuEST.so       (a FLOAT_PRECISION=1 or =2 build)

and the runs are checked against the exact references like every other backend (skipped otherwise).
"""
import math
import os
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from qbench.backends.base import RunSpec
from qbench.backends.quest4_backend import (BUILD_HELP, FUNCTIONS, LIBRARY_ENV, OPS, QuestError,
                                            canonical_indices, to_quest4)
from qbench.backends.registry import instantiate_backend
from qbench.circuits import canonical as circuits
from qbench.circuits.noise import MODELS, Noise
from qbench.execution.timing import measure
from tests.helpers import assert_noisy_matches_reference, compose_point, run_qbench, swept, sweep_records

SHOTS = 4000
# Clifford, 3 qubits, and every noise model moves its distribution far from the ideal one (as in test_noise).
PROBE = circuits.build("random_clifford", 3, depth=3, seed=11)
BUILD = os.environ.get(LIBRARY_ENV)
needs_build = pytest.mark.skipif(not BUILD, reason=f"no QuEST 4 build: set {LIBRARY_ENV}=/path/to/libQuEST.so")


def backend_config(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_point("backend=quest", *overrides).backend, resolve=True)


@pytest.fixture(scope="module")
def precision() -> str:
    """The build's precision (FLOAT_PRECISION of its quest.h): every run here asks for it."""
    built = instantiate_backend(backend_config()).build_precision()
    return {1: "single", 2: "double"}[built]


@pytest.fixture(scope="module")
def tolerance(precision) -> float:
    return 1e-6 if precision == "double" else 1e-4


def noisy(model: str, strength: float = 0.1, method: str = "auto") -> RunSpec:
    return RunSpec(shots=SHOTS, seed=5, threads=1, noise={"name": model, "strength": strength, "method": method})


def run(circuit, precision: str, spec: RunSpec = RunSpec(SHOTS, 5, 1), *overrides: str) -> dict:
    return measure({"backend": backend_config(f"backend.precision={precision}", *overrides), "circuit": circuit,
                    "spec": spec, "execution": {"warmup_runs": 1, "repetitions": 2, "verify_max_qubits": 18, "heap": "default"}})


def every_gate(n: int = 4, seed: int = 45) -> circuits.Circuit:
    """Each canonical gate twice, on random qubits with random angles, after an RY on every qubit.

    Seed 45 at 4 qubits: dropping any one gate kind, or using its inverse (s for sdg, -theta, ...),
    or swapping CX's control and target, leaves a state of fidelity <= 0.79 with this one."""
    rng = np.random.default_rng(seed)
    gates = [circuits.Gate("ry", (q,), (float(rng.uniform(0, math.pi)),)) for q in range(n)]
    for _ in range(2):
        for name, (arity, params, _) in circuits.GATES.items():
            qubits = tuple(int(q) for q in rng.choice(n, arity, replace=False))
            gates.append(circuits.Gate(name, qubits, tuple(float(rng.uniform(-math.pi, math.pi)) for _ in range(params))))
    return circuits.Circuit("custom", n, tuple(gates))


# -- without a build -------------------------------------------------------------------------
@pytest.fixture
def no_build(monkeypatch, tmp_path):
    """A cwd without backends/quest/build and no QBENCH_QUEST_LIBRARY, as on CI."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(LIBRARY_ENV, raising=False)
    return tmp_path


def test_without_a_build_the_backend_says_where_it_looked_and_how_to_build(no_build):
    reason = instantiate_backend(backend_config()).available()
    assert reason == (f"QuEST 4 library not found at {no_build}/backends/quest/build/libQuEST.so "
                      f"(${LIBRARY_ENV} is not set): {BUILD_HELP}")
    for flag in ("cmake -S", "-DFLOAT_PRECISION=2", "FLOAT_PRECISION=1", "-DENABLE_MULTITHREADING=ON", "offline"):
        assert flag in reason
    # An explicit path (a file, or a build folder holding libQuEST.so) is the only place looked at.
    (no_build / "build").mkdir()
    explicit = instantiate_backend(backend_config(f"backend.library={no_build}/build")).available()
    assert explicit.startswith(f"QuEST 4 library not found at {no_build}/build/libQuEST.so: build QuEST 4")


def test_the_environment_variable_is_looked_at_after_the_cwd(no_build, monkeypatch):
    monkeypatch.setenv(LIBRARY_ENV, str(no_build / "elsewhere" / "libQuEST.so"))
    adapter = instantiate_backend(backend_config())
    assert adapter.candidates() == [str(no_build / "backends/quest/build/libQuEST.so"),
                                    str(no_build / "elsewhere/libQuEST.so")]
    assert adapter.available().startswith(f"QuEST 4 library not found at {no_build}/backends/quest/build/libQuEST.so "
                                          f"or {no_build}/elsewhere/libQuEST.so: ")
    assert adapter.versions() == {"quest": None}


def test_a_library_without_its_headers_is_unavailable_with_the_places(no_build):
    library = no_build / "lib" / "libQuEST.so"
    library.parent.mkdir()
    library.write_bytes(b"")
    reason = instantiate_backend(backend_config(f"backend.library={library}")).available()
    assert reason.startswith(f"the headers of the QuEST build at {library} were not found (looked for "
                             f"{no_build}/lib/include/quest.h and {no_build}/include/quest.h")


def test_gpu_is_unavailable_with_the_reason():
    reason = instantiate_backend(backend_config("backend.device=GPU")).available()
    assert reason == "qbench drives QuEST 4's CPU deployment (OpenMP); a CUDA build's GPU deployment is not wired here"


def test_without_a_build_a_sweep_records_unavailable_and_quest_v3_still_runs(no_build):
    result = run_qbench("-m", "backend=quest,quest-v3", "circuit=ghz", "n_qubits=4", "execution=quick", cwd=no_build)
    assert result.returncode == 0, result.stderr
    records = {r["backend"]: r for r in sweep_records(no_build)}
    assert records["quest"]["status"] == "unavailable"
    assert records["quest"]["reason"].startswith(f"QuEST 4 library not found at {no_build}/backends/quest/build/")
    assert records["quest-v3"]["status"] == "success", records["quest-v3"]["reason"]


def test_every_canonical_gate_and_channel_has_a_quest_operation():
    assert set(circuits.GATES) <= set(FUNCTIONS) and set(MODELS[1:-1]) <= set(FUNCTIONS)
    ops = to_quest4(every_gate(), Noise("none"))
    assert len(ops) == 4 + 2 * len(circuits.GATES)
    assert {code for code, *_ in ops} == {OPS[n] for n in circuits.GATES if n not in ("sdg", "tdg")} | {OPS["phase"]}
    circuit = circuits.Circuit("custom", 2, (circuits.Gate("cp", (1, 0), (0.5,)), circuits.Gate("tdg", (1,))))
    assert to_quest4(circuit, Noise("bit_flip", 0.2)) == [
        (OPS["cp"], 1, 0, (0.5, 0, 0)), (OPS["bit_flip"], 1, -1, (0.2, 0, 0)), (OPS["bit_flip"], 0, -1, (0.2, 0, 0)),
        (OPS["phase"], 1, -1, (-math.pi / 4, 0, 0)), (OPS["bit_flip"], 1, -1, (0.2, 0, 0))]
    u = circuits.Circuit("custom", 1, (circuits.Gate("u", (0,), (0.1, 0.2, 0.3)),))
    assert to_quest4(u, Noise("none")) == [(OPS["u"], 0, -1, (0.1, 0.2, 0.3))]


def test_quest_indices_become_canonical_bit_order():
    # QuEST index 1 = qubit 0 set = canonical "100" (character 0 is qubit 0).
    assert canonical_indices(np.array([0, 1, 2, 4, 6]), 3).tolist() == [0, 4, 2, 1, 3]


# -- with a build ----------------------------------------------------------------------------
@needs_build
def test_the_build_is_found_and_reports_itself(precision):
    adapter = instantiate_backend(backend_config(f"backend.precision={precision}"))
    assert adapter.available() is None
    assert adapter.versions()["quest"].startswith("4.")
    adapter.load()
    assert adapter.hello["version"] == adapter.versions()["quest"]
    assert adapter.hello["qreal"] == {"single": "float", "double": "double"}[precision]
    assert adapter.forkable is False


@needs_build
def test_a_build_under_the_cwd_comes_before_the_variable_and_a_build_folder_is_enough(monkeypatch, tmp_path):
    build = os.path.dirname(os.path.abspath(BUILD))
    (tmp_path / "backends" / "quest").mkdir(parents=True)
    (tmp_path / "backends" / "quest" / "build").symlink_to(build)  # as `make quest4` leaves it
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(LIBRARY_ENV, str(tmp_path / "elsewhere" / "libQuEST.so"))
    adapter = instantiate_backend(backend_config())
    assert adapter.available() is None
    assert adapter.library() == tmp_path / "backends" / "quest" / "build" / "libQuEST.so"
    monkeypatch.delenv(LIBRARY_ENV)
    assert instantiate_backend(backend_config(f"backend.library={build}")).library() == Path(build) / "libQuEST.so"


@needs_build
@pytest.mark.parametrize("family,n", [("ghz", 3), ("ghz", 7), ("qft", 4), ("qft", 6), ("random", 5),
                                      ("random_clifford", 6), ("every_gate", 4)])
def test_statevector_matches_exact_reference(family, n, precision, tolerance):
    circuit = every_gate(n) if family == "every_gate" else circuits.build(family, n, depth=6, seed=n + 100)
    outcome = run(circuit, precision)
    v = outcome["verification"]
    assert v["fidelity_method"] == "statevector" and v["fidelity"] >= 1 - tolerance, v
    assert sum(outcome["histogram"].values()) == SHOTS and all(len(bits) == n for bits in outcome["histogram"])
    assert v["tvd"] <= v["tvd_bound"], v
    details = outcome["backend_details"]
    assert details["precision"] == precision and details["quest"]["precision"] == {"single": 1, "double": 2}[precision]
    assert details["quest"]["version"].startswith("4.") and "libQuEST" in details["library"]
    assert len(outcome["execution_times_seconds"]) == 2 and outcome["dry_run_seconds"] > 0


@needs_build
@pytest.mark.parametrize("family,n", [("qft", 5), ("random", 4)])
def test_density_matrix_method_matches_exact_reference(family, n, precision, tolerance):
    # createDensityQureg, noiseless: the pure density matrix yields the state that is checked.
    outcome = run(circuits.build(family, n, depth=5, seed=7), precision, RunSpec(SHOTS, 5, 1),
                  "backend.method=density_matrix")
    v = outcome["verification"]
    assert v["fidelity_method"] == "statevector" and v["fidelity"] >= 1 - tolerance, v
    assert v["tvd"] <= v["tvd_bound"], v
    assert outcome["backend_details"]["method"] == "density_matrix"


@needs_build
@pytest.mark.parametrize("method", ["statevector", "density_matrix"])
def test_bit_order_is_qubit_zero_first(method, precision):
    x0 = circuits.Circuit("custom", 3, (circuits.Gate("x", (0,)),))
    assert run(x0, precision, RunSpec(SHOTS, 5, 1), f"backend.method={method}")["histogram"] == {"100": SHOTS}
    # CNOT's first qubit is the control: X(0), CX(0, 2) -> qubits 0 and 2 set.
    cx = circuits.Circuit("custom", 3, (circuits.Gate("x", (0,)), circuits.Gate("cx", (0, 2))))
    assert run(cx, precision, RunSpec(SHOTS, 5, 1), f"backend.method={method}")["histogram"] == {"101": SHOTS}


@needs_build
def test_shots_are_seeded(precision):
    adapter = instantiate_backend(backend_config(f"backend.precision={precision}"))
    circuit = circuits.build("qft", 4, seed=1)

    def histogram(seed):
        prepared = adapter.prepare(circuit, RunSpec(500, seed, 1))
        return adapter.histogram(prepared, adapter.run(prepared))
    assert histogram(7) == histogram(7) != histogram(8)


@needs_build
@pytest.mark.parametrize("model", MODELS[1:])
def test_noisy_histogram_matches_exact_density_matrix(model, precision):
    spec = noisy(model)
    adapter = instantiate_backend(backend_config(f"backend.precision={precision}"))
    assert adapter.supports(PROBE, spec) is None and adapter.representation == "density_matrix"
    outcome = run(PROBE, precision, spec)
    assert_noisy_matches_reference(outcome, PROBE, Noise(model, 0.1), SHOTS)
    details = outcome["backend_details"]
    # statevector mode with noise switched to a density matrix, and the record says so
    assert details["noise_method"] == "density_matrix" and details["method"] == "density_matrix"


@needs_build
@pytest.mark.parametrize("model", ["depolarizing", "bit_flip", "phase_flip", "amplitude_damping"])
def test_noise_on_every_gate_kind(model, precision):
    v = run(every_gate(3), precision, noisy(model, 0.2))["verification"]
    assert v["tvd"] <= v["tvd_bound"], v


@needs_build
def test_strengths_at_the_limits_still_run(precision):
    adapter = instantiate_backend(backend_config(f"backend.precision={precision}"))
    assert adapter.supports(PROBE, noisy("depolarizing", 0.75)) is None
    v = run(PROBE, precision, noisy("bit_flip", 0.5))["verification"]
    assert v["tvd"] <= v["tvd_bound"], v


@needs_build
def test_what_quest_cannot_do_is_skipped_with_the_reason(precision):
    other = {"single": "double", "double": "single"}[precision]
    adapter = instantiate_backend(backend_config(f"backend.precision={precision}"))
    for spec, reason in [
            (noisy("depolarizing", 0.8), "QuEST's mixDepolarising refuses depolarizing strength 0.8 > 0.75"),
            (noisy("bit_flip", 0.6), "QuEST's mixPaulis refuses bit_flip strength 0.6 > 0.5"),
            (noisy("phase_flip", 0.51), "QuEST's mixDephasing refuses phase_flip strength 0.51 > 0.5"),
            (noisy("depolarizing", 0.1, "trajectories"), "cannot simulate noise by noise.method=trajectories")]:
        assert reason in adapter.supports(PROBE, spec)
    mismatched = instantiate_backend(backend_config(f"backend.precision={other}"))
    assert mismatched.supports(PROBE, RunSpec(10, 1, 1)) == (
        f"this QuEST build ({mismatched.library()}) is {precision} precision (FLOAT_PRECISION="
        f"{1 if precision == 'single' else 2}); backend.precision={other} needs a build with "
        f"-DFLOAT_PRECISION={1 if other == 'single' else 2}")


@needs_build
def test_input_quest_refuses_is_an_error_and_the_worker_lives_on(precision):
    adapter = instantiate_backend(backend_config(f"backend.precision={precision}"))
    adapter.load()
    # QuEST's default handler would exit the process; the driver's throws back as an error.
    with pytest.raises(QuestError, match="^QuEST: createQureg: Cannot create Qureg of 62 qubits"):
        adapter.prepare(circuits.Circuit("custom", 62, ()), RunSpec(10, 1, 1))
    prepared = adapter.prepare(circuits.build("ghz", 3), RunSpec(100, 1, 1))
    assert adapter.histogram(prepared, adapter.run(prepared)).keys() <= {"000", "111"}


@needs_build
@pytest.mark.parametrize("threads", [1, 2])
def test_threads_are_set_and_recorded_from_quests_own_report(threads, precision):
    outcome = run(circuits.build("qft", 10), precision, RunSpec(100, 1, threads))
    quest = outcome["backend_details"]["quest"]
    assert quest["threads"] == threads and f"threads={threads}" in quest["environment"]
    assert quest["openmp"] is True  # the builds here are OpenMP builds (ENABLE_MULTITHREADING=ON)


@needs_build
def test_memory_peak_counts_the_register(precision):
    # 11 qubits with noise: a 4^11 density matrix, 64 MiB (double) or 32 MiB (single), in this process.
    outcome = run(circuits.build("ghz", 11), precision, noisy("depolarizing", 0.01))
    assert outcome["memory_peak_mb"] >= (64 if precision == "double" else 32), outcome["memory_peak_mb"]


@needs_build
def test_sweep_through_the_cli(workdir, precision, tolerance):
    # From a temporary cwd: the build is found through QBENCH_QUEST_LIBRARY.
    records = swept(workdir, 8, "backend=quest", f"backend.precision={precision}", "circuit=ghz,qft", "n_qubits=4,6",
                    "noise=none,depolarizing", "shots=2000", "execution=quick")
    assert all(r["status"] == "success" for r in records), [r["reason"] for r in records]
    for r in records:
        options, m = r["config"]["backend_options"], r["metrics"]
        assert options["quest"]["version"].startswith("4.") and options["precision"] == precision
        assert r["environment"]["threads"] == options["quest"]["threads"]
        assert m["tvd"] <= m["tvd_bound"] and m["memory_peak_mb"] > 0
        if r["config"]["noise_model"] == "none":
            assert m["fidelity_method"] == "statevector" and m["fidelity"] >= 1 - tolerance
            assert options["method"] == "statevector"
        else:
            assert options["method"] == "density_matrix" and options["noise_method"] == "density_matrix"
