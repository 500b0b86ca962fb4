"""Figure: Hessian eigenvalue densities per optimizer and class.

One row per group (<optimizer or finder>/<class>, as density.csv), the
histogram in a linear and in a log density view, the zero eigenvalue marked.
The histograms are recomputed from spectra.npy when it is present (density.csv
is used only without it): each group's bins follow the Freedman-Diaconis rule
on its own eigenvalues (10 to 200 bins) and are aligned so that 0 is a bin
edge, so the negative eigenvalues are never smeared across zero. When the
spectrum spans orders of magnitude (or --spectra-scale symlog) the eigenvalue
axis is symmetric-logarithmic and the bins are uniform in that coordinate,
mirrored around 0.

Overlays: for the goe-quadratic the semicircle on [-2 sigma, 2 sigma]; for
the p-spin the average over the group's points of semicircles of radius
2 sqrt(p (p - 1)) centred at -p E (E = the point's energy per spin), the law
of the Riemannian Hessian at energy E (docs/experiment.md).

Under census.method = "slq" there is no spectra.npy: density.csv holds the
pooled quadratures broadened by Gaussians of one bin width, in groups
<optimizer>/<source>/<class> (docs/run-directory.md "spectra.npy and
density.csv"). Those are drawn with a logarithmic density axis only, as SLQ
densities are usually drawn (Ghorbani et al. 2019; PyHessian), down to
SLQ_FLOOR of the highest density.
"""

import math

import numpy as np

from . import style
from .landscape_math import semicircle
from .result import Made, Skipped
from .rundir import CLASSES, SOURCES

MAX_GROUPS = 10
MIN_BINS, MAX_BINS = 10, 200
SYMLOG_SPAN = 1e3      # auto: symlog when max |lambda| / (25th percentile of |lambda|) exceeds it
MAX_DECADES = 10       # the symlog axis shows at most this many decades inside max |lambda|
SLQ_FLOOR = 1e-8       # slq: the log density axis reaches down to this fraction of the peak


# ---------------------------------------------------------------------------
# Scale and bins


def _sample(values, most=2_000_000):
    """At most `most` finite values, evenly strided (quantiles of huge spectra)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size > most:
        v = v[:: -(-v.size // most)]
    return v[np.isfinite(v)]


def choose_scale(values, forced="auto"):
    """('linear', None) or ('symlog', linthresh) for an eigenvalue axis.

    auto: symlog when max |lambda| over the 25th percentile of the nonzero |lambda|
    exceeds SYMLOG_SPAN (e.g. |lambda| from 1e-6 to 1e3). linthresh is a power of 10
    near the 5th percentile of |lambda|, at most MAX_DECADES below max |lambda|.
    """
    if forced == "linear":
        return "linear", None
    v = _sample(values)
    a = np.abs(v[v != 0])
    if a.size == 0:
        return ("symlog", 1.0) if forced == "symlog" else ("linear", None)
    big = float(a.max())
    wide = big / float(np.percentile(a, 25)) > SYMLOG_SPAN
    if forced != "symlog" and not wide:
        return "linear", None
    small = max(float(np.percentile(a, 5)), big * 10.0 ** -MAX_DECADES)
    linthresh = 10.0 ** math.floor(math.log10(small))
    if linthresh >= big:
        linthresh = 10.0 ** (math.floor(math.log10(big)) - 1)
    return "symlog", linthresh


def symlog_transform(linthresh):
    """matplotlib's symlog transform (base 10, linscale 1) and its inverse, on arrays."""
    from matplotlib.scale import SymmetricalLogTransform
    t = SymmetricalLogTransform(10, linthresh, 1.0)
    inv = t.inverted()

    def fwd(x):
        a = np.asarray(x, float)
        return np.asarray(t.transform_non_affine(np.atleast_1d(a))).reshape(a.shape)

    def back(y):
        a = np.asarray(y, float)
        return np.asarray(inv.transform_non_affine(np.atleast_1d(a))).reshape(a.shape)

    return fwd, back


def _fd_width(t):
    """Freedman-Diaconis width of a sample (None when its IQR is 0)."""
    q75, q25 = np.percentile(t, [75, 25])
    if not q75 > q25:
        return None
    return 2 * (q75 - q25) / t.size ** (1 / 3)


