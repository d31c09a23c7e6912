"""The fork servers of a local sweep: each library imported once, one loaded worker forked per point.

Importing a simulator costs seconds per process (docs/PERFORMANCE.md), more than most points
take. After pre-flight, `qbench.cli.launch` calls `start_for(points)` for a local multirun (basic
or joblib launcher, `execution.isolation=process`). For each thread setting of the sweep's
forkable points (OpenMP and OpenBLAS read their thread counts once, when they load) it starts a
root process, which forks one server per adapter (`_target_`); that server imports the adapter's
library, then forks one worker per request. Adapters whose libraries import the same modules
(`Backend.shared_modules`: cirq, under qsimcirq and pennylane) have their servers forked from one
parent that imported those once. Every point therefore starts from the same state,
whatever points ran before it: that of a process which has imported qbench's worker code and
then its one library, exactly as a spawned worker (and a user's own script) has it. One process
for all libraries would be cheaper, but measurably not the same: with another library imported
beside it, cirq's 20-qubit points page-fault twice as much under glibc's default heap
(docs/PERFORMANCE.md). The worker serves its one point over a socket (the protocol
of `qbench.execution.workers`) and is then killed.

The root lets at most one import per core run at a time, and no server forks a worker before
every server has imported: an import running beside a point's timed runs would take CPU from
them. Requests wait in the servers' listen queues (bound by the launching process) meanwhile.

What may be forked is the adapter's own declaration, `Backend.forkable`, on the CPU only: a CUDA
context does not survive a fork, and QuEST and LRET start helper processes. Any other point, or
a job without a server (a single run, SLURM), gets a spawned worker.

Every server process is single-threaded (a select loop) and reaps its own children; a server
tells each requester how its worker ended. All of them die with the launching process (stop(),
or its death: PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import atexit
import gc
import hashlib
import importlib
import os
import pickle
import resource
import select
import signal
import socket
import subprocess
import sys
import time
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


def address_for(prefix: str, threads: int, target: str) -> str:
    """The socket of the server for this adapter (`_target_`) at these thread settings."""
    return f"{prefix}-{threads}t-{hashlib.sha1(target.encode()).hexdigest()[:12]}"


# -- the launching process -------------------------------------------------------------------
_roots: list[subprocess.Popen] = []


def plan(points) -> dict[int, dict[str, list[dict]]]:
    """{threads: {adapter: backend configs}}: the servers a local sweep starts, for every forkable
    backend of the pre-flight points, at the thread setting its workers get. Empty otherwise."""
    from omegaconf import OmegaConf

    from qbench.execution.resources import concurrency, threads_for

    servers: dict[int, dict[str, list[dict]]] = {}
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
        configs = servers.setdefault(threads, {}).setdefault(config["_target_"], [])
        if config not in configs:
            configs.append(config)
    return servers


def start_for(points) -> None:
    """Start the fork servers of these pre-flight points. Their sockets are bound here and handed
    over, so a job's first request waits in its queue while the servers import."""
    prefix = f"qbench-fork-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    for threads, groups in plan(points).items():
        listeners = []
        for target in groups:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            listener.bind("\0" + address_for(prefix, threads, target))
            listener.listen(64)
            listeners.append(listener)
        env = dict(os.environ, **{name: str(threads) for name in THREAD_ENV})
        root = subprocess.Popen([sys.executable, "-m", "qbench.execution.forkserver", str(os.getpid())],
                                stdin=subprocess.PIPE, env=env, pass_fds=[s.fileno() for s in listeners])
        pipes.write_message(root.stdin.fileno(), [
            {"fd": s.fileno(), "configs": configs, "shared": list(registry.instantiate_backend(configs[0]).shared_modules)}
            for s, configs in zip(listeners, groups.values())])
        for listener in listeners:
            listener.close()
        _roots.append(root)
    if _roots:
        os.environ[ADDRESS_ENV] = prefix


@atexit.register
def stop() -> None:
    """End this process's fork servers. Called once the sweep is over: every worker they forked
    has served its point by then."""
    os.environ.pop(ADDRESS_ENV, None)
    while _roots:
        root = _roots.pop()
        root.kill()  # its servers and their workers die with it (PR_SET_PDEATHSIG)
        root.wait()
        root.stdin.close()


# -- a job asking for a worker -----------------------------------------------------------------
def fork_worker(backend_config: dict, threads: int, memory_limit_gb: float | None) -> ForkedWorker | None:
    """A freshly forked, loaded worker for one point, or None where no server can fork one."""
    prefix = os.environ.get(ADDRESS_ENV)
    if not prefix or not forkable(registry.instantiate_backend(backend_config)):
        return None
    control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours, theirs = socket.socketpair()
    try:
        # refused: no server for this adapter at these thread settings
        control.connect("\0" + address_for(prefix, threads, backend_config["_target_"]))
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


