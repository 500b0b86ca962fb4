"""Figure 4: the optimizers side by side (trajectories.csv, summary.json).

Panels, each when the run holds its data: outcomes per optimizer; final-loss
distribution; when each trajectory stopped (CDF); the longest plateau
episode per trajectory (histogram); the first escape step (CDF over the
trajectories with a plateau); steps to reach run.target_loss (CDF over all
trajectories).

trajectories.csv has no per-trajectory steps-to-target column in schema 1,
so that CDF is read from the recorded loss curves (the first record with
f <= target, at record resolution, over the recorded trajectories); the
exact quartiles of summary.json are marked on it. When a future
trajectories.csv carries `steps_to_target`, it is used instead.
"""

import numpy as np

from . import style
from .census import apply_scale, tidy_ticks
from .result import Made, Skipped
from .rundir import quantile_fields



def _ecdf(ax, values, total, color, label, **kw):
    v = np.sort(np.asarray(values, float))
    if v.size == 0 or total == 0:
        return
    y = np.arange(1, v.size + 1) / total
    ax.step(np.concatenate([[v[0]], v]), np.concatenate([[0], y]), where="post", color=color,
            label=label, linewidth=1.5, **kw)


def _target_steps(run, o):
    """(steps of the trajectories that reached the target, how many were looked at, exact?)."""
    rows = run.optimizer_rows(o)
    if "steps_to_target" in run.traj:
        v = run.traj["steps_to_target"][rows]
        return v[np.isfinite(v)], v.size, True
    if run.curves is None or run.curves.shape[1] == 0:
        return np.array([]), 0, False
    f = np.asarray(run.curves[o, :, :, 0], dtype=np.float64)
    hit = f <= run.target_loss
    reached = np.any(hit, axis=1)
    first = np.argmax(hit, axis=1)
    return first[reached] * run.record_every, f.shape[0], False


