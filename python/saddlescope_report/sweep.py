"""The report of a sweep (docs/run-directory.md "Sweeps"): RUN_DIR/report/.

For every swept key, one figure per headline statistic of sweep.csv against
that key's values: the census statistics (saddle fraction, distinct minima
and saddles, critical points, mean index, premature stops, ...) and, per
optimizer, final loss, plateau steps, converged fraction and steps to target
when the sweep holds them. The key axis is logarithmic when its values span
more than two decades; with several swept keys there is one line per value
of the other keys. The page lists the points (sweep.csv) with a link to each
point's own report (sweep/NNN/report/index.html) where one exists.
"""

import html
import os
import re

import numpy as np

from .result import Made, Skipped
from .rundir import load_sweep

# (column, axis label) in page order; per-optimizer statistics are optimizer.<i>.<stat>.
STATS = (
    ("saddle_fraction", "saddle fraction among distinct critical points"),
    ("saddle_fraction_weighted", "saddle fraction (multiplicity-weighted)"),
    ("distinct_points", "distinct points"),
    ("critical_points", "distinct critical points"),
    ("distinct_minima", "distinct minima"),
    ("distinct_saddles", "distinct saddles"),
    ("index_mean", "mean index of the distinct critical points"),
    ("premature_stops", "premature stops (converged at index ≥ 1)"),
)
OPTIMIZER_STATS = (
    ("final_loss_median", "median final loss"),
    ("plateau_steps_median", "median plateau steps"),
    ("converged_fraction", "fraction of trajectories converged"),
    ("steps_to_target_median", "median steps to the target loss"),
)
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _key_axis(sw, key):
    """(x positions per row, tick labels or None, log?) for a swept key."""
    if sw.numeric[key] and np.all(np.isfinite(sw.values[key])):
        x = sw.values[key]
        pos = x[x > 0]
        log = bool(np.all(x > 0) and pos.size and pos.max() / pos.min() > 100)
        return x, None, log
    cats = list(dict.fromkeys(sw.cells[key]))
    return np.array([cats.index(c) for c in sw.cells[key]], float), cats, False


def _groups(sw, key):
    """[(label, row indices)] by the values of the other swept keys."""
    others = [k for k in sw.keys if k != key]
    if not others:
        return [("", np.arange(sw.rows))]
    combos = {}
    for r in range(sw.rows):
        combos.setdefault(tuple(sw.cells[k][r] for k in others), []).append(r)
    return [(", ".join(f"{k} = {v}" for k, v in zip(others, combo)), np.array(rows))
            for combo, rows in combos.items()]


def _figure(sw, key, column_sets, ylabel, title):
    """One statistic against one key: column_sets = [(series label, column)]."""
    from . import style
    from .census import apply_scale, tidy_ticks

    x, cats, logx = _key_axis(sw, key)
    groups = _groups(sw, key)
    fig = style.figure((6.8, 4.4))
    ax = fig.add_subplot()
    ys = []
    n_lines = 0
    for si, (series, col) in enumerate(column_sets):
        for gi, (glabel, rows) in enumerate(groups):
            y = sw.values[col][rows]
            xx = x[rows]
            ok = np.isfinite(y) & np.isfinite(xx)
            if not np.any(ok):
                continue
            order = np.argsort(xx[ok], kind="stable")
            label = ", ".join(t for t in (series, glabel) if t) or None
            color = style.optimizer_color(gi if len(groups) > 1 else si)
            k = gi if len(groups) > 1 else si
            # Lines that coincide stay visible: each later one has a smaller marker of
            # another shape, drawn on top of the earlier ones.
            ax.plot(xx[ok][order], y[ok][order], color=color,
                    linestyle=LINE_STYLES[si % len(LINE_STYLES)] if len(groups) > 1 else "-",
                    marker=MARKERS[k % len(MARKERS)], markersize=max(3.0, 9.0 - 2.0 * k),
                    markerfacecolor="white" if k % 2 == 0 else color, markeredgewidth=1.3,
                    linewidth=max(0.9, 2.2 - 0.4 * k), label=label)
            ys.append(y[ok])
            n_lines += 1
    if logx:
        ax.set_xscale("log")
    elif cats is None and np.all(x == np.round(x)):
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if cats is not None:
        ax.set_xticks(np.arange(len(cats)), cats)
        ax.set_xlim(-0.5, len(cats) - 0.5)
        ax.grid(axis="x", visible=False)
    yv = np.concatenate(ys)
    kind = apply_scale(ax, "y", yv)
    tidy_ticks(ax, "y")
    if kind == "linear" and np.all(yv >= 0):
        ax.set_ylim(0, None)
    if "fraction" in ylabel and np.all((yv >= 0) & (yv <= 1)):
        ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(key + (" (log)" if logx else ""))
    ax.set_ylabel(ylabel + (f" ({kind})" if kind != "linear" else ""))
    if n_lines > 1 or any(series for series, _ in column_sets):
        ax.legend(loc="best", fontsize=7.5, title=None)
    fig.suptitle(title, x=0.01, ha="left", fontsize=10.5)
    return fig, n_lines


