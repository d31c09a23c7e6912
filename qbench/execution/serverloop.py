"""The process of one fork server (started by `qbench.execution.forkroot`): its adapter's library
imported and one small circuit converted, then one worker forked per request, the next one as
soon as the last has ended (a spare), so that the fork is off the point's path. See
`qbench.execution.forkserver` for why.
"""
from __future__ import annotations

import gc
import os
import pickle
import resource
import select
import signal
import socket

from qbench import pipes
from qbench.backends import registry
from qbench.backends.base import RunSpec
from qbench.circuits import canonical as circuits
from qbench.execution.forkserver import MAX_MESSAGE
from qbench.execution.lifetime import die_with_parent
from qbench.execution.workers import serve

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
        try:
            os.write(imported_write, b"I")
            message = pipes.read_message(go_read)
        except (OSError, EOFError):  # the root is gone (a refused pre-flight stops it while we import)
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
            self.reply(control, {"ok": False, "message": self.failed.get(key, "not preloaded")})
            control.close()
            return
        pid = self.hand_to_spare(channel, request["memory_limit_gb"])
        if pid is None:
            pid = os.fork()
            if pid == 0:
                self.leave_server(control)
                self.work(channel, request["memory_limit_gb"])
        os.close(channel)
        self.reply(control, {"ok": True, "pid": pid, "import_seconds": self.import_seconds[key]})
        self.import_seconds[key] = 0.0  # the import is paid once, reported with the first point
        self.children[pid] = control  # reaped as any other: its channel ends when the requester is gone

    @staticmethod
    def reply(control: socket.socket, message: dict) -> None:
        """Answer a job; one that is gone (killed while it waited) is not this server's end."""
        try:
            control.sendall(pickle.dumps(message))
        except OSError:
            pass

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
