"""The fork server of a local sweep (qbench.execution.forkserver): each library imported once, a
fresh loaded worker forked per point, correct results, every fault still a record, and only what
the adapter declares forkable (on the CPU) is forked."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from omegaconf import OmegaConf

from qbench.app.hydra_internals import args_parser
from qbench.backends.base import RunSpec
from qbench.backends.registry import instantiate_backend
from qbench.circuits import canonical as circuits
from qbench.cli.preflight import preflight
from qbench.execution import forkserver, pool
from qbench.execution.workers import WorkerFailure
from tests.helpers import (PLUGIN_CONF, ROOT, assert_helper_killed_and_guardian_spared, assert_matches_reference,
                           wait_until_gone)


def sweep_points(*overrides: str):
    """The pre-flight points of `python -m qbench -m OVERRIDES`, as the CLI hands them to start_for."""
    expansion, problem = preflight(args_parser().parse_args(["-m", *overrides, f"hydra.searchpath=[file://{PLUGIN_CONF}]"]))
    assert problem is None, problem
    return expansion.points


def backend_config(points, name: str) -> dict:
    from omegaconf import OmegaConf

    return next(OmegaConf.to_container(p.cfg.backend, resolve=True) for p in points if p.cfg.backend.name == name)


def request(config: dict, n_qubits: int = 4) -> dict:
    return {"backend": config, "circuit": circuits.build("ghz", n_qubits, None, 42),
            "spec": RunSpec(shots=1000, seed=42, threads=1, noise={"name": "none", "strength": 0.0}),
            "execution": {"warmup_runs": 0, "repetitions": 2, "verify_max_qubits": 18, "heap": "default"}}


@pytest.fixture
def server():
    """start_for(points) as the CLI calls it; the servers stopped afterwards."""
    def start(*overrides: str):
        points = sweep_points(*overrides)
        forkserver.start_for(points)
        return points, forkserver.plan(points)
    yield start
    forkserver.stop()


def test_each_point_gets_a_fresh_fork_of_a_parent_that_imported_the_library_once(server):
    points, plan = server("backend=cirq", "n_qubits=4,6", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    cirq = backend_config(points, "cirq")
    assert plan == {(1, 0): {cirq["_target_"]: [cirq]}}  # 2 joblib workers on 2 cores: 1 thread each; replicate 0
    first, second = (forkserver.fork_worker(cirq, 1, None) for _ in range(2))
    try:
        assert first.pid != second.pid and first.pid != os.getpid()
        assert first.import_seconds > 0.1 and second.import_seconds == 0  # cirq imported once, in the server
        with pytest.raises(ChildProcessError):  # the server's children, not ours
            os.waitpid(first.pid, os.WNOHANG)
    finally:
        first.kill(), second.kill()
    for n_qubits in (4, 6):
        outcome = pool.run_isolated(request(cirq, n_qubits), 60, 1, None)
        assert outcome["worker"] == "forked" and outcome["import_seconds"] == 0
        assert_matches_reference(outcome, n_qubits, 1000)


def test_each_adapter_has_a_server_that_imported_its_library_alone(server):
    """Another library imported beside it changes a worker's heap (cirq's 20-qubit points fault
    twice as much): the cirq server must not have loaded qsim, nor the qsim server stim."""
    points, plan = server("backend=cirq,qsim,stim", "n_qubits=4", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert len(plan[1, 0]) == 3
    (root,) = forkserver._roots
    parents = wait_for_children(root.pid, 2)  # cirq and qsim share cirq's import: one parent for both
    forked = forkserver.fork_worker(backend_config(points, "stim"), 1, None)  # served once all have imported
    forked.kill()
    servers = {parent: children(parent) for parent in parents}
    assert sorted(len(found) for found in servers.values()) == [1, 2]
    maps = {pid: open(f"/proc/{pid}/maps").read() for found in servers.values() for pid in found}
    assert sum("qsimcirq" in text for text in maps.values()) == 1
    assert sum("/stim/" in text for text in maps.values()) == 1
    assert not any("qsimcirq" in text and "/stim/" in text for text in maps.values())
    (pair,) = [found for found in servers.values() if len(found) == 2]
    assert not any("/stim/" in maps[pid] for pid in pair)  # the shared parent imported cirq, nothing else


def test_adapters_sharing_modules_have_their_servers_forked_from_one_parent(server):
    """cirq is imported once for cirq's, qsim's and pennylane's servers (each of their libraries
    imports it anyway); qiskit-aer's and stim's servers each have a parent of their own. Every
    server still gives exact answers, and its first worker reports the whole import it cost."""
    points, plan = server("backend=cirq,qsim,pennylane,qiskit-aer,stim", "n_qubits=4", "hydra/launcher=joblib",
                          "hydra.launcher.n_jobs=2")
    for name in ("cirq", "qsim", "pennylane", "qiskit-aer", "stim"):  # served once every server has imported
        outcome = pool.run_isolated(request(backend_config(points, name)), 120, 1, None)
        assert outcome["worker"] == "forked", name
        assert_matches_reference(outcome, 4, 1000)
        if name != "stim":
            assert outcome["import_seconds"] > 0.05, name  # the shared import is charged to each server
    (root,) = forkserver._roots
    parents = wait_for_children(root.pid, 3)
    assert sorted(len(children(parent)) for parent in parents) == [1, 1, 3]


def test_a_forked_cirq_worker_faults_its_arrays_in_as_often_as_a_users_script(server):
    """glibc's default heap hands a run's freed state arrays back and faults them in again more or
    less often depending on what the process did since its library was imported: one small module
    of qbench's defined after cirq is enough to double it at 20 qubits (docs/PERFORMANCE.md, "A
    helper module is enough"). So the root imports every qbench module, the adapters' included,
    before any library, and a worker of the unit that shares cirq (its parent imported cirq before
    the cirq and qsim servers loaded their adapters) faults as often as a fresh script for the same
    point (bench/plain_loop.py --point). Page faults, not times: they carry none of the machine's
    noise. Before that order, 4570 faults a run against the script's 2000."""
    points, _ = server("backend=cirq,qsim", "n_qubits=20", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    point = request(backend_config(points, "cirq"), 20)
    point["execution"] = {"warmup_runs": 1, "repetitions": 3, "verify_max_qubits": 18, "heap": "default"}
    outcome = pool.run_isolated(point, 120, 1, None)
    assert outcome["worker"] == "forked"
    forked = outcome["execution_minor_faults"] / len(outcome["execution_times_seconds"])
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "plain_loop.py"), "--point", "cirq:20"],
                          capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    script = json.loads(done.stdout.splitlines()[-1])["page_faults_per_run"]
    # the script itself moves by one 2 MiB huge page (~510 faults) from one process to the next
    assert forked <= 1.3 * script + 100, (forked, script)


