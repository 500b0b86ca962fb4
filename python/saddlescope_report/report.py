"""Builds RUN_DIR/report/: every figure the run holds data for, then index.html.

The page is written last, under a temporary name then renamed, and an older
index.html is removed first: a report that is killed part-way leaves no page
that looks complete.
"""

import os

from . import html as html_page
from . import tables
from .rundir import load_run

# Figure modules in page order; each make(run) returns Made / Skipped items.
FIGURE_MODULES = ("landscape", "curves", "optimizers", "census", "spectra", "facts")
FIGURE_NAMES = ("landscape", "surface", "basins", "curves", "optimizers", "census", "spectra",
                "facts")


def build(run_dir, out_dir=None, log=None):
    """Writes the report; returns (index path, made names, skipped, errors).

    Raises RunDirError for a missing or corrupt run directory (before any
    figure is drawn) and OSError when the report folder cannot be written.
    """
    run = load_run(run_dir)
    out = out_dir or os.path.join(run.path, "report")
    os.makedirs(out, exist_ok=True)
    index = os.path.join(out, "index.html")
    if os.path.exists(index):
        os.remove(index)

    import importlib
    import matplotlib.pyplot as plt
    from . import style  # noqa: F401  (sets the backend and the rc parameters)
    from .result import Made

    sections, skipped, errors, made_names = [], [], [], []
    for mod_name in FIGURE_MODULES:
        mod = importlib.import_module(f".{mod_name}", __package__)
        try:
            items = mod.make(run)
        except Exception as e:  # a bug in one figure must not cost the others
            if os.environ.get("SADDLESCOPE_DEBUG"):
                raise
            errors.append((mod_name, f"{type(e).__name__}: {e}"))
            plt.close("all")
            continue
        for item in items:
            if isinstance(item, Made):
                try:
                    style.save(item.fig, out, item.name)
                except Exception as e:
                    if os.environ.get("SADDLESCOPE_DEBUG"):
                        raise
                    errors.append((item.name, f"{type(e).__name__}: {e}"))
                    continue
                finally:
                    plt.close(item.fig)
                after = []
                if item.name == "optimizers":
                    pass  # the comparison table sits under the run facts
                if item.name == "census":
                    after = [html_page._table_block(tables.census(run)),
                             html_page._table_block(tables.premature_stops(run))]
                sections.append((item, after))
                made_names.append(item.name)
            else:
                skipped.append(item)
            if log:
                log(item)
    # Figures of an earlier report that this one did not draw would be stale.
    for name in FIGURE_NAMES:
        if name not in made_names:
            for ext in ("png", "svg"):
                p = os.path.join(out, f"{name}.{ext}")
                if os.path.exists(p):
                    os.remove(p)
    page = html_page.render(run, sections, skipped, errors, out)
    tmp = os.path.join(out, ".index.html.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, index)
    return index, made_names, skipped, errors
