"""Figure: the index-energy law, alpha = index / N against the value at the point.

From summary.json census.index_energy: per source (stop, plateau, critical,
all) bins of equal counts over the distinct critical points, each drawn at
its mean value f_mean with its mean index fraction alpha_mean and the
standard error alpha_stderr as the error bar; a thin line spans the bin
(f_lo .. f_hi). The distinct critical points themselves (distinct.csv) are
faint dots behind. N is the spectrum's dimension (N - 1 for the p-spin).

p-spin: the theory alpha(E) = the fraction of the semicircle of radius
R = 2 sqrt(p (p - 1)) centred at -p E that lies below 0 (the Riemannian
Hessian's law at energy E, as in the spectra overlay), and the threshold
energy E_th = -2 sqrt((p - 1) / p), where that semicircle touches 0.
gaussian-field: a second panel against the field value f_field (f without the
confining bowl), from census.index_energy_field.

Runs whose summary.json has no index_energy (schema 1) get the bins computed
here by the same rule from the points.
"""

import math

import numpy as np

from . import style
from .census import apply_scale, tidy_ticks
from .result import Made, Skipped
from .rundir import number

MAX_DOTS = 20000
SERIES = ("stop", "plateau", "critical", "all")
SERIES_COLORS = {**style.SOURCE_COLORS, "all": "#000000"}
SERIES_MARKERS = {**style.SOURCE_MARKERS, "all": "D"}


def fraction_below_zero(centre, radius):
    """Fraction of a semicircle law (centre, radius) below 0, elementwise."""
    u = np.clip(-np.asarray(centre, float) / radius, -1.0, 1.0)
    return 0.5 + (u * np.sqrt(1 - u * u) + np.arcsin(u)) / math.pi


def pspin_alpha(E, p):
    """alpha(E) of the p-spin: the semicircle of radius 2 sqrt(p(p-1)) centred at -pE,
    fraction below 0."""
    return fraction_below_zero(-p * np.asarray(E, float), 2 * math.sqrt(p * (p - 1)))


def pspin_threshold(p):
    return -2 * math.sqrt((p - 1) / p)


