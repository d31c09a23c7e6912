"""Isolated worker processes: the timed work of a run never happens in the Hydra job.

A worker serves one point (one attempt): forked already loaded by the sweep's fork server
(`qbench.execution.forkserver`), or spawned as `python -m qbench.execution.workers` and told to
load the library first. Both speak length-prefixed pickles (`qbench.pipes`), over a socket or
the spawned process's stdin/stdout. A segfault, abort, hang or OOM kill in a simulator therefore
becomes a record, never a dead sweep; the next attempt or point gets a fresh worker.
"""
from __future__ import annotations

import os
import pickle
import resource
import signal
import subprocess
import sys
import time
import traceback

from qbench import pipes
from qbench.execution.lifetime import die_with_parent, kill_descendants

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
LOAD_TIMEOUT_SECONDS = 300  # importing a library is not part of a run's time budget


class WorkerFailure(Exception):
    """A run that did not come back: `status` is "timeout" or "error"."""

    def __init__(self, status: str, error_type: str, message: str, tb: str | None = None):
        super().__init__(message)
        self.status, self.error_type, self.message, self.traceback = status, error_type, message, tb
        self.phase = "run"  # or "import": which part of the point failed, as the record says


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hints = {signal.SIGKILL: " (killed: out of memory or by the system)",
                 signal.SIGTERM: " (terminated from outside: scancel, a job time limit or a shutdown)"}
        hint = hints.get(-code, "")
        return f"worker process died from {name} (signal {-code}){hint}"
    return f"worker process exited with code {code}"


class Worker:
    """One child process serving a point of one backend configuration, over `requests`/`replies` fds."""

    requests: int
    replies: int
    how = "spawned"        # recorded as environment.worker
    loaded = False         # the library is imported already (forked from a loaded parent)
    import_seconds = 0.0   # spent importing the library before this worker existed (the fork server's)

    def call(self, message: dict, timeout: float):
        try:
            pipes.write_message(self.requests, message)
            reply = pipes.read_message(self.replies, time.monotonic() + timeout)
        except TimeoutError:
            self.kill_with_helpers()
            raise WorkerFailure("timeout", "Timeout", f"run exceeded timeout_per_run={timeout:g}s; worker killed")
        except (EOFError, BrokenPipeError, ConnectionResetError):
            raise WorkerFailure("error", "WorkerCrash", _describe_exit(self.wait()))
        if not reply["ok"]:
            raise WorkerFailure("error", reply["type"], reply["message"], reply["traceback"])
        return reply["value"]

    def alive(self) -> bool:
        raise NotImplementedError

    def wait(self) -> int:
        """The exit code (negative: the signal) once the process has ended."""
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def kill_with_helpers(self) -> None:
        """Kill a worker that is still running its point, and every process it started first.
        A simulator's helper (LRET's quantum_sim) dies with the worker by its death signal, but
        setpriv sets that signal only once the helper has started: a worker killed in that ~1 ms
        would leave it running. A process in a session of its own is spared: it ends by itself when
        the worker does (LRET's `Scratch` guardian, which then removes the point's folder). Only
        for a worker killed mid-point: walking /proc costs milliseconds."""
        if self.alive():
            try:
                kill_descendants(self.pid, session=os.getsid(self.pid))
            except ProcessLookupError:
                pass  # it ended meanwhile: its helpers have their death signals
        self.kill()


class SpawnedWorker(Worker):
    """`python -m qbench.execution.workers`, talking over its stdin/stdout; it imports the library itself."""

    def __init__(self, threads: int, memory_limit_gb: float | None):
        env = dict(os.environ, **{name: str(threads) for name in THREAD_ENV})
        limit = str(int(memory_limit_gb * 2**30)) if memory_limit_gb else "0"
        # No preexec_fn: the worker sets its own death signal and memory cap (`_start`), so
        # subprocess can vfork instead of copying this job's page tables (~300 MB) per point.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qbench.execution.workers", str(os.getpid()), limit],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        self.requests, self.replies = self.process.stdin.fileno(), self.process.stdout.fileno()
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait(self) -> int:
        return self.process.wait()

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()


class ForkedWorker(Worker):
    """A worker forked by the sweep's fork server (qbench.execution.forkserver), already loaded, talking over a socket.

    It is the server's child, not ours: the server reaps it and sends its exit code on `control`.
    """

    how = "forked"
    loaded = True

    def __init__(self, pid: int, channel, control, import_seconds: float):
        self.pid, self.channel, self.control, self.import_seconds = pid, channel, control, import_seconds
        self.requests = self.replies = channel.fileno()
        self.exit_code: int | None = None

    def _exit_report(self, timeout: float | None) -> int | None:
        if self.exit_code is None:
            self.control.settimeout(timeout)
            try:
                data = self.control.recv(4096)
            except (BlockingIOError, TimeoutError):
                return None
            except OSError:
                data = b""
            self.exit_code = pickle.loads(data)["exit"] if data else -signal.SIGKILL  # server gone: assume killed
        return self.exit_code

    def alive(self) -> bool:
        return self._exit_report(0) is None

    def wait(self) -> int:
        return self._exit_report(None)

    def kill(self) -> None:
        if self.channel.fileno() == -1:
            return  # killed already
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.exit_code = -signal.SIGKILL
        # No need to wait for the server's exit report: the server reaps its own children.
        self.channel.close()
        self.control.close()


def serve(requests: int | None = None, replies: int | None = None) -> None:
    """Worker main loop: answer requests until the parent closes its end.

    Spawned: over this process's stdin/stdout. Forked by the fork server: over the given socket fds.
    """
    requests = os.dup(0) if requests is None else requests
    replies = os.dup(1) if replies is None else replies
    # Library chatter must never corrupt the protocol channel: stdout goes to stderr.
    os.dup2(2, 1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    from qbench.backends.registry import load_backend
    from qbench.execution.timing import measure

    while True:
        try:
            message = pipes.read_message(requests)
        except (EOFError, ConnectionResetError):
            return
        try:
            if message["op"] == "load":
                value = load_backend(message["backend"])[1]
            else:
                value = measure(message["request"])
            reply = {"ok": True, "value": value}
        except BaseException as exc:  # noqa: BLE001 - everything becomes a record
            reply = {"ok": False, "type": type(exc).__name__, "message": str(exc) or repr(exc),
                     "traceback": traceback.format_exc()}
        pipes.write_message(replies, reply)


def _start(parent: int, memory_limit_bytes: int) -> None:
    """A spawned worker's first act: die with the job that started it, and cap its address space
    (a runaway allocation fails here, as a MemoryError, not in the sweep)."""
    die_with_parent(parent)
    if memory_limit_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))


if __name__ == "__main__":
    _start(int(sys.argv[1]), int(sys.argv[2]))
    serve()
    sys.stderr.flush()
    os._exit(0)  # its point is served: tearing down the imported libraries would only cost time
