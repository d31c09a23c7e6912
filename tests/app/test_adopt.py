"""A launch's jobs adopt what pre-flight composed (qbench.app.hydra_internals.SweepConfigLoader.adopt),
only where pre-flight composed from the very master config Hydra's sweeper gets, and then get
exactly the configs Hydra composes."""
import pickle
import time

import cloudpickle
import pytest
from hydra.types import HydraContext, RunMode
from omegaconf import OmegaConf

from qbench.app import hydra_internals
from qbench.app.sweep import compose_command, hydra_session, sweep_dir_override

COMMAND = ["backend=cirq,stim", "circuit=ghz,qft", "n_qubits=4,6", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


def hydras_master(loader, folder: str):
    """The master Hydra's app composes once the launch has added its folder (qbench.cli.launch)."""
    return loader.load_configuration("config", [*COMMAND, sweep_dir_override(folder), "hydra.mode=MULTIRUN"],
                                     run_mode=RunMode.MULTIRUN)


@pytest.fixture(autouse=True)
def forget_these_sweeps():
    """This process's composers and compose-ahead work of the sweeps a test made: gone after it, so
    no later test's compose_ahead() does them."""
    before = set(hydra_internals._ahead), set(hydra_internals._composers)
    yield
    for token in set(hydra_internals._ahead) - before[0]:
        del hydra_internals._ahead[token]
    for token in set(hydra_internals._composers) - before[1]:
        del hydra_internals._composers[token]


@pytest.fixture
def counted(monkeypatch):
    """How often Hydra composes a config, and parses an override line, from now on in this process."""
    calls = {"compositions": 0, "parses": 0}
    parse = hydra_internals.OverridesParser.parse_overrides

    def parse_counted(self, *args, **kwargs):
        calls["parses"] += 1
        return parse(self, *args, **kwargs)

    monkeypatch.setattr(hydra_internals.OverridesParser, "parse_overrides", parse_counted)
    return calls


def in_a_worker(launcher_side, calls):
    """The loader as a job's new process unpickles it (no composer of this sweep there yet), with
    its Hydra loader's compositions counted."""
    copy_ = pickle.loads(cloudpickle.dumps(launcher_side))
    hydra_internals._composers.pop(copy_.token, None)
    compose = copy_.loader.load_sweep_config

    def compose_counted(master, overrides):
        calls["compositions"] += 1
        return compose(master, overrides)

    copy_.loader.load_sweep_config = compose_counted
    return copy_


def launch_side(loader, expansion, master):
    launcher_side = hydra_internals.sweep_context(HydraContext(config_loader=loader, callbacks=None)).config_loader
    jobs = [point.overrides for point in expansion.points]
    launcher_side.expect(jobs)
    return launcher_side, launcher_side.adopt(expansion.master, expansion.compositions, master), jobs


def test_a_launch_composes_its_points_from_the_master_hydra_composes_once_the_folder_is_claimed():
    expansion = compose_command(COMMAND, multirun=True, launching=True)
    folder = str(expansion.master.hydra.sweep.dir)
    assert "${" not in folder and folder.startswith("outputs/bench_")
    with hydra_session() as loader:
        master = hydras_master(loader, folder)
    assert OmegaConf.to_container(expansion.master, resolve=False) == OmegaConf.to_container(master, resolve=False)
    assert len(expansion.compositions.groups) == 4 and len(expansion.points) == 8
    # not launching (qbench plan, rerun-failed): the master as the command gives it
    assert "${now:" in OmegaConf.to_container(compose_command(COMMAND, multirun=True).master)["hydra"]["sweep"]["dir"]


def test_the_jobs_of_the_predicted_master_adopt_pre_flights_work_and_get_hydras_own_configs(counted):
    expansion = compose_command(COMMAND, multirun=True, launching=True)
    time.sleep(1.1)  # Hydra's master resolves `now` a second later than pre-flight's did
    with hydra_session() as loader:
        master = hydras_master(loader, str(expansion.master.hydra.sweep.dir))
        launcher_side, adopted, jobs = launch_side(loader, expansion, master)
        assert adopted and launcher_side.adopted is not None
        assert OmegaConf.get_cache(master) != OmegaConf.get_cache(expansion.master)
        hydras = [loader.load_sweep_config(master, list(job)) for job in jobs]
        counted["parses"] = 0
        worker = in_a_worker(launcher_side, counted)
        for job, hydras_own in zip(jobs, hydras):
            got = worker.load_sweep_config(master, list(job))
            assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(hydras_own), job
            # the master's resolved values (`now`) as Hydra copies them into each job's config
            assert OmegaConf.get_cache(got) == OmegaConf.get_cache(hydras_own)
    assert counted == {"compositions": 0, "parses": 0}  # the worker composed and parsed nothing


def test_a_master_other_than_the_predicted_one_adopts_nothing(counted):
    """E.g. another sweep took the folder meanwhile: the launch claims `..._2`, so Hydra's master is not
    the one pre-flight composed from, and each job composes its own groups, as without pre-flight."""
    expansion = compose_command(COMMAND, multirun=True, launching=True)
    with hydra_session() as loader:
        master = hydras_master(loader, str(expansion.master.hydra.sweep.dir) + "_2")
        launcher_side, adopted, jobs = launch_side(loader, expansion, master)
        assert not adopted and launcher_side.adopted is None
        worker = in_a_worker(launcher_side, counted)
        for job in jobs:
            got = worker.load_sweep_config(master, list(job))
            assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(loader.load_sweep_config(master, list(job))), job
            assert got.hydra.sweep.dir == master.hydra.sweep.dir
    assert counted["compositions"] == 4  # once per choice set, in the worker


def test_compositions_too_large_to_carry_stay_in_the_launching_process(counted, monkeypatch):
    monkeypatch.setattr(hydra_internals, "ADOPTED_MAX_BYTES", 1000)
    expansion = compose_command(COMMAND, multirun=True, launching=True)
    with hydra_session() as loader:
        master = hydras_master(loader, str(expansion.master.hydra.sweep.dir))
        launcher_side, adopted, jobs = launch_side(loader, expansion, master)
        assert adopted and launcher_side.adopted is None  # adopted here, not pickled into every job
        worker = in_a_worker(launcher_side, counted)
        got = worker.load_sweep_config(master, list(jobs[0]))
        assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(loader.load_sweep_config(master, list(jobs[0])))
    assert counted["compositions"] == 1


def test_the_sweeper_hands_its_launcher_pre_flights_work_for_its_own_master():
    from hydra_plugins.qbench_plugins.basic_sweeper import QbenchBasicSweeper
    from qbench.app import state

    expansion = compose_command(COMMAND, multirun=True, launching=True)
    with hydra_session() as loader:
        sweeper = QbenchBasicSweeper(max_batch_size=None)
        sweeper.hydra_context = hydra_internals.sweep_context(HydraContext(config_loader=loader, callbacks=None))
        sweeper.config = hydras_master(loader, str(expansion.master.hydra.sweep.dir))
        state.set_preflight(expansion)
        try:
            sweeper.validate_batch_is_legal([point.overrides for point in expansion.points])
        finally:
            state.set_preflight(None)
    carried = pickle.loads(sweeper.hydra_context.config_loader.adopted)
    assert set(carried.groups) == set(expansion.compositions.groups)