def make(run, opts=None):
    title = "Optimizer comparison"
    if not run.labels:
        return [Skipped("optimizers", title, "no optimizer in this run (a finder-only "
                        "census): nothing to compare")]
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    nopt, B = len(run.labels), run.trajectories
    traj = run.traj
    has_plateaus = bool(np.any(traj["plateau_count"] > 0))
    has_target = np.isfinite(run.target_loss)
    panels = ["outcomes", "final", "steps"]
    if has_plateaus:
        panels += ["plateau", "escape"]
    if has_target:
        panels += ["target"]
    ncol = 3
    nrow = -(-len(panels) // ncol)
    fig = style.figure((12, 1.0 + 3.3 * nrow + 0.08 * nopt), min_height=0.8 + 2.4 * nrow)
    gs = fig.add_gridspec(nrow + 1, ncol, height_ratios=[0.1] + [1] * nrow)
    axes = {}
    for i, p in enumerate(panels):
        axes[p] = fig.add_subplot(gs[1 + i // ncol, i % ncol])
    ypos = np.arange(nopt)[::-1]
    handles = {}

    # Outcomes: stacked fractions.
    ax = axes["outcomes"]
    left = np.zeros(nopt)
    for oc in ("converged", "max_steps", "diverged"):
        counts = np.array([np.sum(traj["outcome"][run.optimizer_rows(o)] == oc)
                           for o in range(nopt)])
        frac = counts / max(B, 1)
        ax.barh(ypos, frac, left=left, color=style.OUTCOME_COLORS[oc], height=0.65,
                label=oc)
        for y, l, fr, c in zip(ypos, left, frac, counts):
            if fr >= 0.12:
                ax.text(l + fr / 2, y, f"{c:,}", ha="center", va="center", fontsize=8)
        left += frac
    ax.set_xlim(0, 1)
    ax.set_yticks(ypos, run.labels)
    ax.set_xlabel("fraction of trajectories")
    ax.set_ylabel("optimizer")
    ax.set_title("outcomes", loc="left")
    ax.grid(axis="y", visible=False)

    # Final loss: a histogram per optimizer row (a ridgeline), diverged ones left out.
    ax = axes["final"]
    allv = []
    for o in range(nopt):
        rows = run.optimizer_rows(o)
        ok = traj["outcome"][rows] != "diverged"
        v = traj["f_final"][rows][ok]
        allv.append(v[np.isfinite(v)])
    flat = np.concatenate(allv) if allv else np.array([])
    if flat.size == 0:
        style.note(ax, "every trajectory diverged:\nno final loss to compare")
    else:
        apply_scale(ax, "x", flat)
        t = ax.xaxis.get_transform()
        lo, hi = np.asarray(t.transform(np.array([[flat.min()], [flat.max()]]))).ravel()
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.02 * (hi - lo)
        nbins = int(min(60, max(10, 2 * np.sqrt(max(len(v) for v in allv)))))
        edges_t = np.linspace(lo - pad, hi + pad, nbins + 1)
        edges = np.asarray(t.inverted().transform(edges_t[:, None])).ravel()
        for o in range(nopt):
            v = allv[o]
            if v.size == 0:
                ax.text(0.5, ypos[o], "all diverged", transform=ax.get_yaxis_transform(),
                        ha="center", va="center", fontsize=8, color="#666666")
                continue
            counts, _ = np.histogram(v, edges)
            h = 0.62 * counts / counts.max()
            color = style.optimizer_color(o)
            ax.stairs(ypos[o] - 0.4 + h, edges, baseline=ypos[o] - 0.4, fill=True,
                      color=color, alpha=0.5)
            ax.stairs(ypos[o] - 0.4 + h, edges, baseline=ypos[o] - 0.4, color=color,
                      linewidth=1.0)
            med = np.median(v)
            ax.plot([med, med], [ypos[o] - 0.42, ypos[o] + 0.26], color="black", linewidth=1.4)
            ax.text(0.5, ypos[o] + 0.46, f"median {style.fmt_num(med)} · n = {v.size:,}",
                    transform=ax.get_yaxis_transform(), ha="center", va="top", fontsize=7.5,
                    color="#333333")
        ax.set_xlim(edges[0], edges[-1])
        if ax.get_xscale() == "linear":
            ax.xaxis.set_major_locator(MaxNLocator(5 if fig.get_figwidth() >= 9 else 3))
    tidy_ticks(ax, "x", most=6)
    ax.set_yticks(ypos, run.labels)
    ax.set_ylim(-0.6, nopt - 0.4)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(("final energy E" if run.is_pspin else "final loss f") + " (not diverged)")
    ax.set_ylabel("optimizer")
    ax.set_title(f"final {'energy' if run.is_pspin else 'loss'}: histogram per optimizer, "
                 "bar = median", loc="left")

    # Steps until the stop.
    ax = axes["steps"]
    for o in range(nopt):
        st = traj["steps"][run.optimizer_rows(o)]
        _ecdf(ax, st, B, style.optimizer_color(o), run.labels[o])
    st_all = traj["steps"]
    if st_all.size and np.nanmax(st_all) > 100 * max(1.0, np.nanmin(st_all[st_all > 0])
                                                     if np.any(st_all > 0) else 1.0):
        ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("steps until the stop")
    ax.set_ylabel("fraction of trajectories")
    ax.set_ylim(0, 1.02)
    ax.set_title("stop step (CDF, any outcome)", loc="left")

    if has_plateaus:
        ax = axes["plateau"]
        longest = [traj["longest_plateau"][run.optimizer_rows(o)] for o in range(nopt)]
        longest = [v[v > 0] for v in longest]
        vals = np.concatenate(longest)
        edges = np.histogram_bin_edges(vals, bins=min(40, max(5, int(np.sqrt(vals.size)))))
        for o in range(nopt):
            if longest[o].size:
                counts, _ = np.histogram(longest[o], edges)
                ax.stairs(counts, edges, color=style.optimizer_color(o), linewidth=1.5,
                          label=run.labels[o])
        ax.set_xlabel("longest plateau (steps)")
        ax.set_ylabel("trajectories")
        ax.set_title("plateau durations (trajectories with one)", loc="left")

        ax = axes["escape"]
        for o in range(nopt):
            rows = run.optimizer_rows(o)
            v = traj["first_escape_step"][rows]
            v = v[np.isfinite(v)]
            n_pl = int(np.sum(traj["plateau_count"][rows] > 0))
            if v.size:
                _ecdf(ax, v, v.size, style.optimizer_color(o),
                      f"{run.labels[o]}: {n_pl:,}/{B:,}")
        ax.set_xlabel("first escape step")
        ax.set_ylabel("fraction (had a plateau)")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="best", title="had a plateau", fontsize=7, title_fontsize=7,
                  handlelength=1.0, borderaxespad=0.2, borderpad=0.3)
        ax.set_title("escape from the first plateau (CDF)", loc="left")

    exact_all = True
    if has_target:
        ax = axes["target"]
        for o in range(nopt):
            color = style.optimizer_color(o)
            v, n, exact = _target_steps(run, o)
            exact_all &= exact
            _ecdf(ax, v, n, color, run.labels[o], linestyle="-" if exact else "--")
            cmp_ = run.summary["optimizers"][o].get("comparison", {})
            q = quantile_fields(cmp_.get("steps_to_target"))
            fr = cmp_.get("fraction_reached")
            if isinstance(fr, (int, float)) and fr > 0:
                ax.plot([q["q25"], q["median"], q["q75"]], [0.25 * fr, 0.5 * fr, 0.75 * fr],
                        linestyle="none", marker="D", markersize=4.5, color=color,
                        markeredgecolor="black", markeredgewidth=0.6)
        handles["quartiles"] = plt.Line2D([], [], linestyle="none", marker="D", color="#999999",
                                          markeredgecolor="black", markeredgewidth=0.6,
                                          label="exact quartiles (every trajectory)")
        ax.set_xlabel(f"steps to f ≤ {style.fmt_num(run.target_loss)}")
        ax.set_ylabel("fraction of trajectories" if exact_all
                      else "fraction of recorded trajectories")
        ax.set_ylim(0, 1.02)
        ax.set_title("steps to target (CDF)", loc="left")

    for p in ("steps", "plateau", "target"):
        if p in axes:
            tidy_ticks(axes[p], "x", most=7)
    leg = [Patch(color=style.optimizer_color(o), label=run.labels[o]) for o in range(nopt)]
    leg += [Patch(color=style.OUTCOME_COLORS[oc], label=f"outcome: {oc}")
            for oc in ("converged", "max_steps", "diverged")]
    leg += list(handles.values())
    style.legend_row(fig.add_subplot(gs[0, :]), leg, [h.get_label() for h in leg])
    fig.suptitle(style.run_title(run, "Optimizers compared on the same starts"), x=0.01,
                 ha="left", fontsize=10.5)
    caption = ("Every optimizer ran from the same starts. Outcomes: share of trajectories "
               "that converged (‖∇f‖ ≤ grad_tol), hit max_steps or diverged. Final loss: one "
               "histogram per optimizer over the trajectories that did not diverge (heights "
               "scaled to the tallest bin), black bar = median. Stop step: fraction of "
               "trajectories stopped by each step.")
    if has_plateaus:
        caption += (" Plateau durations: the longest episode of each trajectory that had one; "
                    "escape: the step at which the first episode ended, as a CDF over the "
                    "trajectories that had a plateau (how many did: in the legend).")
    if has_target:
        caption += (f" Steps to target: fraction of trajectories with f ≤ "
                    f"{style.fmt_num(run.target_loss)} by each step; diamonds are the exact "
                    "quartiles from summary.json")
        caption += (", the line is exact." if exact_all else
                    ", the dashed line is read from the recorded curves (record resolution, "
                    "recorded trajectories only).")
    if len(panels) == 3 and not has_plateaus:
        caption += " No trajectory had a plateau episode, so no plateau panels."
    return [Made("optimizers", title, caption, fig)]
