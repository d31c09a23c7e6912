"""What one LRET run costs: quantum_sim's own work vs the launch of its process, by launch method.

In a process the size of a qbench worker (imports topped up to --rss-mb of touched memory), times
interleaved launches of a GHZ-N noiseless JSON job (N=8, 1000 shots by default):

  preexec_fn   Popen(..., preexec_fn=prctl(PR_SET_PDEATHSIG)): qbench's launch before (a preexec_fn
               makes subprocess fork the whole worker instead of vfork)
  setpriv      the adapter's timed `run` now: `setpriv --pdeathsig KILL -- quantum_sim ...` (vfork)
  plain        Popen with no parent-death handling at all: the floor
  pennylane-*  with --pennylane: a qlret.mixed QNode as qlret runs it by itself (`before`) and through
               qbench's adapter (`now`: its sh wrapper exec's setpriv exec's quantum_sim)

and the same launch methods on /bin/true (the process start alone), with LRET's own report of the
simulation (`execution_time_ms`). Results: bench/results/lret_launch.json.

    QBENCH_LRET_EXECUTABLE=/path/to/phase-7/build/quantum_sim .venv/bin/python bench/lret_launch.py [--pennylane]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"  # as a one-thread worker has it
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qbench import pipes  # noqa: E402
from qbench.backends.base import RunSpec  # noqa: E402
from qbench.backends.lret_backend import death_signal  # noqa: E402
from qbench.backends.registry import instantiate_backend  # noqa: E402
from qbench.backends.subprocesses import die_with_parent  # noqa: E402
from qbench.circuits import canonical as circuits  # noqa: E402


def adapter(name: str, executable: str, n_qubits: int, shots: int):
    import yaml

    config = yaml.safe_load((ROOT / "qbench" / "conf" / "backend" / f"{name}.yaml").read_text())
    backend = instantiate_backend({**config, "executable": executable})
    backend.load()
    spec = RunSpec(shots=shots, seed=1, threads=1, noise={"name": "none", "strength": 0.0, "method": "auto"})
    return backend, backend.prepare(circuits.build("ghz", n_qubits, None, 1), spec)


def popen_call(command: list[str], preexec=None, prefix=()):
    """A launch as the adapter makes it: stderr read, the child reaped by wait4."""
    def call():
        process = subprocess.Popen([*prefix, *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   preexec_fn=preexec)
        process.stderr.read()
        process.stderr.close()
        _, status, _ = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        assert process.returncode == 0, command
    return call


def stats(samples: list[float]) -> dict:
    q = statistics.quantiles(samples, n=4)
    return {"median_ms": 1e3 * statistics.median(samples), "p25_ms": 1e3 * q[0], "p75_ms": 1e3 * q[2],
            "min_ms": 1e3 * min(samples), "launches": len(samples)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executable", default=os.environ.get("QBENCH_LRET_EXECUTABLE"),
                        help="a phase-7 quantum_sim (default: $QBENCH_LRET_EXECUTABLE)")
    parser.add_argument("--launches", type=int, default=300, help="timed launches per method")
    parser.add_argument("--n-qubits", type=int, default=8)
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--rss-mb", type=float, default=330, help="top the process up to this RSS (a worker's)")
    parser.add_argument("--pennylane", action="store_true", help="also time lret-pennylane's QNode")
    args = parser.parse_args()
    if not args.executable:
        parser.error("set QBENCH_LRET_EXECUTABLE or --executable to a phase-7 quantum_sim")
    executable = str(Path(args.executable).absolute())

    backend, prepared = adapter("lret-phase7", executable, args.n_qubits, args.shots)
    folder = Path(prepared["folder"])
    job = [executable, "--input-json", str(folder / "run.json"), "--output-json", str(folder / "bench.out.json")]
    prefix = death_signal()[0]
    assert prefix, "no setpriv --pdeathsig here: nothing to compare"
    true = [str(Path(subprocess.check_output(["sh", "-c", "command -v true"], text=True).strip()))]
    calls = {
        "ghz/preexec_fn (before)": popen_call(job, preexec=die_with_parent),
        "ghz/setpriv (now: the adapter's run)": lambda: backend.run(prepared),
        "ghz/plain (no parent-death handling)": popen_call(job),
        "true/preexec_fn": popen_call(true, preexec=die_with_parent),
        "true/setpriv": popen_call(true, prefix=prefix),
        "true/plain": popen_call(true),
    }
    if args.pennylane:
        import qlret

        pl_backend, pl_prepared = adapter("lret-pennylane", executable, args.n_qubits, args.shots)
        wrapper = str(Path(pl_prepared["folder"]) / "quantum_sim")

        def qlret_alone():  # qlret with the binary itself and /tmp, as a user runs the device
            qlret.set_executable_path(executable)
            pl_prepared["qnode"]()

        def qlret_adapter():
            qlret.set_executable_path(wrapper)
            pl_backend.run(pl_prepared)
        calls["pennylane/qlret alone (before)"] = qlret_alone
        calls["pennylane/adapter (now)"] = qlret_adapter

    load_before = os.getloadavg()[0]  # the machine's other work shows in the spread: recorded
    rss = pipes.peak_rss_mb() or 0.0
    ballast = bytearray(max(0, int((args.rss_mb - rss) * 2**20)))
    ballast[::4096] = b"\x01" * len(ballast[::4096])  # touched: the pages a fork must copy tables for
    rss = pipes.peak_rss_mb()
    for call in calls.values():  # warm-up
        call()
    times = {name: [] for name in calls}
    for _ in range(args.launches):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    lret_ms = [json.loads(c["raw"])["execution_time_ms"] for c in backend._calls]
    rows = {name: stats(samples) for name, samples in times.items()}
    rows["ghz/LRET's own execution_time_ms"] = {"median_ms": statistics.median(lret_ms),
                                                "p25_ms": statistics.quantiles(lret_ms, n=4)[0],
                                                "p75_ms": statistics.quantiles(lret_ms, n=4)[2],
                                                "min_ms": min(lret_ms), "launches": len(lret_ms)}
    load = (load_before, os.getloadavg()[0])
    print(f"process RSS {rss:.0f} MB, GHZ-{args.n_qubits} noiseless, {args.shots} shots, {args.launches} launches each, "
          f"load average {load[0]:.2f} -> {load[1]:.2f} on {os.cpu_count()} CPUs")
    for name, row in rows.items():
        print(f"  {name:<40} median {row['median_ms']:7.3f} ms  IQR {row['p25_ms']:7.3f}-{row['p75_ms']:7.3f}  "
              f"min {row['min_ms']:7.3f}")
    out = ROOT / "bench" / "results" / "lret_launch.json"
    out.write_text(json.dumps({"benchmark": "lret_launch", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "command": "python bench/lret_launch.py " + " ".join(sys.argv[1:]),
                               "process_rss_mb": rss, "load_average": load, "cpus": os.cpu_count(),
                               "n_qubits": args.n_qubits, "shots": args.shots,
                               "executable": executable, "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
