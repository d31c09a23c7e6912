"""Pre-flight: compose and validate every point of a command before anything runs or is written."""
from __future__ import annotations

from qbench.app.hydra_internals import COMPOSE_ERRORS
from qbench.app.sweep import Expansion, compose_command, one_line
from qbench.execution.validate import ConfigError, check_point


def launches_nothing(args) -> bool:
    """Hydra commands that launch nothing (help, --cfg, --info, completion): no pre-flight needed."""
    return bool(args.help or args.hydra_help or args.cfg or args.info or args.shell_completion)


def preflight(args, on_point=None, on_jobs=None, launching: bool = False) -> tuple[Expansion | None, str | None]:
    """(the command composed, every point validated), or (None, the one-line error).
    `on_point` sees each point as soon as it is composed, before any is validated; `on_jobs`, a
    multirun's master config and jobs before any point is composed; `launching`: the command is
    launched next (`compose_command`)."""
    try:
        expansion = compose_command(args.overrides, args.multirun, args.config_dir,
                                    args.config_name or "config", on_point=on_point,
                                    on_jobs=on_jobs, launching=launching)
        if args.multirun and not expansion.points:
            sweeps = [o for o in args.overrides if "glob(" in o or "range(" in o or "," in o] or args.overrides
            return None, (f"the sweep has no points: {' '.join(sweeps)} expands to nothing; allowed: a glob that "
                          "matches a config option, a range(start,stop[,step]) with start before stop")
        for point in expansion.points:
            check_point(point.cfg)
        _check_launcher(expansion.points[0].cfg)
    except ConfigError as exc:
        return None, str(exc)
    except COMPOSE_ERRORS as exc:
        return None, one_line(exc)
    return expansion, None


def _check_launcher(cfg) -> None:
    n_jobs = cfg.hydra.launcher.get("n_jobs") if "hydra" in cfg else None
    if n_jobs is not None and (not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs == 0):
        raise ConfigError(f"hydra.launcher.n_jobs={n_jobs!r} is not allowed; allowed: a positive number of "
                          "workers, or a negative one (-1: every core, -2: all but one, as joblib counts)")
