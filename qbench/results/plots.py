"""The sweep's charts (PNG), drawn from a qbench.summarize.Summary without a display.

matplotlib is imported here only, when charts are drawn: it costs ~0.5 s, which the
rest of qbench should not pay. Figures are built with the object API (no pyplot), so
no global state or GUI backend is involved, even inside Hydra's process.
"""
from __future__ import annotations

import functools
import math
import re
from pathlib import Path

FLOOR = 1e-16  # 1 − F below this (exact in double precision) is drawn at the floor of the log axis
CHARTS = ("scalability.png", "fidelity_comparison.png", "noise_tolerance.png", "memory.png")
MEMORY_FLOOR_MB = 1e-3  # a point that needed no measurable memory is drawn at the floor of the log axis
MARKERS = "osD^v<>ph*"
DPI = 110
PANEL = (4.4, 3.0)  # inches of one panel; margins and gaps below, also in inches
LEFT, BOTTOM, TOP, WGAP, HGAP = 1.1, 0.55, 0.75, 1.2, 0.9  # WGAP: room for tick labels like 1.8×10⁻²
LEGEND_ROW, CHAR = 0.2, 0.065  # height of a legend entry and width of one of its characters
LINESTYLES = ("-", "--", ":", "-.")
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _figure(panels: int, labels: list[str]):
    """A grid of `panels` axes and room on the right for a legend of `labels`. Margins are set in
    inches rather than by a layout engine, which would draw every figure twice (~2x the time)."""
    from matplotlib.figure import Figure

    cols = 2 if panels == 4 else min(panels, 3)
    rows = math.ceil(panels / cols)
    height = TOP + rows * PANEL[1] + (rows - 1) * HGAP + BOTTOM
    per_column = max(1, int((height - TOP) / LEGEND_ROW))
    legend_cols = math.ceil(len(labels) / per_column) if labels else 0
    right = 0.2 + legend_cols * (0.6 + CHAR * max(map(len, labels), default=0))
    width = LEFT + cols * PANEL[0] + (cols - 1) * WGAP + right
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(left=LEFT / width, right=1 - right / width, bottom=BOTTOM / height, top=1 - TOP / height,
                        wspace=WGAP / PANEL[0], hspace=HGAP / PANEL[1])
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    legend = {"bbox_to_anchor": (1 - (right - 0.1) / width, 1 - TOP / height), "ncols": max(legend_cols, 1)}
    return fig, axes[:panels], legend


def _save(fig, path: Path, legend: dict) -> Path:
    handles = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="upper left", fontsize="small", frameon=False,
                   **legend)
    _save_png(fig, path)
    return path


def _styles(summary) -> dict:
    """series -> colour and marker, the same in every chart."""
    from matplotlib import colormaps

    series = sorted({r["series"] for r in summary.rows if r["status"] == "success"})
    palette = colormaps["tab10" if len(series) <= 10 else "tab20"]
    return {s: {"color": palette(i % palette.N), "marker": MARKERS[i % len(MARKERS)]} for i, s in enumerate(series)}


def _by_circuit(matrix: dict, circuit_of: dict) -> dict:
    """circuit -> line label -> (series, variant, [(n, value)]): one panel per circuit type, one
    line per series and workload variant (depth, noise, shots) within it."""
    panels: dict = {}
    for workload, by_n in matrix.items():
        circuit = circuit_of.get(workload, workload)
        variant = workload[len(circuit):].strip()
        for n in sorted(by_n):
            for series, value in by_n[n].items():
                label = f"{series} {variant}".strip()
                panels.setdefault(circuit, {}).setdefault(label, (series, variant, []))[2].append((n, value))
    return dict(sorted(panels.items()))


def _line_charts(summary, matrix: dict, path: Path, title: str, ylabel: str, transform) -> Path | None:
    panels = _by_circuit(matrix, summary.workload_circuit)
    if not panels:
        path.unlink(missing_ok=True)  # no data this time: a chart from an earlier summary would mislead
        return None
    styles = _styles(summary)
    variants = sorted({v for lines in panels.values() for _, v, _ in lines.values()})
    fig, axes, legend = _figure(len(panels), sorted({label for lines in panels.values() for label in lines}))
    for ax, (circuit, lines) in zip(axes, panels.items()):
        for label, (series, variant, points) in sorted(lines.items()):
            ax.plot([n for n, _ in points], [transform(v) for _, v in points], label=label, **styles[series],
                    linestyle=LINESTYLES[variants.index(variant) % len(LINESTYLES)])
        values = [transform(v) for _, _, points in lines.values() for _, v in points]
        _qubit_axes(ax, circuit, lines, ylabel, many_decades=max(values) > 1e3 * min(values))
    fig.suptitle(f"{title} — {summary.benchmark_id}")
    return _save(fig, path, legend)


