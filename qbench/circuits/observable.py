"""The observable of `compute=expectation`: a real-weighted sum of Pauli strings, e.g. 'Z0 Z1 + 0.5 X2'.

Syntax: terms joined by + or -; a term is an optional coefficient (12, 0.5, 1e-3, optionally followed
by *) and Pauli factors P<qubit> with P in X, Y, Z (I<q> is the identity), separated by spaces or *.
A term of a coefficient alone is a multiple of the identity. Qubit q is canonical qubit q.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<pauli>[IXYZ])(?P<qubit>\d+)"
                    r"|(?P<op>[+\-*]))", re.I)
EXAMPLE = "a Pauli sum such as 'Z0 Z1 + 0.5 X2'"


@dataclass(frozen=True)
class PauliSum:
    """terms: (coefficient, ((qubit, 'X'|'Y'|'Z'), ...) sorted by qubit)."""

    terms: tuple[tuple[float, tuple[tuple[int, str], ...]], ...]

    @property
    def max_qubit(self) -> int:
        return max((q for _, paulis in self.terms for q, _ in paulis), default=-1)

    @property
    def weight(self) -> float:
        """sum of |coefficient|: the largest |<H>| can be, and the scale of its rounding error."""
        return sum(abs(c) for c, _ in self.terms)

    def __str__(self) -> str:
        parts = []
        for c, paulis in self.terms:
            factors = " ".join(f"{p}{q}" for q, p in paulis)
            parts.append(f"{c:g}" + (f" {factors}" if factors else "") if c != 1 or not factors else factors)
        return " + ".join(parts).replace("+ -", "- ") or "0"


def parse(text) -> PauliSum:
    """ValueError (one line: what is wrong) unless `text` is a Pauli sum."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected {EXAMPLE}, got {text!r}")
    position, tokens = 0, []
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"cannot read {text[position:].strip()!r} in {text!r}; expected {EXAMPLE}")
        tokens.append(match)
        position = match.end()
    terms, sign, coefficient, paulis, started = [], 1.0, None, {}, False

    def finish():
        if not started:
            raise ValueError(f"a term is missing in {text!r}; expected {EXAMPLE}")
        terms.append((sign * (1.0 if coefficient is None else coefficient), tuple(sorted(paulis.items()))))

    for i, token in enumerate(tokens):
        op, number = token.group("op"), token.group("number")
        if op in ("+", "-"):
            if started:
                finish()
                sign, coefficient, paulis, started = 1.0, None, {}, False
            elif i > 0 and tokens[i - 1].group("op") in ("+", "-"):
                raise ValueError(f"two signs in a row in {text!r}; expected {EXAMPLE}")
            sign = -sign if op == "-" else sign
        elif op == "*":
            if not started:
                raise ValueError(f"'*' without a left-hand side in {text!r}; expected {EXAMPLE}")
        elif number is not None:
            if paulis or coefficient is not None:
                raise ValueError(f"the coefficient {number} must come first in its term, in {text!r}")
            coefficient, started = float(number), True
        else:
            qubit, pauli = int(token.group("qubit")), token.group("pauli").upper()
            if qubit in paulis:
                raise ValueError(f"qubit {qubit} appears twice in one term of {text!r}")
            if pauli != "I":
                paulis[qubit] = pauli
            started = True
    finish()
    return PauliSum(tuple(terms))