def equal_count_bins(values, alpha, p=None):
    """The documented bins: ceil(sqrt(n)) of equal counts, at most 20, each of at least
    5 points where possible (docs/run-directory.md census.index_energy)."""
    order = np.argsort(values, kind="stable")
    f, a = np.asarray(values, float)[order], np.asarray(alpha, float)[order]
    n = f.size
    if n == 0:
        return []
    nb = max(1, min(20, math.ceil(math.sqrt(n)), n // 5))
    out = []
    for part in np.array_split(np.arange(n), nb):
        fb, ab = f[part], a[part]
        b = {"f_lo": float(fb.min()), "f_hi": float(fb.max()), "f_mean": float(fb.mean()),
             "count": int(fb.size), "alpha_mean": float(ab.mean()),
             "alpha_stderr": float(ab.std(ddof=1) / math.sqrt(fb.size)) if fb.size > 1
             else None}
        if p is not None:
            b["alpha_theory"] = float(pspin_alpha(b["f_mean"], p))
        out.append(b)
    return out


def _computed(run, dt, field):
    """index_energy computed from the distinct points (for runs that lack it)."""
    idx = np.asarray(dt["index"], float)
    x = np.asarray(dt["f_field" if field else "f"], float)
    ok = np.isfinite(idx) & np.isfinite(x) & np.asarray(dt["critical"], bool)
    alpha = idx / run.spectrum_dim
    p = int(run.objective_config.get("p", 3)) if run.is_pspin else None
    per = {}
    for s in SERIES:
        m = ok if s == "all" else ok & (np.asarray(dt[f"mult_{s}"], float) > 0)
        per[s] = equal_count_bins(x[m], alpha[m], p)
    return {"value": "f_field" if field else ("E" if run.is_pspin else "f"), "per_source": per,
            "theory": None, "_computed": True}


def _bins(table):
    """{series: arrays f_lo, f_hi, f_mean, count, alpha_mean, alpha_stderr, alpha_theory}."""
    out = {}
    per = table.get("per_source") if isinstance(table, dict) else None
    if not isinstance(per, dict):
        return out
    for s in SERIES:
        bins = per.get(s)
        if not isinstance(bins, list):
            continue
        bins = [b for b in bins if isinstance(b, dict) and number(b.get("count")) > 0
                and np.isfinite(number(b.get("f_mean"))) and
                np.isfinite(number(b.get("alpha_mean")))]
        if not bins:
            continue
        out[s] = {k: np.array([number(b.get(k)) for b in bins])
                  for k in ("f_lo", "f_hi", "f_mean", "count", "alpha_mean", "alpha_stderr",
                            "alpha_theory")}
    return out


def _plural(n, word):
    return f"{n:,} {word}{'s' if n != 1 else ''}"


def _same(a, b):
    return a["count"].size == b["count"].size and np.array_equal(a["count"], b["count"]) \
        and np.allclose(a["f_mean"], b["f_mean"]) and np.allclose(a["alpha_mean"],
                                                                 b["alpha_mean"])


def _panel(ax, run, table, bins, dots_x, dots_a, field, handles):
    """One alpha-vs-value panel; returns the series drawn."""
    N = run.spectrum_dim
    # The distinct critical points, faint, behind.
    sel = style.thin(dots_x.size, MAX_DOTS)
    if sel.size:
        ax.scatter(dots_x[sel], dots_a[sel], s=9 if sel.size < 3000 else 4, color="#9a9a9a",
                   alpha=0.35, linewidths=0, zorder=1, label="distinct critical points")
        from matplotlib.lines import Line2D
        handles.setdefault("dots", Line2D([], [], linestyle="none", marker="o", markersize=4,
                                          color="#9a9a9a", alpha=0.6,
                                          label="distinct critical points"))
    series = [s for s in SERIES if s in bins]
    if "all" in series and any(_same(bins[s], bins["all"]) for s in series if s != "all"):
        series = [s for s in series if s != "all"]  # a source found them all: same bins
    for s in series:
        b = bins[s]
        color = SERIES_COLORS[s]
        err = np.where(np.isfinite(b["alpha_stderr"]), b["alpha_stderr"], 0.0)
        ax.hlines(b["alpha_mean"], b["f_lo"], b["f_hi"], color=color, alpha=0.45,
                  linewidth=1.0, zorder=2)
        cont = ax.errorbar(b["f_mean"], b["alpha_mean"], yerr=err, color=color,
                           marker=SERIES_MARKERS[s], markersize=5, linestyle="-",
                           linewidth=1.0, capsize=2.5, zorder=3,
                           label=f"{s} ({_plural(int(np.sum(b['count'])), 'point')}, "
                           f"{_plural(b['count'].size, 'bin')})")
        handles.setdefault(f"series:{s}", cont)
    xs_all = [dots_x] + [np.concatenate([bins[s]["f_lo"], bins[s]["f_hi"]]) for s in series]
    xv = np.concatenate(xs_all) if xs_all else np.array([])
    xv = xv[np.isfinite(xv)]
    if run.is_pspin and not field:
        p = int(run.objective_config.get("p", 3))
        eth = pspin_threshold(p)
        lo, hi = (float(xv.min()), float(xv.max())) if xv.size else (eth - 0.2, eth + 0.2)
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        E = np.linspace(lo - pad, hi + pad, 600)
        ln, = ax.plot(E, pspin_alpha(E, p), color="#b2182b", linewidth=1.6, zorder=4,
                      label=f"theory: semicircle of radius 2√{p * (p - 1)} centred at −{p}E, "
                      "fraction below 0")
        handles.setdefault("theory", ln)
        if lo - pad <= eth <= hi + pad:
            th = ax.axvline(eth, color="black", linestyle=":", linewidth=1,
                            label=f"E_th = −2√((p−1)/p) = {eth:.4f}")
            handles.setdefault("eth", th)
        ax.set_xlim(lo - pad, hi + pad)
    else:
        apply_scale(ax, "x", xv)
        tidy_ticks(ax, "x", most=7)
    ys = np.concatenate([dots_a] + [bins[s]["alpha_mean"] + np.nan_to_num(
        bins[s]["alpha_stderr"]) for s in series])
    top = float(np.nanmax(ys)) if ys.size and np.any(np.isfinite(ys)) else 0.0
    top = min(1.04, max(0.05, 1.12 * top))
    ax.set_ylim(-0.04 * top, top)
    if field:
        ax.set_xlabel("field value f_field = f − μ/2‖x‖² at the point")
    else:
        ax.set_xlabel("energy per spin E = H/N at the point" if run.is_pspin
                      else "training loss f at the point" if run.is_network
                      else "f at the point")
    ax.set_ylabel("index fraction α = index / " + ("(N − 1)" if run.is_pspin else "N"))
    sec = ax.secondary_yaxis("right", functions=(lambda a: a * N, lambda k: k / N))
    sec.set_ylabel("index k" + (" (lower bounds)" if (run.index_bound() or (False,))[0]
                                else ""))
    from matplotlib.ticker import MaxNLocator
    sec.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    return series


def make(run, opts=None):
    title = "Index against value"
    if run.points is None or not isinstance(run.census, dict):
        return [Skipped("index_energy", title, "no census in this run: add an [analysis] "
                        "section")]

    dt = run.distinct_table()
    idx = np.asarray(dt["index"], float)
    crit = np.asarray(dt["critical"], bool) & np.isfinite(idx)
    panels = []
    computed = False
    for field in ((False, True) if run.kind == "gaussian-field" else (False,)):
        key = "index_energy_field" if field else "index_energy"
        table = run.census.get(key)
        if not isinstance(table, dict):
            if field and not np.any(np.isfinite(np.asarray(dt["f_field"], float))):
                continue
            table = _computed(run, dt, field)
            computed = True
        bins = _bins(table)
        x = np.asarray(dt["f_field" if field else "f"], float)
        m = crit & np.isfinite(x)
        panels.append((field, table, bins, x[m], idx[m] / run.spectrum_dim))
    panels = [p for p in panels if p[2]]
    if not panels:
        return [Skipped("index_energy", title, "no bins: the census found no critical point "
                        "with an index (summary.json census.index_energy is empty)")]
    fig = style.figure((6.8 * len(panels) + 0.6, 4.9))
    gs = fig.add_gridspec(2, len(panels), height_ratios=[0.14, 1])
    handles = {}
    drawn = []
    for j, (field, table, bins, dx, da) in enumerate(panels):
        ax = fig.add_subplot(gs[1, j])
        series = _panel(ax, run, table, bins, dx, da, field, handles)
        drawn.append(series)
        letter = f"({chr(ord('a') + j)}) " if len(panels) > 1 else ""
        ax.set_title(letter + ("index fraction against the field value" if field else
                               "index fraction against the energy" if run.is_pspin else
                               "index fraction against the value"), loc="left")
    h = list(handles.values())
    labels = [x.get_label() for x in h]
    style.legend_row(fig.add_subplot(gs[0, :]), h, labels)
    fig.suptitle(style.run_title(run, "Index-energy law: index fraction against the value "
                                 "at the point"), x=0.01, ha="left", fontsize=10.5)
    name = "E" if run.is_pspin else "f"
    caption = (f"The index fraction α = index / {'(N − 1)' if run.is_pspin else 'N'} of the "
               f"distinct critical points against their value {name}, in bins of equal counts "
               "(summary.json census.index_energy), one series per source that found them "
               "(all = every distinct critical point once): marker = the bin's mean value and "
               "mean α, error bar = standard error of the mean, thin line = the bin's range "
               "of values. Grey dots: the distinct critical points themselves.")
    if computed:
        caption += (" This run's summary.json has no census.index_energy (schema_version "
                    f"{run.schema}): the bins were computed here by the same rule.")
    if run.is_pspin:
        p = int(run.objective_config.get("p", 3))
        caption += (f" Red: the theory α(E) = the fraction below 0 of the semicircle of "
                    f"radius 2√(p(p−1)) = {2 * math.sqrt(p * (p - 1)):.4g} centred at −pE "
                    f"(p = {p}), the Riemannian Hessian's law at energy E; dotted: the "
                    f"threshold energy E_th = −2√((p−1)/p) = {pspin_threshold(p):.4f}, below "
                    "which it predicts minima only.")
    if len(panels) > 1:
        caption += (" (b) The same against the field value f_field = f − μ/2‖x‖² "
                    "(census.index_energy_field), without the confining bowl.")
    from .tables import index_bound_note
    note = index_bound_note(run)
    if note:
        caption += " " + note
        if run.index_bound()[0] and np.any(np.isfinite(run.points["index_estimate"])):
            caption += " The index_estimate figure shows the SLQ estimates beside them."
    return [Made("index_energy", title, caption, fig)]
