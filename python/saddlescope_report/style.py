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
    if not run.labels:
        fk = getattr(run, "finder_kind", None)
        starts = getattr(run, "finder_starts", None)
        what_ran = (f"finder {fk}" if fk else "no optimizer") + (
            f", {starts:,} starts" if isinstance(starts, int) else "")
        return f"{what}\n{run.name}: {run.kind}, N = {run.dim:,}, {what_ran}"
    B = run.trajectories
    return (f"{what}\n{run.name}: {run.kind}, N = {run.dim:,}, "
            f"{B:,} trajector{'ies' if B != 1 else 'y'}, {labels}")


def label_title(ax, text, **kw):
    """A panel title that names what the panel holds (an optimizer, a group): with
    --no-titles it stays, after the panel letter."""
    ax.set_title(text, loc="left", **kw)
    ax._saddlescope_label = text


_SIZE = [None]  # --size while a report is drawn (style.options)


class options:
    """with style.options(opts): figures made by style.figure take opts.size, so that
    their layout (legend rows, panel widths) is computed for the size they are saved at."""

    def __init__(self, opts):
        self.size = getattr(opts, "size", None)

    def __enter__(self):
        self.saved = _SIZE[0]
        _SIZE[0] = self.size
        return self

    def __exit__(self, *exc):
        _SIZE[0] = self.saved
        return False


def figure(figsize, min_height=0.0, **kw):
    """plt.figure with the figure's own size, or --size when one is in force; with
    --size, a figure of rows (a table, one row per group) stays at least min_height
    inches tall so that its rows stay readable."""
    size = _SIZE[0]
    if size is not None:
        size = (size[0], max(size[1], min_height))
    fig = plt.figure(figsize=size or figsize, **kw)
    fig._saddlescope_min_height = min_height
    return fig


def apply_options(fig, opts):
    """--size and --no-titles on a finished figure (before saving)."""
    if opts is None:
        return
    if opts.size is not None:
        h = max(opts.size[1], getattr(fig, "_saddlescope_min_height", 0.0))
        fig.set_size_inches(opts.size[0], h, forward=False)
    if not opts.titles:
        strip_titles(fig)


def strip_titles(fig):
    """Removes the suptitle and every panel title; panels are lettered (a), (b), ...
    when there are several; a title set by label_title stays after its letter."""
    sup = getattr(fig, "_suptitle", None)
    if sup is not None:
        sup.remove()
        fig._suptitle = None
    titled = [ax for ax in fig.axes
              if any(ax.get_title(loc=loc) for loc in ("left", "center", "right"))]
    letters = len(titled) > 1
    for i, ax in enumerate(titled):
        label = getattr(ax, "_saddlescope_label", None)
        size = ax._left_title.get_fontsize()
        for loc in ("left", "center", "right"):
            ax.set_title("", loc=loc)
        letter = f"({chr(ord('a') + i)})" if letters and i < 26 else ""
        if letter:
            ax.set_title(letter, loc="left", fontsize=size, fontweight="bold")
        if label:
            # The label after the letter, in normal weight: a second left title would
            # overlap, so it goes in as one text with the letter when there is one.
            ax.set_title(f"{letter} {label}".strip(), loc="left", fontsize=size,
                         fontweight="normal")


def save(fig, outdir, name, opts=None):
    """Writes NAME.png (always: the page embeds it) and NAME.svg, or NAME.<format>,
    atomically (temporary name, then rename); returns the file names written."""
    exts = opts.extensions() if opts is not None else ("png", "svg")
    dpi = opts.dpi if opts is not None else 100
    written = []
    for ext in exts:
        final = os.path.join(outdir, f"{name}.{ext}")
        tmp = os.path.join(outdir, f".{name}.{ext}.tmp")
        meta = {"png": {"Software": None}, "svg": {"Date": None},
                "pdf": {"CreationDate": None, "ModDate": None, "Producer": None,
                        "Creator": "saddlescope report"}}[ext]
        fig.savefig(tmp, format=ext, metadata=meta, dpi=dpi)
        os.replace(tmp, final)
        written.append(f"{name}.{ext}")
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
        per_row = int(ax.figure.get_figwidth() * 9)
        rows = max(1, -(-chars // per_row))
        ncols = -(-len(seen) // rows)
    ax.legend(list(seen.values()), list(seen.keys()), loc="center", frameon=False,
              ncols=ncols, borderaxespad=0, handlelength=2.2)
