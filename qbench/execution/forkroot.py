"""The processes of a sweep's fork servers (`qbench.execution.forkserver` starts and asks them).

`python -m qbench.execution.forkroot LAUNCHER_PID CHANNEL_FD [IMPORTED_FD]` is the root of one thread
setting and replicate: it receives the servers the launching process announces over CHANNEL_FD,
forks one parent per unit of servers that share modules, which imports those and forks the
servers (`qbench.execution.serverloop`: each imports its adapter's library and forks one worker
per request), and tells them to serve once every server, its own and every other root's, has
imported. See `qbench.execution.forkserver` for why.
"""
from __future__ import annotations

import importlib
import os
import pickle
import select
import socket
import sys
import time

from qbench import pipes
from qbench.backends import registry
from qbench.execution.forkserver import MAX_FDS, MAX_MESSAGE
from qbench.execution.lifetime import die_with_parent
from qbench.execution.serverloop import serve_group


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

    def __init__(self, channel: socket.socket, imported: int | None = None):
        self.channel = channel                  # from the launching process: servers, configs, "done"
        self.imported = imported                # closed once this root's servers have imported (forkserver.Servers)
        self.peers: list[int] = []              # every root's pipe: none serves before all have imported
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
        self.wait_for_peers()
        for server in self.servers.values():
            self.order(server, {"op": "serve"})
        while os.read(0, 4096):
            pass

    def wait_for_peers(self) -> None:
        """This root's servers have imported: end its pipe, then read every root's pipe to its end
        (a root that died ended its pipe with it)."""
        if self.imported is not None:
            os.close(self.imported)
            self.imported = None
        for fd in self.peers:
            while os.read(fd, 4096):
                pass
            os.close(fd)
        self.peers = []

    def receive(self) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.channel, MAX_MESSAGE, MAX_FDS)
        except OSError:
            data, fds = b"", []
        message = pickle.loads(data) if data else {"op": "done"}  # EOF: the launcher will say no more
        if message["op"] == "done":
            self.done = True
            self.peers = fds  # every root's pipe, this one's too
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
        fds += [self.imported] if self.imported is not None else []
        fds += self.peers
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


def main() -> None:
    die_with_parent(int(sys.argv[1]))  # a SIGKILLed launcher cannot stop() its servers
    os.dup2(2, 1)  # library chatter goes to stderr, like a worker's
    # Every qbench module a worker uses, the adapters' included, before any library (a unit's
    # parent imports the shared one before its servers load their adapters): one module of
    # qbench's defined after the library changes how often glibc's heap faults a point's arrays in
    # again (cirq 20 q: 2.3x a script's; docs/PERFORMANCE.md "A helper module is enough").
    from qbench.execution import timing  # noqa: F401
    import_modules(registry.adapter_modules())

    Root(socket.socket(fileno=int(sys.argv[2])), int(sys.argv[3]) if len(sys.argv) > 3 else None).run()
    os._exit(0)  # nothing to clean up; tearing down every imported library would cost ~1 s


if __name__ == "__main__":
    main()
