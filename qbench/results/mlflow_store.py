"""MLflow's stores as qbench opens them: through `MlflowClient` only. A local sqlite store is made
whole (built under a temporary name, then published), a server is probed before MLflow's client
may retry for minutes, and qbench's experiment is tagged to open on its runs table."""
from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path

SQLITE = "sqlite:///"
# The experiment's kind: MLflow's CUSTOM_MODEL_DEVELOPMENT (model training runs), not GenAI's traces.
# (MLflow 3.17.2's UI itself picks its view from its GenAI/Model-training switch: tracking.runs_page.)
KIND_TAG, RUNS_KIND = "mlflow.experimentKind", "custom_model_development"
# A server that refuses connections must cost seconds: MLflow's default retries a request for minutes.
PROBE_TIMEOUT_S, PROBE_ATTEMPTS = 2.0, 2
HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


class Unreachable(Exception):
    """The tracking server does not answer: tracking is off for this sweep."""


def resolve_uri(uri: str) -> str:
    """Make a relative sqlite path absolute, so jobs in other working directories share the store."""
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        return SQLITE + str(Path(uri[len(SQLITE):]).resolve())
    return uri


def make_store_folder(uri: str) -> None:
    if uri.startswith(SQLITE):  # MLflow creates the database file, not its folder
        Path(uri[len(SQLITE):]).parent.mkdir(parents=True, exist_ok=True)


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def probe(uri: str) -> None:
    """Raise Unreachable unless an MLflow server at `uri` answers (any HTTP reply counts), in ~5 s at most."""
    reason = None
    for attempt in range(PROBE_ATTEMPTS):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S).close()
            return
        except urllib.error.HTTPError:
            return  # it answered (a proxy without /health, an auth wall): MLflow's client takes it from here
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
        if attempt + 1 < PROBE_ATTEMPTS:
            time.sleep(0.5)
    raise Unreachable(f"no MLflow server answers at {uri} ({reason})")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        pass
    return True


def _new_sqlite_store(path: Path) -> None:
    """Create the sqlite store at `path` whole or not at all: MLflow builds it (its schema migrations,
    seconds) under a temporary name beside it, then os.link publishes it, only if no other process
    published one first. A process killed mid-migration leaves no half-built store to trip over."""
    from mlflow.tracking import MlflowClient

    prefix = f".{path.name}."
    # A killed builder leaves its file and sqlite's companions beside it (-journal, -wal, -shm).
    for stale in path.parent.glob(f"{prefix}*.creating*"):
        pid = stale.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            stale.unlink(missing_ok=True)
    building = path.with_name(f"{prefix}{os.getpid()}.creating")
    companions = [building.with_name(building.name + suffix) for suffix in ("-journal", "-wal", "-shm")]
    for leftover in (building, *companions):
        leftover.unlink(missing_ok=True)
    try:
        MlflowClient(tracking_uri=SQLITE + str(building)).search_experiments()  # MLflow runs its migrations
        os.link(building, path)
    except FileExistsError:
        pass  # another process published one a moment ago: use theirs
    finally:
        for leftover in (building, *companions):
            leftover.unlink(missing_ok=True)


def client(uri: str):
    """MLflow's client on `uri`: a local store made (whole) if missing, a server probed first (Unreachable)."""
    if is_remote(uri):
        for name, value in HTTP_SETTINGS.items():
            os.environ.setdefault(name, value)  # a user's own setting wins
        probe(uri)
    make_store_folder(uri)
    if uri.startswith(SQLITE) and not Path(uri[len(SQLITE):]).exists():
        _new_sqlite_store(Path(uri[len(SQLITE):]))
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def experiment_id(mlflow, name: str, artifact_location: str | None) -> str:
    """The active experiment `name` (created if missing), tagged to open on its runs table."""
    found = mlflow.get_experiment_by_name(name)
    if found is None:
        location = None
        if artifact_location and not is_remote(mlflow.tracking_uri):  # a server decides where artifacts live
            location = artifact_location if "://" in artifact_location else Path(artifact_location).resolve().as_uri()
        exp_id = mlflow.create_experiment(name, artifact_location=location, tags={KIND_TAG: RUNS_KIND})
        return exp_id
    if found.lifecycle_stage != "active":
        raise ValueError(f"MLflow experiment '{name}' is deleted; restore it or choose another tracking.experiment")
    if KIND_TAG not in found.tags:  # an experiment made before qbench set it; a user's own choice is kept
        mlflow.set_experiment_tag(found.experiment_id, KIND_TAG, RUNS_KIND)
    return found.experiment_id


def all_runs(mlflow, exp_id: str, filter_string: str = "") -> list:
    """Every active run matching the filter, page by page (a server returns at most one page per call)."""
    found, token = [], None
    while True:
        page = mlflow.search_runs([exp_id], filter_string=filter_string, max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found
