"""Figure: the SLQ index estimate against the value at the point (census method slq).

For every analysed point (points.csv), index_estimate / N against f (E for the
p-spin) with the error bar index_stderr / N (the standard error over probes),
and the point's index / N from the Ritz values: a lower bound unless the point
is certified (index_certified = 1: the Krylov space was the whole space, the
count is exact) (docs/run-directory.md "points.csv", docs/experiment.md
"Krylov methods (lanczos and slq)"). N is the Hessian's order (N - 1 for the
p-spin: the tangent directions). Colour = optimizer (or finder), marker =
source. For the p-spin the theory alpha(E) of the index-energy figure is drawn
too.
"""

import math

import numpy as np

from . import style
from .census import apply_scale, tidy_ticks
from .index_energy import pspin_alpha, pspin_threshold
from .result import Made, Skipped
from .rundir import SOURCES

MAX_POINTS = 5000
FINDER_COLOR = "#542788"


def _groups(run, ok):
    """[(optimizer or finder, source, row indices)] in the report's order: optimizers in
    file order, then the finder; sources stop, plateau, critical."""
    pts = run.points
    order = list(run.labels) + [o for o in dict.fromkeys(pts["optimizer"].tolist())
                                if o not in run.labels]
    out = []
    for opt in order:
        for src in SOURCES:
            rows = np.nonzero(ok & (pts["optimizer"] == opt) & (pts["source"] == src))[0]
            if rows.size:
                out.append((opt, src, rows))
    return out


def _color(run, opt):
    return style.optimizer_color(run.labels.index(opt)) if opt in run.labels else FINDER_COLOR


