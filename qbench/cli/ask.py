"""`qbench ask "REQUEST"`: a plain-English benchmark request -> the qbench command and its plan.

Rule-based, offline and deterministic. Each rule is a regular expression over the
normalized request; the words a rule matches are consumed. Whatever is left must be
filler ("benchmark", "on", "the", "please", ...): any other word means the request was
not understood, and qbench says which words and exits 2 instead of guessing.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from qbench.app.hydra_internals import args_parser
from qbench.cli import plan
from qbench.cli.errors import EXIT_BAD_INPUT, error
from qbench.cli.preflight import preflight
from qbench.cli.backends_table import collect
from qbench.circuits.canonical import FAMILIES
from qbench.conf import shipped_options
from qbench.circuits.noise import MODELS

EXAMPLES = (
    "benchmark all backends on GHZ 10 qubits",
    "compare Cirq and Qiskit on random circuits 4 to 16 qubits",
    "noise benchmark at 0.01, 0.05, 0.1",
)

# How people write backend names -> the backend group's option names (design: agent4 tables).
BACKEND_ALIASES = {
    "qiskit-aer": ("qiskit aer", "qiskit-aer", "qiskit_aer", "aer simulator", "aersimulator", "aer", "qiskit"),
    "cirq": ("cirq",),
    "qsim": ("qsim", "qsimcirq"),
    "pennylane": ("pennylane", "penny lane", "pennylane lightning", "lightning"),
    "stim": ("stim",),
    "quest": ("quest",),
    "lret-phase7": ("lret-phase7", "lret phase7", "lret phase 7", "lret"),
    "lret-cirq-scalability": ("lret-cirq-scalability",),
    "lret-pennylane": ("lret-pennylane",),
    "cuquantum": ("cuquantum", "cu quantum", "custatevec"),
}
CIRCUIT_ALIASES = {"random_clifford": ("clifford",), "qft": ("quantum fourier transform", "fourier")}
NOISE_ALIASES = {"depolarizing": ("depolarising",)}

# The design's defaults where a request names a sweep but not its values.
SCALABILITY_QUBITS = (4, 24)          # "scalability test": 4..24 qubits
QUBIT_STEP, DEPTH_STEP = 2, 10        # "from 4 to 24 qubits": step 2 unless told
NOISE_SWEEP_LEVELS = ("0.0", "0.001", "0.01", "0.05", "0.1")
DEPTH_SWEEP = (10, 20, 50, 100, 200)
DEFAULT_NOISE_MODEL = "depolarizing"

FILLER = set("""
a an the on in at of for with and or vs to from by via using use please pls me my i we us you can could would
want like lets let's now then also just do qbench benchmark benchmarks benchmarking bench run runs running
execute test tests testing compare comparing comparison against across over each both all sweep sweeps
sweeping circuit circuits type types family families simulation simulations simulate simulator simulators
backend backends library libraries performance speed timing time measure show see how is are it them this
that some sizes size
""".split())

N = r"\d+"
LEVEL = r"(?:\d+(?:\.\d*)?|\.\d+)(?:e-?\d+)?%?"
SEP = r"\s*(?:,\s*(?:and\s+|or\s+)?|\s(?:and|or|&)\s|/)\s*"
TO = r"\s*(?:-|to|\.\.|through|until)\s*"
QUBITS = r"\s*-?\s*(?:qubits?|q)\b"


def listof(item: str) -> str:
    return rf"{item}(?:{SEP}{item})*"


class NotUnderstood(ValueError):
    """The request cannot be turned into a command; the message says why."""


@dataclass
class Request:
    backends: list[str] = field(default_factory=list)
    every_backend: bool = False
    circuits: list[str] = field(default_factory=list)
    every_circuit: bool = False
    qubits: tuple | None = None       # ("list", [..]) or ("range", a, b)
    depths: tuple | None = None
    step: int | None = None
    noise: list[str] | None = None      # strengths
    noise_models: list[str] = field(default_factory=list)
    noiseless: bool = False
    devices: set = field(default_factory=set)
    precisions: list[str] = field(default_factory=list)
    shots: int | None = None
    seed: int | None = None
    repetitions: int | None = None
    timeout: int | None = None
    quick: bool = False
    parallel: bool = False
    workers: int | None = None
    scalability: bool = False
    preset: str | None = None
    rerun: str | None = None


@dataclass
class Translation:
    argv: list[str]           # after `python -m qbench` (or `qbench`, for a subcommand)
    summary: str
    name: str = ""
    subcommand: bool = False

    @property
    def command(self) -> str:
        prefix = "qbench" if self.subcommand else "python -m qbench"
        return f"{prefix} {shlex.join(self.argv)}"


# ---------------------------------------------------------------------------- rule handlers
def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(N, text)]


def _level(text: str) -> str:
    """A noise level as Hydra should read it: '1%' -> 0.01, '.05' -> 0.05, '0' -> 0.0."""
    try:
        value = Decimal(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except InvalidOperation:
        raise NotUnderstood(f"'{text}' is not a noise level") from None
    shown = format(value.normalize(), "f")
    return shown if "." in shown else shown + ".0"


def _once(req: Request, name: str, value, words: str) -> None:
    if getattr(req, name) not in (None, False, []):
        raise NotUnderstood(f"'{words}' gives the {name} a second time; say it once")
    setattr(req, name, value)


def _add(items: list, value) -> None:
    if value not in items:
        items.append(value)


def _grid(start: int, end: int, step: int, what: str) -> tuple[int, int, int]:
    """(start, stop, step) of a Hydra range that includes `end` when it is on the grid."""
    if step <= 0:
        raise NotUnderstood(f"step {step} is not a positive step")
    if end < start:
        raise NotUnderstood(f"{what} from {start} to {end}: the end is below the start")
    last = start + (end - start) // step * step
    return start, last + step, step


def _range_or_list(spec: tuple, step: int, what: str) -> str:
    if spec[0] == "list":
        return ",".join(map(str, spec[1]))
    start, end = spec[1], spec[2]
    return str(start) if start == end else "range({},{},{})".format(*_grid(start, end, step, what))


def _spelled(alias: str) -> str:
    """A regex for a name however it is joined: 'qiskit aer', 'qiskit-aer', 'qiskit_aer'."""
    return r"[\s_-]+".join(map(re.escape, re.split(r"[\s_-]+", alias)))


def _key(text: str) -> str:
    """The lookup key of a name however it was written (the request is lower-cased)."""
    return re.sub(r"[\s_-]+", " ", text.lower())


def _alternation(names) -> str:
    return "(?:" + ("|".join(_spelled(n) for n in sorted(names, key=len, reverse=True)) or r"(?!x)x") + ")"


def _rules(backend_names: list[str], presets: list[str]) -> list[tuple[str, Callable]]:
    backends = {_key(alias): name for name, spelled in BACKEND_ALIASES.items() for alias in spelled}
    backends.update({_key(name): name for name in backend_names})  # configured names, e.g. a user's own
    circuits = {_key(name): name for name in FAMILIES}
    circuits.update({_key(alias): name for name, spelled in CIRCUIT_ALIASES.items() for alias in spelled})
    preset_names = {_key(name): name for name in presets}
    models = {_key(name): name for name in MODELS if name != "none"}
    models.update({_key(alias): name for name, spelled in NOISE_ALIASES.items() for alias in spelled})
    model = _alternation(models)
    said = r"(?:\s*(?:of|at|=|with|strengths?|levels?|rates?|probabilit(?:y|ies)))*\s*"
    sweep_words = r"(?:benchmark|sweep|test|scan|study)"

    def preset(m, req):
        _once(req, "preset", preset_names[_key(m["a"] or m["b"])], m[0])

    def qubit_range(m, req):
        _once(req, "qubits", ("range", int(m["a"]), int(m["b"])), m[0])

    def noise(m, req, default_levels=()):
        for name in re.findall(model, m["models"] or ""):
            _add(req.noise_models, models[_key(name)])
        listed = m.groupdict().get("list")
        if listed or default_levels:
            _once(req, "noise", [_level(x) for x in re.findall(LEVEL, listed)] if listed else list(default_levels),
                  m[0])

    def device(m, req):
        req.devices.add("GPU" if m["d"] in ("gpu", "cuda") else "CPU")

    def seconds(m, req):
        _once(req, "timeout", int(m["n"]) * (60 if (m["u"] or "s").startswith("m") else 1), m[0])

    return [
        (r"\b(?:re-?run|retry|redo)\s+(?:the\s+|all\s+)?(?:failed|failing|broken)"
         r"(?:\s+(?:benchmarks?|runs?|points?|jobs?|ones))?(?:\s+(?:from|of|in)\s+(?:the\s+)?"
         r"(?:(?P<id>bench_\w+)|(?:last|latest|previous|most\s+recent)(?:\s+(?:run|sweep|benchmark))?))?",
         lambda m, req: _once(req, "rerun", m["id"] or "latest", m[0])),
        (rf"\b(?:preset|experiment)\s+(?P<a>{_alternation(preset_names)})\b"
         rf"|\b(?P<b>{_alternation(preset_names)})\s+(?:preset|experiment)\b", preset),
        # qubit counts: ranges first, then the step, then lists ("4 to 16 qubits" is not "16 qubits")
        (rf"\b(?:from\s+)?(?P<a>{N}){TO}(?P<b>{N}){QUBITS}", qubit_range),
        (rf"\bbetween\s+(?P<a>{N})\s+and\s+(?P<b>{N}){QUBITS}", qubit_range),
        (rf"\bup\s*to\s+(?P<b>{N}){QUBITS}",  # from where a scalability test starts
         lambda m, req: _once(req, "qubits", ("range", SCALABILITY_QUBITS[0], int(m["b"])), m[0])),
        (rf"\b(?:qubits?|n_qubits)\s*[=:]?\s*(?:from\s+)?(?P<a>{N}){TO}(?P<b>{N})\b", qubit_range),
        (rf"\b(?:in\s+|with\s+|at\s+)?(?:a\s+)?steps?(?:\s*size)?(?:\s+of)?\s*=?\s*(?P<n>{N})\b|\bevery\s+(?P<e>{N})"
         rf"(?:{QUBITS})?", lambda m, req: _once(req, "step", int(m["n"] or m["e"]), m[0])),
        (rf"\b(?P<list>{listof(N)}){QUBITS}", lambda m, req: _once(req, "qubits", ("list", _numbers(m["list"])), m[0])),
        (rf"\b(?:qubits?|n_qubits)\s*[=:]?\s*(?P<list>{listof(N)})\b",
         lambda m, req: _once(req, "qubits", ("list", _numbers(m["list"])), m[0])),
        # circuit depth
        (r"\bdepth\s+(?:sweep|scan|scaling|study|test)\b",
         lambda m, req: _once(req, "depths", ("list", list(DEPTH_SWEEP)), m[0])),
        (rf"\bdepths?\s*[=:]?\s*(?:of\s+)?(?:from\s+)?(?P<a>{N}){TO}(?P<b>{N})\b",
         lambda m, req: _once(req, "depths", ("range", int(m["a"]), int(m["b"])), m[0])),
        (rf"\bdepths?\s*[=:]?\s*(?:of\s+)?(?P<list>{listof(N)})\b|\b(?P<l2>{listof(N)})\s*-?\s*layers?\b",
         lambda m, req: _once(req, "depths", ("list", _numbers(m["list"] or m["l2"])), m[0])),
        # noise: levels with or without a model ("noise 0.01", "bit flip 1%"), a sweep, a model alone
        (rf"\b(?:(?P<models>{listof(model)})\s+)?noise(?:\s+{sweep_words})?{said}(?P<list>{listof(LEVEL)})(?![\w.])",
         noise),
        (rf"\b(?P<models>{listof(model)})(?:\s+(?:noise|errors?))?{said}(?P<list>{listof(LEVEL)})(?![\w.])", noise),
        (rf"(?<![\w.])(?P<list>{listof(LEVEL)})\s+(?:(?P<models>{listof(model)})(?:\s+noise)?|noise)\b", noise),
        (rf"\b(?:(?P<models>{listof(model)})(?:\s+noise)?|noise)\s+{sweep_words}\b",
         lambda m, req: noise(m, req, NOISE_SWEEP_LEVELS)),
        (rf"\b(?P<models>{listof(model)})(?:\s+(?:noise|errors?|channels?))?\b", noise),
        (r"\b(?:noiseless|noise-free|without\s+noise|no\s+noise|ideal)\b",
         lambda m, req: _once(req, "noiseless", True, m[0])),
        # what to run on
        (r"\b(?:all|every|each)(?:\s+(?:the|of\s+the))?(?:\s+(?:installed|available|configured|ready))?"
         r"\s+(?:backends?|simulators?)\b|\beverything\b", lambda m, req: setattr(req, "every_backend", True)),
        (r"\b(?:all|every|each)(?:\s+(?:the|of\s+the))?\s+circuits?(?:\s+(?:types?|famil(?:y|ies)))?\b",
         lambda m, req: setattr(req, "every_circuit", True)),
        (rf"(?<![\w-])(?P<name>{_alternation(backends)})(?![\w-])",
         lambda m, req: _add(req.backends, backends[_key(m["name"])])),
        (rf"(?<![\w-])(?P<name>{_alternation(circuits)})(?![\w-])",
         lambda m, req: _add(req.circuits, circuits[_key(m["name"])])),
        (r"\b(?P<d>cpu|gpu|cuda)s?\b", device),
        (r"\b(?P<p>single|double)(?:\s*(?:,|and|or|vs|&|/)\s*(?P<q>single|double))?\s*-?\s*precision\b",
         lambda m, req: [_add(req.precisions, p) for p in (m["p"], m["q"]) if p]),
        (r"\b(?:fp|float)(?P<bits>32|64)\b",
         lambda m, req: _add(req.precisions, "single" if m["bits"] == "32" else "double")),
        # how
        (rf"\b(?P<n>{N})(?P<k>k)?\s*shots?\b|\bshots?\s*[=:]?\s*(?:of\s+)?(?P<n2>{N})(?P<k2>k)?\b",
         lambda m, req: _once(req, "shots", int(m["n"] or m["n2"]) * (1000 if m["k"] or m["k2"] else 1), m[0])),
        (rf"\bseed\s*[=:]?\s*(?:of\s+)?(?P<n>{N})\b", lambda m, req: _once(req, "seed", int(m["n"]), m[0])),
        (rf"\b(?P<n>{N})\s*(?:repetitions?|reps?|repeats?|timed\s+runs?)\b|\brepeat(?:ed)?\s+(?P<n2>{N})\s+times\b",
         lambda m, req: _once(req, "repetitions", int(m["n"] or m["n2"]), m[0])),
        (rf"\btimeout\s*[=:]?\s*(?:of\s+)?(?P<n>{N})\s*(?P<u>s|secs?|seconds?|m|mins?|minutes?)?\b", seconds),
        (rf"\b(?P<n>{N})\s*(?P<u>s|secs?|seconds?|m|mins?|minutes?)\s+timeout\b", seconds),
        (r"\bquick(?:ly)?\b", lambda m, req: setattr(req, "quick", True)),
        (rf"\b(?P<n>{N})\s+(?:parallel\s+)?(?:workers?|jobs?|processes)\b|\bparallel\s+(?P<n2>{N})\b"
         rf"|\b(?P<n3>{N})\s+at\s+(?:a|the\s+same)\s+time\b|\b(?P<n4>{N})\s+at\s+once\b",
         lambda m, req: _once(req, "workers", int(m["n"] or m["n2"] or m["n3"] or m["n4"]), m[0])),
        (r"\b(?:in\s+parallel|parallel(?:ly)?|simultaneously|concurrently|at\s+the\s+same\s+time|at\s+once"
         r"|with\s+joblib)\b", lambda m, req: setattr(req, "parallel", True)),
        (r"\b(?:qubit\s+)?scal(?:ability|ing)(?:\s+(?:test|sweep|benchmark|study|run|check))?\b|\bqubit\s+sweep\b",
         lambda m, req: setattr(req, "scalability", True)),
        # a bare "from 4 to 24": the qubit counts, the default sweep axis
        (rf"\bfrom\s+(?P<a>{N})\s+to\s+(?P<b>{N})\b", qubit_range),
    ]


# ---------------------------------------------------------------------------- parsing
def normalize(request: str) -> str:
    text = request.lower().replace("\u2013", "-").replace("\u2014", "-")
    text = re.sub(r"\bversus\b|\bvs\.", "vs", text)
    text = re.sub(r"[\"`\u201c\u201d!?;()\[\]:]|\.(?!\d)", " ", text)  # keep decimal points and commas
    return " ".join(text.split())


def parse(request: str, backend_names: list[str], presets: list[str]) -> Request:
    """The request's meaning; NotUnderstood names every word no rule consumed."""
    text, req = normalize(request), Request()
    for pattern, handle in _rules(backend_names, presets):
        # Consumed words are masked with NUL (not spaces) so that no later rule spans them.
        def consume(m, handle=handle):
            handle(m, req)
            return "\0" * len(m[0])
        text = re.sub(pattern, consume, text)
    unknown = [w for w in (w.strip(".,'-") for w in re.split(r"[\s,\0]+", text)) if w and w not in FILLER]
    if unknown:
        raise NotUnderstood("did not understand " + ", ".join(f"'{w}'" for w in dict.fromkeys(unknown)))
    return req


