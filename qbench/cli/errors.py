"""How the CLI reports bad input: one line on stderr, exit code 2."""
from __future__ import annotations

import sys

EXIT_BAD_INPUT = 2


def error(message: str) -> int:
    print(f"qbench: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT
