"""Shared look of the figures: colours, markers, titles, and deterministic saving."""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Identical inputs give identical files: fixed SVG ids, no dates.
plt.rcParams.update({
    "svg.hashsalt": "saddlescope",
    "svg.fonttype": "none",  # text stays text: smaller, searchable
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 9.5,
    "axes.titlesize": 10,
    "axes.labelsize": 9.5,
    "legend.fontsize": 8.5,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.constrained_layout.use": True,
    "path.simplify": True,
    "agg.path.chunksize": 20000,
})

# Optimizers: a qualitative palette in file order (tab10 without red and grey,
# which mark classes and "diverged" elsewhere).
OPTIMIZER_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                    "#17becf", "#bcbd22", "#393b79", "#637939", "#8c6d31", "#7b4173"]
CLASS_COLORS = {"minimum": "#2166ac", "saddle": "#d6604d", "maximum": "#762a83",
                "degenerate": "#8c8c8c", "failed": "#000000"}
CLASS_MARKERS_2D = {"minimum": "o", "saddle": "X", "maximum": "^", "degenerate": "D",
                    "failed": "x"}
SOURCE_MARKERS = {"stop": "o", "plateau": "s", "critical": "^"}
SOURCE_COLORS = {"stop": "#4d4d4d", "plateau": "#e08214", "critical": "#542788"}
OUTCOME_COLORS = {"converged": "#1a9850", "max_steps": "#fdae61", "diverged": "#d73027"}


def optimizer_color(i):
    return OPTIMIZER_COLORS[i % len(OPTIMIZER_COLORS)]


def fmt_num(v, digits=4):
    """Compact number for labels and tables: 0.0123, 1.23e-05, 1e-12, 12,345, inf, - (NaN)."""
    if v is None:
        return "-"
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 1e7:
        return f"{int(v):,}"
    return f"{v:.{digits}g}"


def run_title(run, what):
    """'<what>: <name> — <kind>, N = <dim>, B trajectories, optimizers'."""
    labels = ", ".join(run.labels)
    if len(labels) > 70:
        labels = f"{len(run.labels)} optimizers"
    B = run.trajectories
    return (f"{what}\n{run.name}: {run.kind}, N = {run.dim:,}, "
            f"{B:,} trajector{'ies' if B != 1 else 'y'}, {labels}")


def save(fig, outdir, name):
    """Writes NAME.png and NAME.svg atomically (temporary name, then rename)."""
    written = []
    for ext in ("png", "svg"):
        final = os.path.join(outdir, f"{name}.{ext}")
        tmp = os.path.join(outdir, f".{name}.{ext}.tmp")
        meta = {"Date": None} if ext == "svg" else {"Software": None}
        fig.savefig(tmp, format=ext, metadata=meta)
        os.replace(tmp, final)
        written.append(final)
    return written


def note(ax, text, loc="center"):
    """A grey message in an otherwise empty panel."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            color="#666666", wrap=True, fontsize=9)


def thin(n, most):
    """Indices of at most `most` of n items, evenly spaced (deterministic)."""
    import numpy as np
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


def legend_row(ax, handles, labels, ncols=None):
    """A legend alone in a thin axis spanning the figure (a layout row of its own)."""
    ax.set_axis_off()
    seen = {}
    for h, lab in zip(handles, labels):
        seen.setdefault(lab, h)
    if ncols is None:
        chars = sum(len(k) + 6 for k in seen)
        per_row = int(ax.figure.get_figwidth() * 11)
        rows = max(1, -(-chars // per_row))
        ncols = -(-len(seen) // rows)
    ax.legend(list(seen.values()), list(seen.keys()), loc="center", frameon=False,
              ncols=ncols, borderaxespad=0, handlelength=2.2)