def _values(items) -> str:
    return ",".join(map(str, items))


def build_overrides(req: Request, backend_rows: list) -> tuple[list[str], list[str]]:
    """(the overrides of `python -m qbench -m`, the same in words)."""
    overrides, words = [], []
    if req.preset:
        overrides.append(f"+experiment={req.preset}")
        words.append(f"preset {req.preset}")
    backends = list(req.backends)
    if req.every_backend or not (backends or req.preset):
        ready = [row.option for row in backend_rows if row.available]
        if not ready:
            raise NotUnderstood("no backend is available here (`qbench backends` says why)")
        left_out = [row.option for row in backend_rows if not row.available]
        backends = ready + [b for b in backends if b not in ready]
        words.append("every available backend (" + ", ".join(ready) + ")"
                     + (f"; not available here: {', '.join(left_out)}" if left_out else ""))
    elif backends:
        words.append(("backends " if len(backends) > 1 else "backend ") + ", ".join(backends))
    if backends:
        overrides.append(f"backend={_values(backends)}")
    if req.devices:
        devices = [d for d in ("CPU", "GPU") if d in req.devices]
        overrides.append(f"backend.device={_values(devices)}")
        words.append("on " + " and ".join(devices))
    if req.precisions:
        overrides.append(f"backend.precision={_values(req.precisions)}")
        words.append(" and ".join(req.precisions) + " precision")

    circuits = list(FAMILIES) if req.every_circuit else list(req.circuits)
    if not circuits and req.depths:
        circuits = ["random"]  # depth means the random families; the design's depth sweep uses random
    if not circuits and req.scalability:
        circuits = ["ghz"]
    if circuits:
        overrides.append(f"circuit={_values(circuits)}")
        words.append(", ".join(circuits) + " circuits")

    qubits = req.qubits or (("range", *SCALABILITY_QUBITS) if req.scalability else None)
    # A step belongs to the qubit range, else to the depth range.
    if req.step is not None and not any(spec and spec[0] == "range" for spec in (qubits, req.depths)):
        raise NotUnderstood(f"'step {req.step}' needs a range, e.g. 'from 4 to 24 qubits step {req.step}'")
    depth_step = req.step if req.step and not (qubits and qubits[0] == "range") else DEPTH_STEP
    if req.depths:
        overrides.append(f"circuit.depth={_range_or_list(req.depths, depth_step, 'depth')}")
        words.append(_in_words(req.depths, depth_step, "depth {}"))
    if qubits:
        overrides.append(f"n_qubits={_range_or_list(qubits, req.step or QUBIT_STEP, 'qubits')}")
        words.append(_in_words(qubits, req.step or QUBIT_STEP, "{} qubits"))

    if (req.noise or req.noise_models) and req.noiseless:
        raise NotUnderstood("the request asks for noise and for no noise")
    if req.noise or req.noise_models:
        models = req.noise_models or [DEFAULT_NOISE_MODEL]
        overrides.append(f"noise={_values(models)}")
        if req.noise:
            overrides.append(f"noise.strength={_values(req.noise)}")
        words.append(" and ".join(models) + " noise " + (", ".join(req.noise) if req.noise
                                                         else "at the strength its config sets"))
    elif req.noiseless:
        overrides.append("noise=none")
        words.append("no noise")
    for key, value, said in (("shots", req.shots, "{} shots"), ("seed", req.seed, "seed {}"),
                             ("execution.repetitions", req.repetitions, "{} timed repetitions"),
                             ("execution.timeout_per_run", req.timeout, "timeout {} s")):
        if value is not None:
            overrides.append(f"{key}={value}")
            words.append(said.format(value))
    if req.quick:
        overrides.append("execution=quick")
        words.append("quick (1 repetition, no warm-up)")
    if req.parallel or req.workers:
        overrides.append("hydra/launcher=joblib")
        words.append("in parallel" + (f", {req.workers} at a time" if req.workers else ""))
    if req.workers:
        overrides.append(f"hydra.launcher.n_jobs={req.workers}")
    return overrides, words


