"""A pre-imported parent for isolated workers: a local sweep imports its simulators once.

Importing a simulator costs seconds per process (cirq 2.4 s, qsimcirq 2.3 s, pennylane
3.7 s here), mostly in what they share (NumPy, SciPy, SymPy): the five CPU libraries cost
9 s imported one worker each, 3.5 s in one process. So a sweep's launching process starts
one zygote (`python -m qbench.zygote`) first thing, before composing the command. As
pre-flight composes the points, each forkable backend of a local sweep (basic or joblib
launcher) is sent to the zygote, which imports its library at once, while the rest is
composed and Hydra and the joblib workers start. Once pre-flight passes, the zygote forks
each isolated worker already loaded (and exits at once if there is nothing to fork). The forked worker runs qbench.worker's
loop over a socket, exactly as a spawned one does over pipes.

Only what is safe to fork is served: CPU backends whose `load()` is the base class's
(imports only; QuEST and LRET start helper processes), at the zygote's thread settings.
Anything else, or no zygote (SLURM jobs, `execution.isolation=none`), starts a fresh
worker as before. The zygote is single-threaded (a select loop), reaps its children and
reports how each ended; it exits when the launching process closes its stdin.
"""
from __future__ import annotations

import atexit
import os
import pickle
import resource
import select
import signal
import socket
import subprocess
import sys
import uuid

ADDRESS_ENV = "QBENCH_ZYGOTE"        # abstract unix socket name, inherited by jobs and joblib workers
THREADS_ENV = "QBENCH_ZYGOTE_THREADS"
MAX_MESSAGE = 1 << 20
READY = b"R"
# Pure-Python packages that cirq, qsimcirq and pennylane import (0.45 s here). They start no thread
# pool, so the zygote imports them while it waits for the sweep's thread settings (~0.4 s).
THREAD_FREE_IMPORTS = ("sympy", "networkx")


def forkable(backend) -> bool:
    from qbench.backends.base import Backend

    return backend.device == "CPU" and type(backend).load is Backend.load


# -- the launching process -------------------------------------------------------------------
_started: subprocess.Popen | None = None
_address: str | None = None
_threads: int | None = None   # the zygote's thread settings, fixed by the first preload
_serving = False


def spawn() -> None:
    """Start a zygote now, before the command is even composed: it imports nothing heavy until
    `preload` says which simulators (and at which thread settings) the sweep will fork."""
    global _started, _address
    if _started is not None:
        return
    _address = f"qbench-zygote-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    _started = subprocess.Popen([sys.executable, "-m", "qbench.execution.forkserver", _address], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, close_fds=True)


def _send(message) -> bool:
    from qbench import pipes

    try:
        pipes.write_message(_started.stdin.fileno(), message)
        return True
    except OSError:  # the zygote died: jobs spawn their workers
        stop()
        return False


def preload(backend_config: dict, threads: int) -> bool:
    """Have the zygote import this backend now. The first call fixes the zygote's thread settings;
    a backend at other settings is not preloaded (False) and its jobs spawn workers."""
    global _threads
    if _started is None or _threads not in (None, threads):
        return False
    if _threads is None:
        from qbench.execution.workers import THREAD_ENV

        _threads = threads
        if not _send({"env": {name: str(threads) for name in THREAD_ENV}}):
            return False
    return _send({"backend": backend_config})


def serve() -> None:
    """Every preload is sent: the zygote finishes its imports, then forks workers for this
    process's jobs (and the joblib workers it starts, which inherit the address)."""
    global _serving
    if _started is None or _threads is None:
        stop()  # nothing to fork
        return
    if not _send({"serve": True}) or _started.stdout.read(1) != READY:  # listening (~0.1 s after its start)
        stop()
        return
    _serving = True
    os.environ[ADDRESS_ENV] = _address
    os.environ[THREADS_ENV] = str(_threads)


def start_for(points) -> None:
    """Start a fork server for the forkable backends of these pre-flight points (spawn, preload, serve)."""
    spawn()
    preloader = SweepPreloader()
    for point in points:
        preloader(point)
    serve()


@atexit.register
def stop() -> None:
    global _started, _threads, _serving
    if _started is None:
        return
    os.environ.pop(ADDRESS_ENV, None)
    if not _serving:  # still importing, no worker forked (bad input, nothing to fork): no need to wait
        _started.kill()
    _started.stdout.close()
    _started.stdin.close()  # the zygote's signal to exit; the workers it forked live on until released
    try:
        _started.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _started.kill()
    _started, _threads, _serving = None, None, False


class SweepPreloader:
    """Fed the CLI's pre-flight points as they are composed: preloads each forkable backend of a
    local sweep (basic or joblib launcher, isolated workers) as soon as its first point is known,
    so the zygote imports cirq while the other points are still being composed and checked."""

    def __init__(self):
        self.local: bool | None = None
        self.seen: list[dict] = []

    def __call__(self, point) -> None:
        from omegaconf import OmegaConf

        from qbench.backends.registry import instantiate_backend
        from qbench.execution.resources import concurrency, threads_for

        launcher = point.cfg.hydra.launcher
        if self.local is None:
            self.local = str(launcher.get("_target_", "")).endswith(("BasicLauncher", "JoblibLauncher"))
        if not self.local:
            return  # SLURM and other remote launchers: jobs are elsewhere
        backend_config = OmegaConf.to_container(point.cfg.backend, resolve=True)
        if backend_config in self.seen:
            return
        self.seen.append(backend_config)
        execution = OmegaConf.to_container(point.cfg.execution, resolve=True)
        backend = instantiate_backend(backend_config)
        if execution["isolation"] != "process" or not forkable(backend):
            return
        workers = concurrency(launcher, multirun=True)
        preload(backend_config, backend.threads or threads_for({"execution": execution}, workers))


