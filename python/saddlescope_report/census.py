"""Figure 2: the census of analysed points (points.csv).

Left: the index histogram, one bar series per source (stop, plateau,
critical); for the double well and Styblinski-Tang with every one of the 3^N
critical points found, the closed form C(N, k) 2^(N - k) is marked. Right:
the index fraction alpha = index / N against the value at the point, one dot
per point, coloured by class and shaped by source; for the p-spin the
threshold energy E_th = -2 sqrt((p - 1) / p) is marked.
"""

import math

import numpy as np

from . import style
from .result import Made, Skipped
from .rundir import CLASSES, SOURCES

MAX_DOTS = 20000


def axis_scale(values):
    """('linear' | 'log' | 'symlog', linthresh) for values spanning many decades."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "linear", None
    a = np.abs(v[v != 0])
    if a.size == 0:
        return "linear", None
    if np.all(v > 0):
        return ("log", None) if v.max() / v.min() > 100 else ("linear", None)
    big, small = np.max(a), np.percentile(a, 2)
    if big / max(small, 1e-300) > 1e3:
        return "symlog", float(max(small, big * 1e-12))
    return "linear", None


def apply_scale(ax, axis, values):
    """Sets the axis scale from the values; call tidy_ticks after plotting."""
    kind, thresh = axis_scale(values)
    setter = ax.set_xscale if axis == "x" else ax.set_yscale
    if kind == "symlog":
        setter("symlog", linthresh=thresh)
    elif kind == "log":
        setter("log")
    return kind


def tidy_ticks(ax, axis, most=9):
    """On a symlog axis keep 0 and every k-th decade so that labels do not crowd."""
    get = ax.get_yticks if axis == "y" else ax.get_xticks
    lim = ax.get_ylim() if axis == "y" else ax.get_xlim()
    scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
    if scale != "symlog":
        return
    lo, hi = min(lim), max(lim)
    transform = (ax.yaxis if axis == "y" else ax.xaxis).get_transform()
    lin = float(getattr(transform, "linthresh", 0.0))
    # Nonzero ticks inside the linear part crowd the 0 label.
    ticks = [t for t in get() if lo <= t <= hi and (t == 0 or abs(t) >= 2 * lin)]
    k = max(1, -(-len(ticks) // most))
    keep = [t for t in ticks if t == 0 or round(math.log10(abs(t))) % k == 0]
    (ax.set_yticks if axis == "y" else ax.set_xticks)(keep)


def make(run):
    title = "Census of analysed points"
    pts = run.points
    if pts is None:
        return [Skipped("census", title, "no census in this run: add an [analysis] section "
                        "(Hessians at the stopping, plateau or critical points)")]
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    idx = pts["index"]
    ok = np.isfinite(idx)
    n_failed = int(np.sum(~ok))
    if not np.any(ok):
        return [Skipped("census", title, f"points.csv: all {pts['_rows']} eigen-solves "
                        "failed (no index)")]
    N = run.spectrum_dim
    fig = plt.figure(figsize=(11, 4.6))
    gs = fig.add_gridspec(2, 2, height_ratios=[0.1, 1], width_ratios=[1, 1.15])
    ax_h = fig.add_subplot(gs[1, 0])
    ax_s = fig.add_subplot(gs[1, 1])

    # Index histogram, one bar series per source.
    sources = [s for s in SOURCES if np.any((pts["source"] == s) & ok)]
    kmin, kmax = int(idx[ok].min()), int(idx[ok].max())
    nk = kmax - kmin + 1
    binned = nk > 80
    if binned:
        edges = np.unique(np.linspace(kmin, kmax + 1, 61).round())
    width = 0.8 / len(sources)
    for j, s in enumerate(sources):
        v = idx[ok & (pts["source"] == s)].astype(int)
        label = f"{s} ({v.size})"
        if binned:
            counts, _ = np.histogram(v, edges)
            ax_h.stairs(counts, edges, color=style.SOURCE_COLORS[s], linewidth=1.4, label=label)
        else:
            ks = np.arange(kmin, kmax + 1)
            counts = np.bincount(v - kmin, minlength=nk)
            ax_h.bar(ks - 0.4 + width * (j + 0.5), counts, width=width,
                     color=style.SOURCE_COLORS[s], alpha=0.85, label=label)
    if (run.kind in ("double-well", "styblinski-tang") and "critical" in sources
            and run.dim <= 30):
        ncrit = int(np.sum(ok & (pts["source"] == "critical")))
        if ncrit == 3**run.dim:
            ks = np.arange(run.dim + 1)
            law = [math.comb(run.dim, k) * 2 ** (run.dim - k) for k in ks]
            ax_h.plot(ks, law, linestyle="none", marker="_", markersize=16, color="black",
                      markeredgewidth=2, label="closed form C(N,k)·2^(N−k)")
    ax_h.set_ylim(0, ax_h.get_ylim()[1] * 1.2)  # room for the legend
    ax_h.set_xlabel(f"index k (negative eigenvalues{' of N − 1' if run.is_pspin else ''})")
    ax_h.set_ylabel("points")
    if not binned and nk <= 25:
        ax_h.set_xticks(np.arange(kmin, kmax + 1))
    ax_h.set_title("index histogram", loc="left")
    ax_h.legend(title="source (points)", loc="best")

    # alpha vs value, coloured by class, shaped by source.
    f = pts["f"]
    alpha = idx / N
    sel = np.nonzero(ok & np.isfinite(f))[0]
    shown = sel[style.thin(sel.size, MAX_DOTS)]
    classes = [c for c in CLASSES if np.any(pts["class"][shown] == c)]
    for s in sources:
        for c in classes:
            m = shown[(pts["source"][shown] == s) & (pts["class"][shown] == c)]
            if m.size == 0:
                continue
            ax_s.scatter(f[m], alpha[m], s=18 if m.size < 2000 else 6,
                         marker=style.SOURCE_MARKERS[s], color=style.CLASS_COLORS[c],
                         alpha=0.7, linewidths=0)
    apply_scale(ax_s, "x", f[shown])
    tidy_ticks(ax_s, "x", most=7)
    top = float(np.nanmax(alpha[shown])) if shown.size else 0.0
    top = min(1.02, max(0.05, 1.15 * top))
    ax_s.set_ylim(-0.04 * top, top)
    ax_s.set_xlabel("E = H/N at the point" if run.is_pspin else "f at the point")
    ax_s.set_ylabel("index fraction α = index / " + ("(N − 1)" if run.is_pspin else "N"))
    sec = ax_s.secondary_yaxis("right", functions=(lambda a: a * N, lambda k: k / N))
    sec.set_ylabel("index k")
    sec.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    extra = []
    if run.is_pspin:
        p = int(run.objective_config.get("p", 3))
        eth = -2 * math.sqrt((p - 1) / p)
        ax_s.axvline(eth, color="black", linestyle=":", linewidth=1)
        extra.append(Line2D([], [], color="black", linestyle=":",
                            label=f"E_th = −2√((p−1)/p) = {eth:.4f}"))
    ax_s.set_title("index fraction vs " + ("energy" if run.is_pspin else "loss")
                   + (f" ({shown.size:,} of {sel.size:,} points shown)"
                      if shown.size < sel.size else ""), loc="left")
    handles = [Line2D([], [], linestyle="none", marker="o", color=style.CLASS_COLORS[c],
                      label=c) for c in classes]
    handles += [Line2D([], [], linestyle="none", marker=style.SOURCE_MARKERS[s],
                       color="#555555", markerfacecolor="white", label=s) for s in sources]
    handles += extra
    style.legend_row(fig.add_subplot(gs[0, :]), handles, [h.get_label() for h in handles],
                     ncols=len(handles))
    fig.suptitle(style.run_title(run, "Census: index of the analysed points"), x=0.01,
                 ha="left", fontsize=10.5)
    caption = ("Left: how many analysed points have each index (number of negative Hessian "
               "eigenvalues), per source: stop = where a trajectory stopped, plateau = the "
               "flattest point of a trajectory's longest plateau, critical = found by the "
               "finder. Right: index fraction α against the "
               + ("energy per spin E" if run.is_pspin else "objective value")
               + ", one dot per point, colour = class, marker = source.")
    if run.is_pspin:
        caption += " The dotted line is the threshold energy E_th."
    if n_failed:
        caption += f" {n_failed} point(s) whose eigen-solve failed are not shown."
    return [Made("census", title, caption, fig)]
