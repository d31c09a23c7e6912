"""qbench.execution.heap in fresh processes (its settings are process-wide): by default glibc's own
behaviour is left alone (a 1 MiB block is a fresh mmap in a fresh process); pinned, it comes from the
heap whatever ran before, and the free heap is released. The record says which."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qbench.execution.runner import run_point
from tests.helpers import ROOT, compose_point, run_qbench

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")

# mallinfo2 (glibc >= 2.33): hblks = chunks held as their own mmap, fordblks = free bytes in the heap.
PROBE = r"""
import ctypes, json, sys
sys.path.insert(0, sys.argv[1])
from qbench.execution import heap as allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
out = {"heap": allocator.prepare(sys.argv[2])}
before = libc.mallinfo2().hblks  # the interpreter's own mapped blocks
block = libc.malloc(1 << 20)
out["mmapped_blocks_for_1MiB"] = libc.mallinfo2().hblks - before
libc.free(block)
blocks = [libc.malloc(4 << 20) for _ in range(4)]   # 16 MiB of heap (under the pinned 32 MiB threshold)
for b in blocks:
    libc.free(b)
out["free_heap_before_release"] = libc.mallinfo2().fordblks
out["released"] = allocator.release_free_heap()
out["free_heap_after_release"] = libc.mallinfo2().fordblks
print(json.dumps(out))
"""


def probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), mode], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_the_default_heap_is_glibcs_own():
    found = probe("default")
    assert found["heap"] == "default"
    assert found["mmapped_blocks_for_1MiB"] == 1  # glibc's 128 KiB threshold, not moved by qbench


def test_pinned_thresholds_serve_it_from_the_heap_and_keep_freed_memory_until_released():
    found = probe("pinned")
    assert found["heap"] == "pinned"
    assert found["mmapped_blocks_for_1MiB"] == 0
    assert found["free_heap_before_release"] >= 16 << 20  # kept for the next gate's arrays, not trimmed
    assert found["released"] is True
    assert found["free_heap_after_release"] < 1 << 20


def test_the_record_says_which_heap_its_timed_runs_had(workdir):
    default = run_point(compose_point("backend=stim", "execution=quick"), workdir / "d", "test")
    pinned = run_point(compose_point("backend=stim", "execution=quick", "execution.heap=pinned"), workdir / "p", "test")
    assert default["environment"]["heap"] == "default" and default["config"]["execution"]["heap"] == "default"
    assert pinned["environment"]["heap"] == "pinned"
    assert default["status"] == pinned["status"] == "success"


def test_the_records_page_faults_show_what_the_heap_does(workdir):
    """cirq at 20 qubits allocates 8 MiB state arrays on every run. glibc's own heap gives them back
    and takes them again, page by page (thousands of minor faults a run; how many depends on the
    process's heap history, docs/PERFORMANCE.md); pinned, the freed arrays stay in the heap and the
    timed runs fault almost nothing. The counts are the worker's own, noise-free beside the times."""
    points = {heap: run_point(compose_point("backend=cirq", "circuit=ghz", "n_qubits=20", "execution=quick",
                                            "execution.repetitions=3", f"execution.heap={heap}"), workdir / heap, "test")
              for heap in ("default", "pinned")}
    faults = {heap: r["metrics"]["execution_page_faults_per_run"] for heap, r in points.items()}
    assert all(r["status"] == "success" for r in points.values()), faults
    assert faults["default"] > 1000 > 100 > faults["pinned"] >= 0, faults  # 8 MiB = 2048 pages of 4 KiB


def test_another_heap_is_bad_input(workdir):
    result = run_qbench("execution.heap=tuned", cwd=workdir)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "qbench: error: execution.heap='tuned' is not allowed; allowed: default or pinned"
    assert not (workdir / "outputs").exists()
