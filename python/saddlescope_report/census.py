"""Figure: the census over distinct points (distinct.csv).

(a) distinct points per index, one bar series per source (the distinct points
found from that source: mult_<source> > 0), the part that is not critical
hatched; for the double well and Styblinski-Tang with all 3^N distinct critical
points found, the closed form C(N, k) 2^(N - k) is marked. (b) the same counted
once per finding (weighted by mult_stop, mult_plateau, mult_critical). (c) how
often each distinct point was found against its index, colour = class. Count
axes are logarithmic when the counts differ by orders of magnitude.

Without distinct.csv (schema 1 runs) every analysed point of points.csv counts
as a distinct point of its own and only (a) is drawn.
"""

import math

import numpy as np

from . import style
from .result import Made, Skipped
from .rundir import CLASSES

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


def log_counts(ax, counts, axis="y"):
    """A log count axis when the nonzero counts differ by more than a factor of 100."""
    c = np.asarray(counts, float)
    c = c[c > 0]
    if c.size and c.max() / c.min() > 100:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        return True
    return False


def closed_form(run, dt, ok):
    """C(N, k) 2^(N - k) for k = 0..N when the run is a double well or Styblinski-Tang
    and its distinct critical points number 3^N (else None)."""
    if run.kind not in ("double-well", "styblinski-tang") or run.dim > 30:
        return None
    if dt["merged"]:
        n = int(np.sum(ok & dt["critical"]))
    else:  # schema 1: the finder's points were distinct
        n = int(np.sum(ok & (dt["source"] == "critical")))
    if n != 3 ** run.dim:
        return None
    return np.array([math.comb(run.dim, k) * 2 ** (run.dim - k) for k in range(run.dim + 1)])


MULT = {"stop": "mult_stop", "plateau": "mult_plateau", "critical": "mult_critical"}


def _index_bars(ax, idx, weights_by_source, crit, sources, kmin, kmax, binned, edges, hatch):
    """Grouped bars per source over the index range; returns every bar height drawn."""
    nk = kmax - kmin + 1
    width = 0.8 / len(sources)
    heights = []
    for j, s in enumerate(sources):
        w = weights_by_source[s]
        color = style.SOURCE_COLORS[s]
        if binned:
            counts, _ = np.histogram(idx, edges, weights=w)
            ax.stairs(counts, edges, color=color, linewidth=1.4, label=s)
            heights.append(counts)
            continue
        k = idx.astype(int) - kmin
        total = np.bincount(k, weights=w, minlength=nk)
        critical = np.bincount(k, weights=w * crit, minlength=nk)
        x = np.arange(kmin, kmax + 1) - 0.4 + width * (j + 0.5)
        ax.bar(x, critical if hatch else total, width=width, color=color, alpha=0.85, label=s)
        if hatch:
            rest = total - critical
            ax.bar(x, rest, bottom=critical, width=width, color="white", edgecolor=color,
                   hatch="////", linewidth=0.6, label=f"{s}: not critical")
        heights.append(total)
    return np.concatenate(heights) if heights else np.array([])


def index_label(run):
    """The index axis label; for a census by lanczos or slq with uncertified points it
    says that the indices are lower bounds (docs/experiment.md "Counts and
    certification")."""
    b = run.index_bound()
    if b is None or not b[0]:
        return "index k"
    lower, cert, n = b
    return (f"index k ({n - cert:,} of {n:,} points: lower bounds from Ritz values)"
            if cert else "index k (lower bounds from Ritz values)")


def _finish_count_axis(ax, heights, kmin, kmax, binned, ylabel, xlabel="index k"):
    logy = log_counts(ax, heights)
    if logy:
        ax.set_ylim(0.6, float(np.max(heights)) * 2.0)
    else:
        ax.set_ylim(0, float(np.max(heights)) * 1.08 if np.max(heights) > 0 else 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log)" if logy else ""))
    if not binned and kmax - kmin + 1 <= 25:
        ax.set_xticks(np.arange(kmin, kmax + 1))
        ax.grid(axis="x", visible=False)
    return logy


