"""A pre-imported parent for isolated workers: a local sweep imports its simulators once.

Importing a simulator costs seconds per process (cirq 2.4 s, qsimcirq 2.3 s, pennylane
3.7 s here), mostly in what they share (NumPy, SciPy, SymPy): the five CPU libraries cost
9 s imported one worker each, 3.5 s in one process. So for a local sweep (basic or joblib
launcher) the launching process starts one zygote (`python -m qbench.zygote`), which
imports the libraries of the sweep's backends while Hydra and the joblib workers start,
then forks each isolated worker already loaded. The forked worker runs qbench.worker's
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


def forkable(backend) -> bool:
    from qbench.backends.base import Backend

    return backend.device == "CPU" and type(backend).load is Backend.load


# -- the launching process -------------------------------------------------------------------
_started: subprocess.Popen | None = None


def start(backend_configs: list[dict], threads: int) -> None:
    """Start the zygote for this process's sweep and have it import these backends, in order."""
    global _started
    from qbench import pipes
    from qbench.worker import THREAD_ENV

    address = f"qbench-zygote-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, **{name: str(threads) for name in THREAD_ENV})
    _started = subprocess.Popen([sys.executable, "-m", "qbench.zygote", address], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env, close_fds=True)
    if _started.stdout.read(1) != READY:  # listening (~0.1 s): no job can ask before it is
        stop()
        return
    pipes.write_message(_started.stdin.fileno(), backend_configs)
    os.environ[ADDRESS_ENV] = address
    os.environ[THREADS_ENV] = str(threads)


@atexit.register
def stop() -> None:
    global _started
    if _started is None:
        return
    os.environ.pop(ADDRESS_ENV, None)
    _started.stdout.close()
    _started.stdin.close()  # the zygote's signal to exit; the workers it forked live on until released
    try:
        _started.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _started.kill()
    _started = None


def start_for_sweep(points) -> None:
    """Start a zygote when this command runs its points here (basic or joblib launcher) in isolated
    workers and some of its backends are forkable; `points` are the CLI's pre-flight points."""
    from collections import Counter

    from omegaconf import OmegaConf

    from qbench.measure import instantiate_backend
    from qbench.runner import threads_for

    launcher = points[0].cfg.hydra.launcher
    if not str(launcher.get("_target_", "")).endswith(("BasicLauncher", "JoblibLauncher")):
        return  # SLURM and other remote launchers: jobs are elsewhere
    n_jobs = launcher.get("n_jobs")
    concurrency = 1 if n_jobs is None else (os.cpu_count() or 1) if n_jobs < 0 else int(n_jobs)
    configs, threads = [], Counter()
    for point in points:
        execution = OmegaConf.to_container(point.cfg.execution, resolve=True)
        backend_config = OmegaConf.to_container(point.cfg.backend, resolve=True)
        backend = instantiate_backend(backend_config)
        if execution["isolation"] != "process" or not forkable(backend):
            continue
        threads[backend.threads or threads_for({"execution": execution}, concurrency)] += 1
        if backend_config not in configs:
            configs.append(backend_config)
    if configs:
        start(configs, threads.most_common(1)[0][0])


# -- a job asking for a worker -----------------------------------------------------------------
def fork_worker(backend_config: dict, threads: int, memory_limit_gb: float | None):
    """A forked, loaded worker (qbench.worker.ForkedWorker), or None where the zygote cannot serve."""
    from qbench.measure import instantiate_backend
    from qbench.worker import ForkedWorker

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

    def serve(self, preload: list[dict]) -> None:
        from qbench import measure

        # Every import before the first fork: an import running beside a forked worker's timed runs
        # would take CPU from them. Requests wait in the listen queue meanwhile.
        for config in preload:
            try:
                self.load(config, measure)
            except Exception:  # noqa: BLE001 - reported by the worker that runs it, not here
                pass
        while True:
            ready = select.select([self.listener, 0, self.wakeup_read], [], [])[0]
            if self.wakeup_read in ready:
                os.read(self.wakeup_read, 4096)
            self.reap()
            if 0 in ready and not os.read(0, 4096):
                return  # the launching process is done (or gone)
            if self.listener in ready:
                self.fork_for(self.listener.accept()[0])

    def load(self, config: dict, measure) -> float:
        _, seconds = measure.load_backend(config)
        key = measure.backend_key(config)
        self.import_seconds.setdefault(key, seconds)
        return seconds

    def fork_for(self, control: socket.socket) -> None:
        from qbench import measure

        try:
            data, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 1)
            request = pickle.loads(data)
        except (OSError, EOFError, pickle.UnpicklingError):
            control.close()
            return
        channel = fds[0]
        try:
            self.load(request["backend"], measure)
        except Exception as exc:  # noqa: BLE001
            os.close(channel)
            control.sendall(pickle.dumps({"ok": False, "message": str(exc)}))
            control.close()
            return
        pid = os.fork()
        if pid == 0:
            self.become_worker(channel, control, request["memory_limit_gb"])
        os.close(channel)
        key = measure.backend_key(request["backend"])
        control.sendall(pickle.dumps({"ok": True, "pid": pid, "import_seconds": self.import_seconds.pop(key, 0.0)}))
        self.children[pid] = control

    def become_worker(self, channel: int, control: socket.socket, memory_limit_gb: float | None) -> None:
        from qbench import worker

        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for sock in (self.listener, control, *self.children.values()):
            sock.close()
        os.close(self.wakeup_read)
        if memory_limit_gb:
            limit = int(memory_limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            worker.serve(channel, channel)
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
    os.write(1, READY)
    os.dup2(2, 1)  # from here on stdout is the terminal's stderr, like a worker's
    zygote.serve(pipes.read_message(0))
    os._exit(0)  # nothing to clean up; tearing down every imported library would cost ~1 s


if __name__ == "__main__":
    main()
