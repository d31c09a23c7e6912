"""How busy this machine's CPUs are while a command runs: /proc/stat sampled every --every seconds.

Shows where a sweep leaves a core idle (an import alone, the summary, MLflow's backlog) and where
both cores are taken. Linux only (/proc/stat); the figure is the whole machine's, so run it on a
quiet one.

    .venv/bin/python bench/cpu_busy.py -- .venv/bin/python -m qbench -m backend=cirq,stim n_qubits=4,8
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time


def busy_and_total() -> tuple[int, int]:
    fields = [int(value) for value in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last, samples = busy_and_total(), []
    while process.poll() is None:
        time.sleep(args.every)
        now = busy_and_total()
        total = now[1] - last[1]
        samples.append((time.perf_counter() - start, 100 * (now[0] - last[0]) / total if total else 0.0))
        last = now
    print(f"wall {time.perf_counter() - start:.2f} s, exit code {process.returncode}")
    print("seconds:busy% " + " ".join(f"{t:.1f}:{busy:.0f}" for t, busy in samples))
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
