"""qbench's own processes and Python's garbage collector: frozen, and every exit handler still run."""
import subprocess
import sys
import textwrap


def test_a_settled_worker_freezes_now_and_again_before_its_other_exit_handlers_run(tmp_path):
    script = textwrap.dedent(f"""
        import atexit, gc, logging
        from qbench.execution import collector

        log = logging.getLogger("worker")
        log.addHandler(logging.FileHandler({str(tmp_path / "worker.log")!r}))
        collector.settle_worker()
        frozen_by_the_first_job = gc.get_freeze_count()
        collector.settle_worker()  # a later job: nothing more
        assert gc.get_freeze_count() == frozen_by_the_first_job > 0
        gc.unfreeze()
        log.warning("the job's last line")
        # registered after settle_worker, so it runs before its exit handler, and this one after it
        atexit.register(lambda: open({str(tmp_path / "before")!r}, "w").write(str(gc.get_freeze_count())))
    """)
    epilogue = f"""
import atexit, gc
atexit.register(lambda: open({str(tmp_path / "after")!r}, "w").write(str(gc.get_freeze_count())))
"""
    done = subprocess.run([sys.executable, "-c", epilogue + script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int((tmp_path / "before").read_text()) == 0  # the freeze at exit comes after the handlers registered later
    assert int((tmp_path / "after").read_text()) > 0  # and before those registered earlier
    assert (tmp_path / "worker.log").read_text() == "the job's last line\n"  # logging's own exit handler ran


def test_freeze_long_lived_leaves_later_objects_to_the_collector():
    script = textwrap.dedent("""
        import gc
        from qbench.execution import collector

        collector.freeze_long_lived()
        frozen = gc.get_freeze_count()
        cycle = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # the cycle made after the freeze is still found and freed
        assert gc.get_freeze_count() == frozen
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
