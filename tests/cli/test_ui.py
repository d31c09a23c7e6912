"""`qbench ui` is a command of its own: its options, its help, and a busy port as bad input."""
from __future__ import annotations

import socket

from tests.helpers import run_qbench


def test_ui_help_is_its_own(workdir):
    result = run_qbench("ui", "--help", cwd=workdir)
    assert result.returncode == 0
    assert "usage: qbench ui" in result.stdout and "--port" in result.stdout and "--host" in result.stdout
    assert not (workdir / "mlruns").exists()  # --help is not a store address


def test_a_busy_port_is_one_line_and_exit_2(workdir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_qbench("ui", "--port", str(port), cwd=workdir)
    assert result.returncode == 2
    assert result.stderr == (f"qbench: error: port {port} on 127.0.0.1 is already in use; allowed: a free port, "
                             f"e.g. --port {port + 1}\n")


def test_a_port_out_of_range_is_bad_input(workdir):
    result = run_qbench("ui", "--port", "70000", cwd=workdir)
    assert result.returncode == 2 and result.stderr == "qbench: error: --port 70000 is not allowed; allowed: 1-65535\n"
