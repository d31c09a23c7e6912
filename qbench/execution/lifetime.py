"""No process qbench starts outlives the sweep that started it.

- The launching process, on SIGINT/SIGTERM, kills every process below it (`kill_descendants`).
- A process qbench spawns asks the kernel to SIGKILL it when its parent dies
  (`die_with_parent`, PR_SET_PDEATHSIG): isolated workers, the fork server and its forks,
  QuEST's interpreter. A SIGKILLed launcher cannot clean up, so this is what ends them.
- Hydra's joblib launcher starts its loky workers itself; a job in such a worker runs
  `watch_parent` once, a thread that ends the worker (and its own children) within
  ~0.5 s of the launching process's death.
Linux only (/proc, prctl); elsewhere these do nothing.
"""
from __future__ import annotations

import os
import signal
import threading
import time

from qbench.backends.subprocesses import die_with_parent

__all__ = ["die_with_parent", "kill_descendants", "watch_parent"]
POLL_SECONDS = 0.5
_watching = False


def _children() -> dict[int, list[int]]:
    by_parent: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return by_parent
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
                ppid = int(f.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        by_parent.setdefault(ppid, []).append(int(entry))
    return by_parent


def descendants(pid: int) -> list[int]:
    by_parent, found, queue = _children(), [], [pid]
    while queue:
        for child in by_parent.get(queue.pop(), ()):
            found.append(child)
            queue.append(child)
    return found


def kill_descendants(pid: int | None = None, session: int | None = None) -> int:
    """SIGKILL every process below `pid` (default: this one), twice over for any started meanwhile;
    with `session`, only those in that session (one that made a session of its own is spared)."""
    pid = os.getpid() if pid is None else pid
    killed = set()
    for _ in range(2):
        for child in descendants(pid):
            if child not in killed:
                try:
                    if session is None or os.getsid(child) == session:
                        os.kill(child, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                killed.add(child)
    return len(killed)


def watch_parent() -> None:
    """In a process some launcher started (a loky worker): once the parent is gone, kill this
    process's children and exit. Started once per process; a no-op in the launching process."""
    global _watching
    parent = os.getppid()
    if _watching or parent <= 1:
        return
    _watching = True

    def watch():
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        kill_descendants()
        os._exit(1)

    threading.Thread(target=watch, name="qbench-parent-watch", daemon=True).start()
