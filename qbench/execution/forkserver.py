"""The fork servers of a local sweep: each library imported once, one loaded worker forked per point.

Importing a simulator costs seconds per process (docs/PERFORMANCE.md), more than most points
take. For a local multirun (basic or joblib launcher, `execution.isolation=process`),
`qbench.cli.launch` hands each point to `Servers.add` as pre-flight composes it, so the imports
overlap the rest of pre-flight and Hydra's launch. For each thread setting of the sweep's
forkable points (OpenMP and OpenBLAS read their thread counts once, when they load) it starts a
root process, which forks one server per adapter (`_target_`) as the adapter is announced; that
server imports the adapter's library and converts one small circuit with it (the library's
first-conversion work, done once), then forks one worker per request, the next one as soon as
the last has ended. Adapters whose libraries import the same modules (`Backend.shared_modules`:
cirq, under qsimcirq and pennylane) have their servers forked from one parent that imported
those once. Every point therefore starts from the same state, whatever points ran before it:
that of a process which has imported qbench's worker code and then its one library, as a
spawned worker (and a user's own script) has it, plus that one small conversion. One process
for all libraries would be cheaper, but measurably not the same: with another library imported
beside it, cirq's 20-qubit points page-fault twice as much under glibc's default heap, as they
also do in a user's script after as little as one small module more (docs/PERFORMANCE.md,
"A helper module is enough"). The worker serves its one point over a socket (the protocol of
`qbench.execution.workers`) and is then killed.

The root lets at most one import per core run at a time, and no server forks a worker before
every server has imported: an import running beside a point's timed runs would take CPU from
them. Each replicate of the sweep's points (`execution.replicate`) has roots of its own, and no
root lets its servers serve before every root's have imported (`Servers`). Requests wait in the
servers' listen queues (bound by the launching process) meanwhile.

What may be forked is the adapter's own declaration, `Backend.forkable`, on the CPU only: a CUDA
context does not survive a fork, and QuEST and LRET start helper processes. Any other point, or
a job without a server (a single run, SLURM), gets a spawned worker.

Every server process is single-threaded (a select loop) and reaps its own children; a server
tells each requester how its worker ended. All of them die with the launching process (stop(),
or its death: PR_SET_PDEATHSIG).

This module is the launching process's and the jobs' side; the server processes themselves (the
root, the units' parents, the servers) are `qbench.execution.forkroot`.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import pickle
import select
import socket
import subprocess
import sys
import uuid

from qbench.backends import registry
from qbench.execution.workers import THREAD_ENV, ForkedWorker

ADDRESS_ENV = "QBENCH_FORKSERVER"  # prefix of the servers' abstract unix socket names, inherited by jobs
MAX_MESSAGE = 1 << 20
MAX_FDS = 250  # descriptors one message may carry (Linux's SCM_RIGHTS takes 253): the roots' pipes at most
REPLICATE_ROOTS = 5  # replicates with roots of their own; replicate k shares those of k % REPLICATE_ROOTS


def forkable(backend) -> bool:
    """Whether a point of this adapter may run in a forked worker."""
    return bool(getattr(backend, "forkable", False)) and backend.device == "CPU"


def roots_of(replicate: int | None) -> int:
    """Which set of roots serves this replicate of the sweep's points (`execution.replicate`)."""
    return (replicate or 0) % REPLICATE_ROOTS


def address_for(prefix: str, threads: int, target: str, replicate: int = 0) -> str:
    """The socket of the server for this adapter (`_target_`) at these thread settings, for this
    replicate of the sweep's points (`execution.replicate`)."""
    roots = roots_of(replicate)
    rooted = f"{prefix}-{threads}t" + (f"-r{roots}" if roots else "")
    return f"{rooted}-{hashlib.sha1(target.encode()).hexdigest()[:12]}"


# -- the launching process -------------------------------------------------------------------
_roots: list[subprocess.Popen] = []


class NotLocal(Exception):
    """The sweep's launcher runs its jobs elsewhere (SLURM): no fork server can serve them."""


