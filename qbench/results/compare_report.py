"""What `qbench compare` prints and writes: the terminal table, compare.md, compare.json, compare.png."""
from __future__ import annotations

from pathlib import Path

from qbench.results import plots, records
from qbench.results.compare import APART_SECONDS, RANK_TEST, REPLICATES_TEST, Comparison, band, text
from qbench.results.report import fmt_time, table

MAX_DIFFERENCES = 20  # the differences most points share; compare.json has every point's own
MAX_LISTED = 50  # unmatched / not compared points listed by name


def _interval(side: dict) -> str:
    replicates = side.get("replicates", 1)
    if replicates > 1:  # no one-level interval: the replicates' samples are not independent draws
        return f"{fmt_time(side['median'])} n={side['n']} in {replicates} replicates"
    ci = side["ci"]
    inner = f"[{fmt_time(ci[0])}, {fmt_time(ci[1])}]" if ci else "[n<6: no 95 % CI]"
    return f"{fmt_time(side['median'])} {inner} n={side['n']}"


def _method(result: Comparison) -> tuple[str, str]:
    """(interval, test) as the rows used them: one level, or the replicate as the unit where both sides ran
    replicates."""
    o, tests = result.options, {r["test"] for r in result.rows}
    interval, test = [], []
    if RANK_TEST in tests:
        interval.append(f"a bootstrap of the ratio of medians ({o.resamples} resamples, seed {o.seed}, 95 %)")
        test.append("a two-sided Mann-Whitney U test on the raw samples")
    if REPLICATES_TEST in tests:
        where = "where both sides ran replicates (execution.replicate), " if test else ""
        interval.append(f"{where}the t-test's 95 % interval of the ratio of the replicates' geometric mean medians")
        test.append(f"{where}a two-sided t-test on the logs of the replicates' medians (Student's; Welch's where "
                    "the sides ran unequal numbers of replicates)")
    return "; ".join(interval), "; ".join(test)


def _ratio(row: dict) -> str:
    low, high = row["ratio_ci"]
    return f"×{row['ratio']:.3g} [{low:.3g}, {high:.3g}]"


def _p(value: float) -> str:
    return f"{value:.2g}" if value >= 1e-4 else "<1e-4"


def _verdict(row: dict) -> str:
    return row["verdict"] + ("" if row["conclusive"] else " (?)")


def _rule(result: Comparison) -> str:
    o = result.options
    low, high = band(o.threshold)
    test = "Holm-adjusted p" if o.correction == "holm" else "p (no correction)"
    return (f"slower: NEW/BASE > {high:.3g} with its 95 % interval above it and {test} < {o.alpha:g}; "
            f"faster: the same below {low:.3g}; else same")


def _apart(result: Comparison) -> str | None:
    """A warning where points were called slower or faster whose two sides were timed minutes apart."""
    gap = result.median_seconds_apart
    changed = result.counts["slower"] + result.counts["faster"]
    if not changed or gap is None or gap < APART_SECONDS:
        return None
    when = f"{gap / 60:.0f} min" if gap < 5400 else f"{gap / 3600:.1f} h"
    return (f"BASE and NEW were timed {when} apart (the median pair): a machine's own speed can change by more "
            f"than the threshold in that time, and no test on the samples can tell that from a change of the "
            f"code; two options timed in one sweep (--by) are seconds apart"
            + ("" if any(r["test"] == REPLICATES_TEST for r in result.rows) else
               "; points run as replicates (execution.replicate=range(3)) let the test count the machine's moves "
               "within each sweep"))


def _differences(result: Comparison) -> list[str]:
    lines = []
    for d in result.differences[:MAX_DIFFERENCES]:
        lines.append(f"{d['key']}: {text(d['base'])} -> {text(d['new'])} ({d['points']} of "
                     f"{len(result.rows)} points)")
    if len(result.differences) > MAX_DIFFERENCES:
        lines.append(f"... and {len(result.differences) - MAX_DIFFERENCES} more (compare.json)")
    return lines


def _by(result: Comparison) -> str:
    by = result.options.by
    if not by:
        return ""
    if by.given:
        return f"by {by.key}: BASE's {text(by.base)} against NEW's {text(by.new)}"
    return f"by {by.key} (not matched)"


def terminal(result: Comparison, written: list[Path]) -> str:
    headers = ["point", "BASE median [95 % CI]", "NEW median [95 % CI]", "NEW/BASE [95 % CI]",
               "p (Holm)" if result.options.correction == "holm" else "p", "verdict"]
    rows = [[r["label"], _interval(r["base"]), _interval(r["new"]), _ratio(r), _p(r["p_adjusted"]), _verdict(r)]
            for r in result.rows]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = [f"BASE {result.base.path} ({result.base.benchmark_id})",
             f"NEW  {result.new.path} ({result.new.benchmark_id})"]
    if result.options.by:
        lines.append(_by(result))
    changed = _differences(result)
    lines.append("what differs: " + ("; ".join(changed) if changed else "nothing recorded (same options, "
                                                                         "versions and machine)"))
    lines.append("")
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    counts = result.counts
    m = result.matching
    lines.append("")
    lines.append(f"{len(result.rows)} matched: {counts['slower']} slower, {counts['faster']} faster, "
                 f"{counts['same']} same at {result.options.threshold:.0%}"
                 + (f" ({sum(not r['conclusive'] for r in result.rows)} inconclusive, marked ?)"
                    if any(not r["conclusive"] for r in result.rows) else "")
                 + f"; {len(m.only_base)} only in BASE, {len(m.only_new)} only in NEW")
    busy = sum(r["contended"] for r in result.rows)
    if busy:
        lines.append(f"{busy} point(s) timed while other processes took CPU time from them (CPU per second "
                     "timed, compare.json cpu_share): a difference there may be the machine's; see compare.md")
    apart = _apart(result)
    if apart:
        lines.append(apart)
    lines.append(_rule(result))
    if written:
        lines.append(f"wrote {', '.join(p.name for p in written)} into {written[0].parent}")
    return "\n".join(lines)


