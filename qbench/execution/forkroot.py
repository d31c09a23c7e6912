"""The processes of a sweep's fork servers (`qbench.execution.forkserver` starts and asks them).

`python -m qbench.execution.forkroot LAUNCHER_PID CHANNEL_FD` is the root of one thread
setting: it receives the servers the launching process announces over CHANNEL_FD, forks one
parent per unit of servers that share modules, which imports those and forks the servers; each
server imports its adapter's library, converts one small circuit with it, and forks one worker per
request, once the root has said every server has imported: the next request's worker as soon as
the last one has ended (a spare), so that the fork is off the point's path. See
`qbench.execution.forkserver` for why.
"""
from __future__ import annotations

import gc
import importlib
import os
import pickle
import resource
import select
import signal
import socket
import sys
import time

from qbench import pipes
from qbench.backends import registry
from qbench.backends.base import RunSpec
from qbench.circuits import canonical as circuits
from qbench.execution.forkserver import MAX_MESSAGE
from qbench.execution.lifetime import die_with_parent
from qbench.execution.workers import serve


class Server:
    """The root's view of one adapter's server: its socket and configs until its unit starts, then
    the pipes it reports each finished import on ("I") and receives its orders on."""

    def __init__(self, target: str, config: dict, listener: int):
        self.target, self.configs, self.listener = target, [config], listener
        self.imported_read, self.imported_write = os.pipe()
        self.go_read, self.go_write = os.pipe()
        self.loading = 1  # imports ordered, not yet reported

    def handed_over(self) -> tuple[int, int, int]:
        """What its unit's parent needs to fork it (closed here once handed over)."""
        return self.listener, self.imported_write, self.go_read


class Unit:
    """The servers that share modules (`Backend.shared_modules`: qsimcirq and pennylane both import
    cirq), forked from one parent that imports those first; a server sharing nothing is a unit alone."""

    def __init__(self, shared: tuple[str, ...]):
        self.shared, self.servers = shared, []
        self.channel: socket.socket | None = None  # to its parent, once started

    def importing(self) -> bool:
        return self.channel is not None and any(server.loading for server in self.servers)


