"""Figure 1: Hessian eigenvalue densities per optimizer and class.

One row per density.csv group (<optimizer or finder>/<class>), the histogram
in a linear and in a log density view, the zero eigenvalue marked. For the
goe-quadratic the semicircle on [-2 sigma, 2 sigma] is overlaid; for the
p-spin the average over the group's points of semicircles of radius
2 sqrt(p (p - 1)) centred at -p E (E = the point's energy per spin), the
law of the Riemannian Hessian at energy E (docs/experiment.md).
"""

import math

import numpy as np

from . import style
from .landscape_math import semicircle
from .result import Made, Skipped
from .rundir import CLASSES

MAX_GROUPS = 10


def _groups_from_density(run):
    d = run.density
    groups = []
    for g in dict.fromkeys(d["group"].tolist()):
        m = d["group"] == g
        lo, hi, dens = d["bin_lo"][m], d["bin_hi"][m], d["density"][m]
        order = np.argsort(lo, kind="stable")
        lo, hi, dens = lo[order], hi[order], dens[order]
        edges = np.append(lo, hi[-1])
        groups.append((g, edges, dens))
    return groups


def _groups_from_spectra(run):
    """The density.csv histograms recomputed from spectra.npy (when density.csv is absent)."""
    pts, s = run.points, np.asarray(run.spectra)
    keys = [f"{o}/{c}" for o, c in zip(pts["optimizer"], pts["class"])]
    allv = s[np.isfinite(s)]
    if allv.size == 0:
        return []
    lo, hi = float(allv.min()), float(allv.max())
    if hi <= lo:
        hi = lo + 1.0
    q75, q25 = np.percentile(allv, [75, 25])
    width = 2 * (q75 - q25) / allv.size ** (1 / 3) if q75 > q25 else (hi - lo) / 10
    nbins = int(min(200, max(10, math.ceil((hi - lo) / width))))
    edges = np.linspace(lo, hi, nbins + 1)
    groups = []
    for g in dict.fromkeys(keys):
        rows = np.array([k == g for k in keys])
        v = s[rows].ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        counts, _ = np.histogram(v, edges)
        groups.append((g, edges, counts / (v.size * np.diff(edges))))
    return groups


def _theory(run, group):
    """(label, callable lam -> density) of the law to overlay for a group, or None."""
    oc = run.objective_config
    if run.kind == "goe-quadratic":
        sigma = float(oc.get("sigma", 1.0))
        return (f"semicircle on [−2σ, 2σ], σ = {sigma:g}",
                lambda lam: semicircle(lam, 0.0, 2 * sigma), (-2 * sigma, 2 * sigma))
    if run.kind == "p-spin" and run.points is not None:
        p = int(oc.get("p", 3))
        opt, _, cls = group.rpartition("/")
        m = (run.points["optimizer"] == opt) & (run.points["class"] == cls)
        E = run.points["f"][m]
        E = E[np.isfinite(E)]
        if E.size == 0:
            return None
        R = 2 * math.sqrt(p * (p - 1))
        centres = -p * E

        def law(lam):
            lam = np.asarray(lam, float)
            out = np.zeros_like(lam)
            for c in centres[style.thin(centres.size, 400)]:
                out += semicircle(lam, c, R)
            return out / min(centres.size, 400)

        where = (f"centre −{p}E" if E.size > 1 else f"centre −{p}E = {-p * E[0]:.3g}")
        return (f"semicircle, radius 2√{p * (p - 1)} = {R:.3g}, {where}", law,
                (float(centres.min() - R), float(centres.max() + R)))
    return None


