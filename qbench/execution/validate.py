"""Bad input gets one clear line: what value is wrong and what is allowed."""
from __future__ import annotations

from qbench.backends.registry import accepted_options
from qbench.circuits import canonical
from qbench.circuits import observable as observables
from qbench.circuits.canonical import DEPTH_FAMILIES, FAMILIES
from qbench.circuits.noise import METHODS as NOISE_METHODS
from qbench.circuits.noise import MODELS as NOISE_MODELS


class ConfigError(ValueError):
    """A config value qbench cannot run with. The message is one line, shown as is, exit code 2."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(ok: bool, key: str, value, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed; allowed: {allowed}")


class _Fields(dict):
    """A plain (resolved) config read as `cfg.key`, as a DictConfig is: a job holds its point as
    plain data already, and reading it so is ~20x cheaper than through OmegaConf's nodes."""

    def __getattr__(self, key):
        if key not in self:
            raise AttributeError(key)
        return self.get(key)

    def get(self, key, default=None):
        value = dict.get(self, key, default)
        return _Fields(value) if isinstance(value, dict) else value


def check_point(cfg) -> None:
    """Validate one composed point (an OmegaConf DictConfig or a plain dict)."""
    if isinstance(cfg, dict) and not isinstance(cfg, _Fields):
        cfg = _Fields(cfg)
    if not (cfg.circuit.get("name") == "qasm" and cfg.n_qubits is None):  # qasm: null is "the file's"
        _require(_is_int(cfg.n_qubits) and cfg.n_qubits > 0, "n_qubits", cfg.n_qubits, "a positive integer")
    _require(_is_int(cfg.shots) and cfg.shots > 0, "shots", cfg.shots, "a positive integer")
    _require(_is_int(cfg.seed), "seed", cfg.seed, "an integer")

    circuit = cfg.circuit
    _require(circuit.name in FAMILIES, "circuit.name", circuit.name, f"one of {', '.join(FAMILIES)}")
    if circuit.name in DEPTH_FAMILIES:
        _require(_is_int(circuit.depth) and circuit.depth > 0, "circuit.depth", circuit.depth,
                 f"circuit '{circuit.name}' needs a positive integer depth")
    elif circuit.get("depth") is not None:
        raise ConfigError(f"circuit.depth={circuit.depth!r} does not apply to circuit '{circuit.name}'; allowed: "
                          f"no depth (only {', '.join(DEPTH_FAMILIES)} take one)")
    _require(_is_int(circuit.seed), "circuit.seed", circuit.seed, "an integer")
    n_qubits = _check_circuit_source(cfg)

    backend = cfg.backend
    _require(isinstance(backend.get("_target_"), str), "backend._target_", backend.get("_target_"),
             "a backend config must name its adapter class with _target_")
    _require(backend.precision in ("single", "double"), "backend.precision", backend.precision, "single or double")
    _require(str(backend.device).upper() in ("CPU", "GPU"), "backend.device", backend.device, "CPU or GPU")
    _check_backend_options(backend)
    threads = backend.get("threads")
    _require(threads is None or (_is_int(threads) and threads > 0), "backend.threads", threads,
             "null (use execution.threads) or a positive integer")

    noise = cfg.noise
    _require(noise.name in NOISE_MODELS, "noise.name", noise.name, f"one of {', '.join(NOISE_MODELS)}")
    _require(_is_number(noise.strength) and 0 <= noise.strength <= 1, "noise.strength", noise.strength,
             "a number in [0, 1]")
    method = noise.get("method", "auto")
    _require(method in NOISE_METHODS, "noise.method", method, f"one of {', '.join(NOISE_METHODS)}")
    _check_compute(cfg, n_qubits)

    ex = cfg.execution
    _require(_is_int(ex.warmup_runs) and ex.warmup_runs >= 0, "execution.warmup_runs", ex.warmup_runs,
             "a non-negative integer")
    _require(_is_int(ex.repetitions) and ex.repetitions > 0, "execution.repetitions", ex.repetitions,
             "a positive integer")
    min_time, maximum, target = ex.get("min_time", 0), ex.get("max_repetitions"), ex.get("target_rel_ci")
    _require(_is_number(min_time) and min_time >= 0, "execution.min_time", min_time,
             "a non-negative number of seconds (least total timed seconds per point)")
    _require(maximum is None or (_is_int(maximum) and maximum > 0), "execution.max_repetitions", maximum,
             "null (no cap but min_time, target_rel_ci and the timeout) or a positive integer")
    _require(target is None or (_is_number(target) and 0 < target < 1), "execution.target_rel_ci", target,
             "null (off) or a fraction in (0, 1), e.g. 0.05 for +-5 %")
    _require(_is_number(ex.timeout_per_run) and ex.timeout_per_run > 0, "execution.timeout_per_run",
             ex.timeout_per_run, "a positive number of seconds")
    _require(_is_int(ex.retries) and ex.retries >= 0, "execution.retries", ex.retries, "a non-negative integer")
    _require(ex.threads is None or (_is_int(ex.threads) and ex.threads > 0), "execution.threads", ex.threads,
             "null (cores / concurrent workers) or a positive integer")
    _require(ex.isolation in ("process", "none"), "execution.isolation", ex.isolation, "process or none")
    _require(ex.get("heap", "default") in ("default", "pinned"), "execution.heap", ex.get("heap"), "default or pinned")
    _require(ex.memory_limit_gb is None or (_is_number(ex.memory_limit_gb) and ex.memory_limit_gb > 0),
             "execution.memory_limit_gb", ex.memory_limit_gb, "null (no cap) or a positive number")
    _require(_is_int(ex.verify_max_qubits) and ex.verify_max_qubits >= 0, "execution.verify_max_qubits",
             ex.verify_max_qubits, "a non-negative integer")
    _require(_is_int(ex.gpus) and ex.gpus > 0, "execution.gpus", ex.gpus, "a positive integer")
    replicate = ex.get("replicate", 0)
    _require(_is_int(replicate) and replicate >= 0, "execution.replicate", replicate,
             "a non-negative integer (sweep it: execution.replicate=range(3))")