@functools.cache  # one class, made when the first chart is drawn (matplotlib is imported only then)
def _plain_log_labels():
    """matplotlib's log-axis labels (10⁻³, 2×10⁻³, as `LogFormatterSciNotation` chooses them) in
    plain Unicode text instead of mathtext: parsing each distinct mathtext label costs ~40 ms,
    most of a chart's time. A label of another form is left as matplotlib wrote it."""
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            return plain_text_label(super().__call__(x, pos))

    return PlainLogFormatter


def plain_text_label(label: str) -> str:
    """`$\\mathdefault{2\\times10^{-3}}$` -> `2×10⁻³`; any other mathtext stays as it is."""
    inner = re.fullmatch(r"\$\\mathdefault\{(.*)\}\$", label)
    if inner is None:
        return label
    text = re.sub(r"\^\{(-?\d+)\}", lambda m: m.group(1).translate(SUPERSCRIPT), inner.group(1).replace(r"\times", "×"))
    return label if re.search(r"[\\{}^$]", text) else text.replace("-", "−")


def _qubit_axes(ax, circuit: str, lines: dict, ylabel: str, many_decades: bool = False) -> None:
    """One panel of a per-circuit chart: qubits on x (the sizes that ran), a log y axis."""
    from matplotlib.ticker import NullLocator

    ax.set_yscale("log")
    formatter = _plain_log_labels()
    ax.yaxis.set_major_formatter(formatter())
    ax.yaxis.set_minor_formatter(formatter(labelOnlyBase=False))
    if many_decades:  # decades of major ticks suffice; each minor tick costs time
        ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xticks(sorted({n for _, _, points in lines.values() for n, _ in points}))
    ax.set_title(circuit, y=1.0)  # a fixed position: placing it automatically measures every tick (slow)
    ax.set(xlabel="qubits", ylabel=ylabel)
    ax.grid(True, alpha=0.3)


def scalability(summary) -> Path | None:
    return _line_charts(summary, summary.comparison["times"], summary.directory / CHARTS[0],
                        "Execution time vs qubits (median of timed runs)", "time (s, log scale)", lambda t: t)


def fidelity_comparison(summary) -> Path | None:
    return _line_charts(summary, summary.comparison["fidelities"], summary.directory / CHARTS[1],
                        "Distance from the exact result: 1 − fidelity (lower is better)",
                        f"1 − fidelity (log scale, floor {FLOOR:g})", lambda f: max(1 - f, FLOOR))


def noise_tolerance(summary) -> Path | None:
    """Fidelity vs noise strength, one panel per circuit. One line per backend and noise model, at
    its largest size: a line per size would drown a big sweep (report.md has every size)."""
    path = summary.directory / CHARTS[2]
    panels: dict = {}
    for e in summary.noise:
        lines = panels.setdefault(e["workload"], {})
        key = (e["series"], e["noise_model"])
        if key not in lines or e["n_qubits"] > lines[key]["n_qubits"]:
            lines[key] = e
    if not panels:
        path.unlink(missing_ok=True)
        return None
    styles = _styles(summary)
    models = sorted({e["noise_model"] for e in summary.noise})
    label = "{0[series]} {0[noise_model]} ({0[n_qubits]} qubits)".format
    fig, axes, legend = _figure(len(panels), sorted({label(e) for lines in panels.values() for e in lines.values()}))
    for ax, (workload, lines) in zip(axes, sorted(panels.items())):
        for (series, model), e in sorted(lines.items()):
            strengths = sorted(e["fidelity"])
            ax.plot(strengths, [e["fidelity"][s] for s in strengths], label=label(e), **styles[series],
                    linestyle=LINESTYLES[models.index(model) % len(LINESTYLES)])
        ax.set(title=workload, xlabel="noise strength", ylabel="fidelity")
        ax.set_ylim(top=1.02)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"Fidelity vs noise strength — {summary.benchmark_id}")
    return _save(fig, path, legend)


