"""Measurement probe of bench/job_cpu.py, never imported by qbench: that benchmark puts this folder on
its sweep's PYTHONPATH, so Python runs this file at the start of every process of the sweep.

In a joblib (loky) worker only, it wraps the stages of Hydra's stock job path and qbench's parts of
a job with thread-CPU timers, and after every job writes the sums of this worker to
$QBENCH_JOB_CPU_DIR/<pid>.json. The wrappers call what they wrap unchanged. A stage whose name is
missing in another Hydra or qbench version is listed under "missing" instead of timed.
"""
import json
import os
import time

OUT = os.environ.get("QBENCH_JOB_CPU_DIR")


def _is_loky_worker() -> bool:
    try:
        with open("/proc/self/cmdline", "rb") as cmdline:
            return b"joblib.externals.loky" in cmdline.read()
    except OSError:
        return False


def _install() -> None:
    import importlib

    sums = {"jobs": 0, "missing": []}
    started = time.process_time()  # interpreter start to here (sys.path, site)

    def wrap(owner, name: str, stage: str, after=None) -> None:
        original = getattr(owner, name, None)
        if original is None:
            sums["missing"].append(f"{getattr(owner, '__name__', owner)}.{name}")
            return

        def timed(*args, **kwargs):
            begin = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                sums[stage] = sums.get(stage, 0.0) + time.thread_time() - begin
                if after is not None:
                    after()

        setattr(owner, name, staticmethod(timed) if isinstance(owner.__dict__.get(name), staticmethod) else timed)

    def job_ended() -> None:
        sums["jobs"] += 1
        sums["process"] = time.process_time()
        with open(os.path.join(OUT, f"{os.getpid()}.json"), "w") as out:
            json.dump(sums, out)

    # Imported now rather than by the first job's unpickling: their cost is the worker's start either way.
    modules = {}
    for name in ("hydra_plugins.hydra_joblib_launcher._core", "hydra.core.utils", "hydra.core.singleton",
                 "hydra.core.hydra_config", "qbench.app.hydra_internals", "qbench.execution.runner"):
        try:
            modules[name] = importlib.import_module(name)
        except ImportError:
            sums["missing"].append(name)
    sums["start"] = time.process_time() - started
    core, utils = modules.get("hydra_plugins.hydra_joblib_launcher._core"), modules.get("hydra.core.utils")
    if core is not None:
        wrap(core, "execute_job", "job", after=job_ended)
        wrap(core, "run_job", "run_job")
    if utils is not None:
        wrap(utils, "_save_config", "save_config")
        wrap(utils, "configure_log", "configure_log")
    if "hydra.core.singleton" in modules:
        wrap(modules["hydra.core.singleton"].Singleton, "set_state", "set_state")
    if "hydra.core.hydra_config" in modules:
        wrap(modules["hydra.core.hydra_config"].HydraConfig, "set_config", "set_config")
    internals = modules.get("qbench.app.hydra_internals")
    if internals is not None:
        wrap(internals.SweepConfigLoader, "load_sweep_config", "compose")
        wrap(internals, "compose_ahead", "compose_ahead")
    if "qbench.execution.runner" in modules:
        wrap(modules["qbench.execution.runner"], "run_point", "run_point")


if OUT and _is_loky_worker():
    _install()
