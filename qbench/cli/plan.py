"""`qbench plan HYDRA-ARGS`: what `python -m qbench HYDRA-ARGS` would do, without running it.

The points come from the same expansion and validation as the real launch (qbench.cli.preflight),
and each point's status comes from the runner's own pre-check (supports? -> available? ->
memory guard), at the concurrency the launcher would use. Nothing is imported from the
simulators and nothing is written.
"""
from __future__ import annotations

import json
import logging
import shlex
from contextlib import contextmanager


from qbench import environment
from qbench.app.hydra_internals import args_parser
from qbench.backends.base import RunSpec
from qbench.backends.registry import instantiate_backend
from qbench.circuits import canonical as circuits
from qbench.cli.errors import error
from qbench.cli.preflight import launches_nothing, preflight
from qbench.execution import resources
from qbench.execution.resources import LARGE_QUBITS_WARNING, precheck, threads_for
from qbench.results import records

USAGE = """usage: qbench plan [--json] [HYDRA OPTIONS] [OVERRIDES ...]

Lists every point `python -m qbench` would launch with the same arguments, numbered, each
with the status it will get (will run / skipped: why / unavailable: why), its memory
estimate, the memory of the largest set running at once, warnings and the total. Runs nothing.
  qbench plan -m 'backend=glob(*)' circuit=qft 'n_qubits=range(4,30,4)' hydra/launcher=joblib
  qbench plan -m +experiment=ghz_scalability"""