def memory_vs_estimate(summary) -> Path | None:
    """What each point needed (`memory_run_mb`: its worker's peak above the resident size before it)
    against the adapter's estimate of the simulator's state (dashed), per circuit. Where the two
    part, the library holds more than its state, or the estimate pre-flight's guard uses is off."""
    path = summary.directory / CHARTS[3]
    memory = summary.comparison.get("memory", {})
    measured = _by_circuit(memory.get("run_mb", {}), summary.workload_circuit)
    estimated = _by_circuit(memory.get("estimate_mb", {}), summary.workload_circuit)
    if not measured:
        path.unlink(missing_ok=True)
        return None
    styles = _styles(summary)
    labels = sorted({name for lines in measured.values() for label in lines for name in (label, f"{label} (estimate)")})
    fig, axes, legend = _figure(len(measured), labels)
    for ax, (circuit, lines) in zip(axes, measured.items()):
        for label, (series, _, points) in sorted(lines.items()):
            ax.plot([n for n, _ in points], [max(v, MEMORY_FLOOR_MB) for _, v in points], label=label, **styles[series])
            estimate = estimated.get(circuit, {}).get(label)
            if estimate:
                ax.plot([n for n, _ in estimate[2]], [max(v, MEMORY_FLOOR_MB) for _, v in estimate[2]],
                        label=f"{label} (estimate)", color=styles[series]["color"], linestyle="--")
        _qubit_axes(ax, circuit, lines, "MiB (log scale)")
    fig.suptitle(f"Memory a point needed vs the estimate of its state (dashed) — {summary.benchmark_id}")
    return _save(fig, path, legend)


def prewarm() -> None:
    """Import matplotlib and render a tiny chart (fonts, glyphs) now: the launching process does this
    at idle priority while its sweep runs, so the summary at the end does not pay ~0.5 s for it."""
    import io

    fig, axes, _ = _figure(1, ["warm-up"])
    axes[0].set_yscale("log")
    axes[0].plot([1, 2], [1, 10], marker="o", label="warm-up")
    axes[0].set_title("warm-up")
    fig.savefig(io.BytesIO(), format="png")


def draw(summary) -> list[Path]:
    return [p for p in (scalability(summary), fidelity_comparison(summary), noise_tolerance(summary),
                        memory_vs_estimate(summary)) if p]


VERDICT_COLORS = {"slower": "tab:red", "faster": "tab:green", "same": "tab:gray"}
MAX_COMPARE_ROWS = 150  # beyond this, the points with the largest changes (compare.json has all)


def compare_chart(result, path: Path) -> Path | None:
    """`qbench compare`'s chart: NEW/BASE per point with its 95 % interval, on a log axis, the
    threshold band shaded; one row per point, coloured by verdict."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from qbench.results.stats import threshold_band

    rows = list(result.rows)
    if not rows:
        path.unlink(missing_ok=True)
        return None
    title = f"NEW {result.new.benchmark_id} / BASE {result.base.benchmark_id}"
    if len(rows) > MAX_COMPARE_ROWS:
        rows = sorted(rows, key=lambda r: -abs(math.log(r["ratio"])) if r["ratio"] > 0 else 0)[:MAX_COMPARE_ROWS]
        title += f" ({MAX_COMPARE_ROWS} largest changes of {len(result.rows)})"
    rows.reverse()  # the first point at the top
    label_width = max(len(r["label"]) for r in rows) * CHAR * 1.2
    height = 1.3 + 0.25 * len(rows)
    width = max(8.0, label_width + 5.5, len(title) * CHAR * 1.3 + 1)
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(left=(label_width + 0.3) / width, right=1 - 0.3 / width, bottom=0.75 / height,
                        top=1 - 0.4 / height)
    ax = fig.subplots()
    low, high = threshold_band(result.options.threshold)
    ax.axvspan(low, high, color="0.9", zorder=0)  # the threshold band: changes too small to call
    ax.axvline(1.0, color="0.5", linewidth=0.8, zorder=1)
    lows = [low]
    highs = [high]
    for y, r in enumerate(rows):
        lo, hi = r["ratio_ci"]
        lows.append(lo)
        highs.append(hi)
        color = VERDICT_COLORS[r["verdict"]]
        ax.plot([lo, hi], [y, y], color=color, linewidth=2, solid_capstyle="butt")
        ax.plot([r["ratio"]], [y], marker="o", color=color, markersize=4)
    ax.set_xscale("log")
    ax.set_xlim(min(lows) / 1.15, max(highs) * 1.15)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize="small")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"NEW / BASE median time (log; > 1: NEW slower), 95 % interval; grey: ±{result.options.threshold:.0%};"
                  " red slower, green faster", fontsize="small")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(title, fontsize="medium", y=1.0)
    _save_png(fig, path)
    return path


def _save_png(fig, path: Path) -> None:
    """A whole chart or the old one: drawn into bytes, then written as records writes every file
    (a unique temporary name, the umask's mode), so two summaries of one sweep never collide."""
    import io

    from qbench.results import records

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    records.write_bytes_atomic(path, buffer.getvalue())