def make(run, opts=None):
    title = "Index estimate against value"
    if run.points is None:
        return [Skipped("index_estimate", title, "no census in this run: add an [analysis] "
                        "section with method = \"slq\"")]
    pts = run.points
    if "index_estimate" not in pts or not np.any(np.isfinite(pts["index_estimate"])):
        method = run.census_method or "eigh"
        return [Skipped("index_estimate", title, f"the census used method = {method}: "
                        "the index is estimated from quadratures under method = slq "
                        "only (points.csv index_estimate)")]
    from matplotlib.lines import Line2D

    N = run.spectrum_dim
    x = np.asarray(pts["f"], float)
    est = np.asarray(pts["index_estimate"], float)
    se = np.asarray(pts["index_stderr"], float)
    idx = np.asarray(pts["index"], float)
    cert = np.asarray(pts["index_certified"], float) > 0.5
    ok = np.isfinite(x) & np.isfinite(est)
    groups = _groups(run, ok)
    n_points = int(ok.sum())
    shown = style.thin(n_points, MAX_POINTS)
    keep = np.zeros(pts["_rows"], bool)
    keep[np.nonzero(ok)[0][shown]] = True

    # With --size, tall enough for the legend's rows and the panel.
    fig = style.figure((8.6, 5.0), min_height=4.6)
    gs = fig.add_gridspec(2, 1, height_ratios=[0.2, 1])
    ax = fig.add_subplot(gs[1, 0])
    handles = []
    ys = []
    for opt, src, rows in groups:
        rows = rows[keep[rows]]
        color = _color(run, opt)
        marker = style.SOURCE_MARKERS.get(src, "o")
        a = est[rows] / N
        err = np.where(np.isfinite(se[rows]), se[rows], 0.0) / N
        small = rows.size > 400
        eb = ax.errorbar(x[rows], a, yerr=err, color=color, marker=marker, linestyle="none",
                         markersize=3.5 if small else 5.5, elinewidth=0.7 if small else 1.0,
                         capsize=0 if small else 2, alpha=0.85, zorder=3,
                         label=f"{opt} / {src} ({rows.size:,})")
        handles.append(eb)
        ys.append(a + err)
        b = idx[rows] / N
        lb = ~cert[rows] & np.isfinite(b)
        ex = cert[rows] & np.isfinite(b)
        if np.any(lb):
            ax.plot(x[rows][lb], b[lb], linestyle="none", marker="_", markersize=11,
                    markeredgewidth=1.8, color=color, zorder=4)
        if np.any(ex):
            ax.plot(x[rows][ex], b[ex], linestyle="none", marker="x", markersize=6,
                    markeredgewidth=1.3, color=color, zorder=4)
        ys.append(b)
    n_lb = int(np.sum(ok & ~cert & np.isfinite(idx)))
    n_ex = int(np.sum(ok & cert & np.isfinite(idx)))
    handles.append(Line2D([], [], linestyle="none", marker="o", color="#444444",
                          label="index_estimate / N ± standard error (SLQ)"))
    if n_lb:
        handles.append(Line2D([], [], linestyle="none", marker="_", markersize=11,
                              markeredgewidth=1.8, color="#444444",
                              label=f"index / N: Ritz lower bound ({n_lb:,})"))
    if n_ex:
        handles.append(Line2D([], [], linestyle="none", marker="x", markersize=6,
                              markeredgewidth=1.3, color="#444444",
                              label=f"index / N: certified, exact ({n_ex:,})"))
    xv = x[ok]
    if run.is_pspin:
        p = int(run.objective_config.get("p", 3))
        eth = pspin_threshold(p)
        lo, hi = float(xv.min()), float(xv.max())
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        E = np.linspace(lo - pad, hi + pad, 600)
        th = pspin_alpha(E, p)
        ln, = ax.plot(E, th, color="#b2182b", linewidth=1.4, zorder=2,
                      label="theory α(E) (semicircle law)")
        handles.append(ln)
        ys.append(th)
        if lo - pad <= eth <= hi + pad:
            handles.append(ax.axvline(eth, color="black", linestyle=":", linewidth=1,
                                      label=f"E_th = {eth:.4f}"))
        ax.set_xlim(lo - pad, hi + pad)
    else:
        apply_scale(ax, "x", xv)
        tidy_ticks(ax, "x", most=7)
    yv = np.concatenate(ys) if ys else np.array([0.0])
    top = float(np.nanmax(yv)) if np.any(np.isfinite(yv)) else 0.0
    top = min(1.04, max(1.5 / N, 1.12 * top))
    ax.set_ylim(-0.04 * top, top)
    ax.set_xlabel("energy per spin E = H/N at the point" if run.is_pspin else "f at the point")
    order = "(N − 1)" if run.is_pspin else "N"
    ax.set_ylabel(f"index fraction = index / {order}")
    sec = ax.secondary_yaxis("right", functions=(lambda a: a * N, lambda k: k / N))
    sec.set_ylabel("index")
    from matplotlib.ticker import MaxNLocator
    sec.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.set_title(f"SLQ estimate and Ritz count ({n_points:,} points)", loc="left")
    # A narrow --size: one entry per legend row (the labels are wider than half of it).
    style.legend_row(fig.add_subplot(gs[0, 0]), handles, [h.get_label() for h in handles],
                     ncols=1 if fig.get_figwidth() < 6.5 else None)
    fig.suptitle(style.run_title(run, "Index estimate (SLQ) against the value at the point"),
                 x=0.01, ha="left", fontsize=10.5)
    cen = run.census if isinstance(run.census, dict) else {}
    probes = cen.get("probes")
    steps = cen.get("lanczos_steps")
    caption = (f"Every analysed point's index estimate divided by {order} = {N:,} (points.csv "
               "index_estimate: the quadratures' spectral mass below −λ_tol times the "
               f"order, averaged over {probes if isinstance(probes, int) else 'the'} probes"
               + (f" of {steps} Lanczos steps" if isinstance(steps, int) else "")
               + ") against its value "
               + ("E" if run.is_pspin else "f")
               + ", the error bar its standard error over probes (index_stderr; the probes' "
               "spread only, not the quadrature's bias where eigenvalues crowd near −λ_tol). "
               "Colour = optimizer or finder, marker = source (stop ○, plateau □, critical "
               "△). In the same colour, the point's index from the Ritz values (points.csv "
               "index): a dash where it is a lower bound of the Hessian's index (Cauchy "
               "interlacing: the true index is at or above the dash), a cross where the "
               "point is certified (the Krylov space was the whole space: exact).")
    if run.is_pspin:
        caption += (" Red: the theory α(E) of the index-energy figure; dotted: the threshold "
                    "energy.")
    if shown.size < n_points:
        caption += f" {shown.size:,} of the {n_points:,} points are drawn (evenly chosen)."
    n_missing = int(pts["_rows"] - n_points)
    if n_missing:
        caption += f" {n_missing:,} point(s) without an estimate (failed) are left out."
    return [Made("index_estimate", title, caption, fig)]
