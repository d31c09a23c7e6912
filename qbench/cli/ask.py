"""`qbench ask "REQUEST"`: a plain-English benchmark request -> the qbench command and its plan.

A grammar, offline and deterministic (qbench.cli.ask_phrases and the modules it uses): names are
read from what is configured here (ask_names), numbers with their units and context (ask_grammar,
ask_binding). Whatever the grammar does not consume must be filler ("benchmark", "on", "the",
"please", ...): any other word means the request was not understood, and qbench says which words
and exits 2 instead of guessing. An option that does not apply (a depth on qft, fusion on cirq) is
refused with the reason, never passed on.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from qbench.app.hydra_internals import args_parser
from qbench.cli import plan
from qbench.cli.ask_grammar import DEFAULT_NOISE_MODEL, DEPTH_STEP, QUBIT_STEP, SCALABILITY_QUBITS, NotUnderstood, \
    Request
from qbench.cli.ask_names import Catalog
from qbench.cli.ask_phrases import parse
from qbench.cli.backends_table import collect
from qbench.cli.errors import EXIT_BAD_INPUT, error
from qbench.cli.preflight import preflight

__all__ = ["EXAMPLES", "NotUnderstood", "Request", "Translation", "main", "translate"]

EXAMPLES = (
    "benchmark all backends on GHZ 10 qubits",
    "compare Cirq and Qiskit on random circuits 4 to 16 qubits",
    "noise benchmark at 0.01, 0.05, 0.1",
)


@dataclass
class Translation:
    argv: list[str]           # after `python -m qbench` (or `qbench`, for a subcommand)
    summary: str
    name: str = ""
    subcommand: bool = False
    notes: list[str] = field(default_factory=list)   # "understood 'quiskit' as qiskit-aer"

    @property
    def command(self) -> str:
        prefix = "qbench" if self.subcommand else "python -m qbench"
        return f"{prefix} {shlex.join(self.argv)}"


def _values(items) -> str:
    return ",".join(map(str, items))


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


def _in_words(spec: tuple, step: int, template: str) -> str:
    if spec[0] == "list":
        return template.format(", ".join(map(str, spec[1])))
    return template.format(f"{spec[1]} to {spec[2]}") + (f" (step {step})" if spec[1] != spec[2] else "")


def _backends(req: Request, catalog: Catalog) -> tuple[list[str], list[str]]:
    """(the backends to run, the words for them): those named, or every available one (minus
    those left out) when none is named, "all" is said, or some are left out."""
    named = list(req.backends)
    both = [b for b in named if b in req.exclude_backends]
    if both:
        raise NotUnderstood(f"the request names {', '.join(both)} to run and to leave out")
    if req.fusion and not (named or req.every_backend or req.preset):
        named = [b for b in catalog.backends if "fusion_enable" in (catalog.backend_options(b) or {})]
        if not named:
            raise NotUnderstood("fusion: no configured backend has a fusion option (backend.fusion_enable)")
        return named, [f"backend {', '.join(named)} (the backends with a fusion option)"]
    if named and not req.every_backend or req.preset and not (req.every_backend or req.exclude_backends):
        # those left out of named ones change nothing: "qsim and cirq but not stim" is qsim and cirq
        return named, [("backends " if len(named) > 1 else "backend ") + ", ".join(named)] if named else []
    ready = [b for b in catalog.available if b not in req.exclude_backends]
    if not ready:
        raise NotUnderstood("no backend is available here (`qbench backends` says why)"
                            + (" once those left out are left out" if req.exclude_backends else ""))
    left_out = [b for b in catalog.backends if b not in catalog.available and b not in named]
    words = "every available backend (" + ", ".join(ready) + ")"
    words += f" except {', '.join(req.exclude_backends)}" if req.exclude_backends else ""
    words += f"; not available here: {', '.join(left_out)}" if left_out else ""
    return ready + [b for b in named if b not in ready], [words]


def _circuits(req: Request, catalog: Catalog) -> list[str]:
    circuits = list(req.circuits)
    both = [c for c in circuits if c in req.exclude_circuits]
    if both:
        raise NotUnderstood(f"the request names {', '.join(both)} to run and to leave out")
    if req.every_circuit or (req.exclude_circuits and not circuits):
        circuits = catalog.runnable_families() + [c for c in circuits if c not in catalog.runnable_families()]
    circuits = [c for c in circuits if c not in req.exclude_circuits]
    takers = [f for f in catalog.families if catalog.takes_depth(f)]
    if req.depths and not circuits and not req.preset:
        if not takers:
            raise NotUnderstood("a depth needs a family that takes one, and no configured circuit family does")
        circuits = ["random" if "random" in takers else takers[0]]  # the design's depth sweep uses random
    if not circuits and req.scalability and not req.preset:
        circuits = ["ghz"]  # the design's scalability test
    if req.depths:
        for circuit in circuits:
            if not catalog.takes_depth(circuit):
                raise NotUnderstood(f"depth applies to {', '.join(takers)} only: {circuit} has no depth")
    if req.paths and circuits != ["qasm"]:
        raise NotUnderstood("an OpenQASM file is its own circuit: name no other circuit family with it")
    if req.paths and req.qubits:
        raise NotUnderstood("an OpenQASM file sets its own qubit count: give no qubits with it")
    for circuit in circuits:
        if (needed := catalog.needs_input(circuit)) and not (needed == "path" and req.paths):
            raise NotUnderstood(f"circuit {circuit} needs its {needed}"
                                + (": name the file, e.g. 'my_circuit.qasm'" if needed == "path" else ""))
    return circuits


def build_overrides(req: Request, catalog: Catalog) -> tuple[list[str], list[str]]:
    """(the overrides of `python -m qbench -m`, the same in words)."""
    overrides, words = [], []
    if req.preset:
        overrides.append(f"+experiment={req.preset}")
        words.append(f"preset {req.preset}")
    backends, said = _backends(req, catalog)
    words += said
    if backends:
        overrides.append(f"backend={_values(backends)}")
    if req.devices:
        devices = [d for d in ("CPU", "GPU") if d in req.devices]
        overrides.append(f"backend.device={_values(devices)}")
        words.append("on " + " and ".join(devices))
    if req.precisions:
        overrides.append(f"backend.precision={_values(req.precisions)}")
        words.append(" and ".join(req.precisions) + " precision")
    if req.fusion:
        without = [b for b in backends if "fusion_enable" not in (catalog.backend_options(b) or {})]
        if without:
            raise NotUnderstood(f"fusion (backend.fusion_enable) is not an option of {', '.join(without)}")
        overrides.append(f"backend.fusion_enable={_values(str(v).lower() for v in req.fusion)}")
        words.append("gate fusion " + " and ".join("on" if v else "off" for v in req.fusion))

    circuits = _circuits(req, catalog)
    if circuits:
        overrides.append(f"circuit={_values(circuits)}")
        words.append(", ".join(circuits) + " circuits")
    if req.paths:
        overrides.append(f"circuit.path={_values(req.paths)}")
        words.append("from " + ", ".join(req.paths))
    if req.benchmarks:
        overrides.append(f"circuit.benchmark={_values(req.benchmarks)}")
        words.append("MQT Bench " + ", ".join(req.benchmarks))

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
    if req.compute:
        overrides.append(f"compute={req.compute}")
        words.append(f"compute {req.compute}")
    if req.observable:
        overrides.append(f"observable={req.observable}")
        words.append(f"observable {req.observable}")

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
                             ("execution.threads", req.threads, "{} threads"),
                             ("execution.timeout_per_run", req.timeout, "timeout {} s")):
        if value is not None:
            shown = _values(value) if isinstance(value, list) else value
            overrides.append(f"{key}={shown}")
            words.append(said.format(", ".join(map(str, value)) if isinstance(value, list) else value))
    if req.quick:
        overrides.append("execution=quick")
        words.append("quick (1 repetition, no warm-up)")
    if req.replicates and req.replicates > 1:  # first: Hydra varies it slowest, so the replicates spread over the sweep
        overrides.insert(0, f"execution.replicate=range({req.replicates})")
        words.append(f"each point {req.replicates} times, in its own process at {req.replicates} times of the sweep"
                     " (replicates)")
    if req.workers == 1:  # "one at a time": the basic launcher's way
        words.append("one point at a time")
    elif req.parallel or req.workers:
        overrides.append("hydra/launcher=joblib")
        words.append("in parallel" + (f", {req.workers} at a time" if req.workers else ""))
        if req.workers:
            overrides.append(f"hydra.launcher.n_jobs={req.workers}")
    return overrides, words


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
        (req.threads and len(req.threads) > 1, "Thread Scaling"),
        (len(req.fusion) > 1, "Fusion Comparison"),
        (req.parallel and req.workers != 1 or (req.workers or 0) > 1, "Parallel Benchmark"),
    )
    return next((title for wanted, title in titles if wanted), "Benchmark")


def translate(request: str, backend_rows: list | None = None, presets: list[str] | None = None,
              **configured) -> Translation:
    """The command a request means. backend_rows (`qbench backends` rows), presets and each of
    Catalog.build's families / compute / observable default to what is configured here."""
    catalog = Catalog.build(collect() if backend_rows is None else backend_rows, presets, **configured)
    req = parse(request, catalog)
    if req.rerun:
        if req != Request(rerun=req.rerun):
            raise NotUnderstood("rerunning failed points takes no other settings: it repeats them as they were")
        return Translation(["rerun-failed", req.rerun], f"re-run the failed points of sweep '{req.rerun}'",
                           subcommand=True)
    overrides, words = build_overrides(req, catalog)
    return Translation(["-m", *overrides], "; ".join(words), _name(req), notes=req.notes)


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


def main(argv: list[str], backend_rows: list | None = None, presets: list[str] | None = None) -> int:
    """`qbench ask`; backend_rows/presets as translate's (tests inject them)."""
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
        translation = translate(request, backend_rows, presets)
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
    for note in translation.notes:  # a name read as another is said, never applied silently
        print(f"Read:       {note}")
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