def _in_words(spec: tuple, step: int, template: str) -> str:
    if spec[0] == "list":
        return template.format(", ".join(map(str, spec[1])))
    return template.format(f"{spec[1]} to {spec[2]}") + (f" (step {step})" if spec[1] != spec[2] else "")


def _name(req: Request) -> str:
    """A title for the benchmark, after the design's example ("GHZ Scalability")."""
    if req.preset:
        return " ".join(w.upper() if w in ("ghz", "qft") else w.capitalize() for w in req.preset.split("_"))
    titles = (
        (req.scalability or (req.qubits and req.qubits[0] == "range"), "Qubit Scalability"),
        (req.noise or req.noise_models, "Noise Sweep"),
        (req.depths and (req.depths[0] == "range" or len(req.depths[1]) > 1), "Depth Sweep"),
        (req.every_circuit or len(req.circuits) > 1, "Circuit Type Sweep"),
        (len(req.devices) > 1, "GPU vs CPU"),
        (len(req.precisions) > 1, "Precision Comparison"),
        (req.parallel or req.workers, "Parallel Benchmark"),
    )
    return next((title for wanted, title in titles if wanted), "Benchmark")


def translate(request: str, backend_rows: list | None = None, presets: list[str] | None = None) -> Translation:
    """The command a request means. backend_rows/presets default to what is configured here."""
    if backend_rows is None:
        backend_rows = collect()
    if presets is None:
        presets = shipped_options("experiment")
    req = parse(request, [row.option for row in backend_rows], presets)
    if req.rerun:
        if req != Request(rerun=req.rerun):
            raise NotUnderstood("rerunning failed points takes no other settings: it repeats them as they were")
        return Translation(["rerun-failed", req.rerun], f"re-run the failed points of sweep '{req.rerun}'",
                           subcommand=True)
    overrides, words = build_overrides(req, backend_rows)
    return Translation(["-m", *overrides], "; ".join(words), _name(req))


