"""`qbench compare BASE NEW`: per matched point, faster / slower / same, with its interval and test.

BASE and NEW are sweep directories, `latest`, or MLflow names (an experiment: its newest sweep; or
a sweep's parent run name, e.g. bench_20261201_101500), exported from the store first. See
qbench.results.compare for the statistics and README "Comparing two sweeps" for the rules.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
from pathlib import Path

from qbench.cli.errors import error
from qbench.results import compare, tracking
from qbench.results.summary import LATEST, SWEEP_PREFIX, latest_sweep

FAIL_ON = ("slower", "faster", "change")


def threshold(raw: str) -> float:
    """`10%` or `0.1`; a bare number above 1 is refused (10 would read as 1000 %)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*", raw)
    if not match:
        raise compare.CompareError(f"--threshold {raw!r}: expected a percentage like 10% or a fraction like 0.1")
    value = float(match.group(1)) / (100 if match.group(2) else 1)
    if not 0 < value < 10 or (not match.group(2) and value >= 1):
        raise compare.CompareError(f"--threshold {raw!r}: expected a percentage like 10% or a fraction like 0.1")
    return value


def local(source: str, outputs: Path, side: str) -> Path | None:
    """A sweep folder or `latest`; None for what can only be an MLflow name. Checked for both sides
    before anything is exported, so that bad input writes nothing."""
    if source == LATEST:
        directory = latest_sweep(outputs)
        if not directory.is_dir():
            raise compare.CompareError(f"{side} {LATEST}: no {outputs}/{SWEEP_PREFIX}* sweep here")
        return directory
    path = Path(source)
    if path.is_dir():
        return path
    if path.exists():
        raise compare.CompareError(f"{side} {source}: not a directory")
    if "/" in source or source.startswith(".") or "'" in source:
        raise compare.CompareError(f"{side} {source}: no such sweep directory")
    return None


def from_mlflow(source: str, uri: str, experiment: str, outputs: Path, side: str) -> Path:
    """An MLflow experiment (its newest sweep) or a sweep's parent run name in `experiment`, exported
    into outputs/mlflow_<sweep>/ (tracking.export_sweep)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stderr is for the one error line
    try:
        return tracking.export_sweep(uri, source, outputs)
    except LookupError:
        pass
    try:
        return tracking.export_sweep(uri, experiment, outputs, sweep=source)
    except LookupError:
        raise compare.CompareError(f"{side} {source}: no such sweep directory, MLflow experiment, or sweep of "
                                   f"experiment '{experiment}' at {uri}") from None


def resolve(sources: list[tuple[str, str]], uri: str, experiment: str, outputs: Path, made: list[Path]) -> list[Path]:
    """BASE's and NEW's sweep folders; the folders exported for them are appended to `made`."""
    found = [local(source, outputs, side) for source, side in sources]
    for i, (source, side) in enumerate(sources):
        if found[i] is None:
            existed = {p.name for p in outputs.glob("mlflow_*")} if outputs.is_dir() else set()
            found[i] = from_mlflow(source, uri, experiment, outputs, side)
            if found[i].name not in existed:
                made.append(found[i])
    return found


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage + error is two lines; bad input is one
        raise SystemExit(error(f"compare: {message} (see qbench compare --help)"))


def main(argv: list[str]) -> int:
    parser = _Parser(
        prog="qbench compare",
        description="Compare the timings of two sweeps point by point: ratio of medians with its 95 %% interval, "
                    "a Mann-Whitney U test (a t-test on the replicates' medians where both sweeps ran points as "
                    "replicates: execution.replicate=range(3)), and a verdict faster/slower/same at a threshold AND "
                    "significance.")
    parser.add_argument("base", metavar="BASE", help=f"the reference: a sweep directory, '{LATEST}', or an MLflow "
                                                      "experiment (its newest sweep) or sweep run name")
    parser.add_argument("new", metavar="NEW", help="the sweep to judge against BASE (the same forms)")
    parser.add_argument("--by", metavar="KEY[=A:B]",
                        help="compare two values of one option: BASE's points with KEY=A against NEW's with KEY=B "
                             "(BASE and NEW may be one sweep), e.g. backend.threads=2:1, backend.fusion_enable=true:false")
    parser.add_argument("--threshold", default="10%", help="smallest change that counts (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=compare.ALPHA, help="significance level (default: %(default)s)")
    parser.add_argument("--correction", choices=("holm", "none"), default="holm",
                        help="multiple-comparison correction of the p-values (default: %(default)s)")
    parser.add_argument("--resamples", type=int, default=compare.RESAMPLES,
                        help="bootstrap resamples of the ratio's interval (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=compare.SEED, help="bootstrap seed (default: %(default)s)")
    parser.add_argument("--fail-on", choices=FAIL_ON,
                        help="exit 1 when any point is significantly slower (faster; either: change)")
    parser.add_argument("--out", metavar="DIR", help="where compare.md/.json/.png go (default: the NEW sweep)")
    parser.add_argument("--mlflow-uri", default=tracking.DEFAULT_URI,
                        help="tracking URI for MLflow names (default: %(default)s)")
    parser.add_argument("--mlflow-experiment", default=tracking.DEFAULT_EXPERIMENT,
                        help="where a sweep run name is looked up (default: %(default)s)")
    args = parser.parse_args(argv)
    made: list[Path] = []  # exports of MLflow sweeps: removed again on bad input, which writes nothing
    try:
        if not 0 < args.alpha < 1:
            raise compare.CompareError(f"--alpha {args.alpha:g}: expected a probability in (0, 1)")
        if args.resamples < 100:
            raise compare.CompareError(f"--resamples {args.resamples}: expected at least 100")
        options = compare.Options(threshold=threshold(args.threshold), alpha=args.alpha, correction=args.correction,
                                  resamples=args.resamples, seed=args.seed,
                                  by=compare.parse_by(args.by) if args.by else None)
        outputs = Path("outputs")
        if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
            raise compare.CompareError(f"--out {args.out}: not a directory")
        base_dir, new_dir = resolve([(args.base, "BASE"), (args.new, "NEW")], args.mlflow_uri,
                                    args.mlflow_experiment, outputs, made)
        result = compare.compare(compare.load_sweep(base_dir), compare.load_sweep(new_dir), options)
    except compare.CompareError as exc:
        for directory in made:
            shutil.rmtree(directory, ignore_errors=True)
        return error(str(exc))
    from qbench.results import compare_report

    written = compare_report.write(result, Path(args.out) if args.out else new_dir)
    print(compare_report.terminal(result, written))
    counts = result.counts
    failing = {"slower": counts["slower"], "faster": counts["faster"],
               "change": counts["slower"] + counts["faster"]}.get(args.fail_on, 0)
    return 1 if failing else 0
