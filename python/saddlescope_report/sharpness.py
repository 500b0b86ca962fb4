"""Figure: the sharpness along the trajectories (sharpness.npy, run.sharpness_every).

One column per optimizer: on top the largest Hessian eigenvalue (the
sharpness) of each recorded trajectory against the step (thin) and their
median (thick), with the optimizer's stability limit on a quadratic dashed;
below, the smallest eigenvalue the same way (docs/run-directory.md
"sharpness.npy", docs/experiment.md "Sharpness along trajectories").

The limits, for an objective of curvature lambda along an eigenvector, from
the update rules of docs/experiment.md ("Update rules"): gd is stable when
lr (lambda + wd) < 2, i.e. lambda < 2/lr - wd (wd = weight_decay, which the
optimizer adds to the gradient, so it adds to the curvature the step sees);
heavy-ball momentum mu with dampening tau when lr (1 - tau) (lambda + wd) <
2 + 2 mu, i.e. lambda < (2 + 2 mu) / (lr (1 - tau)) - wd; Nesterov momentum
when lr (lambda + wd) < (2 + 2 mu) / (1 + 2 mu). Adaptive optimizers have no
such line (their limit is on the preconditioned sharpness).
"""

import math

import numpy as np

from . import style
from .census import apply_scale, tidy_ticks
from .result import Made, Skipped

MAX_MEASUREMENTS = 2500
MAX_COLUMNS = 4
FAR = 3.0  # a limit more than FAR times the largest value shown is named, not drawn


def _num(v, default):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return default
    return float(v)


ADAPTIVE = ("adagrad", "rmsprop", "adam", "adamw", "nadam", "radam")


def stability_limit(kind, cfg, lr):
    """(limit on the largest eigenvalue, formula, its parameters as text) for the
    optimizer, or (None, why not, "").

    cfg: its config.toml [[optimizer]] table (lr, weight_decay, momentum, dampening,
    nesterov; defaults as docs/experiment.md lists them)."""
    cfg = cfg if isinstance(cfg, dict) else {}
    lr = _num(cfg.get("lr"), _num(lr, math.nan))
    wd = _num(cfg.get("weight_decay"), 0.0)
    if kind in ADAPTIVE:
        return None, (f"{kind} (adaptive: its limit is on the preconditioned sharpness, "
                      "which sharpness.npy does not hold)"), ""
    if kind not in ("gd", "momentum"):
        return None, f"{kind} (no limit derived for its update)", ""
    if not (math.isfinite(lr) and lr > 0):
        return None, f"{kind} (lr = {style.fmt_num(lr)})", ""
    minus = " − wd" if wd else ""
    wd_text = f"wd = {style.fmt_num(wd)}" if wd else ""
    if kind == "gd":
        return 2 / lr - wd, "2/lr" + minus, wd_text
    mu = _num(cfg.get("momentum"), 0.9)  # the documented default (docs/experiment.md)
    tau = _num(cfg.get("dampening"), 0.0)
    params = ", ".join(x for x in (f"μ = {style.fmt_num(mu)}",
                                   f"τ = {style.fmt_num(tau)}" if tau else "", wd_text) if x)
    if cfg.get("nesterov") is True:  # torch allows Nesterov with dampening 0 only
        return (2 + 2 * mu) / ((1 + 2 * mu) * lr) - wd, \
            "(2 + 2μ)/((1 + 2μ) lr)" + minus, params + ", Nesterov"
    if tau >= 1:
        return None, f"{kind} (dampening = 1 takes no step)", ""
    if tau:
        return (2 + 2 * mu) / (lr * (1 - tau)) - wd, "(2 + 2μ)/(lr (1 − τ))" + minus, params
    return (2 + 2 * mu) / lr - wd, "(2 + 2μ)/lr" + minus, params