def server_of(cfg) -> tuple[tuple[int, int], str, dict] | None:
    """((threads, replicate), adapter `_target_`, backend config) of the server whose workers run the
    pre-flight point of this config; None where it gets none (in-process, not forkable). NotLocal for
    a remote launcher. Each replicate (`execution.replicate`) has a root of its own: see `Servers`."""
    from omegaconf import OmegaConf

    from qbench.execution.resources import concurrency, threads_for

    launcher = cfg.hydra.launcher
    if not str(launcher.get("_target_", "")).endswith(("BasicLauncher", "JoblibLauncher")):
        raise NotLocal(launcher.get("_target_"))
    execution = OmegaConf.to_container(cfg.execution, resolve=True)
    config = OmegaConf.to_container(cfg.backend, resolve=True)
    backend = registry.instantiate_backend(config)
    if execution["isolation"] != "process" or not forkable(backend):
        return None
    threads = backend.threads or threads_for({"execution": execution}, concurrency(launcher, multirun=True))
    return (threads, roots_of(execution.get("replicate"))), config["_target_"], config


def plan(points) -> dict[tuple[int, int], dict[str, list[dict]]]:
    """{(threads, replicate): {adapter: backend configs}}: the servers a local sweep starts, for every
    forkable backend of the pre-flight points, at the thread setting its workers get, one root per
    replicate. Empty otherwise."""
    servers: dict[int, dict[str, list[dict]]] = {}
    for point in points:
        try:
            found = server_of(point.cfg)
        except NotLocal:
            return {}
        if found:
            threads, target, config = found
            configs = servers.setdefault(threads, {}).setdefault(target, [])
            if config not in configs:
                configs.append(config)
    return servers