def test_servers_import_while_preflight_composes_and_serve_once_it_is_done():
    """What the launcher does (qbench.cli.launch): a server starts as soon as a composed point
    needs it, a server announced after its unit's parent started is forked by that parent, another
    option of a known adapter is loaded by its server, and nothing is forked before close()."""
    launcher = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    points = [*sweep_points("backend=qsim,cirq,stim", "n_qubits=4,6", *launcher),
              *sweep_points("backend=cirq", "backend.precision=double", "n_qubits=4,6", *launcher)]
    assert [p.cfg.backend.name for p in points] == ["qsim", "qsim", "cirq", "cirq", "stim", "stim", "cirq", "cirq"]
    servers = forkserver.Servers(wait_for=2)
    try:
        servers.add(points[0])
        assert forkserver._roots == []  # one point so far: a one-point sweep starts nothing
        servers.add(points[1])
        (root,) = forkserver._roots
        (parent,) = wait_for_children(root.pid, 1)  # qsim's unit (it shares cirq): importing during "pre-flight"
        wait_for_children(parent, 1)
        for point in points[2:]:
            servers.add(point)
        cirq = [OmegaConf.to_container(p.cfg.backend, resolve=True) for p in (points[2], points[6])]
        assert cirq[0]["precision"] == "single" and cirq[1]["precision"] == "double"
        assert forkserver.plan(points)[1, 0][cirq[0]["_target_"]] == cirq  # both options, one server
        assert forkserver.ADDRESS_ENV not in os.environ  # jobs cannot ask before close()
        servers.close()
        for config in (backend_config(points, "qsim"), *cirq, backend_config(points, "stim")):
            outcome = pool.run_isolated(request(config), 120, 1, None)
            assert outcome["worker"] == "forked", config
            assert_matches_reference(outcome, 4, 1000)
        parents = children(root.pid)
        # cirq's server came late to qsim's running unit and was forked by its parent; stim: a unit alone
        assert sorted(len(children(p)) for p in parents) == [1, 2]
    finally:
        forkserver.stop()