# -- the server processes --------------------------------------------------------------------------
class Root:
    """One per thread setting: starts the adapters' servers, lets at most one import per core run at
    once, and tells them all to serve once every one has imported.

    Servers whose adapters share modules (`Backend.shared_modules`: qsimcirq and pennylane both
    import cirq) are forked from one parent that imports those first, so the sweep imports them
    once; each server then imports only what its own library adds. A server thus holds exactly
    the modules its library imports in a process of its own."""

    def __init__(self, groups: list[dict]):
        self.waiting = units(groups)         # [(shared modules, [groups])], started in this order
        self.importing: dict[int, int] = {}  # the read end of a server's "imported" pipe -> its unit
        self.go: list[int] = []              # write ends of the servers' "serve now" pipes

    def run(self) -> None:
        from qbench.execution.resources import usable_cores

        cores = usable_cores()
        started = 0
        while self.waiting or self.importing:
            while self.waiting and len(set(self.importing.values())) < cores:
                self.start(started, *self.waiting.pop(0))
                started += 1
            for fd in select.select([0, *self.importing], [], [])[0]:
                if fd == 0:
                    if not os.read(0, 4096):
                        return  # the launching process is done (or gone): the servers die with us
                    continue
                os.read(fd, 1)  # imported (or died trying: its socket then refuses, jobs spawn)
                os.close(fd)
                del self.importing[fd]
        for go in self.go:
            os.write(go, b"S")
        while os.read(0, 4096):
            pass

    def start(self, unit: int, shared: tuple[str, ...], groups: list[dict]) -> None:
        """Fork the parent of these servers: it imports their shared modules, then forks them."""
        pipes_ = [(os.pipe(), os.pipe()) for _ in groups]  # per server: (imported, go)
        pid = os.fork()
        if pid == 0:
            die_with_parent()
            for fd in (*self.importing, *self.go, *(g["fd"] for _, later in self.waiting for g in later),
                       *(imported[0] for imported, _ in pipes_), *(go[1] for _, go in pipes_)):
                os.close(fd)
            shared_seconds = import_shared(shared)
            ends = [(group["fd"], imported_write, go_read)
                    for group, ((_, imported_write), (go_read, _)) in zip(groups, pipes_)]
            for number, group in enumerate(groups):
                if os.fork() == 0:
                    die_with_parent()
                    for fd in (fd for other, fds in enumerate(ends) if other != number for fd in fds):
                        os.close(fd)  # the other servers' sockets and pipes
                    serve_group(group, ends[number][1], ends[number][2], shared_seconds)
            for fd in (fd for fds in ends for fd in fds):
                os.close(fd)
            while os.read(0, 4096):  # the root's stdin is ours too: EOF once the launcher is done
                pass
            os._exit(0)
        for group, ((imported_read, imported_write), (go_read, go_write)) in zip(groups, pipes_):
            for fd in (imported_write, go_read, group["fd"]):
                os.close(fd)
            self.importing[imported_read] = unit
            self.go.append(go_write)


def units(groups: list[dict]) -> list[tuple[tuple[str, ...], list[dict]]]:
    """The servers' groups, gathered by the modules they share (in first-appearance order); a group
    that shares nothing is a unit of its own."""
    gathered: dict[tuple[str, ...] | int, tuple[tuple[str, ...], list[dict]]] = {}
    for number, group in enumerate(groups):
        shared = tuple(group.get("shared") or ())
        gathered.setdefault(shared or number, (shared, []))[1].append(group)  # sharing nothing: its own unit
    return list(gathered.values())


def import_shared(modules: tuple[str, ...]) -> float:
    """Import the modules a unit's servers share; the seconds it took (charged to each server's
    import). One that is not installed is left to the servers' own imports."""
    start = time.perf_counter()
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - not installed (or broken): each server's own import says so
            pass
    return time.perf_counter() - start


def serve_group(group: dict, imported_write: int, go_read: int, shared_seconds: float) -> None:
    """A server's life: import its adapter's library, say so, wait for the word, then serve."""
    server = ForkServer(socket.socket(fileno=group["fd"]), go_read)
    for config in group["configs"]:
        server.load(config)
    for key in server.import_seconds:
        server.import_seconds[key] += shared_seconds
    # What is imported now lives for the worker's whole life: out of the collector's sight, a
    # worker's garbage collections do not touch (and so copy) every page of the libraries'
    # objects it shares with this server (Python's documented use of gc.freeze before fork).
    gc.freeze()
    os.write(imported_write, b"I")
    os.close(imported_write)
    if os.read(go_read, 1) == b"S":
        server.serve()
    os._exit(0)


class ForkServer:
    """The server of one adapter: its library imported, one worker forked per request."""

    def __init__(self, listener: socket.socket, root: int):
        self.listener, self.root = listener, root      # root: readable (EOF) once the root is gone
        self.children: dict[int, socket.socket] = {}   # pid -> the requester's control connection
        self.import_seconds: dict[str, float] = {}     # reported once per backend, with its first worker
        self.failed: dict[str, str] = {}               # backend -> why its import failed
        self.wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(wakeup_write, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wakeup_write)

    def load(self, config: dict) -> None:
        key = registry.backend_key(config)
        try:
            self.import_seconds[key] = registry.load_backend(config)[1]
        except Exception as exc:  # noqa: BLE001 - a spawned worker reports it as the run's error
            self.failed[key] = f"{type(exc).__name__}: {exc}"

    def serve(self) -> None:
        while True:
            ready = select.select([self.listener, self.root, self.wakeup_read], [], [])[0]
            if self.wakeup_read in ready:
                os.read(self.wakeup_read, 4096)
            self.reap()
            if self.root in ready:
                return  # the root (and so the launching process) is gone
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
        os.close(self.root)
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
    if os.getppid() != int(sys.argv[1]):
        os._exit(1)
    os.dup2(2, 1)  # library chatter goes to stderr, like a worker's
    # What a worker imports for its point, before any library, as a spawned worker does: the
    # library's objects then lie above qbench's in the heap in both.
    from qbench.execution import timing  # noqa: F401

    try:
        groups = pipes.read_message(0)
    except EOFError:
        os._exit(0)
    Root(groups).run()
    os._exit(0)  # nothing to clean up; tearing down every imported library would cost ~1 s


if __name__ == "__main__":
    main()