class Servers:
    """The fork servers of one sweep, started while pre-flight composes it: each server begins
    importing its library as soon as the first point that needs it is composed (`add`), so the
    imports overlap the rest of pre-flight and Hydra's launch (docs/PERFORMANCE.md). No server
    forks a worker before `close()` says every point is known and every server has imported.

    The servers' sockets are bound here and handed over, so a job's first request waits in its
    queue while they import. `wait_for`: the points seen before anything starts (2 for a sweep:
    a one-point sweep gets a spawned worker and starts no server).

    One root per thread setting and replicate (replicates from REPLICATE_ROOTS on share the roots
    of the first ones: each set holds ~420 MB for the design's five libraries). A root is a fresh
    interpreter, so its servers' heaps are a fresh draw of glibc's page-fault modes, as a new
    sweep's are: a point's replicates then sample that draw instead of sharing it (qsim GHZ 20 q:
    11.0 or 12.4 ms by the draw; docs/PERFORMANCE.md "Replicates"). The roots wait for one another
    before any serves: each holds the write end of a pipe of its own until its servers have
    imported, and every root reads every such pipe to its end, so no import runs beside a point of
    another replicate, and a root that dies ends its pipe with it."""

    def __init__(self, wait_for: int = 1):
        self.prefix = f"qbench-fork-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.roots: dict[tuple[int, int], socket.socket] = {}  # (threads, replicate) -> the channel to its root
        self.imported: list[int] = []  # read ends of the roots' pipes: at their end once that root has imported
        self.configs: dict[tuple[tuple[int, int], str], list[dict]] = {}
        self.held: list[tuple[tuple[int, int], str, dict]] = []
        self.seen, self.wait_for, self.local = 0, wait_for, True

    def expect(self, master, jobs) -> None:
        """A sweep of these jobs, none composed yet: the root of the thread setting its master config
        gives (that of most sweeps' points) starts now, its own start-up overlapping the first
        point's composition, the slowest. Points at other settings start theirs when announced."""
        if len(jobs) < self.wait_for:
            return
        try:
            found = server_of(master)
        except Exception:  # noqa: BLE001 - not local, or a master pre-flight will refuse: nothing to start
            return
        if found:
            self._root(found[0])

    def add(self, point) -> None:
        if not self.local:
            return
        try:
            found = server_of(point.cfg)
        except NotLocal:
            self.local = False
            return
        except Exception:  # noqa: BLE001 - a point pre-flight refuses: its own check says why
            return
        self.seen += 1
        self.held += [found] if found else []
        if self.seen >= self.wait_for:
            for held in self.held:
                self._announce(*held)
            self.held = []

    def close(self) -> None:
        """Every point is known: each root lets its servers serve once all of them, and every other
        root's, have imported."""
        for channel in self.roots.values():
            socket.send_fds(channel, [pickle.dumps({"op": "done"})], self.imported)
            channel.close()
        for fd in self.imported:
            os.close(fd)
        self.imported = []
        if self.roots:
            os.environ[ADDRESS_ENV] = self.prefix

    def _announce(self, root: tuple[int, int], target: str, config: dict) -> None:
        known = self.configs.get((root, target))
        if known is None:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            listener.bind("\0" + address_for(self.prefix, root[0], target, root[1]))
            listener.listen(64)
            shared = list(registry.instantiate_backend(config).shared_modules)
            socket.send_fds(self._root(root), [pickle.dumps({"op": "server", "target": target, "shared": shared,
                                                             "config": config})], [listener.fileno()])
            listener.close()
            self.configs[(root, target)] = [config]
        elif config not in known:  # another option of the same adapter: loaded by the same server
            self._root(root).send(pickle.dumps({"op": "config", "target": target, "config": config}))
            known.append(config)

    def _root(self, root: tuple[int, int]) -> socket.socket:
        """The channel to the root of this thread setting and replicate, started first time (OpenMP
        and OpenBLAS read their thread counts from the environment once, when they load). The root
        gets the only write end of its pipe, so its end comes when the root says or dies."""
        if root not in self.roots:
            threads = root[0]
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            imported_read, imported_write = os.pipe()
            env = dict(os.environ, **{name: str(threads) for name in THREAD_ENV})
            _roots.append(subprocess.Popen(
                [sys.executable, "-m", "qbench.execution.forkroot", str(os.getpid()), str(theirs.fileno()),
                 str(imported_write)], stdin=subprocess.PIPE, env=env, pass_fds=[theirs.fileno(), imported_write]))
            theirs.close()
            os.close(imported_write)
            self.imported.append(imported_read)
            self.roots[root] = ours
        return self.roots[root]


def start_for(points) -> None:
    """Start the fork servers of these pre-flight points, all known at once."""
    servers = Servers()
    for point in points:
        servers.add(point)
    servers.close()


@atexit.register
def stop() -> None:
    """End this process's fork servers. Called once the sweep is over (every worker they forked
    has served its point by then), or when pre-flight refuses the command."""
    os.environ.pop(ADDRESS_ENV, None)
    while _roots:
        root = _roots.pop()
        root.kill()  # its servers and their workers die with it (PR_SET_PDEATHSIG)
        root.wait()
        root.stdin.close()


# -- a job asking for a worker -----------------------------------------------------------------
def fork_worker(backend_config: dict, threads: int, memory_limit_gb: float | None,
                idle_work=None, replicate: int = 0) -> ForkedWorker | None:
    """A freshly forked, loaded worker for one point, or None where no server can fork one.

    `idle_work()`, if given, is called while the server has not answered (its sweep's servers still
    importing), until it returns False: work the job would do later anyway. One call's length is
    the most it can delay the point."""
    prefix = os.environ.get(ADDRESS_ENV)
    if not prefix or not forkable(registry.instantiate_backend(backend_config)):
        return None
    control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours, theirs = socket.socketpair()
    try:
        # refused: no server for this adapter at these thread settings
        control.connect("\0" + address_for(prefix, threads, backend_config["_target_"], replicate))
        socket.send_fds(control, [pickle.dumps({"backend": backend_config, "memory_limit_gb": memory_limit_gb})],
                        [theirs.fileno()])
        while idle_work is not None and not select.select([control], [], [], 0)[0] and idle_work():
            pass
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