def figures(sw, errors=None):
    """Made / Skipped items, one at a time (a generator: save and close each figure
    before the next is drawn): one figure per (key, statistic) with data. A figure that
    fails is appended to `errors` (name, message) and the others are still drawn."""
    import matplotlib.pyplot as plt
    stats = [(stat, label, [("", stat)]) for stat, label in STATS]
    for stat, label in OPTIMIZER_STATS:
        sets = [(sw.optimizer_labels.get(i, f"optimizer {i}"), f"optimizer.{i}.{stat}")
                for i in sw.optimizers if f"optimizer.{i}.{stat}" in sw.values]
        stats.append((stat, label, sets))
    for stat, label, sets in stats:
        sets = [(s, c) for s, c in sets if c in sw.values and np.any(np.isfinite(sw.values[c]))]
        if not sets:
            present = stat in sw.columns or any(f"optimizer.{i}.{stat}" in sw.columns
                                                for i in sw.optimizers)
            yield Skipped(stat, label, "empty in every row of sweep.csv (no census at these "
                          "points, or null)" if present else "not a column of sweep.csv")
            continue
        for key in sw.keys:
            title = (f"{label[0].upper() + label[1:]} against {key}\n{sw.name}: sweep of "
                     f"{sw.rows} point{'s' if sw.rows != 1 else ''}"
                     + (f" over {', '.join(sw.keys)}" if len(sw.keys) > 1 else ""))
            name = f"{_slug(stat)}-vs-{_slug(key)}"
            try:
                fig, n = _figure(sw, key, sets, label, title)
            except Exception as e:
                if os.environ.get("SADDLESCOPE_DEBUG") or errors is None:
                    raise
                errors.append((name, f"{type(e).__name__}: {e}"))
                plt.close("all")
                continue
            cap = (f"{label[0].upper() + label[1:]} (sweep.csv column "
                   f"{sets[0][1] if len(sets) == 1 else 'optimizer.<i>.' + stat}) at each "
                   f"sweep point against {key}")
            if len(sw.keys) > 1:
                cap += "; one line per value of the other swept key" + (
                    "s" if len(sw.keys) > 2 else "")
            if len(sets) > 1 or sets[0][0]:
                cap += "; one line per optimizer" + (", line style = optimizer"
                                                     if len(sw.keys) > 1 else "")
            cap += ". Points where the value is empty (null) are left out."
            made = Made(name, f"{label} against {key}", cap, fig)
            made.key, made.stat = key, stat
            yield made


def _cell(sw, col, r):
    """A sweep.csv cell for the page: statistics as compact numbers, keys as written."""
    from .style import fmt_num
    text = sw.cells[col][r]
    if text == "" or text.lower() in ("null", "nan"):
        return "-"
    if col in sw.keys or col in ("point", "dir") or not sw.numeric[col]:
        return text
    return fmt_num(sw.values[col][r])


def _points_table(sw, out):
    """The sweep.csv table with a link to each point's report."""
    from .html import _table
    header = ["report"] + sw.columns
    rows, links = [], 0
    for r in range(sw.rows):
        d = sw.cells["dir"][r]
        page = os.path.join(sw.path, d, "report", "index.html")
        rows.append([page if os.path.exists(page) else None] + [_cell(sw, c, r)
                                                                 for c in sw.columns])
    text = _table(header, [[""] + r[1:] for r in rows])
    # Put the links in (the table helper escapes text, so add anchors afterwards).
    parts = text.split("<tr>")
    for i, r in enumerate(rows):
        if r[0] is None:
            cell = "<td>-</td>"
        else:
            links += 1
            href = os.path.relpath(r[0], out).replace(os.sep, "/")
            cell = (f'<td><a href="{html.escape(href)}">point '
                    f'{html.escape(sw.cells["point"][i])}</a></td>')
        parts[i + 2] = parts[i + 2].replace("<td></td>", cell, 1)
    return "<tr>".join(parts), links


