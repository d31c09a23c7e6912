"""A loky worker's exit: its objects left out of the last garbage collection, every exit handler run."""
import subprocess
import sys
import textwrap


def test_skip_final_collection_freezes_before_the_other_exit_handlers_run(tmp_path):
    script = textwrap.dedent(f"""
        import atexit, gc, logging
        from qbench.execution import lifetime

        log = logging.getLogger("worker")
        log.addHandler(logging.FileHandler({str(tmp_path / "worker.log")!r}))
        log.warning("the job's last line")
        # registered before the freeze, so it runs after it (exit handlers run last-in first-out)
        atexit.register(lambda: open({str(tmp_path / "frozen")!r}, "w").write(str(gc.get_freeze_count())))
        lifetime.skip_final_collection()
        lifetime.skip_final_collection()  # once per process, however many jobs ask
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int((tmp_path / "frozen").read_text()) > 0  # what the process held: out of the last collection
    assert (tmp_path / "worker.log").read_text() == "the job's last line\n"  # logging's own exit handler ran
