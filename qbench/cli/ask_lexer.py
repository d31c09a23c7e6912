"""Tokens of a `qbench ask` request: numbers (with %, k and scientific notation), words, names
(ask_names), OpenQASM file paths and sweep ids, as the grammar (ask_grammar) reads them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from qbench.cli.ask_names import Catalog, closest, key

SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "twelve": 12, "sixteen": 16, "twenty": 20}
# Paths and sweep ids keep their case and their punctuation: found before anything is lower-cased.
SPECIAL = re.compile(r"""(?P<path>[^\s'",;()]+\.qasm)(?![\w.])|(?P<id>\bbench_\w+)""", re.I)
LEX = re.compile(r"""(?P<num>(?:\d+(?:\.\d+)?|\.\d+)(?:e[+-]?\d+)?)(?P<suffix>\s?%|k\b)?
                   |(?P<dots>\.\.+)|(?P<word>[a-z][a-z0-9]*)|(?P<sym>[,=/&+:-])|(?P<skip>.)""", re.X | re.S)


@dataclass
class Tok:
    kind: str                 # num, word, sym, name, preset, path, id
    text: str                 # as written (lower-cased, except paths and ids)
    value: object = None      # num: Decimal; name/preset: the configured name
    tag: str = ""             # num: '%' or 'k'; name: backend, family, model, absent-...
    used: bool = False
    note: str | None = None   # name: "understood 'quiskit' as qiskit-aer" when it was read, not matched

    @property
    def number(self) -> Decimal:
        """The number's value: '5%' -> 0.05, '2k' -> 2000, '1e3' -> 1000."""
        scale = {"%": Decimal("0.01"), "k": Decimal(1000)}.get(self.tag, Decimal(1))
        return self.value * scale


def _normalize(text: str) -> str:
    text = text.lower().replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'")
    text = re.sub(r"'s\b|'", "", text)                        # "what's" -> "what", "qiskit's" -> "qiskit"
    text = re.sub(r"\b(?:versus|vs\.?)(?=\s|$)", "vs", text)
    return re.sub(r"\b(?:n|num|number\s+of)[\s_]*qubits\b", "qubits", text)


def _lex_plain(text: str) -> list[Tok]:
    toks = []
    for m in LEX.finditer(_normalize(text)):
        if m["num"]:
            toks.append(Tok("num", m[0].replace(" ", ""), Decimal(m["num"]), (m["suffix"] or "").strip()))
        elif m["dots"]:
            toks.append(Tok("sym", ".."))
        elif m["word"]:
            toks.append(Tok("word", m["word"]))
        elif m["sym"]:
            toks.append(Tok("sym", "and" if m["sym"] == "&" else m["sym"]))
    return toks


def lex(request: str) -> list[Tok]:
    toks, at = [], 0
    for m in SPECIAL.finditer(request):
        toks += _lex_plain(request[at:m.start()])
        toks.append(Tok("path", m["path"]) if m["path"] else Tok("id", m["id"]))
        at = m.end()
    return toks + _lex_plain(request[at:])


def _window(toks: list[Tok], i: int, width: int) -> tuple[str, int] | None:
    """The words toks[i:] joined (a '-' between them allowed, numbers after the first word), and
    the index after them: 'lret phase 7', 'bit-flip', 'qiskit aer'."""
    words, j = [], i
    while len(words) < width and j < len(toks):
        t = toks[j]
        if t.kind == "sym" and t.text == "-" and words and j + 1 < len(toks):
            j += 1
            continue
        if t.kind == "word" and not t.used or (t.kind == "num" and words and t.text.isdigit()):
            words.append(t.text)
            j += 1
        else:
            break
    return (" ".join(words), j) if len(words) == width else None


def tag_presets(toks: list[Tok], presets: list[str]) -> None:
    """'ghz scalability preset', 'experiment depth_sweep': a preset only next to the word."""
    phrases = sorted(((p.split("_"), p) for p in presets), key=lambda x: -len(x[0]))
    i = 0
    while i < len(toks):
        for words, preset in phrases:
            window = _window(toks, i, len(words))
            if not window or window[0].split() != words:
                continue
            j = window[1]
            before = i > 0 and toks[i - 1].text in ("preset", "experiment")
            after = j < len(toks) and toks[j].text in ("preset", "experiment")
            if before or after:
                toks[i - 1 if before else j].used = True
                toks[i:j] = [Tok("preset", " ".join(words), preset)]
                break
        i += 1


def tag_names(toks: list[Tok], catalog: Catalog, vocabulary: set[str]) -> None:
    """Replace each backend / family / noise-model name (longest first, then a typo of one) by a
    name token; number words become numbers."""
    table = catalog.names()
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "word" and not t.used:
            for width in (4, 3, 2, 1):
                window = _window(toks, i, width)
                if window and key(window[0]) in table:
                    kind, name = table[key(window[0])]
                    note = None if key(window[0]) == key(name) else f"understood '{window[0]}' as {name}"
                    toks[i:window[1]] = [Tok("name", window[0], name, kind, note=note)]
                    break
            else:
                if t.text in NUMBER_WORDS:
                    toks[i] = Tok("num", t.text, Decimal(NUMBER_WORDS[t.text]))
                elif t.text == "twice":
                    toks[i:i + 1] = [Tok("num", "twice", Decimal(2)), Tok("word", "times")]
                elif t.text not in vocabulary and (near := closest(t.text, table)):
                    toks[i] = Tok("name", t.text, near[1], near[0], note=f"understood '{t.text}' as {near[1]}")
        i += 1
    _scale(toks)


def _scale(toks: list[Tok]) -> None:
    """'one million' -> 1000000, 'a thousand' -> 1000, '10 thousand' -> 10000."""
    i = 0
    while i + 1 < len(toks):
        t, u = toks[i], toks[i + 1]
        if u.kind == "word" and u.text in SCALES and not t.tag and (t.kind == "num" or t.text == "a"):
            value = (t.value if t.kind == "num" else Decimal(1)) * SCALES[u.text]
            toks[i:i + 2] = [Tok("num", f"{t.text} {u.text}", value)]
        i += 1