def make(run):
    title = "Hessian spectra"
    if run.density is None and run.spectra is None:
        why = ("no census in this run" if run.points is None else
               "the census used method = \"inertia\" (counts, no spectra)")
        return [Skipped("spectra", title, f"{why}: add [analysis] with method = \"eigh\" to "
                        "the experiment for eigenvalue histograms")]
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    groups = _groups_from_density(run) if run.density is not None else _groups_from_spectra(run)
    groups = [g for g in groups if g[2].size and np.any(g[2] > 0)]
    opt_order = {label: i for i, label in enumerate(run.labels)}
    cls_order = {c: i for i, c in enumerate(CLASSES)}

    def key(g):
        opt, _, cls = g[0].rpartition("/")
        return (opt_order.get(opt, len(opt_order)), opt, cls_order.get(cls, 99), cls)

    groups.sort(key=key)
    if not groups:
        return [Skipped("spectra", title, "density.csv holds no histogram (every solve "
                        "failed?)")]
    dropped = []
    if len(groups) > MAX_GROUPS:
        dropped = [g[0] for g in groups[MAX_GROUPS:]]
        groups = groups[:MAX_GROUPS]
    npts = {}
    if run.points is not None:
        for o, c in zip(run.points["optimizer"], run.points["class"]):
            npts[f"{o}/{c}"] = npts.get(f"{o}/{c}", 0) + 1

    lo = min(g[1][0] for g in groups)
    hi = max(g[1][-1] for g in groups)
    theories = {g[0]: _theory(run, g[0]) for g in groups}
    for t in theories.values():
        if t is not None:
            lo, hi = min(lo, t[2][0]), max(hi, t[2][1])
    span = hi - lo if hi > lo else max(1.0, abs(hi))
    zero_shown = lo - 0.25 * span <= 0 <= hi + 0.25 * span
    if zero_shown:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        span = hi - lo if hi > lo else 1.0
    xlim = (lo - 0.03 * span, hi + 0.03 * span)

    n = len(groups)
    fig = plt.figure(figsize=(11, 1.5 + 1.75 * n))
    gs = fig.add_gridspec(n + 1, 2, height_ratios=[0.16] + [1] * n)
    axes = np.empty((n, 2), dtype=object)
    for r in range(n):
        for c in range(2):
            axes[r, c] = fig.add_subplot(gs[r + 1, c], sharex=axes[0, 0] if r or c else None)
    cls_color = style.CLASS_COLORS
    for r, (g, edges, dens) in enumerate(groups):
        cls = g.rpartition("/")[2]
        color = cls_color.get(cls, "#555555")
        count = npts.get(g)
        label = f"{g}" + (f"  ({count} point{'s' if count != 1 else ''})" if count else "")
        for c, logy in enumerate((False, True)):
            ax = axes[r, c]
            ax.stairs(dens, edges, fill=True, color=color, alpha=0.35, linewidth=0)
            ax.stairs(dens, edges, color=color, linewidth=1.0,
                      label="histogram (density.csv; colour = class)")
            if zero_shown:
                ax.axvline(0.0, color="black", linestyle="--", linewidth=0.9, label="λ = 0")
            t = theories[g]
            if t is not None:
                xs = np.linspace(*xlim, 800)
                ys = t[1](xs)
                if logy:
                    ys = np.where(ys > 0, ys, np.nan)
                ax.plot(xs, ys, color="black", linewidth=1.2, label=t[0])
            if logy:
                ax.set_yscale("log")
                pos = dens[dens > 0]
                ax.set_ylim(min(pos.min() / 3, pos.max() / 1e3), pos.max() * 3)
                ax.yaxis.set_minor_formatter(NullFormatter())
            else:
                ax.set_ylim(0, None)
            ax.set_xlim(*xlim)
            ax.set_title(label + ("  (log density)" if logy else ""), loc="left", fontsize=9)
            if c == 0:
                ax.set_ylabel("density")
            if r < n - 1:
                ax.tick_params(labelbottom=False)
            else:
                ax.set_xlabel("eigenvalue λ of the Riemannian Hessian (N − 1 tangent directions)"
                              if run.is_pspin else "eigenvalue λ of the Hessian")
        if not zero_shown:
            axes[r, 0].annotate(f"λ = 0 lies far left of the axis: every eigenvalue ≥ "
                                f"{style.fmt_num(edges[0])}" if edges[0] > 0 else
                                f"λ = 0 lies far right: every eigenvalue ≤ "
                                f"{style.fmt_num(edges[-1])}",
                                xy=(0.01, 0.9), xycoords="axes fraction", fontsize=8,
                                color="#444444", va="top")
    style.legend_row(fig.add_subplot(gs[0, :]), *axes[0, 0].get_legend_handles_labels())
    fig.suptitle(style.run_title(run, "Hessian eigenvalue densities per optimizer and class"),
                 x=0.01, ha="left", fontsize=10.5)
    caption = ("Histogram of the Hessian eigenvalues of the analysed points, one row per "
               "optimizer (or finder) and class, normalised to integrate to 1 (density.csv); "
               "left linear, right log density. The dashed line is λ = 0: eigenvalues left of "
               "it are descent directions.")
    if run.kind == "goe-quadratic":
        caption += " The black curve is the Wigner semicircle the GOE spectrum tends to."
    if run.is_pspin:
        caption += (" The black curve is the mean over the group's points of the semicircle "
                    "of radius 2√(p(p−1)) centred at −pE, the Riemannian Hessian's law at "
                    "energy E.")
    if dropped:
        caption += f" Not shown (more than {MAX_GROUPS} groups): {', '.join(dropped)}."
    return [Made("spectra", title, caption, fig)]
