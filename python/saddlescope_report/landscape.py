"""Figure 5: landscapes of 1-D and 2-D objectives with the trajectories on them.

- `landscape`: one panel per optimizer. 1-D: the curve f(x) with each
  recorded trajectory's iterates (x_t, f(x_t)) joined in order, so a
  learning rate that oscillates draws a zigzag; 2-D: filled contours with
  the paths. Critical points are marked by class.
- `surface` (2-D): the surface f(x, y) in 3-D with the paths lifted onto it.
- `basins` (runs with several distinct starts): every recorded start
  coloured by where its trajectory ended (which minimum, or diverged), per
  optimizer, so that basins of attraction and the starts an optimizer
  carries across a barrier show at a glance.

Positions come from paths.npy (the first run.record_trajectories
trajectories), final points from finals.npy when present.
"""

import numpy as np

from . import style
from .landscape_math import critical_points, landscape_for
from .result import Made, Skipped

MAX_PATHS = 16          # trajectories drawn per optimizer panel
MAX_PATH_POINTS = 400   # iterates drawn per trajectory
BASIN_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
                "#1f78b4"]
OTHER_COLOR = "#bbbbbb"
DIVERGED_COLOR = "#000000"


def _finite_rows(p):
    """Indices of the records of one path [records, d] before the NaN tail."""
    ok = np.all(np.isfinite(p), axis=1)
    return np.nonzero(ok)[0]