# -- a job asking for a worker -----------------------------------------------------------------
def fork_worker(backend_config: dict, threads: int, memory_limit_gb: float | None):
    """A forked, loaded worker (qbench.worker.ForkedWorker), or None where the zygote cannot serve."""
    from qbench.backends.registry import instantiate_backend
    from qbench.execution.workers import ForkedWorker

    address = os.environ.get(ADDRESS_ENV)
    if not address or os.environ.get(THREADS_ENV) != str(threads) or not forkable(instantiate_backend(backend_config)):
        return None
    control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours, theirs = socket.socketpair()
    try:
        control.connect("\0" + address)
        socket.send_fds(control, [pickle.dumps({"backend": backend_config, "memory_limit_gb": memory_limit_gb})],
                        [theirs.fileno()])
        reply = pickle.loads(control.recv(MAX_MESSAGE))
    except (OSError, EOFError, pickle.UnpicklingError):
        control.close()
        ours.close()
        return None
    finally:
        theirs.close()
    if not reply.get("ok"):
        control.close()
        ours.close()
        return None  # e.g. the import failed there: a spawned worker reports it as a run's error
    return ForkedWorker(reply["pid"], ours, control, reply["import_seconds"])


# -- the zygote itself ---------------------------------------------------------------------------
class Zygote:
    def __init__(self, address: str):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind("\0" + address)
        self.listener.listen(64)
        self.children: dict[int, socket.socket] = {}   # pid -> the requester's control connection
        self.import_seconds: dict[str, float] = {}     # reported once per backend config
        self.wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(wakeup_write, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wakeup_write)

    def preload(self, config: dict) -> None:
        """Import a backend's library now. Every import happens before the first fork: an import
        running beside a forked worker's timed runs would take CPU from them. Requests that come
        meanwhile wait in the listen queue."""
        from qbench.backends import registry

        try:
            self.load(config, registry)
        except Exception:  # noqa: BLE001 - reported by the worker that runs it, not here
            pass

    def serve(self) -> None:
        while True:
            ready = select.select([self.listener, 0, self.wakeup_read], [], [])[0]
            if self.wakeup_read in ready:
                os.read(self.wakeup_read, 4096)
            self.reap()
            if 0 in ready and not os.read(0, 4096):
                return  # the launching process is done (or gone)
            if self.listener in ready:
                self.fork_for(self.listener.accept()[0])

    def load(self, config: dict, registry) -> float:
        _, seconds = registry.load_backend(config)
        key = registry.backend_key(config)
        self.import_seconds.setdefault(key, seconds)
        return seconds

    def fork_for(self, control: socket.socket) -> None:
        from qbench.backends import registry

        try:
            data, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 1)
            request = pickle.loads(data)
        except (OSError, EOFError, pickle.UnpicklingError):
            control.close()
            return
        channel = fds[0]
        try:
            self.load(request["backend"], registry)
        except Exception as exc:  # noqa: BLE001
            os.close(channel)
            control.sendall(pickle.dumps({"ok": False, "message": str(exc)}))
            control.close()
            return
        pid = os.fork()
        if pid == 0:
            self.become_worker(channel, control, request["memory_limit_gb"])
        os.close(channel)
        key = registry.backend_key(request["backend"])
        control.sendall(pickle.dumps({"ok": True, "pid": pid, "import_seconds": self.import_seconds.pop(key, 0.0)}))
        self.children[pid] = control

    def become_worker(self, channel: int, control: socket.socket, memory_limit_gb: float | None) -> None:
        from qbench.execution import workers

        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for sock in (self.listener, control, *self.children.values()):
            sock.close()
        os.close(self.wakeup_read)
        if memory_limit_gb:
            limit = int(memory_limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            workers.serve(channel, channel)
        finally:
            os._exit(0)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            control = self.children.pop(pid, None)
            if control is not None:
                try:
                    control.sendall(pickle.dumps({"exit": os.waitstatus_to_exitcode(status)}))
                except OSError:
                    pass
                control.close()


def main() -> None:
    from qbench import pipes

    zygote = Zygote(sys.argv[1])
    os.write(1, READY)  # listening: a job's request waits in the queue until the imports are done
    os.dup2(2, 1)  # from here on stdout is the terminal's stderr, like a worker's
    for name in THREAD_FREE_IMPORTS:
        try:
            __import__(name)
        except ImportError:
            pass
    try:
        while True:  # the launching process's preloads, then "serve"; EOF: it needs no zygote after all
            message = pipes.read_message(0)
            if "env" in message:
                os.environ.update(message["env"])  # thread settings, before any library is imported
            elif "backend" in message:
                zygote.preload(message["backend"])
            else:
                break
    except EOFError:
        os._exit(0)
    zygote.serve()
    os._exit(0)  # nothing to clean up; tearing down every imported library would cost ~1 s


if __name__ == "__main__":
    main()
