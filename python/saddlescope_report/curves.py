"""Figure 3: loss and gradient norm against the step (curves.npy).

Per optimizer the median and the interquartile band over the recorded
trajectories (the first run.record_trajectories). A trajectory that stopped
converged or at max_steps keeps its final value (trajectories.csv) after its
stop; a diverged one leaves the statistics when it stops. Shaded, darker
with the share of an optimizer's recorded trajectories inside a plateau
episode: the plateaus (trajectories.csv gives the episode exactly when a
trajectory has one; with several, they are found in the recorded curve by
the run's plateau rule at record resolution).
"""

import numpy as np

from . import style
from .census import apply_scale, tidy_ticks
from .result import Made, Skipped

MAX_RECORDS = 2500


def filled_curves(run, o, stride):
    """[rt, records', 2] float64 curves of optimizer o, final values carried after the stop."""
    rt = run.curves.shape[1]
    c = np.array(run.curves[o, :, ::stride, :], dtype=np.float64)
    steps = np.arange(run.records)[::stride] * run.record_every
    rows = run.optimizer_rows(o)
    st = run.traj["steps"][rows][:rt]
    out = run.traj["outcome"][rows][:rt]
    ff = run.traj["f_final"][rows][:rt]
    gf = run.traj["grad_norm_final"][rows][:rt]
    for b in range(rt):
        after = steps >= st[b]
        if out[b] == "diverged":
            c[b, steps > st[b], :] = np.nan
            continue
        c[b, after, 0] = ff[b]
        c[b, after, 1] = gf[b]
    return steps, c


def plateau_mask(run, o, steps, curves):
    """[rt, len(steps)] bool: record inside a plateau episode of the trajectory."""
    rt = curves.shape[0]
    rows = run.optimizer_rows(o)
    count = run.traj["plateau_count"][rows][:rt]
    longest = run.traj["longest_plateau"][rows][:rt]
    escape = run.traj["first_escape_step"][rows][:rt]
    rule = run.plateau_rule if isinstance(run.plateau_rule, dict) else {}
    thr = float(rule.get("grad_threshold", 1e-3))
    min_steps = float(rule.get("min_steps", 50))
    min_drop = float(rule.get("min_drop", 1e-3))
    mask = np.zeros((rt, steps.size), dtype=bool)
    for b in range(rt):
        if not count[b] >= 1:
            continue
        if count[b] == 1 and np.isfinite(escape[b]):
            mask[b] = (steps >= escape[b] - longest[b]) & (steps < escape[b])
            continue
        low = curves[b, :, 1] <= thr
        f = curves[b, :, 0]
        r = 0
        while r < steps.size:
            if not low[r]:
                r += 1
                continue
            e = r
            while e < steps.size and low[e]:
                e += 1
            if e < steps.size and steps[e] - steps[r] >= min_steps:
                fe = f[e]
                later = f[e:]
                if np.any(later <= fe - min_drop * (abs(fe) + 1)):
                    mask[b, r:e] = True
            r = e
    return mask


def _intervals(flags, steps):
    """[(start, end)] step intervals where flags is True."""
    out, r = [], 0
    while r < flags.size:
        if flags[r]:
            e = r
            while e < flags.size and flags[e]:
                e += 1
            end = steps[e] if e < steps.size else steps[-1]
            out.append((steps[r], end))
            r = e
        else:
            r += 1
    return out