def test_a_job_waiting_for_its_server_does_its_idle_work_meanwhile(monkeypatch):
    """A request made while the sweep's servers import waits in the server's queue; the job calls
    its idle work (qbench's task: compose_ahead) until the worker is there, and no more once it is."""
    points = sweep_points("backend=stim", "n_qubits=4,6", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    stim = backend_config(points, "stim")
    servers = forkserver.Servers(wait_for=2)
    calls = []

    def idle_work():
        calls.append(time.monotonic())
        if len(calls) == 3:
            servers.close()  # every point known: the server serves once it has imported
        time.sleep(0.01)
        return len(calls) < 3000  # at most ~30 s of waiting
    try:
        for point in points:
            servers.add(point)
        monkeypatch.setenv(forkserver.ADDRESS_ENV, servers.prefix)  # close() sets it; asked before
        worker = forkserver.fork_worker(stim, 1, None, idle_work)
        assert worker is not None and 3 <= len(calls) < 3000
        worker.kill()
        called = len(calls)
        outcome = pool.run_isolated(request(stim), 60, 1, None, idle_work=lambda: calls.append(0) or False)
        assert outcome["worker"] == "forked" and len(calls) <= called + 1  # a spare was there: at most one call
        assert_matches_reference(outcome, 4, 1000)
    finally:
        forkserver.stop()


def test_a_sweeps_root_starts_from_its_master_config_before_any_point_is_composed():
    """The root of the master config's thread setting starts before pre-flight composes the first
    point (the slowest composition); the points' servers then start in it. A one-point sweep: none."""
    searchpath = f"hydra.searchpath=[file://{PLUGIN_CONF}]"
    launcher = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    servers = forkserver.Servers(wait_for=2)
    roots_at_first_point = []
    try:
        args = args_parser().parse_args(["-m", "backend=stim", "n_qubits=4", *launcher, searchpath])
        expansion, _ = preflight(args, on_point=servers.add, on_jobs=servers.expect)
        assert forkserver._roots == []  # one point: no server, no root
        args = args_parser().parse_args(["-m", "backend=stim", "n_qubits=4,6", *launcher, searchpath])
        expansion, problem = preflight(
            args, on_jobs=servers.expect,
            on_point=lambda point: roots_at_first_point.append(len(forkserver._roots)) or servers.add(point))
        assert problem is None and roots_at_first_point[0] == 1
        servers.close()
        assert len(forkserver._roots) == 1  # the points' thread setting was the master's
        outcome = pool.run_isolated(request(backend_config(expansion.points, "stim")), 60, 1, None)
        assert outcome["worker"] == "forked"
        assert_matches_reference(outcome, 4, 1000)
    finally:
        forkserver.stop()


SHARED_PROBE = "import importlib, json, sys; [importlib.import_module(m) for m in sys.argv[1].split(',')]; " \
               "print(json.dumps(sorted(m for m in sys.argv[2].split(',') if m in sys.modules)))"


@pytest.mark.parametrize("name", ["cirq", "qsim", "pennylane"])
def test_an_adapters_shared_modules_are_what_its_library_imports_anyway(name):
    """The declaration is checked against a fresh process: importing the adapter's own modules
    loads every module it says it shares, so its server holds nothing its library would not."""
    from pathlib import Path

    import yaml

    import qbench

    backend = instantiate_backend(yaml.safe_load((Path(qbench.__file__).parent / "conf" / "backend" / f"{name}.yaml").read_text()))
    assert backend.shared_modules and backend.forkable
    done = subprocess.run([sys.executable, "-c", SHARED_PROBE, ",".join(backend.modules), ",".join(backend.shared_modules)],
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == sorted(backend.shared_modules)


def test_a_forked_point_starts_from_the_servers_state_not_the_last_points(server):
    """A small point forked after a 20-qubit one needs what it needs alone: nothing of the large
    run is left in its process (glibc's default heap)."""
    points, _ = server("backend=cirq", "n_qubits=4,20", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    cirq = backend_config(points, "cirq")
    alone, large, after = (pool.run_isolated(dict(request(cirq, n), execution={**request(cirq, n)["execution"],
                                                                             "verify_max_qubits": 0}), 120, 1, None)
                           for n in (4, 20, 4))
    assert large["memory_run_mb"] - alone["memory_run_mb"] > 8  # 2^20 single-precision amplitudes
    assert abs(after["memory_run_mb"] - alone["memory_run_mb"]) < 2
    assert abs(after["memory_baseline_mb"] - alone["memory_baseline_mb"]) < 2
    assert {o["heap"] for o in (alone, large, after)} == {"default"}


def servers_of(root_pid: int, count: int) -> list[int]:
    """The pids of the servers below a root (root -> one parent per unit -> its servers)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [pid for parent in children(root_pid) for pid in children(parent)]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {count} servers below {root_pid}")


def the_spare(server_pid: int, not_pid: int | None = None, seconds: float = 60) -> int:
    """The one worker a server holds forked ahead, once the last point's worker is gone."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = children(server_pid)  # the last worker, until the server has reaped it, and the spare
        if len(found) == 1 and found[0] != not_pid:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"server {server_pid} holds no spare worker: children {children(server_pid)}")


def test_the_next_points_worker_is_forked_ahead_while_the_last_points_job_finishes(server):
    """Once a point's worker has ended, its server forks the next one at once, and hands the next
    point to it: that fork is not on the next point's path. A spare killed while it waits is
    replaced by a fork on demand; a spare ends with its server."""
    points, _ = server("backend=stim", "n_qubits=4,6", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    stim = backend_config(points, "stim")
    (root,) = forkserver._roots
    first = forkserver.fork_worker(stim, 1, None)  # the first point: forked on demand (no spare yet)
    (server_pid,) = servers_of(root.pid, 1)
    assert children(server_pid) == [first.pid]
    first.kill()
    spare = the_spare(server_pid, not_pid=first.pid)
    second = forkserver.fork_worker(stim, 1, None)
    assert second.pid == spare  # the point went to the worker forked ahead
    second.kill()
    for n_qubits in (4, 6):  # a handed-over spare measures exactly
        spare = the_spare(server_pid, not_pid=spare)
        outcome = pool.run_isolated(request(stim, n_qubits), 60, 1, None)
        assert outcome["worker"] == "forked"
        assert_matches_reference(outcome, n_qubits, 1000)
        assert wait_until_gone(spare)  # it served this point and ended
    spare = the_spare(server_pid, not_pid=spare)
    os.kill(spare, signal.SIGKILL)  # dies waiting: the next point is forked on demand
    assert wait_until_gone(spare)
    outcome = pool.run_isolated(request(stim, 4), 60, 1, None)
    assert outcome["worker"] == "forked"
    assert_matches_reference(outcome, 4, 1000)
    spare = the_spare(server_pid, not_pid=spare)
    forkserver.stop()
    assert wait_until_gone(spare) and wait_until_gone(server_pid)


def test_the_server_converts_a_small_circuit_before_any_worker_is_forked(server, tmp_path):
    """A library's first conversion builds what later ones reuse: the server does it once (only
    `prepare`, nothing simulated), so every worker starts with it done, then converts its own point."""
    log = tmp_path / "prepared.log"
    points, _ = server("backend=faulty", f"++backend.prepared_log={log}", "n_qubits=3,4", "hydra/launcher=joblib",
                       "hydra.launcher.n_jobs=2")
    faulty = backend_config(points, "faulty")
    (root,) = forkserver._roots
    worker = forkserver.fork_worker(faulty, 1, None)  # served once every server has loaded
    (server_pid,) = servers_of(root.pid, 1)
    worker.kill()
    assert log.read_text().split("\n")[:-1] == [f"{server_pid} 2"]  # the server's own conversion, 2 qubits
    outcome = pool.run_isolated(request(faulty, 3), 60, 1, None)
    assert outcome["worker"] == "forked"
    (server_line, point_line) = log.read_text().split("\n")[:-1]
    assert server_line == f"{server_pid} 2" and point_line.endswith(" 3") and point_line.split()[0] != str(server_pid)


def test_faults_in_a_forked_worker_become_failures(server):
    points, _ = server("backend=faulty", "++backend.fault=segfault,hang,allocate", "n_qubits=3",
                       "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    segfault, hang, allocate = (dict(backend_config(points, "faulty"), fault=f)
                                for f in ("segfault", "hang", "allocate"))
    with pytest.raises(WorkerFailure, match="SIGSEGV") as crash:
        pool.run_isolated(request(segfault), 30, 1, None)
    assert crash.value.status == "error"

    start = time.monotonic()
    with pytest.raises(WorkerFailure) as timeout:
        pool.run_isolated(request(hang), 1.5, 1, None)
    assert timeout.value.status == "timeout" and "timeout_per_run=1.5s" in timeout.value.message
    assert time.monotonic() - start < 30  # killed at its timeout, not left to the fault's hour-long sleep

    with pytest.raises(WorkerFailure) as memory:  # the cap is set in the forked child too
        pool.run_isolated(request(allocate), 30, 1, 4)
    assert memory.value.error_type == "MemoryError"


def test_a_forked_worker_killed_at_its_timeout_takes_its_helpers_with_it(server, tmp_path):
    """A helper the worker started without a death signal (as LRET's quantum_sim is, in the ~1 ms
    before setpriv sets it) must not outlive a worker killed at its timeout."""
    points, _ = server("backend=faulty", "++backend.fault=hang_with_helper", "n_qubits=3",
                       "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    pid_file = tmp_path / "helper.pid"
    hang = dict(backend_config(points, "faulty"), helper_pid_file=str(pid_file))
    with pytest.raises(WorkerFailure) as timeout:
        pool.run_isolated(request(hang), 3, 1, None)
    assert timeout.value.status == "timeout"
    assert_helper_killed_and_guardian_spared(pid_file)


def test_only_what_the_adapter_declares_forkable_is_forked(server):
    points, plan = server("backend=cirq,quest-v3,quest,lret-phase7,cuquantum", "n_qubits=4",
                          "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert [config["name"] for configs in plan[1, 0].values() for config in configs] == ["cirq"]
    for name in ("quest-v3", "quest", "lret-phase7", "cuquantum"):  # helper processes, the GPU
        assert instantiate_backend(backend_config(points, name)).forkable is False
        assert forkserver.fork_worker(backend_config(points, name), 1, None) is None
    gpu = dict(backend_config(points, "cirq"), device="GPU")
    assert forkserver.fork_worker(gpu, 1, None) is None                      # CUDA does not survive a fork
    assert forkserver.fork_worker(backend_config(points, "cirq"), 2, None) is None  # no server at 2 threads
    forked = forkserver.fork_worker(backend_config(points, "cirq"), 1, None)
    assert forked is not None and forked.alive()
    forked.kill()
    assert not forked.alive() and forked.wait() == -signal.SIGKILL
    assert wait_until_gone(forked.pid)


def children(pid: int) -> list[int]:
    return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]


def wait_for_children(pid: int, count: int, seconds: float = 60) -> list[int]:
    """The pids of `pid`'s children once there are `count`; the limit only bounds a failure."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = children(pid)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{pid} has no {count} children after {seconds} s")


def test_each_replicate_has_a_root_of_its_own(server):
    """A point's replicates (execution.replicate) fork from servers of separate roots, fresh
    interpreters, so that each replicate is a draw of its own of the servers' heaps; both answer."""
    points, plan = server("execution.replicate=range(2)", "backend=stim", "n_qubits=4", "hydra/launcher=joblib",
                          "hydra.launcher.n_jobs=2")
    stim = backend_config(points, "stim")
    assert plan == {(1, 0): {stim["_target_"]: [stim]}, (1, 1): {stim["_target_"]: [stim]}}
    assert len(forkserver._roots) == 2
    for replicate in (0, 1):
        worker = forkserver.fork_worker(stim, 1, None, replicate=replicate)
        assert worker is not None, replicate
        worker.kill()
    for replicate in (0, 1):
        outcome = pool.run_isolated({**request(stim), "execution": {**request(stim)["execution"],
                                                                    "replicate": replicate}}, 60, 1, None)
        assert outcome["worker"] == "forked"
        assert_matches_reference(outcome, 4, 1000)
    # each root forked a parent of its own for stim's server: two roots, one unit parent each
    assert [len(wait_for_children(root.pid, 1)) for root in forkserver._roots] == [1, 1]


def test_a_root_serves_only_once_every_other_root_has_imported():
    """forkroot.Root.wait_for_peers: a root whose servers have imported ends its own pipe, then
    waits while another root still holds the write end of its pipe (still importing), and goes on
    once that one is closed (imported, or dead)."""
    import socket
    import threading

    from qbench.execution.forkroot import Root

    (own_read, own_write), (peer_read, peer_write) = os.pipe(), os.pipe()
    channel, _other = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    root = Root(channel, own_write)
    root.peers = [own_read, peer_read]
    waiting = threading.Thread(target=root.wait_for_peers)
    waiting.start()
    waiting.join(1.0)
    assert waiting.is_alive()  # the peer still imports
    with pytest.raises(OSError):
        os.fstat(own_write)  # ... while this root's own pipe is already ended
    os.close(peer_write)
    waiting.join(10.0)
    assert not waiting.is_alive()


def test_a_server_whose_root_is_gone_ends_quietly():
    """A refused pre-flight stops the roots while their servers import: a server then finds its
    "imported" pipe broken, and ends (exit 0) instead of raising into the sweep's stderr."""
    import socket

    from qbench.execution.serverloop import serve_group

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    imported_read, imported_write = os.pipe()
    go_read, go_write = os.pipe()
    os.close(imported_read)  # the root is gone
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            serve_group([], listener.fileno(), imported_write, go_read, 0.0)
        except BaseException:  # noqa: BLE001 - what the fix prevents: this child must not go on as pytest
            code = 3
        finally:
            os._exit(code)
    os.close(imported_write), os.close(go_read), os.close(go_write)
    listener.close()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_replicates_beyond_the_cap_share_the_first_replicates_roots():
    """Each set of roots holds every library of the sweep (~420 MB for five): replicates 0 to
    REPLICATE_ROOTS - 1 get their own, replicate k the roots of k % REPLICATE_ROOTS."""
    cap = forkserver.REPLICATE_ROOTS
    plan = forkserver.plan(sweep_points(f"execution.replicate=range({cap + 2})", "backend=stim", "n_qubits=4",
                                        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"))
    assert sorted(plan) == [(1, replicate) for replicate in range(cap)]
    assert forkserver.address_for("p", 1, "t", cap + 1) == forkserver.address_for("p", 1, "t", 1) != \
        forkserver.address_for("p", 1, "t", 0)


def test_a_non_forkable_adapter_runs_in_a_spawned_worker(server):
    points, _ = server("backend=cirq,quest-v3", "n_qubits=4", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    quest = backend_config(points, "quest-v3")
    if instantiate_backend(quest).available():
        pytest.skip(instantiate_backend(quest).available())
    quest_request = request(quest)
    quest_request["spec"] = RunSpec(shots=1000, seed=42, threads=1, noise={"name": "none", "strength": 0.0})
    outcome = pool.run_isolated(quest_request, 120, 1, None)
    assert outcome["worker"] == "spawned" and outcome["import_seconds"] > 0  # it started its own QuEST
    assert outcome["verification"]["fidelity"] >= 1 - 1e-6


def test_no_server_for_a_sweep_that_runs_elsewhere_or_in_process():
    assert forkserver.plan(sweep_points("backend=cirq,stim", "n_qubits=4", "execution.isolation=none")) == {}
    assert forkserver.plan(sweep_points("backend=cirq", "n_qubits=4,6", "hydra/launcher=submitit_slurm")) == {}


def test_the_server_ends_with_its_launching_process(tmp_path):
    """stop() ends it; so does the launcher's death (SIGKILL leaves no chance to call stop())."""
    probe = ("import sys, json; from qbench.app.hydra_internals import args_parser; "
             "from qbench.cli.preflight import preflight; from qbench.execution import forkserver; "
             "points = preflight(args_parser().parse_args(['-m', 'backend=stim', 'n_qubits=3,4']))[0].points; "
             "forkserver.start_for(points); print(json.dumps([s.pid for s in forkserver._roots]), flush=True); "
             "sys.stdin.read()")
    launcher = subprocess.Popen([sys.executable, "-c", probe], cwd=tmp_path, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    (root_pid,) = json.loads(launcher.stdout.readline())
    (parent,) = wait_for_children(root_pid, 1)  # the root, the parent of stim's server, the server
    servers = wait_for_children(parent, 1)
    launcher.kill()
    launcher.wait()
    for pid in (root_pid, parent, *servers):  # their death signals: the launcher had no chance to stop() them
        assert wait_until_gone(pid)


def test_stop_ends_the_servers_and_jobs_then_spawn(server):
    points, _ = server("backend=stim", "n_qubits=3,4", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    (process,) = forkserver._roots
    forkserver.stop()
    assert process.poll() is not None and forkserver.ADDRESS_ENV not in os.environ
    assert forkserver.fork_worker(backend_config(points, "stim"), 1, None) is None
    outcome = pool.run_isolated(request(backend_config(points, "stim")), 60, 1, None)
    assert outcome["worker"] == "spawned"


FORKABLE = ["cirq", "qiskit-aer", "qsim", "pennylane", "stim"]
THREAD_PROBE = r"""
import json, os, sys, yaml
from qbench.backends.registry import instantiate_backend
from qbench.execution.serverloop import first_conversion
backend = instantiate_backend(yaml.safe_load(open(sys.argv[1])))
backend.load()
first_conversion(backend)  # what the server does before it forks any worker
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
maps = open("/proc/self/maps").read()
print(json.dumps({"forkable": backend.forkable, "threads": names, "openmp": "libgomp" in maps or "libomp" in maps}))
"""


@pytest.mark.parametrize("name", FORKABLE)
def test_a_forkable_adapters_import_starts_no_thread_its_child_would_need(name):
    """After fork only the forking thread exists in the child. At a sweep worker's settings
    (1 thread), loading a forkable adapter and its server's first conversion may start no thread
    but jemalloc's background purger (pyarrow's allocator, which pandas imports; jemalloc
    re-initialises itself in a forked child)."""
    from pathlib import Path

    import qbench

    config = Path(qbench.__file__).parent / "conf" / "backend" / f"{name}.yaml"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", THREAD_PROBE, str(config)], capture_output=True, text=True,
                          env=env, check=True)
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["forkable"] is True
    others = [t for t in found["threads"] if t != "jemalloc_bg_thd"]
    assert len(others) == 1, found["threads"]  # the main thread alone: no OpenMP or BLAS pool started
