"""report/index.html: one self-contained page (figures embedded as base64 PNG)."""

import base64
import html
import os

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0;color:#1d1d1f;background:#fafafa;line-height:1.45}
main{max-width:1240px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.55em;margin:0 0 4px} h2{font-size:1.2em;margin:34px 0 8px;
 border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;margin:0 0 18px}
nav{font-size:.92em;margin:8px 0 18px} nav a{margin-right:14px}
figure{margin:0 0 8px;background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:10px}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:.9em;color:#333;margin-top:8px}
figcaption .files{color:#777;white-space:nowrap}
table{border-collapse:collapse;font-size:.88em;background:#fff;margin:6px 0 4px}
th,td{border:1px solid #e0e0e0;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f2f2f2;font-weight:600}
td:first-child,th:first-child{text-align:left}
table.facts td{text-align:left} table.facts td:first-child{font-weight:600;white-space:nowrap}
.tcap{font-size:.88em;color:#444;margin:2px 0 16px;max-width:1100px}
.scroll{overflow-x:auto}
.skipped li{color:#555} .error{color:#a00}
"""


def _table(header, rows, cls=""):
    out = [f'<div class="scroll"><table class="{cls}">']
    if any(header):
        out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def _table_block(t, cls=""):
    if t is None:
        return ""
    cap, header, rows = t
    return _table(header, rows, cls) + f'\n<p class="tcap">{html.escape(cap)}</p>'


def file_links(made):
    """Links to a figure's files (NAME.png, NAME.svg or NAME.pdf)."""
    files = getattr(made, "files", None) or [f"{made.name}.png", f"{made.name}.svg"]
    return " · ".join(f'<a href="{html.escape(f)}">{html.escape(f)}</a>' for f in files)


def embed_png(outdir, name):
    with open(os.path.join(outdir, f"{name}.png"), "rb") as f:
        return base64.b64encode(f.read()).decode("ascii")


def render(run, sections, skipped, errors, outdir):
    """The page. sections: [(Made, [table blocks to show after it])]."""
    from . import tables

    title = f"saddlescope report: {run.name}"
    s = run.summary
    if run.labels:
        what = (f"{run.trajectories:,} trajector{'ies' if run.trajectories != 1 else 'y'} × "
                f"{len(run.labels)} optimizer{'s' if len(run.labels) != 1 else ''} "
                f"({', '.join(run.labels)})")
    else:
        what = ("finder only" + (f": {run.finder_kind}" if run.finder_kind else "")
                + (f", {run.finder_starts:,} starts" if run.finder_starts else ""))
    sub = (f"{run.kind}, N = {run.dim:,}, {what}; "
           f"{s.get('backend', '-')} backend, saddlescope {s.get('version', '-')}")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style></head><body><main>",
             f"<h1>{html.escape(title)}</h1>", f'<p class="sub">{html.escape(sub)}</p>']
    nav = ['<a href="#facts">Run facts</a>']
    for made, _ in sections:
        if made.name == "facts":
            continue
        nav.append(f'<a href="#{made.name}">{html.escape(made.title)}</a>')
    parts.append("<nav>" + " ".join(nav) + "</nav>")
    if errors:
        parts.append('<p class="error">' + "<br>".join(
            html.escape(f"Figure {n} could not be drawn: {e}") for n, e in errors) + "</p>")

    parts.append('<h2 id="facts">Run facts</h2>')
    parts.append(_table_block(tables.run_facts(run), "facts"))
    parts.append(_table_block(tables.comparison(run)))
    images = [m for m, _ in sections if m.name == "facts"]
    if images:
        parts.append('<p class="tcap">The run facts and the census table as an image, for '
                     'slides: ' + file_links(images[0]) + '.</p>')
    for made, after in sections:
        if made.name == "facts":
            continue
        data = embed_png(outdir, made.name)
        parts.append(f'<h2 id="{made.name}">{html.escape(made.title)}</h2>')
        parts.append(f'<figure><img src="data:image/png;base64,{data}" '
                     f'alt="{html.escape(made.title)}">')
        parts.append(f"<figcaption>{html.escape(made.caption)} "
                     f'<span class="files">Files: {file_links(made)}</span></figcaption>'
                     "</figure>")
        for block in after:
            parts.append(block)
    if skipped:
        parts.append('<h2 id="not-drawn">Not drawn for this run</h2><ul class="skipped">')
        for sk in skipped:
            parts.append(f"<li><b>{html.escape(sk.title)}</b>: {html.escape(sk.reason)}</li>")
        parts.append("</ul>")
    parts.append('<p class="tcap">Written by <code>saddlescope report</code> from the run '
                 "directory alone; the figures' files are in this folder. What each figure "
                 "shows: docs/report.md in the saddlescope sources.</p>")
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p) + "\n"