class Root:
    """One per thread setting: starts the adapters' servers as the launching process announces
    them, lets at most one unit per core import at once, and tells them all to serve once the
    launching process is done announcing and every server has imported.

    A server's unit may already be running when it is announced: its parent, which holds only
    the shared modules, then forks it. A server thus holds exactly the modules its library
    imports in a process of its own, whenever it was announced."""

    def __init__(self, channel: socket.socket):
        self.channel = channel                  # from the launching process: servers, configs, "done"
        self.done = False
        self.units: dict[tuple, Unit] = {}      # shared modules (or ("", adapter)) -> unit
        self.queue: list[Unit] = []             # announced, waiting for a core
        self.servers: dict[str, Server] = {}    # adapter -> server
        self.reporting: dict[int, Server] = {}  # read end of a server's "imported" pipe -> server

    def run(self) -> None:
        from qbench.execution.resources import usable_cores

        cores = usable_cores()
        while True:
            while self.queue and sum(unit.importing() for unit in self.units.values()) < cores:
                self.start(self.queue.pop(0))
            if self.done and not self.queue and not any(s.loading for s in self.servers.values()):
                break
            watched = [0, *([] if self.done else [self.channel.fileno()]), *self.reporting]
            for fd in select.select(watched, [], [])[0]:
                if fd == 0:
                    if not os.read(0, 4096):
                        return  # the launching process is done (or gone): the servers die with us
                elif fd == self.channel.fileno():
                    self.receive()
                else:
                    self.reported(fd)
        for server in self.servers.values():
            self.order(server, {"op": "serve"})
        while os.read(0, 4096):
            pass

    def receive(self) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.channel, MAX_MESSAGE, 1)
        except OSError:
            data, fds = b"", []
        message = pickle.loads(data) if data else {"op": "done"}  # EOF: the launcher will say no more
        if message["op"] == "done":
            self.done = True
            self.channel.close()
        elif message["op"] == "server":
            import_modules([message["target"].rpartition(".")[0]])  # one not shipped: before its unit, if it can
            server = self.servers[message["target"]] = Server(message["target"], message["config"], fds[0])
            self.reporting[server.imported_read] = server
            shared = tuple(message["shared"])
            key = shared or ("", message["target"])
            unit = self.units.get(key)
            if unit is None:
                unit = self.units[key] = Unit(shared)
                self.queue.append(unit)
            unit.servers.append(server)
            if unit.channel is not None:  # its parent is running: it forks this server now
                self.hand_over(unit, server)
        else:  # another config of an announced adapter
            server = self.servers[message["target"]]
            if server.listener is not None:  # not handed over yet: it loads with the others
                server.configs.append(message["config"])
            else:
                server.loading += 1
                self.order(server, {"op": "load", "configs": [message["config"]]})

    def reported(self, fd: int) -> None:
        server = self.reporting[fd]
        if os.read(fd, 1):
            server.loading -= 1
        else:  # died importing: its socket then refuses, and jobs spawn their workers
            server.loading = 0
            del self.reporting[fd]
            os.close(fd)

    def order(self, server: Server, message: dict) -> None:
        try:
            pipes.write_message(server.go_write, message)
        except OSError:
            pass  # the server is gone

    def held_fds(self) -> list[int]:
        """Every descriptor this root holds, so that a forked child can close those not its own."""
        fds = [self.channel.fileno()] if not self.done else []
        fds += [unit.channel.fileno() for unit in self.units.values() if unit.channel is not None]
        for server in self.servers.values():
            fds += [server.go_write, *([server.imported_read] if server.imported_read in self.reporting else [])]
            fds += list(server.handed_over()) if server.listener is not None else []
        return fds

    def start(self, unit: Unit) -> None:
        """Fork the parent of this unit's servers: it imports their shared modules, then forks them."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        root = os.getpid()
        pid = os.fork()
        if pid == 0:
            die_with_parent(root)  # the launcher may be stopping the root right now (pre-flight refused)
            keep = {theirs.fileno(), *(fd for server in unit.servers for fd in server.handed_over())}
            for fd in self.held_fds():
                if fd not in keep:
                    os.close(fd)
            ours.close()
            unit_parent(theirs, unit.shared, [(server.configs, *server.handed_over()) for server in unit.servers])
        theirs.close()
        for server in unit.servers:
            self.close_handed(server)
        unit.channel = ours

    def hand_over(self, unit: Unit, server: Server) -> None:
        socket.send_fds(unit.channel, [pickle.dumps(server.configs)], list(server.handed_over()))
        self.close_handed(server)

    @staticmethod
    def close_handed(server: Server) -> None:
        for fd in server.handed_over():
            os.close(fd)
        server.listener = None


def unit_parent(channel: socket.socket, shared: tuple[str, ...], servers: list[tuple]) -> None:
    """The parent of a unit's servers: import the shared modules, fork the servers it has, then
    each server the root hands over later; it ends with the root."""
    shared_seconds = import_modules(shared)
    for number, (configs, *fds) in enumerate(servers):
        fork_server(configs, *fds, shared_seconds,
                    others=[channel.fileno(), *(fd for later in servers[number + 1:] for fd in later[1:])])
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(channel, MAX_MESSAGE, 3)
        except OSError:
            data = b""
        if not data:
            break
        fork_server(pickle.loads(data), *fds, shared_seconds, others=[channel.fileno()])
    while os.read(0, 4096):  # the root's stdin is ours too: EOF once the launcher is done
        pass
    os._exit(0)


def fork_server(configs: list[dict], listener: int, imported_write: int, go_read: int, shared_seconds: float,
                others: list[int]) -> None:
    """Fork one server (closing, in it, the descriptors of `others`); the parent keeps none of its own."""
    unit_parent_pid = os.getpid()
    if os.fork() == 0:
        die_with_parent(unit_parent_pid)
        for fd in others:
            os.close(fd)
        serve_group(configs, listener, imported_write, go_read, shared_seconds)
    for fd in (listener, imported_write, go_read):
        os.close(fd)


def import_modules(modules) -> float:
    """Import these modules (a unit's shared ones: the seconds it took are charged to each server's
    import). One that is not installed, or fails, is left to the servers' own imports to report."""
    start = time.perf_counter()
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - not installed (or broken): each server's own import says so
            pass
    return time.perf_counter() - start


def serve_group(configs: list[dict], listener: int, imported_write: int, go_read: int, shared_seconds: float) -> None:
    """A server's life: import its adapter's library, say so, load what else the root orders,
    and serve when told."""
    server = ForkServer(socket.socket(fileno=listener), go_read)
    message = {"op": "load", "configs": configs}
    while message["op"] == "load":
        for config in message["configs"]:
            server.load(config, shared_seconds)
        # What is imported now lives for the worker's whole life: out of the collector's sight, a
        # worker's garbage collections do not touch (and so copy) every page of the libraries'
        # objects it shares with this server (Python's documented use of gc.freeze before fork).
        gc.freeze()
        os.write(imported_write, b"I")
        try:
            message = pipes.read_message(go_read)
        except EOFError:  # the root is gone
            os._exit(0)
    os.close(imported_write)
    server.serve()
    os._exit(0)


def first_conversion(backend) -> None:
    """Convert one small circuit with the loaded adapter, untimed, and drop it. A library's first
    conversion builds what it keeps for every later one (cirq's and qsim's take twice as long in a
    fork without it); done once here, every worker starts with it done, as a user's script has it
    done before its timed runs. Only `prepare`: nothing is simulated in the server."""
    try:
        backend.prepare(circuits.build("ghz", 2, None, 0), RunSpec(shots=1, seed=0, threads=1))
    except Exception:  # noqa: BLE001 - the point's own conversion reports what is wrong
        pass


