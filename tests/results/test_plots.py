"""The charts' log-axis labels: matplotlib's choice of labels, written as plain text (no mathtext)."""
import pytest

from qbench.results import plots


@pytest.mark.parametrize("mathtext, plain", [
    (r"$\mathdefault{10^{-3}}$", "10⁻³"),
    (r"$\mathdefault{10^{12}}$", "10¹²"),
    (r"$\mathdefault{2\times10^{-3}}$", "2×10⁻³"),
    (r"$\mathdefault{-10^{2}}$", "−10²"),
    (r"$\mathdefault{0}$", "0"),
    (r"$\mathdefault{10^{0.50}}$", r"$\mathdefault{10^{0.50}}$"),  # a form it does not know stays mathtext
    (r"$\alpha$", r"$\alpha$"),
    ("", ""),
])
def test_mathtext_labels_become_plain_text(mathtext, plain):
    assert plots.plain_text_label(mathtext) == plain


@pytest.mark.parametrize("low, high", [(1e-16, 1.0), (2e-3, 8e-3), (0.05, 3.0)])
def test_log_axis_labels_are_matplotlibs_in_plain_text(low, high):
    """Over many decades, within one, and across one: the same ticks labelled as matplotlib's own
    formatter labels them, none of them mathtext."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatterSciNotation

    def labels(set_formatters):
        fig = Figure()
        ax = fig.subplots()
        ax.plot([4, 20], [low, high])
        ax.set_yscale("log")
        set_formatters(ax)
        fig.canvas.draw()
        return ([t.get_text() for t in ax.yaxis.get_majorticklabels()],
                [t.get_text() for t in ax.yaxis.get_minorticklabels()])

    def matplotlibs(ax):
        ax.yaxis.set_major_formatter(LogFormatterSciNotation())
        ax.yaxis.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False))

    theirs = labels(matplotlibs)
    ours = labels(lambda ax: plots._qubit_axes(ax, "ghz", {"l": ("s", "", [(4, low), (20, high)])}, "time"))
    assert ours == tuple([plots.plain_text_label(t) for t in kind] for kind in theirs)
    assert any(ours[0]) and not any("$" in t for kind in ours for t in kind)
    if high / low < 10:  # within one decade the minor ticks carry labels too
        assert any("×10⁻³" in t for t in ours[1])
