"""MQT Bench circuits (`circuit=mqt circuit.benchmark=NAME circuit.level=alg|indep`), generated offline.

`mqt.bench.get_benchmark(name, BenchmarkLevel.ALG|INDEP, n)` makes the circuit (INDEP: MQT Bench's
own target-independent transpilation, seeded); qiskit_convert then drops its final measurements and
barriers and decomposes its composite gates (oracles, QFT blocks, rzz, ...) into the canonical set.

Reproducible per point: a generator that takes a `seed` (graphstate, qaoa, iqpe, ...) gets
circuit.seed; a parametrised circuit is generated unbound (random_parameters=False) and bound here to
uniform angles in [0, 2 pi) from circuit.seed, as MQT Bench does with its fixed seed 10. So
circuit.seed=10 reproduces MQT Bench's published circuits, and one point is one fingerprint on every
backend. A size MQT Bench refuses (its own exception) is CircuitUnavailable: a `skipped` point.
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect

from qbench.circuits.model import Circuit, CircuitInputError, CircuitUnavailable

LEVELS = ("alg", "indep")  # the levels that need no hardware target
DISTRIBUTION = "mqt.bench"


def version() -> str | None:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def benchmarks() -> tuple[str, ...]:
    """MQT Bench's benchmark names (CircuitInputError when mqt-bench is not installed)."""
    try:
        from mqt.bench.benchmarks import get_available_benchmark_names
    except ImportError as exc:
        raise CircuitInputError(f"circuit=mqt needs mqt-bench (pip install {DISTRIBUTION}=="
                                f"<the version pinned in pyproject.toml>): {exc}") from None
    return tuple(get_available_benchmark_names())


def check(benchmark, level) -> None:
    """Bad input (one line) unless the benchmark and level are ones MQT Bench has."""
    names = benchmarks()
    if benchmark not in names:
        raise CircuitInputError(f"circuit.benchmark={benchmark!r} is not allowed; allowed: one of MQT Bench's "
                                f"{', '.join(names)}")
    if level not in LEVELS:
        raise CircuitInputError(f"circuit.level={level!r} is not allowed; allowed: {', '.join(LEVELS)} "
                                "(nativegates and mapped need a hardware target)")


def _takes_seed(benchmark: str) -> bool:
    """Whether the benchmark's generator (module mqt.bench.benchmarks.NAME, create_circuit) takes a seed."""
    try:
        module = importlib.import_module(f"mqt.bench.benchmarks.{benchmark}")
        return "seed" in inspect.signature(module.create_circuit).parameters
    except (ImportError, AttributeError, TypeError, ValueError):
        return False


def generate(benchmark, level, n_qubits: int, seed: int) -> Circuit:
    check(benchmark, level)
    import numpy as np
    from mqt.bench import BenchmarkLevel, get_benchmark

    from qbench.circuits import qiskit_convert

    kwargs = {"seed": seed} if _takes_seed(benchmark) else {}
    try:
        qc = get_benchmark(benchmark, BenchmarkLevel[level.upper()], n_qubits, random_parameters=False, **kwargs)
    except Exception as exc:  # noqa: BLE001 - MQT Bench's own reason this size cannot be made
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise CircuitUnavailable(f"mqt-bench {version()} cannot generate {benchmark} ({level}) at "
                                 f"{n_qubits} qubits: {type(exc).__name__}: {message}") from None
    parameter_seed = None
    if qc.parameters:  # MQT Bench's own binding (uniform in [0, 2 pi), parameters in Qiskit's order)
        parameter_seed = seed
        rng = np.random.default_rng(seed)
        qc = qc.assign_parameters({p: rng.uniform(0, 2 * np.pi) for p in qc.parameters})
    metadata = {"benchmark": benchmark, "level": level, "mqt_bench_version": version(),
                "generator_seed": kwargs.get("seed"), "parameter_seed": parameter_seed,
                "transpiler_seed": 10 if level == "indep" else None}  # get_benchmark_indep's seed_transpiler
    try:
        return qiskit_convert.to_canonical(qc, "mqt", metadata, seed=seed)
    except CircuitInputError as exc:  # e.g. a dynamic-circuit benchmark (mid-circuit measurement)
        raise CircuitUnavailable(f"mqt-bench's {benchmark} ({level}) at {n_qubits} qubits: {exc}") from None