def render(sw, sections, skipped, errors, out):
    from .html import CSS, embed_png, file_links
    title = f"saddlescope sweep report: {sw.name}"
    s = sw.summary
    sub = (f"sweep over {', '.join(sw.keys)}: {sw.rows} of "
           f"{sw.points if sw.points is not None else '?'} points in sweep.csv; "
           f"saddlescope {s.get('version', '-')}")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style></head><body><main>",
             f"<h1>{html.escape(title)}</h1>", f'<p class="sub">{html.escape(sub)}</p>']
    nav = ['<a href="#points">Points</a>'] + [
        f'<a href="#key-{_slug(k)}">against {html.escape(k)}</a>' for k in sw.keys]
    parts.append("<nav>" + " ".join(nav) + "</nav>")
    if errors:
        parts.append('<p class="error">' + "<br>".join(
            html.escape(f"Figure {n} could not be drawn: {e}") for n, e in errors) + "</p>")
    parts.append('<h2 id="points">Points</h2>')
    table, links = _points_table(sw, out)
    parts.append(table)
    parts.append('<p class="tcap">' + html.escape(
        "sweep.csv: one row per sweep point (its run directory in column dir), the swept "
        "keys, then the point's headline statistics from its summary.json (- = empty: no "
        "census or null). ") + html.escape(
        f"{links} point{'s have' if links != 1 else ' has'} its own report (linked); "
        "`saddlescope report RUN_DIR/sweep/NNN` writes one.") + "</p>")
    for key in sw.keys:
        parts.append(f'<h2 id="key-{_slug(key)}">Against {html.escape(key)}</h2>')
        for made in sections:
            if made.key != key:
                continue
            data = embed_png(out, made.name)
            parts.append(f'<figure><img src="data:image/png;base64,{data}" '
                         f'alt="{html.escape(made.title)}">')
            parts.append(f"<figcaption>{html.escape(made.caption)} "
                         f'<span class="files">Files: {file_links(made)}</span></figcaption>'
                         "</figure>")
    if skipped:
        parts.append('<h2 id="not-drawn">Not drawn for this sweep</h2><ul class="skipped">')
        for sk in skipped:
            parts.append(f"<li><b>{html.escape(sk.title)}</b> ({html.escape(sk.name)}): "
                         f"{html.escape(sk.reason)}</li>")
        parts.append("</ul>")
    parts.append('<p class="tcap">Written by <code>saddlescope report</code> from the sweep '
                 "directory alone; the figures' files are in this folder. What each figure "
                 "shows: docs/report.md in the saddlescope sources.</p>")
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def build(run_dir, out_dir=None, log=None, options=None):
    """Writes the sweep's report; returns (index path, made names, skipped, errors)."""
    from . import report
    from .options import DEFAULT
    opts = options or DEFAULT
    sw = load_sweep(run_dir)
    out = out_dir or os.path.join(sw.path, "report")
    index = report.start_page(out)

    from . import style  # sets the backend and the rc parameters

    sections, skipped, errors, made_names, written = [], [], [], [], set()
    if sw.rows == 0:
        skipped.append(Skipped("sweep", "Sweep figures", "sweep.csv holds no point"))
    items = figures(sw, errors) if sw.rows else iter(())
    while True:
        with style.options(opts):
            item = next(items, None)
        if item is None:
            break
        if isinstance(item, Made):
            if not report.save_made(item, out, opts, errors):
                continue
            written.update(item.files)
            sections.append(item)
            made_names.append(item.name)
        else:
            skipped.append(item)
        if log:
            log(item)
    stale = [f for f in os.listdir(out) if "-vs-" in f and f.rsplit(".", 1)[-1] in
             report.EXTENSIONS and f not in written]
    for f in stale:
        os.remove(os.path.join(out, f))
    page = render(sw, sections, skipped, errors, out)
    report.write_page(out, index, page)
    return index, made_names, skipped, errors
