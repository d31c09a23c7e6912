"""The fork server of a local sweep: each library imported once, one loaded worker forked per point.

Importing a simulator costs seconds per process, mostly in what the libraries share (NumPy,
SciPy, SymPy; figures in docs/PERFORMANCE.md). After pre-flight, `qbench.cli.launch` calls
`start_for(points)` for a local multirun (basic or joblib launcher, `execution.isolation=process`):
one server process per thread setting of the sweep's forkable points (OpenMP and OpenBLAS read
their thread counts once, when they load). A server imports its backends' libraries, then forks
one worker per request. Every point therefore starts from the same state, that of a process
which has just imported its libraries, whatever points ran before it; the worker serves that one
point over a socket (the protocol of `qbench.execution.workers`) and is then killed.

What may be forked is the adapter's own declaration, `Backend.forkable`, on the CPU only: a CUDA
context does not survive a fork, and QuEST and LRET start helper processes. Any other point, or
a job without a server (a single run, SLURM), gets a spawned worker.

The server is single-threaded (a select loop); it reaps its children and tells each requester
how its worker ended; it exits when the launching process closes its stdin (or dies).
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

from qbench import pipes
from qbench.backends import registry
from qbench.execution.lifetime import die_with_parent
from qbench.execution.workers import THREAD_ENV, ForkedWorker, serve

ADDRESS_ENV = "QBENCH_FORKSERVER"  # prefix of the servers' abstract unix socket names, inherited by jobs
MAX_MESSAGE = 1 << 20


def forkable(backend) -> bool:
    """Whether a point of this adapter may run in a forked worker."""
    return bool(getattr(backend, "forkable", False)) and backend.device == "CPU"


def address_for(prefix: str, threads: int) -> str:
    return f"{prefix}-{threads}t"


# -- the launching process -------------------------------------------------------------------
_servers: list[subprocess.Popen] = []


def plan(points) -> dict[int, list[dict]]:
    """{threads: backend configs} a local sweep's fork servers import: every forkable backend of
    the pre-flight points, at the thread setting its workers get. Empty for anything else."""
    from omegaconf import OmegaConf

    from qbench.execution.resources import concurrency, threads_for

    servers: dict[int, list[dict]] = {}
    for point in points:
        launcher = point.cfg.hydra.launcher
        if not str(launcher.get("_target_", "")).endswith(("BasicLauncher", "JoblibLauncher")):
            return {}  # SLURM and other remote launchers: their jobs run elsewhere
        execution = OmegaConf.to_container(point.cfg.execution, resolve=True)
        config = OmegaConf.to_container(point.cfg.backend, resolve=True)
        backend = registry.instantiate_backend(config)
        if execution["isolation"] != "process" or not forkable(backend):
            continue
        threads = backend.threads or threads_for({"execution": execution}, concurrency(launcher, multirun=True))
        if config not in servers.setdefault(threads, []):
            servers[threads].append(config)
    return servers


def start_for(points) -> None:
    """Start the fork servers of these pre-flight points. Each is listening before this returns
    (the socket is bound here and handed over), so a job's first request waits in its queue while
    the server imports."""
    prefix = f"qbench-fork-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    for threads, configs in plan(points).items():
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind("\0" + address_for(prefix, threads))
        listener.listen(64)
        env = dict(os.environ, **{name: str(threads) for name in THREAD_ENV})
        server = subprocess.Popen([sys.executable, "-m", "qbench.execution.forkserver", str(listener.fileno()),
                                   str(os.getpid())], stdin=subprocess.PIPE, env=env, pass_fds=[listener.fileno()])
        listener.close()
        pipes.write_message(server.stdin.fileno(), configs)
        _servers.append(server)
    if _servers:
        os.environ[ADDRESS_ENV] = prefix


@atexit.register
def stop() -> None:
    """End this process's fork servers. Called once the sweep is over: every worker they forked
    has served its point by then."""
    os.environ.pop(ADDRESS_ENV, None)
    while _servers:
        server = _servers.pop()
        server.kill()
        server.wait()
        server.stdin.close()


# -- a job asking for a worker -----------------------------------------------------------------
def fork_worker(backend_config: dict, threads: int, memory_limit_gb: float | None) -> ForkedWorker | None:
    """A freshly forked, loaded worker for one point, or None where no server can fork one."""
    prefix = os.environ.get(ADDRESS_ENV)
    if not prefix or not forkable(registry.instantiate_backend(backend_config)):
        return None
    control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours, theirs = socket.socketpair()
    try:
        control.connect("\0" + address_for(prefix, threads))  # refused: no server at these thread settings
        socket.send_fds(control, [pickle.dumps({"backend": backend_config, "memory_limit_gb": memory_limit_gb})],
                        [theirs.fileno()])
        reply = pickle.loads(control.recv(MAX_MESSAGE))
    except (OSError, EOFError, pickle.UnpicklingError):
        reply = {"ok": False}
    finally:
        theirs.close()
    if not reply.get("ok"):  # e.g. the import failed there: a spawned worker reports it as the run's error
        control.close()
        ours.close()
        return None
    return ForkedWorker(reply["pid"], ours, control, reply["import_seconds"])


# -- the server itself ---------------------------------------------------------------------------
class ForkServer:
    def __init__(self, listener: socket.socket):
        self.listener = listener
        self.children: dict[int, socket.socket] = {}   # pid -> the requester's control connection
        self.import_seconds: dict[str, float] = {}     # reported once per backend, with its first worker
        self.failed: dict[str, str] = {}               # backend -> why its import failed
        self.wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(wakeup_write, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wakeup_write)

    def load(self, config: dict) -> None:
        """Import a backend's library. All of them before the first fork: an import running beside
        a worker's timed runs would take CPU from them."""
        key = registry.backend_key(config)
        try:
            self.import_seconds[key] = registry.load_backend(config)[1]
        except Exception as exc:  # noqa: BLE001 - a spawned worker reports it as the run's error
            self.failed[key] = f"{type(exc).__name__}: {exc}"

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

    def fork_for(self, control: socket.socket) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 1)
            request = pickle.loads(data)
            channel = fds[0]
        except (OSError, EOFError, IndexError, pickle.UnpicklingError):
            control.close()
            return
        key = registry.backend_key(request["backend"])
        if key not in self.import_seconds:  # not preloaded (or it failed): never imported beside a worker
            os.close(channel)
            control.sendall(pickle.dumps({"ok": False, "message": self.failed.get(key, "not preloaded")}))
            control.close()
            return
        pid = os.fork()
        if pid == 0:
            self.become_worker(channel, control, request["memory_limit_gb"])
        os.close(channel)
        control.sendall(pickle.dumps({"ok": True, "pid": pid, "import_seconds": self.import_seconds[key]}))
        self.import_seconds[key] = 0.0  # the import is paid once, reported with the first point
        self.children[pid] = control

    def become_worker(self, channel: int, control: socket.socket, memory_limit_gb: float | None) -> None:
        die_with_parent()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for sock in (self.listener, control, *self.children.values()):
            sock.close()
        os.close(self.wakeup_read)
        if memory_limit_gb:
            limit = int(memory_limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            serve(channel, channel)
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
    die_with_parent()  # a SIGKILLed launcher cannot stop() its servers
    if os.getppid() != int(sys.argv[2]):
        os._exit(1)
    server = ForkServer(socket.socket(fileno=int(sys.argv[1])))
    os.dup2(2, 1)  # library chatter goes to stderr, like a worker's
    try:
        configs = pipes.read_message(0)
    except EOFError:
        os._exit(0)
    for config in configs:
        server.load(config)
    server.serve()
    os._exit(0)  # nothing to clean up; tearing down every imported library would cost ~1 s


if __name__ == "__main__":
    main()
