"""Workers forked by the sweep's zygote (qbench.zygote): loaded once, correct, and every fault still a record."""
import os
import time

import pytest
from omegaconf import OmegaConf

from qbench.circuits import canonical as circuits
from qbench.execution import workers as worker
from qbench.execution import forkserver as zygote
from qbench.backends.base import RunSpec
from tests.helpers import PLUGIN_CONF, assert_matches_reference

CONF = os.path.join(os.path.dirname(zygote.__file__), "conf", "backend")


def backend(name: str, **options) -> dict:
    path = PLUGIN_CONF / "backend" / f"{name}.yaml" if name == "faulty" else os.path.join(CONF, f"{name}.yaml")
    return {**OmegaConf.to_container(OmegaConf.load(path)), **options}


def request(config: dict, n_qubits: int = 4) -> dict:
    return {"backend": config, "circuit": circuits.build("ghz", n_qubits, None, 42),
            "spec": RunSpec(shots=1000, seed=42, threads=1, noise={"name": "none", "strength": 0.0}),
            "execution": {"warmup_runs": 0, "repetitions": 2, "verify_max_qubits": 18}}


@pytest.fixture
def zygote_with():
    worker.shutdown_pool()  # workers earlier in-process tests left in this process's pool

    def start(configs, threads=1):
        zygote.start(configs, threads)
        return zygote._started
    yield start
    worker.shutdown_pool()
    zygote.stop()


def test_forked_worker_is_preloaded_and_matches_the_reference(zygote_with):
    cirq = backend("cirq")
    zygote_with([cirq])
    first = worker.run_isolated(request(cirq, 4), 60, 1, None)
    (forked,) = worker._POOL.values()
    assert isinstance(forked, worker.ForkedWorker)
    with pytest.raises(ChildProcessError):  # the zygote's child, not ours
        os.waitpid(forked.pid, os.WNOHANG)
    assert_matches_reference(first, 4, 1000)
    assert first["import_seconds"] > 0.1  # cirq's import in the zygote, reported with the first run
    second = worker.run_isolated(request(cirq, 6), 60, 1, None)
    assert_matches_reference(second, 6, 1000)
    assert second["import_seconds"] == 0 and list(worker._POOL.values()) == [forked]


def test_faults_in_a_forked_worker(zygote_with):
    segfault, hang = backend("faulty", fault="segfault"), backend("faulty", fault="hang")
    allocate = backend("faulty", fault="allocate")
    zygote_with([segfault])
    with pytest.raises(worker.WorkerFailure, match="SIGSEGV") as crash:
        worker.run_isolated(request(segfault), 30, 1, None)
    assert crash.value.status == "error"

    start = time.monotonic()
    with pytest.raises(worker.WorkerFailure) as timeout:
        worker.run_isolated(request(hang), 1.5, 1, None)
    assert timeout.value.status == "timeout" and time.monotonic() - start < 5

    with pytest.raises(worker.WorkerFailure) as memory:
        worker.run_isolated(request(allocate), 30, 1, 4)
    assert memory.value.error_type == "MemoryError"
    assert worker._POOL == {}  # every failed worker was dropped, none is left behind


def test_only_forkable_backends_at_the_zygotes_threads_are_forked(zygote_with):
    cirq = backend("cirq")
    zygote_with([cirq], threads=1)
    assert zygote.fork_worker(cirq, threads=2, memory_limit_gb=None) is None      # other OMP settings
    assert zygote.fork_worker(backend("quest"), 1, None) is None                   # load() starts a process
    assert zygote.fork_worker(backend("cirq", device="GPU"), 1, None) is None      # CUDA cannot be forked
    forked = zygote.fork_worker(cirq, 1, None)
    assert forked is not None and forked.alive()
    forked.kill()
    assert not forked.alive() and forked.wait() == -9


def test_zygote_ends_with_its_launching_process(zygote_with):
    process = zygote_with([backend("stim")])
    assert process.poll() is None
    zygote.stop()
    assert process.poll() is not None and zygote.ADDRESS_ENV not in os.environ
    assert zygote.fork_worker(backend("stim"), 1, None) is None  # no zygote: a spawned worker is used


def test_preloads_stream_in_and_the_first_fixes_the_thread_settings(zygote_with):
    worker.shutdown_pool()
    zygote.spawn()  # as the CLI does, before anything is composed
    try:
        assert zygote.preload(backend("stim"), threads=1)
        assert not zygote.preload(backend("cirq"), threads=2)  # other settings: its jobs spawn workers
        zygote.serve()
        assert os.environ[zygote.THREADS_ENV] == "1"
        forked = zygote.fork_worker(backend("stim"), 1, None)
        assert forked is not None and forked.import_seconds > 0  # stim was imported by the zygote
        forked.kill()
    finally:
        zygote.stop()


def test_bad_input_stops_the_early_zygote_at_once(tmp_path):
    """The CLI starts the zygote before composing; a sweep that fails pre-flight leaves none behind."""
    import subprocess
    import sys

    started = time.monotonic()
    cli = subprocess.Popen([sys.executable, "-m", "qbench", "-m", "backend=cirq,nope", "n_qubits=4,6"],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = cli.communicate(timeout=60)
    assert cli.returncode == 2 and stderr.count("\n") == 1 and "unknown backend 'nope'" in stderr
    assert time.monotonic() - started < 10  # not held up by the zygote's cirq import
    left = subprocess.run(["pgrep", "-f", f"qbench-zygote-{cli.pid}-"], capture_output=True, text=True)
    assert left.stdout == ""
    assert not (tmp_path / "outputs").exists()


def test_what_the_zygote_imports_before_the_thread_settings_loads_no_native_thread_pool():
    """NumPy (OpenBLAS) and the OpenMP runtime read their thread counts once, when loaded: anything
    imported before the sweep's settings arrive must load neither."""
    import subprocess
    import sys

    probe = ("import sys; from qbench.zygote import THREAD_FREE_IMPORTS as names; [__import__(n) for n in names]; "
             "import pathlib; maps = pathlib.Path('/proc/self/maps').read_text(); "
             "print(len(names), 'numpy' in sys.modules, 'libgomp' in maps or 'libomp' in maps, 'openblas' in maps)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [str(len(zygote.THREAD_FREE_IMPORTS)), "False", "False", "False"]
