"""Figure 6: run facts and the census table as an image (facts.png / facts.svg).

The page shows the same tables as HTML; the image is for slides and papers.
"""

import textwrap

from . import style, tables
from .result import Made

KEEP = ("experiment", "objective", "N (parameters)", "starts", "trajectories", "stopping",
        "precision", "backend", "timings", "trajectory-steps / s", "census", "saddle fraction")


def make(run):
    import matplotlib.pyplot as plt

    _, _, rows = tables.run_facts(run)
    rows = [r for r in rows if r[0] in KEEP or r[0].startswith("optimizer ")]
    cells = []
    for k, v in rows:
        text = "\n".join(textwrap.wrap(v, 120)) or "-"
        cells.append([k + "\n" * text.count("\n"), text])  # keys on the first line
    census = tables.census(run)
    n_lines = sum(c[1].count("\n") + 1 for c in cells)
    extra = 0 if census is None else len(census[2]) + 1
    fig = plt.figure(figsize=(11, 0.9 + 0.24 * n_lines + 0.26 * extra + (0.5 if extra else 0)))
    hs = [n_lines * 1.0] + ([extra * 1.1] if extra else [])
    gs = fig.add_gridspec(len(hs), 1, height_ratios=hs)
    ax = fig.add_subplot(gs[0])
    ax.set_axis_off()
    t = ax.table(cellText=cells, colWidths=[0.18, 0.82], loc="upper center", cellLoc="left",
                 edges="horizontal")
    t.auto_set_font_size(False)
    t.set_fontsize(8.5)
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
        short = [h.replace("saddle fraction among critical", "saddle fraction\n(critical)")
                  .replace("index fraction α: median (q25 – q75)", "α median\n(q25 – q75)")
                 for h in header]
        n = len(short)
        widths = [0.17] + [0.065] * (n - 3) + [0.1, 0.2]
        t2 = ax2.table(cellText=crow, colLabels=short, loc="upper center", cellLoc="right",
                       colLoc="right", colWidths=[w / sum(widths) for w in widths])
        t2.auto_set_font_size(False)
        t2.set_fontsize(8)
        t2.scale(1, 1.25)
        for (r, c), cell in t2.get_celld().items():
            cell.set_edgecolor("#dddddd")
            if r == 0:
                cell.set_facecolor("#f2f2f2")
                cell.set_height(cell.get_height() * 1.6)
            if c == 0:
                cell.get_text().set_horizontalalignment("left")
        ax2.set_title("census: class counts per source and per optimizer", loc="left",
                      fontsize=9)
    fig.suptitle(style.run_title(run, "Run facts"), x=0.01, ha="left", fontsize=10.5)
    return [Made("facts", "Run facts (image)", "The run facts and the census table as an "
                 "image, for slides; the tables above hold the same numbers.", fig)]
