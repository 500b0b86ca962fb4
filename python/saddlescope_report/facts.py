"""Figure 6: run facts and the census table as an image (facts.png / facts.svg).

The page shows the same tables as HTML; the image is for slides and papers.
"""

import textwrap

from . import style, tables
from .result import Made

KEEP = ("experiment", "objective", "N (parameters)", "starts", "trajectories", "stopping",
        "precision", "backend", "timings", "trajectory-steps / s", "census", "certification",
        "saddle fraction", "finder")
SHORT = {"saddle fraction among critical": "saddle fraction\n(critical)",
         "index fraction α: median (q25 – q75)": "α median\n(q25 – q75)",
         "findings (Σ multiplicity)": "findings\n(Σ mult.)",
         "distinct points": "distinct\npoints"}


def make(run, opts=None):

    _, _, rows = tables.run_facts(run)
    rows = [r for r in rows if r[0] in KEEP or r[0].startswith("optimizer ")]
    # --size narrower than the usual 11 inches: smaller text, wrapped shorter.
    width = opts.size[0] if opts is not None and opts.size is not None else 11.0
    scale = min(1.0, width / 11.0)
    font = max(6.0, 8.5 * scale)
    wrap = max(30, int(120 * scale * 8.5 / font))
    cells = []
    for k, v in rows:
        text = "\n".join(textwrap.wrap(v, wrap)) or "-"
        cells.append([k + "\n" * text.count("\n"), text])  # keys on the first line
    census = tables.census(run)
    if census is not None and not census[2]:
        census = None
    n_lines = sum(c[1].count("\n") + 1 for c in cells)
    extra = 0 if census is None else len(census[2]) + 1
    height = 0.9 + 0.24 * n_lines + 0.26 * extra + (0.5 if extra else 0)
    fig = style.figure((11, height), min_height=height)
    hs = [n_lines * 1.0] + ([extra * 1.1] if extra else [])
    gs = fig.add_gridspec(len(hs), 1, height_ratios=hs)
    ax = fig.add_subplot(gs[0])
    ax.set_axis_off()
    t = ax.table(cellText=cells, colWidths=[0.18 / scale ** 0.5, 1 - 0.18 / scale ** 0.5],
                 loc="upper center", cellLoc="left",
                 edges="horizontal")
    t.auto_set_font_size(False)
    t.set_fontsize(font)
    for (r, c), cell in t.get_celld().items():
        lines = cells[r][c].count("\n") + 1
        cell.set_height(lines / max(n_lines, 1) * 0.98)
        cell.set_edgecolor("#dddddd")
        if c == 0:
            cell.get_text().set_fontweight("bold")
    if census is not None:
        _, header, crow = census
        ax2 = fig.add_subplot(gs[1])
        ax2.set_axis_off()
        short = [SHORT.get(h, h) for h in header]
        n = len(short)
        widths = [0.15] + [0.08 if "(" in crow[0][j] else 0.06 for j in range(1, n - 2)] + \
            [0.11 if "(" in crow[0][n - 2] else 0.08, 0.17]
        t2 = ax2.table(cellText=crow, colLabels=short, loc="upper center", cellLoc="right",
                       colLoc="right", colWidths=[w / sum(widths) for w in widths])
        t2.auto_set_font_size(False)
        t2.set_fontsize(max(5.5, 8 * scale))
        t2.scale(1, 1.25)
        for (r, c), cell in t2.get_celld().items():
            cell.set_edgecolor("#dddddd")
            if r == 0:
                cell.set_facecolor("#f2f2f2")
                cell.set_height(cell.get_height() * 1.6)
            if c == 0:
                cell.get_text().set_horizontalalignment("left")
        bound = run.index_bound()
        ax2.set_title("census: class counts per source and per optimizer"
                      + (" (distinct points; multiplicity-weighted in brackets)"
                         if "distinct points" in header else "")
                      + ("; indices of uncertified points are lower bounds"
                         if bound and bound[0] else ""), loc="left", fontsize=9)
    fig.suptitle(style.run_title(run, "Run facts"), x=0.01, ha="left", fontsize=10.5)
    return [Made("facts", "Run facts (image)", "The run facts and the census table as an "
                 "image, for slides; the tables above hold the same numbers.", fig)]
