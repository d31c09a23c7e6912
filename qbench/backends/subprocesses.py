"""Helpers for adapters that run a simulator in a child process of their own (QuEST v3, LRET)."""
from __future__ import annotations

import ctypes
import os
import signal
import sys

# Looked up before any fork: a preexec_fn should not load libraries in the child.
_PRCTL = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None


def die_with_parent(parent: int | None = None) -> None:
    """preexec_fn: the simulator child is SIGKILLed when its parent dies (a worker killed on timeout).

    `parent`: the pid this process was forked from, where the caller knows it. A parent that died
    between the fork and this call never sends the signal; the child then exits here."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if parent is not None and os.getppid() != parent:
            os._exit(1)