# ---------------------------------------------------------------------------- output
def benchmark_config(translation: Translation, request: str) -> tuple[dict | None, str | None]:
    """(the original design's structured benchmark config, read from the composed points, None),
    or (None, the one-line error the launch would give)."""
    from omegaconf import OmegaConf

    expansion, problem = preflight(args_parser().parse_args(translation.argv))
    if problem:
        return None, problem
    points = expansion.points
    cfgs = [p.cfg for p in points]
    workers = plan.concurrency(points, True)
    ex = cfgs[0].execution
    output_dir = OmegaConf.select(cfgs[0], "hydra.sweep.dir")

    def unique(values):
        return list(dict.fromkeys(values))

    return {
        "benchmark_id": Path(output_dir).name,
        "name": translation.name,
        "description": f"{translation.summary} (asked: \"{request}\")",
        "backends": unique(c.backend.name for c in cfgs),
        "parameters": {
            "n_qubits": sorted(unique(c.n_qubits for c in cfgs)),
            "circuit_type": unique(c.circuit.name for c in cfgs),
            "shots": unique(c.shots for c in cfgs),
            "noise_model": unique(None if c.noise.name == "none" else c.noise.name for c in cfgs),
            "noise_strength": unique(c.noise.strength for c in cfgs),
        },
        "execution": {"parallel": workers > 1, "max_parallel": workers, "timeout_per_run": ex.timeout_per_run,
                      "retries": ex.retries, "warmup_runs": ex.warmup_runs},
        "output_dir": output_dir,
        "command": translation.command,
    }, None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="qbench ask", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Turn a plain-English request into the qbench command and show its plan (nothing runs "
                    "without --run).",
        epilog="examples:\n" + "\n".join(f'  qbench ask "{e}"' for e in EXAMPLES))
    parser.add_argument("--run", action="store_true", help="run the command (as `python -m qbench ...` would)")
    parser.add_argument("--json", action="store_true", help="print the structured benchmark config instead")
    parser.add_argument("request", nargs="+", help="the request, e.g. \"compare GPU vs CPU on Qiskit Aer\"")
    args = parser.parse_args(argv)
    request = " ".join(args.request)
    try:
        translation = translate(request)
    except NotUnderstood as exc:
        error(str(exc))
        print("Requests that work, for example:\n" + "\n".join(f'  qbench ask "{e}"' for e in EXAMPLES),
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        if translation.subcommand:
            config = {"command": translation.command, "action": translation.argv[0],
                      "benchmark_id": translation.argv[1]}
        else:
            config, problem = benchmark_config(translation, request)
            if problem:
                return error(problem)
        print(json.dumps(config, indent=2))
        return 0
    print(f"Understood: {translation.summary}\nCommand:    {translation.command}")
    sys.stdout.flush()
    if args.run:  # the very launch `python -m qbench ARGS` (or `qbench SUBCOMMAND`) does
        from qbench.cli.main import main as qbench_main

        return qbench_main(translation.argv)
    if translation.subcommand:
        return 0
    planned, problem = plan.build(translation.argv)
    if problem:
        return error(problem)
    print("\n" + plan.render(planned) + f"\n\nRun it: paste the command, or qbench ask --run \"{request}\"")
    return 0
