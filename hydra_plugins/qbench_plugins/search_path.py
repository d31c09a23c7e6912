"""`--config-dir DIR` for qbench's pre-flight, through Hydra's public search-path plugin interface.

hydra.main puts `--config-dir DIR` into the config search path itself; Hydra's compose API,
which pre-flight uses (qbench.app.sweep.hydra_session), has no parameter for it. While
pre-flight composes a command given `--config-dir`, this plugin adds the very entry hydra.main
adds (provider `command-line`, `file://DIR`, after every other entry but the structured configs),
so the configs and `hydra.runtime.config_sources` are hydra.main's. At any other time (Hydra's
own launch, every other Hydra app) it does nothing.
"""
from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class QbenchConfigDirSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from qbench.app import state

        config_dir = state.config_dir()
        if config_dir is not None:
            search_path.append(provider="command-line", path=f"file://{config_dir}")
