"""qbench.app.hydra_internals.SweepComposer composes exactly what Hydra's own load_sweep_config composes."""
import pytest
from hydra.types import HydraContext, RunMode
from omegaconf import OmegaConf

from qbench.app.hydra_internals import SweepComposer, sweep_composer
from qbench.app.sweep import hydra_session

JOBS = [
    ["backend=cirq", "circuit=ghz", "n_qubits=4"],
    ["backend=cirq", "circuit=ghz", "n_qubits=6"],           # same choices, another value: the cached path
    ["n_qubits=8", "backend=qiskit-aer", "circuit=qft"],      # order of overrides kept in hydra.overrides.task
    ["backend=qsim", "backend.threads=2", "circuit=random", "circuit.depth=3", "n_qubits=5"],
    ["backend=stim", "noise=depolarizing", "noise.strength=0.05", "execution=quick", "n_qubits=3"],
    ["backend=pennylane", "+extra=1", "n_qubits=4"],          # a new key
    ["backend=cirq", "~execution.gpus", "n_qubits=4"],        # a deleted key
]


@pytest.fixture(scope="module")
def loader_and_master():
    with hydra_session() as loader:  # cleared on exit: later tests initialize Hydra themselves
        master = loader.load_configuration("config", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                                           run_mode=RunMode.MULTIRUN)
        yield loader, master


def test_the_fast_composer_is_in_use_with_this_hydra(loader_and_master):
    # hydra-core is pinned: its internals are where qbench looks for them (else: the public path, slower)
    assert isinstance(sweep_composer(loader_and_master[0]), SweepComposer)


def test_composer_equals_hydra_for_every_kind_of_override(loader_and_master):
    loader, master = loader_and_master
    composer = sweep_composer(loader)
    for job in JOBS:
        expected = loader.load_sweep_config(master, list(job))
        got = composer.load_sweep_config(master, job)
        assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(expected), job
        assert list(got.hydra.overrides.task) == job
        assert OmegaConf.is_struct(got) == OmegaConf.is_struct(expected)
    assert len(composer._by_choices) < len(JOBS)  # the groups were composed fewer times than jobs


def test_composer_raises_what_hydra_raises(loader_and_master):
    loader, master = loader_and_master
    composer = sweep_composer(loader)
    for job in (["backend=nope"], ["backend=cirq", "no_such_key=1"], ["n_qubits=[1"]):
        with pytest.raises(Exception) as expected:
            loader.load_sweep_config(master, job)
        with pytest.raises(type(expected.value)):
            composer.load_sweep_config(master, job)


def test_composed_configs_do_not_share_state(loader_and_master):
    loader, master = loader_and_master
    composer = sweep_composer(loader)
    first = composer.load_sweep_config(master, ["backend=cirq", "n_qubits=4"])
    second = composer.load_sweep_config(master, ["backend=cirq", "n_qubits=6"])
    assert (first.n_qubits, second.n_qubits) == (4, 6)


def test_the_sweeper_skips_only_the_jobs_pre_flight_composed(loader_and_master):
    from hydra.types import HydraContext

    from hydra_plugins.qbench_plugins.basic_sweeper import QbenchBasicSweeper
    from qbench.app import state
    from qbench.app.sweep import Expansion, Point

    loader, master = loader_and_master
    sweeper = QbenchBasicSweeper(max_batch_size=None)
    sweeper.hydra_context, sweeper.config = HydraContext(config_loader=loader, callbacks=None), master
    # A point pre-flight "validated" that does not compose: skipped, so it is never composed here.
    state.set_preflight(Expansion(master, [Point(["backend=validated-elsewhere"], None)]))
    try:
        sweeper.validate_batch_is_legal([["backend=validated-elsewhere"]])
        with pytest.raises(Exception, match="nope"):  # not among pre-flight's points: composed, and refused
            sweeper.validate_batch_is_legal([["backend=validated-elsewhere"], ["backend=nope"]])
        state.set_preflight(None)
        with pytest.raises(Exception, match="validated-elsewhere"):
            sweeper.validate_batch_is_legal([["backend=validated-elsewhere"]])
    finally:
        state.set_preflight(None)