def _median(v, least):
    """Median over trajectories (axis 0) where at least `least` are measured, else NaN."""
    import warnings
    n = np.sum(np.isfinite(v), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(v, axis=0) if v.shape[0] else np.full(v.shape[1], np.nan)
    return np.where(n >= least, med, np.nan)


def make(run, opts=None):
    title = "Sharpness along the trajectories"
    if run.sharpness is None:
        return [Skipped("sharpness", title, "no sharpness.npy: set run.sharpness_every (a "
                        "multiple of run.record_every) to measure the recorded trajectories' "
                        "largest and smallest Hessian eigenvalues")]
    if run.sharpness.shape[0] == 0 or run.sharpness.shape[1] == 0:
        return [Skipped("sharpness", title, "sharpness.npy holds no trajectory "
                        "(run.record_trajectories = 0)")]
    from matplotlib.lines import Line2D

    a = run.sharpness
    nopt, rt, m, _ = a.shape
    every = run.sharpness_every
    stride = max(1, -(-m // MAX_MEASUREMENTS))
    steps = (np.arange(m) * every)[::stride]
    least = max(1, math.ceil(rt / 2))
    # Columns that fit the width (--size): about 1.9 in per panel at least.
    size = style._SIZE[0]
    fit = max(1, int((size[0] - 0.6) // 1.9)) if size is not None else MAX_COLUMNS
    ncol = min(nopt, MAX_COLUMNS, fit)
    blocks = -(-nopt // ncol)
    fig = style.figure((1.2 + 3.3 * ncol, 0.9 + 4.1 * blocks), min_height=0.9 + 3.6 * blocks)
    ratios = [0.12]
    for _ in range(blocks):
        ratios += [1.6, 1.0]
    gs = fig.add_gridspec(1 + 2 * blocks, ncol, height_ratios=ratios)
    notes, limits = [], []
    first_top = first_low = None
    # One scale for every smallest-eigenvalue panel (symmetric-logarithmic when the
    # values span decades around 0), shared so that the optimizers compare.
    lows = np.asarray(a[:, :, ::stride, 1], float)
    lows = np.concatenate([lows[np.isfinite(lows)], [0.0]])
    last_step = float(steps[-1]) if steps.size else 0.0
    for o, label in enumerate(run.labels):
        br, c = divmod(o, ncol)
        ax = fig.add_subplot(gs[1 + 2 * br, c], sharex=first_top)
        low_ax = fig.add_subplot(gs[2 + 2 * br, c], sharex=ax, sharey=first_low)
        first_top = first_top or ax
        first_low = first_low or low_ax
        color = style.optimizer_color(o)
        top = np.asarray(a[o, :, ::stride, 0], float)
        low = np.asarray(a[o, :, ::stride, 1], float)
        for b in range(rt):
            ax.plot(steps, top[b], color=color, linewidth=0.8, alpha=0.45)
            low_ax.plot(steps, low[b], color=color, linewidth=0.8, alpha=0.3)
        ax.plot(steps, _median(top, least), color=color, linewidth=2.2)
        low_ax.plot(steps, _median(low, least), color=color, linewidth=1.8, alpha=0.75)
        kind = run.kinds[o] if o < len(run.kinds) else "?"
        cfg = run.optimizer_config[o] if o < len(run.optimizer_config) else {}
        lim, formula, params = stability_limit(kind, cfg, run.lrs[o] if o < len(run.lrs)
                                               else None)
        tv = top[np.isfinite(top)]
        logy = tv.size and np.all(tv > 0) and tv.max() / tv.min() > 30
        if lim is not None:
            value = f"{formula} = {style.fmt_num(lim, 4)}"
            limits.append((label, value + (f" ({params})" if params else "")))
            shown_max = float(tv.max()) if tv.size else lim
            if lim > 0 and lim <= FAR * max(shown_max, 1e-300):
                ax.axhline(lim, color="black", linestyle="--", linewidth=1.1,
                           label=value + (f"\n({params})" if params else ""))
                ax.legend(loc="lower right", fontsize=7.5, handlelength=1.8)
            else:
                where = "above" if lim > 0 else "below"
                ax.annotate(f"{value}\n" + (f"({params}) " if params else "")
                            + f"far {where} the axis", xy=(0.98, 0.04),
                            xycoords="axes fraction", ha="right", va="bottom", fontsize=7.5,
                            color="#333333")
        else:
            notes.append(formula)
            ax.annotate("no stability line", xy=(0.98, 0.04), xycoords="axes fraction",
                        ha="right", va="bottom", fontsize=7.5, color="#666666")
        if logy:
            ax.set_yscale("log")
        low_ax.axhline(0.0, color="#555555", linestyle=":", linewidth=0.9)
        if low_ax is first_low:
            low_scale = apply_scale(low_ax, "y", lows)
        lr = run.lrs[o] if o < len(run.lrs) else math.nan
        style.label_title(ax, f"{label} ({kind}, lr = {style.fmt_num(lr)})", fontsize=9)
        if c == 0:
            ax.set_ylabel("largest eigenvalue\n(sharpness)" + (" (log)" if logy else ""))
            low_ax.set_ylabel("smallest eigenvalue" + ("\n(symlog)" if low_scale == "symlog"
                                                       else ""))
        elif logy:
            ax.set_ylabel("(log)")
        ax.tick_params(labelbottom=False)
        if br == blocks - 1 or o + ncol >= nopt:
            low_ax.set_xlabel("step")
        else:
            low_ax.tick_params(labelbottom=False)
        ax.set_xlim(0, max(last_step, every))
    tidy_ticks(first_low, "y", most=5)
    handles = [Line2D([], [], color="#555555", linewidth=0.8, alpha=0.6,
                      label=f"each recorded trajectory ({rt})"),
               Line2D([], [], color="#555555", linewidth=2.2,
                      label="median over the trajectories still running"),
               Line2D([], [], color="black", linestyle="--", linewidth=1.1,
                      label="stability limit on a quadratic (formula in each panel)")]
    style.legend_row(fig.add_subplot(gs[0, :]), handles, [h.get_label() for h in handles])
    what = "Riemannian Hessian" if run.is_pspin else "Hessian"
    fig.suptitle(style.run_title(run, f"Sharpness: the {what}'s largest and smallest "
                                 "eigenvalue along the trajectories"), x=0.01, ha="left",
                 fontsize=10.5)
    caption = (f"Top row: the largest eigenvalue of the {what}"
               + (" on the tangent space" if run.is_pspin else "")
               + f" (the sharpness) at the first "
               f"{rt} trajectories of each optimizer every {every:,} steps (sharpness.npy: "
               "20 Lanczos steps per measurement, warm-started from the previous one; Ritz "
               "values approach the spectrum's ends from within), one thin line per "
               "trajectory, thick: the median over the trajectories still running (drawn "
               f"where at least {least} of {rt} are). Bottom row: the smallest eigenvalue "
               "the same way (dotted: 0; negative values are directions of negative "
               "curvature). Dashed: the step size's stability limit on a quadratic: gd "
               "is stable along an eigenvector of curvature λ only when λ < 2/lr, "
               "heavy-ball momentum μ when λ < (2 + 2μ)/lr (with dampening τ: (2 + 2μ)/"
               "(lr(1 − τ)); Nesterov: (2 + 2μ)/((1 + 2μ) lr)), and weight decay wd lowers "
               "the limit on the objective's λ by wd. On neural networks gd's sharpness "
               "rises to about 2/lr and hovers there while the loss keeps falling: the "
               "edge of stability (Cohen et al. 2021).")
    if limits:
        caption += " Limits: " + "; ".join(f"{lab}: {text}" for lab, text in limits) + "."
    if notes:
        caption += " No line for " + "; ".join(notes) + "."
    if stride > 1:
        caption += f" Every {stride}th measurement is drawn."
    return [Made("sharpness", title, caption, fig)]
