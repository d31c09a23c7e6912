"""Hydra's basic sweeper, without composing every job a second time to validate the batch.

Hydra's BasicSweeper composes each job of a batch in the launching process only to check
that it composes, and each job composes it again. qbench's pre-flight (`qbench.cli.preflight`)
has already composed and validated every point of this very command, and hands its expansion
over through `qbench.app.state.preflight()`: a job that is one of those points is not composed
again. Any other job is checked through `qbench.app.hydra_internals.sweep_composer` (groups
composed once per distinct set of choices where Hydra's internals allow it). The launcher gets
the sweeper's context with a `SweepConfigLoader` (`sweep_context`), so its jobs compose the same
way; where pre-flight composed from the very master config Hydra gave this sweeper, the jobs take
its compositions instead (`SweepConfigLoader.adopt`).

Its base is Hydra's BasicSweeper, found through `qbench.app.hydra_internals.basic_sweeper_class`
(imported where Hydra 1.3 keeps it, else where Hydra's own `hydra/sweeper=basic` config says it
is); it overrides one method of it, and if that method is renamed, Hydra's own validation runs
instead (slower, the same result).
"""
from __future__ import annotations

from typing import Sequence

from qbench.app.hydra_internals import SweepConfigLoader, basic_sweeper_class, sweep_composer, sweep_context


class QbenchBasicSweeper(basic_sweeper_class()):
    def setup(self, *, hydra_context, task_function, config) -> None:
        # the launcher's jobs compose their configs through this context's loader
        super().setup(hydra_context=sweep_context(hydra_context), task_function=task_function, config=config)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        from qbench.app import state

        expansion = state.preflight()
        # called with each batch before it is launched: its jobs learn the batch's choice sets here,
        # and get pre-flight's compositions where pre-flight composed from this very master config
        loader = self.hydra_context.config_loader
        if isinstance(loader, SweepConfigLoader):
            loader.expect(batch)
            if expansion is not None and expansion.master is not None:
                loader.adopt(expansion.master, expansion.compositions, self.config)
        validated = {tuple(point.overrides) for point in expansion.points} if expansion is not None else set()
        composer = sweep_composer(self.hydra_context.config_loader)
        for overrides in batch:
            if tuple(overrides) not in validated:
                composer.load_sweep_config(self.config, list(overrides))
