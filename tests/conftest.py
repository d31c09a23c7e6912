"""Fixtures, and the TEST-ONLY plugins folder on the path of this process and of the processes it starts."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# The test-only backend's module (plugins.faulty_backend), for in-process tests and their workers.
sys.path.insert(0, str(TESTS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