def make(run, opts=None):
    title = "Loss and gradient norm curves"
    if not run.labels:
        return [Skipped("curves", title, "no optimizer in this run (a finder-only census): "
                        "no loss curves")]
    if run.curves is None or run.curves.shape[1] == 0:
        return [Skipped("curves", title, "no recorded curves (run.record_trajectories = 0 or "
                        "no curves.npy)")]
    from matplotlib.patches import Patch

    rt = run.curves.shape[1]
    stride = max(1, -(-run.records // MAX_RECORDS))
    fig = style.figure((11, 4.8))
    gs = fig.add_gridspec(2, 2, height_ratios=[0.1, 1])
    ax_f = fig.add_subplot(gs[1, 0])
    ax_g = fig.add_subplot(gs[1, 1], sharex=ax_f)
    last_step = 0
    median_stops = []
    all_f, all_g = [], []
    handles = []
    shaded = False
    for o, label in enumerate(run.labels):
        color = style.optimizer_color(o)
        steps, c = filled_curves(run, o, stride)
        st = run.traj["steps"][run.optimizer_rows(o)][:rt]
        last_step = max(last_step, float(np.nanmax(st)) if st.size else 0)
        if st.size:
            median_stops.append(float(np.median(st)))
        for k, ax in ((0, ax_f), (1, ax_g)):
            v = c[:, :, k]
            if k == 1:
                v = np.where(v > 0, v, np.nan)
            have = np.sum(np.isfinite(v), axis=0) > 0
            with np.errstate(all="ignore"):
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    q25, med, q75 = np.nanpercentile(v[:, have], [25, 50, 75], axis=0)
            x = steps[have]
            line, = ax.plot(x, med, color=color, linewidth=1.5, label=label,
                            marker="o" if x.size < 3 else None, markersize=4)
            if rt > 1:
                ax.fill_between(x, q25, q75, color=color, alpha=0.18, linewidth=0)
            (all_f if k == 0 else all_g).append(np.concatenate([q25, med, q75]))
            if k == 0:
                handles.append(line)
        if rt <= 5:  # few trajectories: mark where each one stopped
            rows = run.optimizer_rows(o)
            for b in range(rt):
                sb = run.traj["steps"][rows][b]
                div = run.traj["outcome"][rows][b] == "diverged"
                for k, ax in ((0, ax_f), (1, ax_g)):
                    y = run.traj["f_final" if k == 0 else "grad_norm_final"][rows][b]
                    if np.isfinite(y) and (k == 0 or y > 0):
                        ax.plot([sb], [y], marker="x" if div else "o", color=color,
                                markersize=5, linestyle="none")
        mask = plateau_mask(run, o, steps, c)
        frac = mask.mean(axis=0) if rt else np.zeros(steps.size)
        level = np.floor(frac * 4 + 1e-9) / 4  # quarters of the trajectories
        for q in (0.25, 0.5, 0.75, 1.0):
            for a, b in _intervals(level == q, steps):
                shaded = True
                for ax in (ax_f, ax_g):
                    ax.axvspan(a, b, color=color, alpha=0.16 * q, linewidth=0)
    if rt > 1:
        handles.append(Patch(color="#888888", alpha=0.3, label="interquartile range"))
    if shaded:
        handles.append(Patch(color="#888888", alpha=0.14,
                             label="plateau: shade ∝ share of trajectories in an episode"))
        thr = float((run.plateau_rule or {}).get("grad_threshold", np.nan))
        if np.isfinite(thr):
            ax_g.axhline(thr, color="#555555", linestyle="--", linewidth=0.8)
            ax_g.annotate("plateau threshold", xy=(1, thr), xycoords=("axes fraction", "data"),
                          ha="right", va="bottom", fontsize=8, color="#333333")
    fv = np.concatenate(all_f) if all_f else np.array([])
    gv = np.concatenate(all_g) if all_g else np.array([])
    fscale = apply_scale(ax_f, "y", fv)
    if np.any(np.isfinite(gv)):
        ax_g.set_yscale("log")
    ax_f.set_ylabel(("energy per spin E = H/N" if run.is_pspin else "loss f")
                    + (" (symlog)" if fscale == "symlog" else ""))
    ax_g.set_ylabel("gradient norm ‖∇f‖" if not run.is_pspin
                    else "Riemannian gradient norm ‖∇H‖")
    # Optimizers stopping at very different times: a log step axis shows both.
    early = sum(m < 0.05 * last_step for m in median_stops)
    xlog = last_step > 100 and 2 * early >= len(median_stops) and early < len(median_stops)
    for ax in (ax_f, ax_g):
        ax.set_xlabel("step" + (" (symlog)" if xlog else ""))
        if xlog:
            ax.set_xscale("symlog", linthresh=max(10, run.record_every))
            ax.set_xlim(0, last_step * 1.3)
        else:
            ax.set_xlim(0, max(run.record_every, last_step * 1.03))
    what = "loss" if not run.is_pspin else "energy"
    ax_f.set_title(f"{what}: median of {rt} recorded trajectories" if rt > 1 else
                   f"{what} (trajectory 0)", loc="left")
    ax_g.set_title("gradient norm", loc="left")
    grad_tol = run.config.get("run", {}).get("grad_tol")
    gmin = np.nanmin(gv) if np.any(np.isfinite(gv)) else np.nan
    if isinstance(grad_tol, (int, float)) and grad_tol > 0 and grad_tol >= gmin / 100:
        ax_g.axhline(grad_tol, color="black", linestyle=":", linewidth=0.9)
        ax_g.annotate("grad_tol", xy=(1, grad_tol), xycoords=("axes fraction", "data"),
                      ha="right", va="bottom", fontsize=8, color="#333333")
    tidy_ticks(ax_f, "y")
    style.legend_row(fig.add_subplot(gs[0, :]), handles, [h.get_label() for h in handles])
    fig.suptitle(style.run_title(run, "Loss and gradient norm against the step"), x=0.01,
                 ha="left", fontsize=10.5)
    caption = (f"Per optimizer, the median (line) and interquartile range (band) over the "
               f"first {rt} trajectories (curves.npy, every {run.record_every} steps). "
               "Trajectories that converged or hit max_steps keep their final value after "
               "they stop; diverged ones leave the statistics. ")
    if rt <= 5:
        caption += "Dots mark where each trajectory stopped (x: diverged). "
    if shaded:
        caption += ("Shaded in the optimizer's colour: steps where a quarter, half, three "
                    "quarters or all of its recorded trajectories are inside a plateau episode "
                    "(darker = more); the dashed line is the plateau rule's gradient "
                    "threshold. ")
    if stride > 1:
        caption += f"Every {stride}th record is drawn. "
    if fscale == "symlog":
        caption += "The loss axis is symmetric-logarithmic (linear near zero). "
    if xlog:
        caption += ("The step axis is logarithmic beyond step "
                    f"{max(10, run.record_every)}: the optimizers stop at very different times. ")
    return [Made("curves", title, caption.strip(), fig)]