def test_the_launchers_loader_composes_as_hydra_and_keeps_its_groups_across_pickled_jobs(loader_and_master):
    """Hydra's launchers pickle the sweeper's context into every job (joblib's workers, SLURM jobs);
    each copy of the SweepConfigLoader finds the composer its process already filled."""
    import pickle

    import cloudpickle

    from qbench.app import hydra_internals
    from qbench.app.hydra_internals import SweepConfigLoader, sweep_context

    loader, master = loader_and_master
    context = sweep_context(HydraContext(config_loader=loader, callbacks=None))
    assert isinstance(context.config_loader, SweepConfigLoader)
    assert sweep_context(context).config_loader is context.config_loader  # wrapped once
    copies = [pickle.loads(cloudpickle.dumps(context.config_loader)) for _ in JOBS]
    for copy_, job in zip(copies, JOBS):
        got = copy_.load_sweep_config(master, list(job))
        assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(loader.load_sweep_config(master, list(job))), job
    composer = hydra_internals._composers[context.config_loader.token]
    assert isinstance(composer, SweepComposer) and len(composer._by_choices) < len(JOBS)
    assert copies[0].get_group_options("backend") == loader.get_group_options("backend")


def test_a_waiting_job_composes_the_groups_of_its_workers_later_jobs_ahead(loader_and_master):
    """The sweeper tells the launcher's loader the batch; in a worker, the first job's wait for its
    fork server composes every other choice set (compose_ahead), so the later jobs compose none,
    and get the very configs Hydra composes."""
    import pickle

    import cloudpickle

    from qbench.app import hydra_internals
    from qbench.app.hydra_internals import compose_ahead, sweep_context

    loader, master = loader_and_master
    launcher_side = sweep_context(HydraContext(config_loader=loader, callbacks=None)).config_loader
    launcher_side.expect(JOBS)
    assert len(launcher_side.choice_sets) == 6  # JOBS[0] and JOBS[1] share theirs
    job_copy = pickle.loads(cloudpickle.dumps(launcher_side))  # what a joblib worker unpickles
    hydras = [OmegaConf.to_yaml(loader.load_sweep_config(master, list(job))) for job in JOBS]
    first = job_copy.load_sweep_config(master, list(JOBS[0]))
    composer = hydra_internals._composers[job_copy.token]
    hydra_compositions = []
    real = composer.loader.load_sweep_config
    composer.loader.load_sweep_config = lambda m, o: hydra_compositions.append(o) or real(m, o)
    calls = 0
    while compose_ahead():
        calls += 1
    assert calls == 5 and len(hydra_compositions) == 5 and compose_ahead() is False
    for job, hydras_own in zip(JOBS[1:], hydras[1:]):
        got = pickle.loads(cloudpickle.dumps(launcher_side)).load_sweep_config(master, list(job))
        assert OmegaConf.to_yaml(got) == hydras_own, job
    assert len(hydra_compositions) == 5  # the later jobs composed no group
    assert OmegaConf.to_yaml(first) == hydras[0]


def test_a_choice_set_that_does_not_compose_is_left_to_its_own_job(loader_and_master):
    import pickle

    import cloudpickle

    from qbench.app.hydra_internals import compose_ahead, sweep_context

    loader, master = loader_and_master
    launcher_side = sweep_context(HydraContext(config_loader=loader, callbacks=None)).config_loader
    launcher_side.expect([["backend=cirq"], ["backend=nope"]])
    job_copy = pickle.loads(cloudpickle.dumps(launcher_side))
    job_copy.load_sweep_config(master, ["backend=cirq"])
    assert compose_ahead() is True and compose_ahead() is False  # tried, and dropped without raising
    with pytest.raises(Exception, match="nope"):  # its job reports it, as Hydra does
        job_copy.load_sweep_config(master, ["backend=nope"])