def make(run, opts=None):
    title = "Census of distinct points"
    if run.points is None:
        return [Skipped("census", title, "no census in this run: add an [analysis] section "
                        "(Hessians at the stopping, plateau or critical points)")]
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    dt = run.distinct_table()
    idx = np.asarray(dt["index"], float)
    ok = np.isfinite(idx)
    n_failed = int(np.sum(~ok))
    what = "distinct points" if dt["merged"] else "analysed points"
    if not np.any(ok):
        return [Skipped("census", title, f"{'distinct.csv' if dt['merged'] else 'points.csv'}: "
                        f"all {dt['rows']} eigen-solves failed (no index)")]
    mult = {s: np.asarray(dt[MULT[s]], float)[ok] for s in MULT}
    sources = [s for s in MULT if np.any(mult[s] > 0)]
    if not sources:  # multiplicities all zero: fall back on the representative's source
        mult = {s: (dt["source"][ok] == s).astype(float) for s in MULT}
        sources = [s for s in MULT if np.any(mult[s] > 0)]
    v = idx[ok]
    crit = np.asarray(dt["critical"], bool)[ok].astype(float)
    kmin, kmax = int(v.min()), int(v.max())
    binned = kmax - kmin + 1 > 80
    edges = np.unique(np.linspace(kmin, kmax + 1, 61).round()) if binned else None
    hatch = bool(dt["merged"]) and bool(np.any(crit == 0)) and not binned
    law = closed_form(run, dt, ok)
    merged = bool(dt["merged"])
    weighted_differs = merged and any(np.any(mult[s] > 1) for s in sources)

    panels = merged and weighted_differs  # (b) and (c) only show something when they differ
    ncol = 3 if panels else 1
    fig = style.figure((12.5, 4.6) if panels else (7.5, 4.6))
    gs = fig.add_gridspec(2, ncol, height_ratios=[0.12, 1])
    ax_d = fig.add_subplot(gs[1, 0])
    found = {s: (mult[s] > 0).astype(float) for s in sources}
    h = _index_bars(ax_d, v, found, crit, sources, kmin, kmax, binned, edges, hatch)
    if len(sources) > 1 and not binned:  # every distinct point once
        tot = np.bincount(v.astype(int) - kmin, minlength=kmax - kmin + 1)
        ax_d.stairs(tot, np.arange(kmin, kmax + 2) - 0.5, color="black", linewidth=1.1,
                    label=f"all {what}")
        h = np.concatenate([h, tot])
    if law is not None:
        ks = np.arange(run.dim + 1)
        ax_d.plot(ks, law, linestyle="none", marker="_", markersize=16, color="black",
                  markeredgewidth=2, label="closed form C(N,k)·2^(N−k)")
        h = np.concatenate([h, law])
    _finish_count_axis(ax_d, h, kmin, kmax, binned, what, index_label(run))
    ax_d.set_title(f"(a) {what} per index (each once)" if panels else
                   f"{what} per index", loc="left")

    handles = [Patch(color=style.SOURCE_COLORS[s], alpha=0.85, label=s) for s in sources]
    if hatch:
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch="////",
                             label="not critical (‖∇f‖ above the threshold)"))
    if len(sources) > 1 and not binned:
        handles.append(Line2D([], [], color="black", linewidth=1.1, label=f"all {what}"))
    if law is not None:
        handles.append(Line2D([], [], linestyle="none", marker="_", markersize=14,
                              markeredgewidth=2, color="black",
                              label="closed form C(N,k)·2^(N−k)"))
    if panels:
        ax_w = fig.add_subplot(gs[1, 1])
        hw = _index_bars(ax_w, v, mult, crit, sources, kmin, kmax, binned, edges, hatch)
        _finish_count_axis(ax_w, hw, kmin, kmax, binned, "findings", index_label(run))
        ax_w.set_title("(b) weighted by multiplicity (each finding)", loc="left")

        ax_m = fig.add_subplot(gs[1, 2])
        m = np.asarray(dt["multiplicity"], float)[ok]
        cls = np.asarray(dt["class"])[ok]
        sel = style.thin(v.size, MAX_DOTS)
        # Deterministic jitter so that points of one index do not hide each other.
        jit = ((np.arange(v.size) * 0.618034) % 1.0 - 0.5) * 0.5
        for c in CLASSES:
            mm = sel[cls[sel] == c]
            if mm.size:
                ax_m.scatter(v[mm] + jit[mm], np.maximum(m[mm], 0.8), s=14 if mm.size < 2000
                             else 5, color=style.CLASS_COLORS[c], alpha=0.7, linewidths=0,
                             label=c)
        if log_counts(ax_m, m):
            ax_m.set_ylim(0.6, float(m.max()) * 2)
        else:
            ax_m.set_ylim(0, float(m.max()) * 1.1 + 0.5)
        ax_m.set_xlim(kmin - 0.5, kmax + 0.5)
        ax_m.set_xlabel(index_label(run))
        ax_m.set_ylabel("multiplicity (times found)")
        if kmax - kmin + 1 <= 25:
            ax_m.set_xticks(np.arange(kmin, kmax + 1))
            ax_m.grid(axis="x", visible=False)
        ax_m.set_title("(c) multiplicity of each distinct point", loc="left")
        ax_m.legend(loc="best", title="class", fontsize=7.5, title_fontsize=7.5,
                    markerscale=1.3)
    style.legend_row(fig.add_subplot(gs[0, :]), handles, [x.get_label() for x in handles])
    fig.suptitle(style.run_title(run, "Census: index of the distinct points"
                                 if merged else "Census: index of the analysed points"),
                 x=0.01, ha="left", fontsize=10.5)
    D = int(ok.sum())
    caption = (f"{'(a) ' if panels else ''}How many {what} have each index k (the number "
               "of negative Hessian eigenvalues beyond the point's tolerance"
               + (", of the N − 1 tangent directions" if run.is_pspin else "") + "), one bar per "
               "source: stop = where a trajectory stopped, plateau = the flattest point of a "
               "trajectory's longest plateau, critical = found by the finder. ")
    if merged:
        caption += (f"Each of the {D:,} distinct points (distinct.csv: points within the "
                    "merge tolerance are one) counts once in every source that found it"
                    + (", the black outline once in all" if len(sources) > 1 else "")
                    + (", hatched: not critical" if hatch else "") + ".")
        if panels:
            caption += (" (b) The same counted once per finding (weighted by the "
                        "multiplicities mult_stop, mult_plateau, mult_critical): analysed "
                        "stops and plateau points, converged finder starts. (c) How often "
                        "each distinct point was found (its multiplicity) against its index, "
                        "colour = class.")
        else:
            caption += (" Every distinct point was found once (multiplicity 1), so the "
                        "counts weighted by multiplicity are the same.")
    else:
        caption += ("This run has no distinct.csv (summary schema_version "
                    f"{run.schema}): every analysed point counts, duplicates included.")
    if law is not None:
        caption += (f" All 3^N = {3 ** run.dim:,} critical points were found: the marks are "
                    "the closed form C(N, k)·2^(N−k) (k coordinates at the local maximum).")
    if n_failed:
        caption += f" {n_failed} point(s) whose eigen-solve failed are not counted."
    from .tables import index_bound_note
    note = index_bound_note(run)
    if note:
        caption += " " + note
    return [Made("census", title, caption, fig)]