def markdown(result: Comparison, chart: Path | None) -> str:
    o, m = result.options, result.matching
    counts = result.counts
    out = [f"# Comparison: {result.base.benchmark_id} -> {result.new.benchmark_id}\n",
           f"- BASE: `{result.base.path}`", f"- NEW: `{result.new.path}`"]
    if o.by:
        out.append(f"- {_by(result)}")
    out.append(f"- matched on: {', '.join(m.identity + m.split)}")
    out.append(f"\n**{len(result.rows)} matched points: {counts['slower']} slower, {counts['faster']} faster, "
               f"{counts['same']} same** at a threshold of {o.threshold:.0%}.\n")
    apart = _apart(result)
    if apart:
        out.append(f"{apart}.\n")
    interval, test = _method(result)
    out.append(f"Rule: {_rule(result)}. NEW/BASE is the ratio of the medians; its interval is {interval}; "
               f"p is {test}, " + ("adjusted for the number of points by Holm's method. "
                                   if o.correction == "holm" else "not adjusted. ")
               + "(?) marks a `same` whose interval reaches beyond the threshold: not shown to be the same.\n")
    out.append("## What differs\n")
    changed = _differences(result)
    out.append("\n".join(f"- {line}" for line in changed) + "\n" if changed
               else "Nothing recorded differs: same options, package versions and machine.\n")
    out.append("## Points\n")
    rows = [[r["label"], _interval(r["base"]), _interval(r["new"]), _ratio(r), _p(r["p_value"]),
             _p(r["p_adjusted"]), f"**{_verdict(r)}**" if r["verdict"] != "same" else _verdict(r)]
            for r in result.rows]
    out.append(table(["point", "BASE median [95 % CI]", "NEW median [95 % CI]", "NEW/BASE [95 % CI]", "p",
                      "p adjusted", "verdict"], rows))
    notes = [(r["label"], r["note"]) for r in result.rows if r["note"]]
    if notes:
        out.append("\n### Notes\n")
        out.append("\n".join(f"- {name}: {note}" for name, note in notes) + "\n")
    for title, points in (("Only in BASE", m.only_base), ("Only in NEW", m.only_new)):
        if points:
            out.append(f"\n## {title}\n")
            out.append("\n".join(f"- {p.name}" for p in points[:MAX_LISTED])
                       + (f"\n- ... and {len(points) - MAX_LISTED} more" if len(points) > MAX_LISTED else "") + "\n")
    skipped = [("BASE", e) for e in result.base.not_compared] + [("NEW", e) for e in result.new.not_compared]
    if skipped:
        out.append("\n## Not compared (not successful)\n")
        out.append(table(["sweep", "point", "status", "reason"],
                         [[side, e["point"], e["status"], e["reason"]] for side, e in skipped[:MAX_LISTED]]))
    if m.duplicates:
        out.append(f"\n{m.duplicates} point(s) ran more than once in one sweep: the newest record of each was used.\n")
    if chart:
        out.append(f"\n## Chart\n\n![{chart.stem}]({chart.name})\n")
    return "\n".join(out)


def to_json(result: Comparison) -> dict:
    o = result.options
    low, high = band(o.threshold)
    m = result.matching
    interval, test = _method(result)
    return {
        "base": {"path": str(result.base.path), "benchmark_id": result.base.benchmark_id},
        "new": {"path": str(result.new.path), "benchmark_id": result.new.benchmark_id},
        "by": {"key": o.by.key, "base": o.by.base, "new": o.by.new} if o.by else None,
        "threshold": o.threshold, "band": [low, high], "alpha": o.alpha, "correction": o.correction,
        "test": test, "interval": interval,
        "matched_on": list(m.identity + m.split), "counts": dict(result.counts),
        "differences": result.differences, "points": result.rows,
        "only_in_base": [p.name for p in m.only_base], "only_in_new": [p.name for p in m.only_new],
        "duplicates_dropped": m.duplicates,
        "not_compared": {"base": result.base.not_compared, "new": result.new.not_compared},
    }


def write(result: Comparison, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records.write_atomic(out_dir / "compare.json", to_json(result))
    chart = plots.compare_chart(result, out_dir / "compare.png")
    records.write_text_atomic(out_dir / "compare.md", markdown(result, chart))
    return [out_dir / "compare.md", out_dir / "compare.json"] + ([chart] if chart else [])
