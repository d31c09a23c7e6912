"""The phrases of `qbench ask`'s grammar (ask_grammar), tried in this order at every token, and
`parse`: request text -> Request."""
from __future__ import annotations

import re

from qbench.cli.ask_binding import bind
from qbench.cli.ask_grammar import FILLER, SEPARATORS, SWEEP_WORDS, VOCABULARY, NotUnderstood, Parser, Request, \
    add, once
from qbench.cli.ask_lexer import lex, tag_names, tag_presets
from qbench.cli.ask_names import KIND_WORDS, Catalog, key

FUSION = (  # (pattern, backend.fusion_enable values); "with fusion" last: "with fusion off" is off
    ("with and|or|vs|/ without gate? fusion", [True, False]),
    ("with gate? fusion and|or|vs|/|, without gate? fusion", [True, False]),
    ("with? gate? fusion on|enabled and|or|vs|/ off|disabled", [True, False]),
    ("with? gate? fusion off|disabled and|or|vs|/ on|enabled", [True, False]),
    ("gate? fusion and|or|vs|/ no|without gate? fusion", [True, False]),
    ("without|no gate? fusion", [False]), ("with? gate? fusion off|disabled", [False]),
    ("disable|disabling gate? fusion", [False]),
    ("with? gate? fusion on|enabled", [True]), ("enable|enabling gate? fusion", [True]), ("with gate? fusion", [True]),
)
PRECISION = {"single": "single", "double": "double", "fp32": "single", "float32": "single", "complex64": "single",
             "fp64": "double", "float64": "double", "complex128": "double"}
PAULI = re.compile(r"[xyz]\d+")


def rerun(p: Parser, i: int) -> int | None:
    """'rerun failed benchmarks from last run', 'retry the failed points of bench_20260206_001'."""
    end = p.seq(i, "rerun|retry|redo") or p.seq(i, "re - run")
    end = end and p.seq(p.seq(end, "the|all?"), "failed|failing|broken")
    if not end:
        return None
    end, target = p.seq(end, "benchmarks|benchmark|runs|run|points|point|jobs|job|ones?"), "latest"
    tail = p.seq(end, "from|of|in|for the?")
    at = tail if tail is not None else end
    if at < len(p.toks) and p.toks[at].kind == "id":
        target, end = p.toks[at].text, at + 1
    elif tail is not None:
        end = p.seq(tail, "last|latest|previous|newest run|sweep|benchmark?") or \
            p.seq(tail, "most recent run|sweep|benchmark?") or end
    once(p.req, "rerun", target, " ".join(t.text for t in p.toks[i:end]))
    return p.take(i, end)


def flags(p: Parser, i: int) -> int | None:
    """Phrases that set one thing: question forms, no noise, fusion, precision, threads, all of...,
    parallel, quick, scalability, the design's sweeps."""
    req = p.req
    for pattern, effect in (
        ("how fast|quick|quickly|slow|long|well|much", None),
        ("noiseless|noisefree|ideal", "noiseless"), ("noise - free", "noiseless"),
        ("without|no noise", "noiseless"), ("noise none|off", "noiseless"),
        ("single -? threaded|thread", "one-thread"),
        ("sequentially|serially|sequential", None), ("in series", None), ("one by one", None),
        ("all|every|each of? the? available|installed|configured|ready|supported|possible? "
         "backends|backend|simulators|simulator|libraries|library|engines", "every-backend"),
        ("everything", "every-backend"),
        ("all|every|each of? the? circuit|circuits types|type|families|family?", "every-circuit"),
        ("all|every|each of? the? families|family", "every-circuit"),
        ("in parallel", "parallel"), ("parallel|parallelly|simultaneously|concurrently", "parallel"),
        ("at the same time", "parallel"), ("at once", "parallel"), ("with|using|via joblib", "parallel"),
        ("quick|quickly", "quick"),
        ("qubit? scalability|scaling|scale|scales test|sweep|benchmark|study|run|check|behaviour|behavior?",
         "scalability"), ("qubit sweep|scan", "scalability"),
        (f"depth {SWEEP_WORDS}|scaling", "depth-sweep"), (f"noise {SWEEP_WORDS}", "noise-sweep"),
    ):
        end = p.seq(i, pattern)
        if end is None:
            continue
        if effect == "noiseless":
            once(req, "noiseless", True, " ".join(t.text for t in p.toks[i:end]))
        elif effect == "one-thread":
            once(req, "threads", [1], " ".join(t.text for t in p.toks[i:end]))
        elif effect:
            setattr(req, {"every-backend": "every_backend", "every-circuit": "every_circuit",
                          "depth-sweep": "depth_sweep", "noise-sweep": "noise_sweep"}.get(effect, effect), True)
        return p.take(i, end)
    for pattern, values in FUSION:
        if (end := p.seq(i, pattern)) is not None:
            once(req, "fusion", values, " ".join(t.text for t in p.toks[i:end]))
            return p.take(i, end)
    if (end := precision(p, i)) is not None:
        return end
    if p.text(i) in PRECISION and p.text(i) not in ("single", "double"):
        add(req.precisions, PRECISION[p.text(i)])
        return p.take(i, i + 1)
    if p.text(i) in ("cpu", "cpus", "gpu", "gpus", "cuda"):
        req.devices.add("CPU" if p.text(i).startswith("cpu") else "GPU")
        return p.take(i, i + 1)
    return None


