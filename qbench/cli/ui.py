"""`qbench ui [--host H] [--port P] [URI]`: the MLflow UI on this machine's store."""
from __future__ import annotations

import argparse
import errno
import os
import shutil
import socket

from qbench.cli.errors import error
from qbench.results import tracking


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="qbench ui", description="Open the MLflow UI on qbench's tracking store.")
    parser.add_argument("uri", nargs="?", default=tracking.DEFAULT_URI,
                        help="tracking store (default: %(default)s, relative to this directory)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default: %(default)s)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        return error(f"--port {args.port} is not allowed; allowed: 1-65535")
    if _port_taken(args.host, args.port):
        return error(f"port {args.port} on {args.host} is already in use; allowed: a free port, e.g. --port {args.port + 1}")
    if shutil.which("mlflow") is None:
        return error("the `mlflow` command is not on PATH; activate the environment qbench is installed in")
    uri = tracking.resolve_uri(args.uri)
    tracking.make_store_folder(uri)
    command = ["mlflow", "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else f"[{args.host}]" if ":" in args.host else args.host
    print(f"open {tracking.runs_page(uri, tracking.DEFAULT_EXPERIMENT, f'http://{host}:{args.port}')} "
          "(the runs table)", flush=True)
    print(" ".join(command), flush=True)
    os.execvp(command[0], command)
