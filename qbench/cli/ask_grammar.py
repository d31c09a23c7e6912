"""The grammar of `qbench ask` requests: phrases over tokens (ask_lexer), read left to right.

At each token the phrases (ask_phrases) are tried in order; the first that matches consumes its
tokens. This module holds the request, the vocabulary and the number groups.
Numbers are read as groups (a number, a list joined by commas/and/or/vs, a range `4..10`, `4-10`,
`4 to 10`, `between 4 and 10`, `from 4 to 10`, `up to 24`) with the unit after them ("qubits",
"shots", "threads", "times", "%", a noise model...) or the key before them ("depth 50", "noise
0.01", "threads 1, 2 and 4"). A group with neither is bound after the whole request is read: after
"at"/"with", to the noise strength in a noise request and to the qubits otherwise; a bare range is
a qubit sweep. Every token left over must be filler, or the request is not understood.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from qbench.cli.ask_lexer import Tok
from qbench.cli.ask_names import Catalog

# The design's defaults where a request names a sweep but not its values.
SCALABILITY_QUBITS = (4, 24)          # "scalability test": 4..24 qubits
QUBIT_STEP, DEPTH_STEP = 2, 10        # "from 4 to 24 qubits": step 2 unless told
NOISE_SWEEP_LEVELS = ("0.0", "0.001", "0.01", "0.05", "0.1")
DEPTH_SWEEP = (10, 20, 50, 100, 200)
DEFAULT_NOISE_MODEL = "depolarizing"

FILLER = set("""
a an the on in at of for with and or vs to from by via using use please pls me my i we us you can could would
want like lets let now then also just do does did will qbench benchmark benchmarks benchmarking bench run runs
running execute test tests testing compare comparing comparison against across over each both all sweep sweeps
sweeping circuit circuits type types family families simulation simulations simulate simulator simulators
backend backends library libraries performance speed timing time measure show see how is are it them this
that some sizes size which what who faster fastest slower slowest quicker quickest better best wins winner than
take takes long check checks try point points repeat repeated per state sanity quick-check
""".split())
UNITS = {"qubit": "qubits", "qubits": "qubits", "q": "qubits", "shot": "shots", "shots": "shots",
         "thread": "threads", "threads": "threads", "time": "times", "times": "times",
         "repetition": "times", "repetitions": "times", "rep": "times", "reps": "times", "repeats": "times",
         "runs": "times", "replicate": "replicates", "replicates": "replicates", "worker": "workers",
         "workers": "workers", "job": "workers", "jobs": "workers",
         "processes": "workers", "layer": "depth", "layers": "depth", "s": "seconds", "sec": "seconds",
         "secs": "seconds", "second": "seconds", "seconds": "seconds", "min": "minutes", "mins": "minutes",
         "minute": "minutes", "minutes": "minutes", "m": "minutes", "noise": "noise", "x": "times"}
KEYS = {"qubits": "qubits", "qubit": "qubits", "n": "qubits", "width": "qubits", "shots": "shots", "shot": "shots",
        "depth": "depth", "depths": "depth", "threads": "threads", "thread": "threads", "seed": "seed",
        "seeds": "seed", "step": "step", "steps": "step", "every": "step", "timeout": "timeout",
        "noise": "noise", "strength": "noise", "strengths": "noise", "repetitions": "times", "reps": "times",
        "repeat": "times", "repeats": "times", "replicates": "replicates", "workers": "workers", "jobs": "workers",
        "parallel": "workers"}
CONNECT = {"=", ":", "of", "at", "with", "level", "levels", "strength", "strengths", "rate", "rates",
           "probability", "probabilities", "size", "is", "limit", "count", "counts"}
SEPARATORS = {",", "and", "or", "/", "vs"}
TO = {"..", "-", "to", "through", "thru", "until", "till"}
SWEEP_WORDS = "sweep|sweeps|scan|study|benchmark|test|comparison"
# A key whose group may carry this unit too ("timeout 2 minutes", "every 4 qubits", "repeat 5 times").
COMPATIBLE = {("timeout", "seconds"), ("timeout", "minutes"), ("step", "qubits"), ("step", "depth")}
VOCABULARY = FILLER | set(UNITS) | set(KEYS) | CONNECT | TO | {
    "preset", "experiment", "rerun", "retry", "redo", "failed", "failing", "broken", "fusion", "gate",
    "single", "double", "precision", "gpu", "cpu", "cuda", "quick", "scale", "scales", "scaling",
    "scalability", "noiseless", "noisy", "ideal", "without", "except", "but", "excluding", "besides",
    "other", "apart", "minus", "skip", "skipping", "leave", "leaving", "out", "hundred", "thousand", "million",
    "every", "everything", "parallel", "statevector", "expectation", "sampling", "error", "errors",
    "sequentially", "last", "latest", "previous"}   # words a typo is never read as a name from


class NotUnderstood(ValueError):
    """The request cannot be turned into a command; the message says why."""


@dataclass
class Group:
    """Numbers read together: ('list', [toks]) / ('range', [a, b]) / ('upto', [b]), with a unit."""
    shape: str
    nums: list[Tok]
    unit: str | None
    start: int
    end: int
    context: str | None = None   # 'at' or 'with' when it follows one of them, 'family' after "ghz"
    model: str | None = None     # a noise model named as its unit ("1% bit flip")

    def words(self, toks: list[Tok]) -> str:
        return " ".join(t.text for t in toks[self.start:self.end])


@dataclass
class Request:
    backends: list[str] = field(default_factory=list)
    every_backend: bool = False
    exclude_backends: list[str] = field(default_factory=list)
    circuits: list[str] = field(default_factory=list)
    every_circuit: bool = False
    exclude_circuits: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    benchmarks: list[str] = field(default_factory=list)   # MQT Bench's names, after "mqt bench"
    qubits: tuple | None = None       # ("list", [..]) or ("range", a, b)
    depths: tuple | None = None
    step: int | None = None
    noise: list[str] | None = None    # strengths, as Hydra should read them
    noise_models: list[str] = field(default_factory=list)
    noise_sweep: bool = False
    noiseless: bool = False
    devices: set = field(default_factory=set)
    precisions: list[str] = field(default_factory=list)
    fusion: list[bool] = field(default_factory=list)
    threads: list[int] | None = None
    shots: list[int] | None = None
    seed: list[int] | None = None
    repetitions: int | None = None
    replicates: int | None = None     # each point in this many processes (execution.replicate), for compare
    timeout: int | None = None
    compute: str | None = None
    observable: str | None = None
    quick: bool = False
    parallel: bool = False
    workers: int | None = None
    scalability: bool = False
    depth_sweep: bool = False
    preset: str | None = None
    rerun: str | None = None
    notes: list[str] = field(default_factory=list, compare=False)  # the names read as something else


def once(req: Request, name: str, value, words: str) -> None:
    if getattr(req, name) not in (None, False, []):
        raise NotUnderstood(f"'{words}' gives the {name} a second time; say it once")
    setattr(req, name, value)


def add(items: list, value) -> None:
    if value not in items:
        items.append(value)


class Parser:
    def __init__(self, toks: list[Tok], catalog: Catalog):
        self.toks, self.catalog, self.req, self.groups = toks, catalog, Request(), []

    # -- token tests
    def text(self, i: int) -> str | None:
        return self.toks[i].text if 0 <= i < len(self.toks) and not self.toks[i].used else None

    def is_num(self, i: int) -> bool:
        return 0 <= i < len(self.toks) and self.toks[i].kind == "num" and not self.toks[i].used

    def is_name(self, i: int, kind: str) -> bool:
        return 0 <= i < len(self.toks) and self.toks[i].kind == "name" and self.toks[i].tag == kind

    def seq(self, i: int, pattern: str) -> int | None:
        """The end of `pattern` matched at i: space-separated elements, each 'a|b|c' alternatives,
        a trailing '?' for an optional one ('with and|or|vs without gate? fusion')."""
        for element in pattern.split():
            optional = element.endswith("?") and len(element) > 1
            if self.text(i) in element.rstrip("?").split("|") and self.toks[i].kind in ("word", "sym"):
                i += 1
            elif not optional:
                return None
        return i

    def take(self, i: int, end: int) -> int:
        for t in self.toks[i:end]:
            t.used = True
        return end

    # -- numbers
    def unit(self, j: int) -> tuple[str, int, str | None] | None:
        """(quantity, end, noise model) of a unit at j: 'qubits', '-qubit', 'at a time', '% bit flip'."""
        if self.text(j) == "-" and (self.text(j + 1) in UNITS or self.is_name(j + 1, "model")):
            j += 1
        for pattern, quantity in (("at a|one time", "workers"), ("at once", "workers"), ("in parallel", "workers"),
                                  ("parallel workers|jobs|processes", "workers"), ("timed runs|repetitions", "times"),
                                  ("cpu threads|thread", "threads")):
            if end := self.seq(j, pattern):
                return quantity, end, None
        if self.is_name(j, "model") and not self.toks[j].used:
            end = self.seq(j + 1, "noise|error|errors|channel|channels?") or j + 1
            return "noise", end, self.toks[j].value
        if self.text(j) in UNITS and self.toks[j].kind == "word":
            return UNITS[self.text(j)], j + 1, None
        return None

    def group(self, i: int, unit: str | None = None) -> Group | None:
        """The number group starting at i (a range, `up to N`, or a list whose items may each carry
        the unit: '2 threads vs 1 thread'); `unit` is the key's quantity when a key came first."""
        t, shape = self.text, None
        if t(i) == "between" and self.is_num(i + 1) and t(i + 2) == "and" and self.is_num(i + 3):
            shape, nums, j = "range", [i + 1, i + 3], i + 4
        elif t(i) == "from" and self.is_num(i + 1) and (k := self.seq(i + 2, "to|up|-|.. to?")) and self.is_num(k):
            shape, nums, j = "range", [i + 1, k], k + 1
        elif (end := self.seq(i, "up to|until")) and self.is_num(end):
            shape, nums, j = "upto", [end], end + 1
        elif self.is_num(i) and t(i + 1) in TO and self.is_num(i + 2):
            shape, nums, j = "range", [i, i + 2], i + 3
        if shape:
            found = self.unit(j)
            if found and unit and found[0] != unit and (unit, found[0]) not in COMPATIBLE:
                return None
            quantity, j, model = found or (unit, j, None)
            return Group(shape, [self.toks[k] for k in nums], quantity, i, j, model=model)
        if not self.is_num(i):
            return None
        nums, j, model, start = [i], i + 1, None, i
        found = self.unit(j)
        if found:
            if unit and found[0] != unit and (unit, found[0]) not in COMPATIBLE:
                return None
            unit, j, model = found
        while True:
            s = j + 1 if t(j) in SEPARATORS else None
            if t(j) == "," and t(j + 1) in ("and", "or"):
                s = j + 2
            if s is None or not self.is_num(s):
                break
            found = self.unit(s + 1)
            if found and unit and found[0] != unit:
                break
            nums.append(s)
            j = s + 1
            if found:
                unit, j, model = found[0], found[1], found[2] or model
        return Group("list", [self.toks[k] for k in nums], unit, start, j, model=model)

    def key_group(self, i: int) -> int | None:
        """'depth 50', 'noise level of 1%', 'threads 1, 2 and 4', 'timeout 2 minutes', 'step size 4'."""
        quantity = KEYS.get(self.text(i)) if self.toks[i].kind == "word" else None
        if self.seq(i, "time limit|out"):
            quantity, i = "timeout", i + 1
        if not quantity:
            return None
        j = i + 1
        while self.text(j) in CONNECT and not self.is_num(j):
            j += 1
        g = self.group(j, quantity)
        if not g:
            return None
        g.start = i
        g.unit = "timeout-" + (g.unit if g.unit in ("seconds", "minutes") else "seconds") \
            if quantity == "timeout" else quantity
        self.groups.append(g)
        return self.take(i, g.end)

    def number_group(self, i: int) -> int | None:
        g = self.group(i)
        if not g:
            return None
        if g.unit in ("seconds", "minutes"):
            end = self.seq(g.end, "timeout|time-out") or self.seq(g.end, "time limit")
            if not end:
                return None     # a duration that is not a timeout: left to be refused
            g.unit, g.end = "timeout-" + g.unit, end
        before = self.toks[i - 1] if i > 0 else None
        if before and before.kind == "word" and before.text in ("at", "with"):
            g.context = before.text
        elif before and before.kind == "name" and before.tag == "family" and not self.catalog.takes_depth(before.value):
            g.context = "family"    # "ghz 10": the family's size ("random 50" could be a depth: not read)
        if g.unit:
            self.groups.append(g)
            return self.take(i, g.end)
        self.groups.append(g)   # bound (and consumed) or left, once the whole request is read
        return g.end

    # -- the request
    def parse(self, phrase) -> Request:
        """Left to right: the first phrase that matches at a token consumes it (phrase(self, i) ->
        the index after it, or None)."""
        i = 0
        while i < len(self.toks):
            end = None if self.toks[i].used else phrase(self, i)
            i = end if end is not None and end > i else i + 1
        return self.req