class ForkServer:
    """The server of one adapter: its library imported, one worker forked per request."""

    def __init__(self, listener: socket.socket, root: int):
        self.listener, self.root = listener, root      # root: readable (EOF) once the root is gone
        self.pid = os.getpid()                         # the parent of every worker it forks
        self.children: dict[int, socket.socket] = {}   # pid -> the requester's control connection
        self.import_seconds: dict[str, float] = {}     # reported once per backend, with its first worker
        self.failed: dict[str, str] = {}               # backend -> why its import failed
        self.spare: tuple[int, socket.socket] | None = None  # a worker forked ahead of its point, and its hand
        self.wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(wakeup_write, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wakeup_write)

    def load(self, config: dict, shared_seconds: float = 0.0) -> None:
        key = registry.backend_key(config)
        try:
            backend, seconds = registry.load_backend(config)
        except Exception as exc:  # noqa: BLE001 - a spawned worker reports it as the run's error
            self.failed[key] = f"{type(exc).__name__}: {exc}"
            return
        self.import_seconds[key] = seconds + shared_seconds
        first_conversion(backend)

    def serve(self) -> None:
        while True:
            ready = select.select([self.listener, self.root, self.wakeup_read], [], [])[0]
            if self.wakeup_read in ready:
                os.read(self.wakeup_read, 4096)
            worker_ended = self.reap()
            if self.root in ready:
                return  # the root (and so the launching process) is gone
            if self.listener in ready:
                self.fork_for(self.listener.accept()[0])
            if worker_ended and self.spare is None:
                # The next point's worker is forked now, while the last point's job writes its
                # record, not when the next job asks: the fork of a loaded server (ms, growing with
                # its size) leaves the point's own path. At most one per server goes unused.
                self.fork_spare()

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
        pid = self.hand_to_spare(channel, request["memory_limit_gb"])
        if pid is None:
            pid = os.fork()
            if pid == 0:
                self.leave_server(control)
                self.work(channel, request["memory_limit_gb"])
        os.close(channel)
        control.sendall(pickle.dumps({"ok": True, "pid": pid, "import_seconds": self.import_seconds[key]}))
        self.import_seconds[key] = 0.0  # the import is paid once, reported with the first point
        self.children[pid] = control

    def fork_spare(self) -> None:
        """Fork a worker that waits, as forked from this server's state, for the channel of its point."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            self.leave_server(ours)
            try:
                data, fds, _, _ = socket.recv_fds(theirs, MAX_MESSAGE, 1)
            except OSError:
                data, fds = b"", []
            theirs.close()
            if not data or not fds:
                os._exit(0)  # the server ended (the sweep is done) before a point came
            self.work(fds[0], pickle.loads(data))
        theirs.close()
        self.spare = (pid, ours)

    def hand_to_spare(self, channel: int, memory_limit_gb: float | None) -> int | None:
        """Give the point's channel to the waiting spare: its pid, or None when there is none (or it died)."""
        if self.spare is None:
            return None
        pid, hand = self.spare
        self.spare = None
        try:
            socket.send_fds(hand, [pickle.dumps(memory_limit_gb)], [channel])
        except OSError:  # killed while it waited: the caller forks one now
            return None
        finally:
            hand.close()
        return pid

    def leave_server(self, *sockets: socket.socket) -> None:
        """In a forked child: none of the server's descriptors or signal handling."""
        die_with_parent(self.pid)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        spare = [self.spare[1]] if self.spare else []
        for sock in (self.listener, *sockets, *spare, *self.children.values()):
            sock.close()
        os.close(self.wakeup_read)
        os.close(self.root)

    @staticmethod
    def work(channel: int, memory_limit_gb: float | None) -> None:
        """A worker's life: capped, it serves its one point over `channel`, then ends."""
        if memory_limit_gb:
            limit = int(memory_limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            serve(channel, channel)
        finally:
            os._exit(0)

    def reap(self) -> bool:
        """Collect ended children and report each worker's exit to its job; whether a worker ended."""
        worker_ended = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return worker_ended
            if pid == 0:
                return worker_ended
            if self.spare and self.spare[0] == pid:  # the spare died waiting (killed): none now
                self.spare[1].close()
                self.spare = None
            control = self.children.pop(pid, None)
            if control is not None:
                worker_ended = True
                try:
                    control.sendall(pickle.dumps({"exit": os.waitstatus_to_exitcode(status)}))
                except OSError:
                    pass
                control.close()


def main() -> None:
    die_with_parent(int(sys.argv[1]))  # a SIGKILLed launcher cannot stop() its servers
    os.dup2(2, 1)  # library chatter goes to stderr, like a worker's
    # Every qbench module a worker uses, the adapters' included, before any library (a unit's
    # parent imports the shared one before its servers load their adapters): one module of
    # qbench's defined after the library changes how often glibc's heap faults a point's arrays in
    # again (cirq 20 q: 2.3x a script's; docs/PERFORMANCE.md "A helper module is enough").
    from qbench.execution import timing  # noqa: F401
    import_modules(registry.adapter_modules())

    Root(socket.socket(fileno=int(sys.argv[2]))).run()
    os._exit(0)  # nothing to clean up; tearing down every imported library would cost ~1 s


if __name__ == "__main__":
    main()