def _check_backend_options(backend) -> None:
    """A key the adapter does not take (`+backend.nosuch=1`, a misspelt option) is bad input, not ignored."""
    try:
        accepted = accepted_options(dict(backend))
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"backend._target_={backend.get('_target_')!r} cannot be imported "
                          f"({type(exc).__name__}: {exc}); allowed: an adapter class on the Python path") from None
    unknown = sorted(set(backend.keys()) - accepted) if accepted is not None else []
    if unknown:
        raise ConfigError(f"backend.{unknown[0]} is not an option of backend '{backend.get('name')}'; allowed: "
                          f"{', '.join(sorted(accepted - {'_target_'}))}")


def _check_circuit_source(cfg) -> int:
    """The options of the standard, MQT Bench and QASM families; a QASM file is read here (once per file
    version), so a refused one is bad input at pre-flight, naming its line. Returns the point's width."""
    circuit = cfg.circuit
    if circuit.name == "qaoa":
        _require(_is_int(circuit.get("p")) and circuit.p > 0, "circuit.p", circuit.get("p"),
                 "a positive integer number of QAOA layers")
    try:
        if circuit.name == "mqt":
            from qbench.circuits import mqt

            mqt.check(circuit.get("benchmark"), circuit.get("level"))
        if circuit.name == "qasm":
            return canonical.build("qasm", cfg.n_qubits, path=circuit.get("path")).n_qubits
    except canonical.CircuitInputError as exc:
        raise ConfigError(str(exc)) from None
    return cfg.n_qubits


def _check_compute(cfg, n_qubits: int) -> None:
    """compute= and observable=: a mode every adapter knows; a Pauli sum on the circuit's qubits; noiseless."""
    from qbench.backends.base import COMPUTE_MODES

    compute, text = cfg.get("compute", "sampling"), cfg.get("observable")
    _require(compute in COMPUTE_MODES, "compute", compute, ", ".join(COMPUTE_MODES))
    if compute == "expectation":  # other modes ignore an observable (a sweep over compute= may keep one)
        try:
            pauli_sum = observables.parse(text)
        except ValueError as exc:
            raise ConfigError(f"observable={text!r} is not allowed; allowed: {observables.EXAMPLE} ({exc})") from None
        if pauli_sum.max_qubit >= n_qubits:
            raise ConfigError(f"observable={text!r} acts on qubit {pauli_sum.max_qubit}, but the circuit has "
                              f"{n_qubits} qubits; allowed: Pauli factors on qubits 0..{n_qubits - 1}")
    if compute != "sampling" and cfg.noise.name != "none":
        raise ConfigError(f"compute={compute} with noise={cfg.noise.name} is not supported; allowed: noise=none "
                          "(a noisy point is sampled: compute=sampling)")