def _path_records(n):
    """Which of n records to draw: all, or the first half densely and the rest spread."""
    if n <= MAX_PATH_POINTS:
        return np.arange(n)
    head = np.arange(MAX_PATH_POINTS // 2)
    tail = np.linspace(MAX_PATH_POINTS // 2, n - 1, MAX_PATH_POINTS // 2).round().astype(int)
    return np.unique(np.concatenate([head, tail]))


class _Geometry:
    """Starts, ends, outcomes of the recorded trajectories and the drawing window."""

    def __init__(self, run, land):
        d, nopt = run.dim, len(run.labels)
        self.paths = None if run.paths is None else np.asarray(run.paths, dtype=np.float64)
        rt = 0 if self.paths is None else self.paths.shape[1]
        self.rt = rt
        self.outcome = [run.traj["outcome"][run.optimizer_rows(o)] for o in range(nopt)]
        self.steps = [run.traj["steps"][run.optimizer_rows(o)] for o in range(nopt)]
        starts = []
        for o in range(nopt):
            for b in range(rt):
                rows = _finite_rows(self.paths[o, b])
                if rows.size == 0:
                    continue
                starts.append(self.paths[o, b, rows[0]])
        self.starts = np.array(starts).reshape(-1, d)
        self.ends = np.full((nopt, run.trajectories, d), np.nan)
        if run.finals is not None:
            self.ends[:] = np.asarray(run.finals, dtype=np.float64)
        elif rt:
            for o in range(nopt):
                for b in range(rt):
                    rows = _finite_rows(self.paths[o, b])
                    if rows.size:
                        self.ends[o, b] = self.paths[o, b, rows[-1]]
        for o in range(nopt):
            self.ends[o][self.outcome[o] == "diverged"] = np.nan

        # Window: starts, the non-diverged trajectories' whole paths and ends.
        pts = [self.starts]
        for o in range(nopt):
            e = self.ends[o]
            pts.append(e[np.all(np.isfinite(e), axis=1)])
            for b in range(rt):
                if self.outcome[o][b] != "diverged":
                    p = self.paths[o, b]
                    pts.append(p[np.all(np.isfinite(p), axis=1)])
        allp = np.concatenate([p.reshape(-1, d) for p in pts]) if pts else np.zeros((0, d))
        if allp.shape[0] == 0:
            allp = np.zeros((1, d))
        lo, hi = allp.min(axis=0), allp.max(axis=0)
        centre = 0.5 * (lo + hi)
        hw = float(np.max(hi - lo)) / 2
        if hw == 0:
            hw = max(1.0, float(np.max(np.abs(centre))) * 0.5)
        # Critical points nearby (a few, not a lattice of them) widen the window.
        self.crit, self.crit_class = np.zeros((0, d)), []
        if land is not None:
            r = max(4 * hw, 3.0 + float(np.max(np.abs(centre))))
            cp, cc = critical_points(land, centre - r, centre + r)
            if cp.shape[0] > 3**d * 3:  # a lattice (rastrigin): keep those inside the data
                inside = np.all((cp >= lo - 0.1 * hw) & (cp <= hi + 0.1 * hw), axis=1)
                cp, cc = cp[inside], [c for c, i in zip(cc, inside) if i]
            self.crit, self.crit_class = cp, cc
            if cp.shape[0]:
                lo, hi = np.minimum(lo, cp.min(axis=0)), np.maximum(hi, cp.max(axis=0))
        any_div = any(np.any(o == "diverged") for o in self.outcome)
        span = np.maximum(hi - lo, 1e-12)
        grow = (np.max(span) - span) / 2
        span = np.maximum(span, 0.6 * np.max(span))  # 2-D: a squarish window
        lo, hi = lo - np.minimum(grow, (span - (hi - lo)) / 2), \
            hi + np.minimum(grow, (span - (hi - lo)) / 2)
        pad = 0.12 * span
        if any_div:  # show the way out
            pad = np.maximum(pad, 0.5 * span)
        self.lo, self.hi = lo - pad, hi + pad
        if land is not None and self.crit.shape[0] == 0:
            cp, cc = critical_points(land, self.lo, self.hi)
            self.crit, self.crit_class = cp, cc


def _mark_critical(ax, run, land, geo, three_d=False):
    for c in ("minimum", "saddle", "maximum", "degenerate"):
        m = np.array([k == c for k in geo.crit_class], dtype=bool)
        if not np.any(m):
            continue
        p = geo.crit[m]
        kw = dict(marker=style.CLASS_MARKERS_2D[c], color=style.CLASS_COLORS[c], s=70,
                  edgecolors="white", linewidths=1.0, zorder=6, label=f"critical: {c}")
        if run.dim == 1:
            ax.scatter(p[:, 0], land.f(p), **kw)
        elif three_d:
            ax.scatter(p[:, 0], p[:, 1], land.f(p), depthshade=False, **kw)
        else:
            ax.scatter(p[:, 0], p[:, 1], **kw)


def _panel_title(run, geo, o):
    out = geo.outcome[o]
    B = out.size
    if B == 1:
        s = int(geo.steps[o][0])
        verb = {"converged": "converged", "diverged": "diverged",
                "max_steps": "stopped at max_steps"}[out[0]]
        return f"{run.labels[o]}: {verb} after {s:,} steps"
    parts = [f"{int(np.sum(out == k)):,} {k}" for k in ("converged", "max_steps", "diverged")
             if np.any(out == k)]
    return f"{run.labels[o]}: " + ", ".join(parts)


def _grid(nopt):
    ncol = min(3, nopt)
    return -(-nopt // ncol), ncol


def _row_height(geo):
    """Height of a row of 2-D panels drawn with equal aspect in the window."""
    ratio = (geo.hi[1] - geo.lo[1]) / (geo.hi[0] - geo.lo[0])
    ratio = ratio if 1 / 3 < ratio < 3 else 1.0
    return min(5.0, 3.4 * ratio + 0.7)


def _draw_1d(run, land, geo):

    nopt = len(run.labels)
    nrow, ncol = _grid(nopt)
    fig = style.figure((max(7.5, 4.0 * ncol + 0.6), 0.9 + 3.1 * nrow),
                       min_height=0.6 + 2.4 * nrow)
    gs = fig.add_gridspec(nrow + 1, ncol, height_ratios=[0.1] + [1] * nrow)
    xs = np.linspace(geo.lo[0], geo.hi[0], 1200)
    fx = land.f(xs[:, None]) if land is not None else None
    ylo = yhi = None
    if fx is not None:
        ylo, yhi = float(fx.min()), float(fx.max())
        pad = 0.08 * (yhi - ylo if yhi > ylo else 1.0)
        ylo, yhi = ylo - pad, yhi + pad
    handles = {}
    for o in range(nopt):
        ax = fig.add_subplot(gs[1 + o // ncol, o % ncol])
        color = style.optimizer_color(o)
        if fx is not None:
            h, = ax.plot(xs, fx, color="black", linewidth=1.3, label=land.formula)
            handles.setdefault("f", h)
        dots, starts, ends = [], [], []
        for b in style.thin(geo.rt, MAX_PATHS):
            rows = _finite_rows(geo.paths[o, b])
            if rows.size == 0:
                continue
            rows = rows[_path_records(rows.size)]
            x = geo.paths[o, b, rows, 0]
            y = land.f(x[:, None]) if land is not None else run.curves[o, b, rows, 0]
            ax.plot(x, y, color=color, linewidth=0.8, alpha=0.75, zorder=3)
            dots.append(np.stack([x, y], 1))
            starts.append(dots[-1][0])
            if geo.outcome[o][b] != "diverged":
                ends.append(dots[-1][-1])
        if dots:
            d = np.concatenate(dots)
            ax.scatter(d[:, 0], d[:, 1], color=color, s=6, zorder=4, linewidths=0)
            st = np.array(starts)
            handles.setdefault("start", ax.scatter(
                st[:, 0], st[:, 1], facecolors="white", edgecolors=color, s=36, zorder=5,
                linewidths=1.4, label="start"))
        if ends:
            en = np.array(ends)
            handles.setdefault("end", ax.scatter(
                en[:, 0], en[:, 1], color=color, edgecolors="black", s=36, zorder=5,
                linewidths=0.8, label="end"))
        if land is not None:
            _mark_critical(ax, run, land, geo)
        ax.set_xlim(geo.lo[0], geo.hi[0])
        if ylo is not None:
            ax.set_ylim(ylo, yhi)
        style.label_title(ax, _panel_title(run, geo, o), fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab.startswith("critical"):
                handles.setdefault(lab, h)
    return fig, gs, handles


def _contour_data(land, lo, hi, n=220):
    gx = np.linspace(lo[0], hi[0], n)
    gy = np.linspace(lo[1], hi[1], n)
    X, Y = np.meshgrid(gx, gy)
    Z = land.f(np.stack([X, Y], axis=-1))
    levels = np.unique(np.quantile(Z[np.isfinite(Z)], np.linspace(0, 1, 22)))
    if levels.size < 3:
        levels = np.linspace(Z.min(), Z.max() + 1e-12, 5)
    return X, Y, Z, levels


def _draw_2d(run, land, geo):
    import matplotlib.patheffects as pe

    nopt = len(run.labels)
    nrow, ncol = _grid(nopt)
    fig = style.figure((max(7.5, 4.2 * ncol + 1.4), 0.9 + _row_height(geo) * nrow),
                       min_height=0.6 + 2.4 * nrow)
    gs = fig.add_gridspec(nrow + 1, ncol, height_ratios=[0.1] + [1] * nrow)
    axes = []
    cont = None
    if land is not None:
        X, Y, Z, levels = _contour_data(land, geo.lo, geo.hi)
    handles = {}
    for o in range(nopt):
        ax = fig.add_subplot(gs[1 + o // ncol, o % ncol])
        axes.append(ax)
        color = style.optimizer_color(o)
        if land is not None:
            cont = ax.contourf(X, Y, Z, levels=levels, cmap="RdYlBu_r", alpha=0.55)
            ax.contour(X, Y, Z, levels=levels, colors="#555555", linewidths=0.3, alpha=0.6)
        starts, ends = [], []
        for b in style.thin(geo.rt, MAX_PATHS):
            rows = _finite_rows(geo.paths[o, b])
            if rows.size == 0:
                continue
            rows = rows[_path_records(rows.size)]
            p = geo.paths[o, b, rows]
            ax.plot(p[:, 0], p[:, 1], color=color, linewidth=1.1, zorder=3,
                    path_effects=[pe.Stroke(linewidth=2.2, foreground="white"), pe.Normal()])
            starts.append(p[0])
            if geo.outcome[o][b] != "diverged":
                ends.append(p[-1])
        if starts:
            st = np.array(starts)
            handles.setdefault("start", ax.scatter(
                st[:, 0], st[:, 1], facecolors="white", edgecolors=color, s=22, zorder=5,
                linewidths=1.2, label="start"))
        if ends:
            en = np.array(ends)
            handles.setdefault("end", ax.scatter(
                en[:, 0], en[:, 1], color=color, edgecolors="black", s=26, zorder=5,
                linewidths=0.7, label="end"))
        if land is not None:
            _mark_critical(ax, run, land, geo)
        ax.set_xlim(geo.lo[0], geo.hi[0])
        ax.set_ylim(geo.lo[1], geo.hi[1])
        ratio = (geo.hi[1] - geo.lo[1]) / (geo.hi[0] - geo.lo[0])
        if 1 / 3 < ratio < 3:
            ax.set_aspect("equal", adjustable="box")
        style.label_title(ax, _panel_title(run, geo, o), fontsize=9)
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        ax.grid(False)
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab.startswith("critical"):
                handles.setdefault(lab, h)
    if cont is not None:
        cb = fig.colorbar(cont, ax=axes, shrink=0.9, aspect=30, pad=0.02)
        cb.set_ticks(levels[::4])
        cb.set_ticklabels([style.fmt_num(v, 3) for v in levels[::4]])
        cb.set_label(f"f  ({land.formula}; colour levels hold equal areas)")
    return fig, gs, handles


def _draw_surface(run, land, geo):

    fig = style.figure((8.5, 6.6))
    ax = fig.add_subplot(projection="3d", computed_zorder=False)
    X, Y, Z, _ = _contour_data(land, geo.lo, geo.hi, n=70)
    ax.plot_surface(X, Y, Z, cmap="RdYlBu_r", alpha=0.55, linewidth=0, antialiased=True,
                    rstride=1, cstride=1, zorder=1)
    zlo, zhi = float(Z.min()), float(Z.max())
    for o in range(len(run.labels)):
        color = style.optimizer_color(o)
        for b in style.thin(geo.rt, 8):
            rows = _finite_rows(geo.paths[o, b])
            if rows.size == 0:
                continue
            p = geo.paths[o, b, rows[_path_records(rows.size)]]
            inside = np.all((p >= geo.lo) & (p <= geo.hi), axis=1)
            # Stop drawing where the path leaves the window (diverging paths), at the edge.
            if not np.all(inside):
                cut = int(np.argmin(inside))
                if cut == 0:
                    continue
                a, b_ = p[cut - 1], p[cut]
                t = 1.0
                for k in range(2):
                    for edge in (geo.lo[k], geo.hi[k]):
                        if (b_[k] - edge) * (a[k] - edge) < 0:
                            t = min(t, (edge - a[k]) / (b_[k] - a[k]))
                p = np.vstack([p[:cut], a + t * (b_ - a)])
            z = land.f(p)
            ax.plot(p[:, 0], p[:, 1], z, color=color, linewidth=1.6, zorder=5,
                    label=run.labels[o] if b == 0 else None)
            ax.scatter(p[:1, 0], p[:1, 1], z[:1], color="white", edgecolors=color, s=18,
                       depthshade=False, zorder=6)
    _mark_critical(ax, run, land, geo, three_d=True)
    ax.set_zlim(zlo, zhi)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_zlabel("f")
    ax.view_init(elev=32, azim=-60)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(style.run_title(run, f"Surface {land.formula} with trajectories"), loc="left",
                 fontsize=10)
    return fig


def _end_clusters(run, land, geo):
    """Per optimizer, an end label index per recorded trajectory, and the labels.

    Ends are matched to the nearest critical point within 2% of the window
    (or, without a closed form, grouped by position); -1 = diverged,
    -2 = elsewhere (not near a critical point, or more than 8 groups).
    """
    d, nopt = run.dim, len(run.labels)
    width = float(np.max(geo.hi - geo.lo))
    tol = 0.02 * width
    centres, kinds = [], {}
    if land is not None:
        centres = list(geo.crit)
        kinds = {tuple(p): c for p, c in zip(geo.crit, geo.crit_class)}
    labels_ = np.full((nopt, geo.rt), -2, dtype=int)
    found = []
    for o in range(nopt):
        for b in range(geo.rt):
            if geo.outcome[o][b] == "diverged":
                labels_[o, b] = -1
                continue
            e = geo.ends[o, b]
            if not np.all(np.isfinite(e)):
                continue
            cands = centres if centres else found
            dist = [np.linalg.norm(e - c) for c in cands]
            if dist and min(dist) <= tol:
                c = cands[int(np.argmin(dist))]
            elif not centres and len(found) < 8:
                found.append(e)
                c = e
            else:
                continue
            key = next((i for i, f in enumerate(found) if np.linalg.norm(f - c) <= 1e-12),
                       None)
            if key is None:
                found.append(c)
                key = len(found) - 1
            labels_[o, b] = key
    order = sorted(range(len(found)), key=lambda i: tuple(found[i]))
    remap = {old: new for new, old in enumerate(order)}
    labels_ = np.vectorize(lambda v: remap.get(v, v))(labels_) if labels_.size else labels_
    found = [found[i] for i in order]
    names = []
    for c in found:
        c = np.where(np.abs(c) < 1e-9 * max(1.0, width), 0.0, c)  # -1e-27 -> 0
        where = f"x = {c[0]:.4g}" if d == 1 else f"({c[0]:.3g}, {c[1]:.3g})"
        fval = land.f(c[None, :])[0] if land is not None else None
        kind = kinds.get(tuple(c))
        names.append(f"ended at {kind + ' ' if kind else ''}{where}"
                     + (f", f = {fval:.4g}" if fval is not None else ""))
    return labels_, names, found


def _draw_basins(run, land, geo):
    from matplotlib.lines import Line2D

    nopt = len(run.labels)
    lab, names, found = _end_clusters(run, land, geo)
    colors = {i: BASIN_COLORS[i % len(BASIN_COLORS)] for i in range(len(names))}
    colors[-1], colors[-2] = DIVERGED_COLOR, OTHER_COLOR
    start = np.full((nopt, geo.rt, run.dim), np.nan)
    for o in range(nopt):
        for b in range(geo.rt):
            rows = _finite_rows(geo.paths[o, b])
            if rows.size:
                start[o, b] = geo.paths[o, b, rows[0]]
    used = sorted(set(lab.ravel().tolist()), key=lambda v: (v < 0, v))
    handles = []
    for v in used:
        name = names[v] if v >= 0 else ("diverged" if v == -1 else "elsewhere (not at a "
                                                                  "critical point)")
        handles.append(Line2D([], [], linestyle="none", marker="o", color=colors[v],
                              label=name))
    boundaries = [p[0] for p, c in zip(geo.crit, geo.crit_class) if c == "maximum"] \
        if run.dim == 1 else []
    if run.dim == 1:
        fig = style.figure((11, 2.6 + 0.55 * nopt + 0.5), min_height=1.8 + 0.45 * nopt)
        gs = fig.add_gridspec(3, 1, height_ratios=[0.12, 1.6, 0.45 * nopt])
        axf = fig.add_subplot(gs[1])
        axb = fig.add_subplot(gs[2], sharex=axf)
        if land is not None:
            xs = np.linspace(geo.lo[0], geo.hi[0], 1200)
            axf.plot(xs, land.f(xs[:, None]), color="black", linewidth=1.3)
            _mark_critical(axf, run, land, geo)
            for v, c in enumerate(found):  # each end point in its basin's colour
                axf.scatter([c[0]], land.f(c[None, :]), s=110, color=colors[v],
                            edgecolors="black", linewidths=1.0, zorder=7)
        axf.set_ylabel("f(x)")
        axf.tick_params(labelbottom=False)
        # The gradient flow's end for each start: the minimum between the maxima around it.
        mins = [p[0] for p, c in zip(geo.crit, geo.crit_class) if c == "minimum"]
        flow_end = {}
        for v, c in enumerate(found):
            flow_end[v] = c[0]
        ticks = []
        for o in range(nopt):
            y = nopt - 1 - o
            crossed = 0
            for v in used:
                m = lab[o] == v
                if np.any(m):
                    axb.scatter(start[o, m, 0], np.full(int(m.sum()), y), marker="|", s=260,
                                color=colors[v], linewidths=1.6)
            if mins and boundaries:
                for b in range(geo.rt):
                    v = lab[o, b]
                    x0 = start[o, b, 0]
                    if v < 0 or not np.isfinite(x0):
                        continue
                    lo_b = max([m for m in boundaries if m < x0], default=-np.inf)
                    hi_b = min([m for m in boundaries if m > x0], default=np.inf)
                    if not lo_b <= flow_end[v] <= hi_b:
                        crossed += 1
                        axb.scatter([x0], [y + 0.36], marker="v", s=30, color="black",
                                    zorder=5)
            ticks.append(run.labels[o] + (f"\n({crossed} crossed)" if crossed else ""))
        axb.set_yticks(np.arange(nopt)[::-1], ticks)
        axb.set_ylabel("optimizer")
        axb.set_ylim(-0.6, nopt - 0.4)
        axb.grid(False)
        axb.set_xlabel("start x₀ (one tick per recorded trajectory, coloured by where it "
                       "ended)")
        for x in boundaries:
            for ax in (axf, axb):
                ax.axvline(x, color="#444444", linestyle="--", linewidth=0.9)
        if boundaries:
            handles.append(Line2D([], [], color="#444444", linestyle="--",
                                  label="maxima: basin boundaries of the gradient flow"))
            handles.append(Line2D([], [], color="black", marker="v", linestyle="none",
                                  label="crossed a barrier"))
        axf.set_xlim(geo.lo[0], geo.hi[0])
        style.legend_row(fig.add_subplot(gs[0]), handles, [h.get_label() for h in handles])
    else:
        nrow, ncol = _grid(nopt)
        fig = style.figure((max(7.5, 4.2 * ncol + 0.4), 1.0 + _row_height(geo) * nrow),
                           min_height=0.6 + 2.4 * nrow)
        gs = fig.add_gridspec(nrow + 1, ncol, height_ratios=[0.12] + [1] * nrow)
        if land is not None:
            X, Y, Z, levels = _contour_data(land, geo.lo, geo.hi)
        for o in range(nopt):
            ax = fig.add_subplot(gs[1 + o // ncol, o % ncol])
            if land is not None:
                ax.contour(X, Y, Z, levels=levels, colors="#888888", linewidths=0.4)
                _mark_critical(ax, run, land, geo)
                for v, c in enumerate(found):  # each end point in its basin's colour
                    ax.scatter([c[0]], [c[1]], s=110, color=colors[v], edgecolors="black",
                               linewidths=1.0, zorder=7)
            for v in used:
                m = lab[o] == v
                if np.any(m):
                    ax.scatter(start[o, m, 0], start[o, m, 1], s=16, color=colors[v],
                               linewidths=0, zorder=4)
            ax.set_xlim(geo.lo[0], geo.hi[0])
            ax.set_ylim(geo.lo[1], geo.hi[1])
            ratio = (geo.hi[1] - geo.lo[1]) / (geo.hi[0] - geo.lo[0])
            if 1 / 3 < ratio < 3:
                ax.set_aspect("equal", adjustable="box")
            ax.grid(False)
            style.label_title(ax, run.labels[o], fontsize=9)
            ax.set_xlabel("start x₁")
            ax.set_ylabel("start x₂")
        style.legend_row(fig.add_subplot(gs[0, :]), handles, [h.get_label() for h in handles])
    fig.suptitle(style.run_title(run, "Basins of attraction: each start coloured by where it "
                                 "ended"), x=0.01, ha="left", fontsize=10.5)
    return fig


def make(run, opts=None):
    title = "Landscape"
    if not run.labels:
        return [Skipped("landscape", title, "no optimizer in this run (a finder-only census): "
                        "no trajectories to draw")]
    if run.dim > 2:
        return [Skipped("landscape", title, f"N = {run.dim:,}: landscape figures are drawn "
                        "for 1-D and 2-D objectives")]
    if run.is_pspin:
        return [Skipped("landscape", title, "p-spin: the landscape lives on a sphere; no "
                        "landscape figure")]
    land, why = landscape_for(run)
    if run.paths is None and land is None:
        return [Skipped("landscape", title, f"no paths.npy and {why}")]
    geo = _Geometry(run, land)
    out = []
    if geo.rt == 0 and land is None:
        return [Skipped("landscape", title, "no recorded paths (paths.npy)")]
    if run.dim == 1:
        fig, gs, handles = _draw_1d(run, land, geo)
    else:
        fig, gs, handles = _draw_2d(run, land, geo)
    h = list(handles.values())
    style.legend_row(fig.add_subplot(gs[0, :]), h, [x.get_label() for x in h])
    fig.suptitle(style.run_title(run, "Landscape with the recorded trajectories"), x=0.01,
                 ha="left", fontsize=10.5)
    shown = min(geo.rt, MAX_PATHS)
    caption = (f"{'The curve' if run.dim == 1 else 'Filled contours of'} "
               f"{land.formula if land is not None else 'f'} "
               f"with {'the' if shown == geo.rt else f'{shown} evenly chosen of the'} "
               f"{geo.rt} recorded trajector{'ies' if geo.rt != 1 else 'y'} per optimizer "
               f"(paths.npy, positions every {run.record_every} step"
               f"{'s' if run.record_every != 1 else ''}): hollow circle = start, filled = end; "
               + ("each recorded iterate (x_t, f(x_t)) is a dot, joined in order, so an "
                  "oscillating learning rate draws a zigzag. " if run.dim == 1 else "")
               + "Critical points are marked by class. ")
    if land is not None and land.source != "closed form":
        caption += f"The surface: {land.source}. "
    if land is None:
        caption += f"No surface: {why}. "
    if any(np.any(o == "diverged") for o in geo.outcome):
        caption += "Diverging paths leave the window. "
    out.append(Made("landscape", title, caption.strip(), fig))

    if run.dim == 2 and land is not None and geo.rt:
        out.append(Made("surface", "Surface", "The same landscape as a 3-D surface, with up to "
                        "8 recorded trajectories per optimizer lifted onto it (drawn until they "
                        "leave the window) and the critical points by class.",
                        _draw_surface(run, land, geo)))
    if geo.rt > 1 and geo.starts.shape[0] and \
            np.unique(np.round(geo.starts, 12), axis=0).shape[0] > 1:
        cap = ("Each recorded start, coloured by where its trajectory ended: at which minimum "
               "(matched within 2% of the window), diverged (black) or elsewhere (grey). ")
        if run.dim == 1:
            cap += ("Top: the landscape; dashed lines at the maxima bound the basins of the "
                    "gradient flow. Bottom: one row per optimizer; a triangle marks a start "
                    "the optimizer carried across a barrier (it ended outside the basin it "
                    "started in). ")
        cap += f"Only the {geo.rt} recorded trajectories (run.record_trajectories) are shown."
        out.append(Made("basins", "Basins of attraction", cap, _draw_basins(run, land, geo)))
    return out
