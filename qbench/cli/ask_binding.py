"""Number groups (ask_grammar.Group) bound to what they set, once the whole request is read.

A group with a unit or a key sets that quantity. A bare group after "at"/"with" is the noise
strength in a noise request (values 0..1) and the qubit count otherwise (whole numbers); a bare
range is a qubit sweep; any other bare number is left, and refused. Values are checked here: whole
numbers where a count is meant, probabilities for noise, one value where a sweep makes no sense.
"""
from __future__ import annotations

from decimal import Decimal

from qbench.cli.ask_grammar import DEPTH_SWEEP, NOISE_SWEEP_LEVELS, SCALABILITY_QUBITS, Group, NotUnderstood, \
    Parser, Request, add, once

# quantity -> (Request field, how its values are called in a refusal)
FIELDS = {"qubits": ("qubits", "qubit counts"), "depth": ("depths", "depths"), "shots": ("shots", "shot counts"),
          "threads": ("threads", "thread counts"), "seed": ("seed", "seeds"), "times": ("repetitions", "repetitions"),
          "replicates": ("replicates", "replicate counts"),
          "workers": ("workers", "worker counts"), "step": ("step", "steps"),
          "timeout-seconds": ("timeout", "timeouts"), "timeout-minutes": ("timeout", "timeouts")}
SWEEPABLE = {"qubits", "depth", "shots", "threads", "seed"}   # a list is a sweep of these
RANGED = {"qubits", "depth"}                                    # and a range too (a step is known)


def level(value: Decimal, words: str) -> str:
    """A noise strength as Hydra should read it: 0.01, 0.0 (never '1E-2')."""
    if not 0 <= value <= 1:
        raise NotUnderstood(f"'{words}': noise strength {value.normalize():f} is not a probability "
                            "(0 to 1; '1%' is 0.01)")
    shown = format(value.normalize(), "f")
    return shown if "." in shown else shown + ".0"


def whole(g: Group, words: str, what: str, least: int = 1) -> list[int]:
    values = []
    for t in g.nums:
        if t.tag == "%":
            raise NotUnderstood(f"'{words}': a percentage is a noise strength, not {what}")
        value = t.number
        if value != value.to_integral_value():
            raise NotUnderstood(f"'{words}': {what} are whole numbers")
        if value < least:
            raise NotUnderstood(f"'{words}': {what} start at {least}")
        values.append(int(value))
    return values


def assign(req: Request, quantity: str, g: Group, words: str) -> None:
    if quantity == "noise":
        if g.model:
            add(req.noise_models, g.model)
        if g.shape != "list":
            raise NotUnderstood(f"'{words}': list the noise strengths (e.g. 0.01, 0.05 and 0.1): a range of them "
                                "has no step")
        levels = sorted({t.number for t in g.nums})
        once(req, "noise", [level(v, words) for v in levels], words)
        return
    name, what = FIELDS[quantity]
    values = whole(g, words, what, least=0 if quantity == "seed" else 1)
    if g.shape != "list" and quantity not in RANGED:
        raise NotUnderstood(f"'{words}': list the {what} (a range of them has no step)")
    if g.shape == "upto" and quantity != "qubits":
        raise NotUnderstood(f"'{words}': say where the {what} start (e.g. 'from 10 to 50')")
    if g.shape == "list" and len(values) > 1 and quantity not in SWEEPABLE:
        raise NotUnderstood(f"'{words}': one value for the {what}")
    if g.shape == "range":
        value = ("range", values[0], values[1])
    elif g.shape == "upto":
        value = ("range", min(SCALABILITY_QUBITS[0], values[0]), values[0])
    elif quantity in RANGED:
        value = ("list", sorted(set(values)))
    elif quantity in SWEEPABLE:
        value = sorted(set(values))
    else:
        value = values[0] * (60 if quantity == "timeout-minutes" else 1)
    once(req, name, value, words)


def bare(g: Group, noise_request: bool, req: Request) -> str | None:
    """What a group with neither unit nor key sets, or None (left, and refused)."""
    values = [t.number for t in g.nums]
    strengths = all(0 <= v <= 1 for v in values) or any(t.tag == "%" for t in g.nums)
    if g.context in ("at", "with") and noise_request and req.noise is None and strengths:
        return "noise"
    if g.shape in ("range", "upto"):
        return "qubits"
    if g.context and all(v == v.to_integral_value() and v >= 1 for v in values) and not strengths:
        return "qubits"     # "at 20", "with 8", "ghz 10"
    return None


def bind(p: Parser) -> None:
    req, toks = p.req, p.toks
    noise_words = [t for t in toks if t.kind == "word" and t.text in ("noise", "noisy") and not t.used]
    for g in p.groups:  # units and keys first: a bare group takes what they leave
        if g.unit:
            assign(req, g.unit, g, g.words(toks))
    noise_request = not req.noiseless and bool(req.noise_models or req.noise_sweep or noise_words or req.noise)
    for g in p.groups:
        if not g.unit and (quantity := bare(g, noise_request, req)):
            assign(req, quantity, g, g.words(toks))
            p.take(g.start, g.end)
    if req.noise or req.noise_models or req.noise_sweep:
        for t in noise_words:
            t.used = True
    if req.noise_sweep and req.noise is None:
        req.noise = list(NOISE_SWEEP_LEVELS)
    if req.depth_sweep and req.depths is None:
        req.depths = ("list", list(DEPTH_SWEEP))