# Keys every point line already shows; other overrides that vary between points are appended.
SHOWN_KEYS = {"backend", "n_qubits", "circuit", "circuit.depth", "noise", "noise.strength", "circuit.path",
              "circuit.benchmark", "circuit.level", "compute"}


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    if n.bit_length() > 1000:
        return resources.gib(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024


@contextmanager
def _captured_warnings():
    """The runner's own warnings (e.g. above 25 qubits), collected instead of printed."""
    logger, seen = logging.getLogger("qbench"), []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def concurrency(points, multirun: bool) -> int:
    """How many points run at once: the launcher's n_jobs, exactly as the Hydra task computes it."""
    return resources.concurrency(points[0].cfg.hydra.launcher, multirun)


def _varying_overrides(points) -> list[list[str]]:
    """Per point, the overrides that differ between points and are not already in its line."""
    varying = {o for p in points for o in p.overrides} - {o for o in points[0].overrides
                                                           if all(o in p.overrides for p in points)}
    return [[o for o in p.overrides if o in varying and o.split("=")[0].lstrip("+~") not in SHOWN_KEYS]
            for p in points]


def _plan_point(index: int, point, extra: list[str], workers: int, built: dict) -> dict:
    plain = records.task_config(point.cfg)
    config = records.point_config(plain)
    entry = {"index": index, "backend": plain["backend"]["name"], "device": plain["backend"].get("device"),
             **{k: config[k] for k in ("n_qubits", "circuit_type", "depth", "noise_model", "noise_strength",
                                       "shots")},
             "overrides": point.overrides, "extra": extra, "status": None, "reason": None,
             "memory_estimate_bytes": None, "memory_formula": None, "threads": None}
    entry.update(circuit=circuits.label(config["circuit_type"], config.get("circuit_options")),
                 compute=plain.get("compute") or "sampling")
    try:
        backend = instantiate_backend(plain["backend"])
        key = (plain["circuit"]["name"], plain["n_qubits"], plain["circuit"].get("depth"), plain["circuit"]["seed"],
               *circuits.circuit_options(plain["circuit"]).items())
        circuit = built.get(key) or built.setdefault(key, circuits.build_from_config(plain["circuit"], plain["n_qubits"]))
        entry["n_qubits"] = circuit.n_qubits  # circuit=qasm: the file's
        threads = backend.threads or threads_for(plain, workers)
        spec = RunSpec(shots=plain["shots"], seed=plain["seed"], threads=threads, noise=dict(plain["noise"]),
                       compute=entry["compute"],
                       observable=plain.get("observable") if entry["compute"] == "expectation" else None)
        status, reason, estimate = precheck(backend, circuit, spec, workers, plain["execution"]["memory_limit_gb"])
    except circuits.CircuitUnavailable as exc:  # the runner records it skipped (e.g. a size MQT Bench cannot make)
        entry.update(status="skipped", reason=str(exc))
        return entry
    except Exception as exc:  # noqa: BLE001 - the runner records this point as an error: say so now
        entry.update(status="error", reason=f"{type(exc).__name__}: {exc}")
        return entry
    if estimate is None:  # stopped before the memory guard: still show what the state would need
        estimate = backend.memory_estimate_bytes(circuit.n_qubits)
    entry.update(status=status or "will_run", reason=reason, threads=threads, memory_estimate_bytes=estimate,
                 memory_formula=backend.memory_formula(circuit.n_qubits))
    if status is None and "density matrix" in entry["memory_formula"] and 2 * circuit.n_qubits > LARGE_QUBITS_WARNING:
        entry["warning"] = (f"{entry['backend']} at {circuit.n_qubits} qubits keeps a density matrix "
                            f"({entry['memory_formula']}): ~{human_bytes(entry['memory_estimate_bytes'])}, "
                            f"as much as a {2 * circuit.n_qubits}-qubit state vector")
    return entry


def make_plan(points, multirun: bool, command: str) -> dict:
    workers = concurrency(points, multirun)
    built: dict = {}
    with _captured_warnings() as warnings:
        entries = [_plan_point(i, p, extra, workers, built)
                   for i, (p, extra) in enumerate(zip(points, _varying_overrides(points)), start=1)]
    warnings += [e.pop("warning") for e in entries if "warning" in e]
    running = sorted((e["memory_estimate_bytes"] for e in entries if e["status"] == "will_run"), reverse=True)
    together = running[:workers]
    counts = {s: sum(e["status"] == s for e in entries) for s in ("will_run", "skipped", "unavailable", "error")}
    return {"command": command, "total": len(entries), "counts": counts, "concurrency": workers,
            "largest_concurrent_set": {"points": len(together), "memory_estimate_bytes": sum(together)},
            "available_memory_bytes": environment.available_memory_bytes(), "warnings": warnings,
            "points": entries}


def _label(e: dict) -> str:
    depth = f"(depth {e['depth']})" if e["depth"] is not None and "random" in e["circuit_type"] else ""
    noise = f" {e['noise_model']}({e['noise_strength']})" if e["noise_model"] not in (None, "none") else ""
    compute = f" {e['compute']}" if e.get("compute", "sampling") != "sampling" else ""
    return (f"{e['backend']} {e['n_qubits']}q {e.get('circuit') or e['circuit_type']}{depth}{noise}{compute}"
            + "".join(f" {o}" for o in e["extra"]))


def render(plan: dict) -> str:
    c, together = plan["counts"], plan["largest_concurrent_set"]
    labels = [_label(e) for e in plan["points"]]
    width = max(map(len, labels), default=0)
    lines = [f"Plan for: {plan['command']}   (nothing is run)", ""]
    for e, label in zip(plan["points"], labels):
        status = "will run" if e["status"] == "will_run" else f"{e['status']}: {e['reason']}"
        memory = f"~{human_bytes(e['memory_estimate_bytes'])}" if e["memory_estimate_bytes"] is not None else ""
        lines.append(f"{e['index']:>4}. {label:<{width}}  {memory:>12}  {status}")
    if plan["warnings"]:
        lines += ["", "Warnings:", *(f"  {w}" for w in plan["warnings"])]
    lines += ["", f"{plan['total']} point{'s' * (plan['total'] != 1)}: {c['will_run']} will run, "
                  f"{c['skipped']} skipped, {c['unavailable']} unavailable"
                  + (f", {c['error']} will fail" if c["error"] else ""),
              f"At most {plan['concurrency']} at once; the largest concurrent set ({together['points']} "
              f"point{'s' * (together['points'] != 1)}) needs ~{human_bytes(together['memory_estimate_bytes'])} "
              f"of state (available now: {human_bytes(plan['available_memory_bytes'])})."]
    return "\n".join(lines)


def build(argv: list[str]) -> tuple[dict | None, str | None]:
    """(the plan of `python -m qbench ARGV`, None), or (None, the one-line error the launch would give)."""
    args = args_parser().parse_args(argv)
    if launches_nothing(args):
        return None, "qbench plan takes the arguments of a launch (-m, overrides), not Hydra's --help/--cfg/--info"
    expansion, problem = preflight(args)
    if problem:
        return None, problem
    return make_plan(expansion.points, args.multirun, "python -m qbench " + shlex.join(argv)), None


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print(USAGE)
        return 0
    as_json = "--json" in argv
    result, problem = build([a for a in argv if a != "--json"])
    if problem:
        return error(problem)
    print(json.dumps(result, indent=2) if as_json else render(result))
    return 0