def precision(p: Parser, i: int) -> int | None:
    """'single precision', 'single vs double precision', 'precision: single and double'."""
    start = p.seq(i, "precision :|=|in?") or i
    j, said = start, []
    while p.text(j) in ("single", "double"):
        said.append(p.text(j))
        k = p.seq(j + 1, ",|vs|and|or|/ and|or?")
        if k is None or p.text(k) not in ("single", "double"):
            j += 1
            break
        j = k
    end = p.seq(j, "-? precision")
    if not said or not (start > i or end is not None or len(said) > 1):
        return None
    for value in said:
        add(p.req.precisions, PRECISION[value])
    return p.take(i, end if end is not None else j)


def exclusion(p: Parser, i: int) -> int | None:
    """'but stim', 'except qsim and stim', 'other than cirq', 'apart from qft'."""
    start = p.seq(i, "but?")
    end = p.seq(start, "except|excluding|besides|without|minus|skip|skipping|not") or p.seq(start, "other than") \
        or p.seq(start, "apart from") or p.seq(start, "leave|leaving out") or (start > i and start)
    end = end and p.seq(end, "for?")
    if not end or not (p.is_name(end, "backend") or p.is_name(end, "family")):
        return None
    kind, j = p.toks[end].tag, end
    excluded = p.req.exclude_backends if kind == "backend" else p.req.exclude_circuits
    while True:
        add(excluded, p.toks[j].value)
        k = j + 1
        k = k + 1 if p.text(k) in SEPARATORS else k
        k = k + 1 if p.text(k) in ("and", "or") else k
        if k == j + 1 or not p.is_name(k, kind):
            break
        j = k
    return p.take(i, j + 1)


def compute(p: Parser, i: int) -> int | None:
    """'statevector', 'state vector', 'sampling', 'expectation of Z0 Z1 + 0.5 X2'."""
    end, mode = p.seq(i, "statevector|statevectors"), "statevector"
    if end is None:
        end = p.seq(i, "state -? vector|vectors")
    if end is None:
        end, mode = p.seq(i, "expectation value|values?"), "expectation"
    if end is None:
        end, mode = p.seq(i, "sampling"), "sampling"
    if end is None:
        return None
    words = " ".join(t.text for t in p.toks[i:end])
    modes = p.catalog.compute
    if modes is None:
        if mode == "sampling":  # what qbench does anyway
            return p.take(i, end)
        raise NotUnderstood(f"'{words}': compute modes need qbench's `compute` option, which this qbench does "
                            "not have yet (it samples shots)")
    if mode not in modes:
        raise NotUnderstood(f"'{words}': compute mode {mode} is not one of {', '.join(modes)}")
    once(p.req, "compute", mode, words)
    if mode == "expectation" and (k := p.seq(end, "of")) is not None:
        terms, j = [], k
        while j < len(p.toks) and not p.toks[j].used:
            t = p.toks[j]
            if t.kind == "word" and PAULI.fullmatch(t.text) or t.kind == "num" or t.text in ("+", "-"):
                terms.append(t.text.upper() if t.kind == "word" else t.text)
                j += 1
            else:
                break
        if terms and any(PAULI.fullmatch(w.lower()) for w in terms):
            if not p.catalog.observable:
                raise NotUnderstood(f"'{' '.join(terms).lower()}': this qbench has no `observable` option")
            once(p.req, "observable", " ".join(terms), " ".join(terms))
            end = j
    return p.take(i, end)