def aligned_edges(t):
    """Bin edges k * w over the sample t (0 is on the grid, so 0 is an edge whenever it
    lies in the range), w from Freedman-Diaconis clamped to MIN_BINS..MAX_BINS bins."""
    lo, hi = float(t.min()), float(t.max())
    span = hi - lo
    if not span > 0:
        w = max(abs(lo), 1.0) * 0.05
    else:
        w = _fd_width(_sample(t)) or span / MIN_BINS
        n = min(MAX_BINS, max(MIN_BINS, math.ceil(span / w)))
        w = span / n
    k0, k1 = math.floor(lo / w), math.ceil(hi / w)
    if k1 == k0:
        k1 += 1
    return w * np.arange(k0, k1 + 1)


def histogram(values, scale):
    """(edges in lambda, heights) of one group's eigenvalues.

    linear: density (integrates to 1 over lambda); symlog: bins uniform in the
    symlog coordinate, mirrored around 0, heights = fraction of the eigenvalues
    per bin."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    kind, linthresh = scale
    if kind == "linear":
        edges = aligned_edges(v)
        counts, _ = np.histogram(v, edges)
        return edges, counts / (v.size * np.diff(edges))
    fwd, inv = symlog_transform(linthresh)
    t = fwd(v)
    edges_t = aligned_edges(t)
    edges = inv(edges_t)
    edges[edges_t == 0] = 0.0
    counts, _ = np.histogram(t, edges_t)
    return edges, counts / v.size


# ---------------------------------------------------------------------------
# Groups


def _groups_from_density(run):
    d = run.density
    groups = []
    for g in dict.fromkeys(d["group"].tolist()):
        m = d["group"] == g
        lo, hi, dens = d["bin_lo"][m], d["bin_hi"][m], d["density"][m]
        order = np.argsort(lo, kind="stable")
        lo, hi, dens = lo[order], hi[order], dens[order]
        edges = np.append(lo, hi[-1])
        groups.append((g, edges, dens, None))
    return groups


def _group_values(run):
    """[(group, eigenvalues of its points)] from spectra.npy, groups as density.csv."""
    pts, s = run.points, run.spectra
    keys = np.char.add(np.char.add(pts["optimizer"].astype(str), "/"),
                       pts["class"].astype(str))
    out = []
    for g in dict.fromkeys(keys.tolist()):
        rows = np.nonzero(keys == g)[0]
        v = np.asarray(s[rows], dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        if v.size:
            out.append((g, v))
    return out


def split_group(group, three_part):
    """(optimizer or finder, source or None, class) of a density.csv group: <optimizer>/
    <class>, or under slq <optimizer>/<source>/<class> (docs/run-directory.md "spectra.npy
    and density.csv"). The class and the source are split from the right, so a label with
    "/" in it stays whole."""
    rest, _, cls = group.rpartition("/")
    if three_part:
        opt, _, src = rest.rpartition("/")
        if src in SOURCES and opt:
            return opt, src, cls
    return rest, None, cls


def _group_rows(run, group, three_part):
    """Boolean mask of the points.csv rows of a group."""
    opt, src, cls = split_group(group, three_part)
    m = (run.points["optimizer"] == opt) & (run.points["class"] == cls)
    if src is not None:
        m &= run.points["source"] == src
    return m


def _theory(run, group, three_part=False):
    """(label, callable lam -> density, (lo, hi)) of the law to overlay, or None."""
    oc = run.objective_config
    if run.kind == "goe-quadratic":
        sigma = float(oc.get("sigma", 1.0))
        return (f"semicircle on [−2σ, 2σ], σ = {sigma:g}",
                lambda lam: semicircle(lam, 0.0, 2 * sigma), (-2 * sigma, 2 * sigma))
    if run.kind == "p-spin" and run.points is not None:
        p = int(oc.get("p", 3))
        E = run.points["f"][_group_rows(run, group, three_part)]
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


def make(run, opts=None):
    title = "Hessian spectra"
    if run.density is None and run.spectra is None:
        method = run.census_method or "inertia"
        why = ("no census in this run" if run.points is None else
               f"the census used method = {method} (counts"
               + (" and Ritz values in ritz.npy" if method == "lanczos" else "")
               + ", no spectra)")
        return [Skipped("spectra", title, f"{why}: add [analysis] with method = \"eigh\" "
                        "(or \"slq\" for large N) to the experiment for eigenvalue "
                        "densities")]
    from matplotlib.ticker import NullFormatter

    forced = opts.spectra_scale if opts is not None else "auto"
    from_spectra = run.spectra is not None
    if from_spectra:
        values = _group_values(run)
        scale = choose_scale(np.concatenate([v for _, v in values]) if values else [], forced)
        groups = [(g, *histogram(v, scale), v.size) for g, v in values]
    else:
        groups = _groups_from_density(run)
        los = np.concatenate([g[1] for g in groups]) if groups else np.array([])
        scale = choose_scale(los, forced)
    groups = [g for g in groups if g[2].size and np.any(g[2] > 0)]
    # slq: density.csv holds broadened quadratures in <optimizer>/<source>/<class> groups.
    slq = not from_spectra and run.census_method == "slq"
    opt_order = {label: i for i, label in enumerate(run.labels)}
    cls_order = {c: i for i, c in enumerate(CLASSES)}
    src_order = {c: i for i, c in enumerate(SOURCES)}

    def key(g):
        opt, src, cls = split_group(g[0], slq)
        return (opt_order.get(opt, len(opt_order)), opt, src_order.get(src, -1),
                cls_order.get(cls, 99), cls)

    groups.sort(key=key)
    if not groups:
        return [Skipped("spectra", title, ("spectra.npy" if from_spectra else "density.csv")
                        + " holds no finite eigenvalue (every solve failed?)")]
    dropped = []
    if len(groups) > MAX_GROUPS:
        dropped = [g[0] for g in groups[MAX_GROUPS:]]
        groups = groups[:MAX_GROUPS]
    npts = {}
    if run.points is not None:
        for o, src, c in zip(run.points["optimizer"], run.points["source"],
                             run.points["class"]):
            g = f"{o}/{src}/{c}" if slq else f"{o}/{c}"
            npts[g] = npts.get(g, 0) + 1

    symlog = scale[0] == "symlog"
    lo = min(g[1][0] for g in groups)
    hi = max(g[1][-1] for g in groups)
    theories = {g[0]: _theory(run, g[0], slq) for g in groups}
    for t in theories.values():
        if t is not None:
            lo, hi = min(lo, t[2][0]), max(hi, t[2][1])
    if symlog:
        fwd, inv = symlog_transform(scale[1])
        tlo, thi = float(fwd(min(lo, 0.0))), float(fwd(max(hi, 0.0)))
        tspan = thi - tlo if thi > tlo else 1.0
        xlim = tuple(inv(np.array([tlo - 0.03 * tspan, thi + 0.03 * tspan])))
        zero_shown = True
    else:
        span = hi - lo if hi > lo else max(1.0, abs(hi))
        zero_shown = lo - 0.25 * span <= 0 <= hi + 0.25 * span
        if zero_shown:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
            span = hi - lo if hi > lo else 1.0
        xlim = (lo - 0.03 * span, hi + 0.03 * span)

    n = len(groups)
    views = (True,) if slq else (False, True)  # log density only for slq
    fig = style.figure((9 if slq else 11, 1.5 + 1.75 * n), min_height=0.8 + 1.3 * n)
    gs = fig.add_gridspec(n + 1, len(views), height_ratios=[0.16] + [1] * n)
    axes = np.empty((n, len(views)), dtype=object)
    for r in range(n):
        for c in range(len(views)):
            axes[r, c] = fig.add_subplot(gs[r + 1, c], sharex=axes[0, 0] if r or c else None)
    if symlog:
        axes[0, 0].set_xscale("symlog", linthresh=scale[1])
    ylabel = "fraction per bin" if symlog and from_spectra else "density"
    cls_color = style.CLASS_COLORS
    for r, (g, edges, dens, *_rest) in enumerate(groups):
        cls = g.rpartition("/")[2]
        color = cls_color.get(cls, "#555555")
        count = npts.get(g)
        label = f"{g}" + (f"  ({count} point{'s' if count != 1 else ''})" if count else "")
        for c, logy in enumerate(views):
            ax = axes[r, c]
            ax.stairs(dens, edges, fill=True, color=color, alpha=0.35, linewidth=0)
            ax.stairs(dens, edges, color=color, linewidth=1.0,
                      label="SLQ density (colour = class)" if slq
                      else "histogram (colour = class)")
            if zero_shown:
                ax.axvline(0.0, color="black", linestyle="--", linewidth=0.9, label="λ = 0")
            t = theories[g]
            if t is not None:
                if symlog:
                    ts = np.linspace(float(fwd(xlim[0])), float(fwd(xlim[1])), 1600)
                    xs = inv(ts)
                    ys = t[1](xs)
                    if from_spectra:  # density per lambda -> fraction in a bin of this width
                        dt = float(np.median(np.diff(fwd(edges))))
                        ys = ys * np.gradient(xs, ts) * dt
                else:
                    xs = np.linspace(*xlim, 800)
                    ys = t[1](xs)
                if logy:
                    ys = np.where(ys > 0, ys, np.nan)
                ax.plot(xs, ys, color="black", linewidth=1.2, label=t[0])
            if logy:
                ax.set_yscale("log")
                pos = dens[dens > 0]
                low = min(pos.min() / 3, pos.max() / 1e3)
                if slq:  # the Gaussians' far tails reach far below anything of interest
                    low = max(low, pos.max() * SLQ_FLOOR)
                ax.set_ylim(low, pos.max() * 3)
                ax.yaxis.set_minor_formatter(NullFormatter())
            else:
                ax.set_ylim(0, None)
            ax.set_xlim(*xlim)
            style.label_title(ax, label if slq or not logy else f"{g}: log scale",
                              fontsize=9)
            ax.set_ylabel(ylabel + (" (log)" if logy else ""))
            if r < n - 1:
                ax.tick_params(labelbottom=False)
            else:
                ax.set_xlabel(("eigenvalue λ of the Riemannian Hessian (N − 1 tangent "
                               "directions)" if run.is_pspin else "eigenvalue λ of the Hessian")
                              + (f"\n(symlog axis: linear within ±{style.fmt_num(scale[1])})"
                                 if symlog else ""))
        if not zero_shown:
            axes[r, 0].annotate(f"λ = 0 lies far left of the axis: every eigenvalue ≥ "
                                f"{style.fmt_num(edges[0])}" if edges[0] > 0 else
                                f"λ = 0 lies far right: every eigenvalue ≤ "
                                f"{style.fmt_num(edges[-1])}",
                                xy=(0.01, 0.9), xycoords="axes fraction", fontsize=8,
                                color="#444444", va="top")
    if symlog:
        from .census import tidy_ticks
        tidy_ticks(axes[-1, 0], "x", most=max(3, int(0.75 * fig.get_figwidth())))
    style.legend_row(fig.add_subplot(gs[0, :]), *axes[0, 0].get_legend_handles_labels())
    fig.suptitle(style.run_title(run, "Hessian eigenvalue densities per optimizer and class"),
                 x=0.01, ha="left", fontsize=10.5)
    if slq:
        caption = ("Stochastic Lanczos quadrature (SLQ) estimate of the Hessian eigenvalue "
                   "density of the analysed points, one row per optimizer (or finder), "
                   "source and class (density.csv): every probe's quadrature nodes "
                   "(quadrature.npy) broadened by Gaussians of standard deviation one bin "
                   "width, pooled over the group's points and probes; the densities "
                   "integrate to 1 up to the cut tails. The density axis is logarithmic, "
                   "as SLQ densities are usually drawn (Ghorbani et al. 2019, PyHessian), "
                   f"down to {SLQ_FLOOR:.0e} of the highest density. The bumps are the "
                   "quadrature nodes and the broadening, not structure of the spectrum: an "
                   "isolated bump can be a single eigenvalue. ")
    else:
        caption = ("Histogram of the Hessian eigenvalues of the analysed points, one row per "
                   "optimizer (or finder) and class; left linear, right log scale. ")
    if from_spectra and symlog:
        caption += (f"The eigenvalue axis is symmetric-logarithmic (linear within "
                    f"±{style.fmt_num(scale[1])}, logarithmic beyond"
                    + (", chosen because the spectrum spans orders of magnitude"
                       if forced == "auto" else "") + "); the bins are uniform on that "
                    "axis and mirrored around 0, and the heights are the fraction of the "
                    "group's eigenvalues in each bin. ")
    elif from_spectra:
        caption += ("Recomputed from spectra.npy: each group's bins follow the "
                    "Freedman-Diaconis rule on its eigenvalues, with 0 on a bin edge; "
                    "densities integrate to 1. ")
    elif not slq:
        caption += "From density.csv (no spectra.npy): densities integrate to 1. "
    if not from_spectra and symlog:
        caption += (f"The eigenvalue axis is symmetric-logarithmic (linear within "
                    f"±{style.fmt_num(scale[1])}, logarithmic beyond); the bins are "
                    "density.csv's. ")
    caption += "The dashed line is λ = 0: eigenvalues left of it are descent directions."
    if run.kind == "goe-quadratic":
        caption += " The black curve is the Wigner semicircle the GOE spectrum tends to."
    if run.is_pspin:
        caption += (" The black curve is the mean over the group's points of the semicircle "
                    "of radius 2√(p(p−1)) centred at −pE, the Riemannian Hessian's law at "
                    "energy E.")
    if dropped:
        caption += f" Not shown (more than {MAX_GROUPS} groups): {', '.join(dropped)}."
    return [Made("spectra", title, caption, fig)]
