"""qbench's config groups (Hydra's config module `pkg://qbench.conf`)."""
from __future__ import annotations

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent


def shipped_options(group: str) -> list[str]:
    """The options qbench itself ships for a config group (a user's --config-dir may add more)."""
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))