def suite(p: Parser, i: int) -> int:
    """After 'mqt bench': its benchmark names ('qaoa, dj and wstate'); mqt-bench itself says, as a
    skipped point, which name or size it cannot make."""
    def benchmark(k: int) -> str | None:
        t = p.toks[k] if k < len(p.toks) and not p.toks[k].used else None
        if t and (t.kind == "name" and t.tag == "family" or t.kind == "word" and t.text not in VOCABULARY):
            return key(t.value if t.note else t.text)
        return None

    j, names = i, []
    while (found := benchmark(j)) is not None:
        names.append(found)
        j += 1
        k = j + 1 if p.text(j) in SEPARATORS else j
        k = k + 1 if p.text(k) in ("and", "or") and k > j else k
        if k == j or benchmark(k) is None:
            break
        j = k
    for found in names:
        add(p.req.benchmarks, found)
    return p.take(i, j)


def name(p: Parser, i: int) -> int | None:
    """A backend, a circuit family (with its MQT Bench benchmarks), a noise model (with its
    strengths: 'bit flip 1%', 'readout error of 0.02'), an OpenQASM file."""
    t, req = p.toks[i], p.req
    if t.kind == "path":
        if "qasm" not in p.catalog.families:
            raise NotUnderstood(f"'{t.text}': OpenQASM files need the qasm circuit family (conf/circuit/qasm.yaml), "
                                "which this qbench does not have")
        add(req.circuits, "qasm")
        add(req.paths, t.text)
        return p.take(i, i + 1)
    if t.kind != "name":
        return None
    if t.tag.startswith("absent-"):
        kind = t.tag.removeprefix("absent-")
        here = {"backend": p.catalog.backends, "family": list(p.catalog.families), "model": p.catalog.models}[kind]
        raise NotUnderstood(f"'{t.text}' ({t.value}) is not a {KIND_WORDS[kind]} of this qbench; "
                            f"configured: {', '.join(here)}")
    p.take(i, i + 1)
    if t.tag == "backend":
        add(req.backends, t.value)
        return i + 1
    if t.tag == "family":
        add(req.circuits, t.value)
        return suite(p, i + 1) if "benchmark" in p.catalog.families.get(t.value, {}) else i + 1
    add(req.noise_models, t.value)
    end = p.seq(i + 1, "noise|error|errors|channel|channels?")
    if (k := p.seq(end, SWEEP_WORDS)) is not None:
        req.noise_sweep = True
        return p.take(i, k)
    j = end
    while p.text(j) in ("=", ":", "of", "at", "with", "level", "levels", "strength", "strengths", "rate", "rates",
                        "probability", "is") and not p.is_num(j):
        j += 1
    g = p.group(j, "noise")
    if g:
        g.start, g.unit, g.model = i, "noise", t.value
        p.groups.append(g)
        return p.take(i, g.end)
    return p.take(i, end)


def phrase(p: Parser, i: int) -> int | None:
    t = p.toks[i]
    if t.kind == "num" or t.text in ("between", "from", "up"):
        if (end := p.number_group(i)) is not None:
            return end
    for production in (rerun, Parser.key_group, flags, exclusion, compute, name):
        end = production(p, i)
        if end is not None:
            return end
    return None


def parse(request: str, catalog: Catalog) -> Request:
    """The request's meaning; NotUnderstood names every word no phrase consumed."""
    toks = lex(request)
    tag_presets(toks, catalog.presets)
    tag_names(toks, catalog, VOCABULARY)
    parser = Parser(toks, catalog)
    for t in toks:
        if t.kind == "preset":
            once(parser.req, "preset", t.value, t.text)
            t.used = True
    req = parser.parse(phrase)
    bind(parser)
    unknown = [t.text for t in toks if not t.used and (t.kind in ("num", "path", "id", "name")
                                                        or t.kind == "word" and t.text not in FILLER)]
    if unknown:
        raise NotUnderstood("did not understand " + ", ".join(f"'{w}'" for w in dict.fromkeys(unknown)))
    req.notes = list(dict.fromkeys(t.note for t in toks if t.kind == "name" and t.note))
    return req
