"""Builds RUN_DIR/report/: every figure the run holds data for, then index.html.

The page is written last, under a temporary name then renamed, and an older
index.html is removed first: a report that is killed part-way leaves no page
that looks complete. A sweep's directory (summary.json kind "sweep") gets the
sweep report instead (sweep.py).
"""

import os

from . import html as html_page
from . import tables
from .options import DEFAULT
from .rundir import is_sweep, load_run

# Figure modules in page order; each make(run, opts) returns Made / Skipped items.
FIGURE_MODULES = ("landscape", "curves", "sharpness", "optimizers", "census", "index_energy",
                  "index_estimate", "spectra", "facts")
FIGURE_NAMES = ("landscape", "surface", "basins", "curves", "sharpness", "optimizers",
                "census", "index_energy", "index_estimate", "spectra", "facts")
EXTENSIONS = ("png", "svg", "pdf")


def start_page(out):
    """Creates the report folder and removes an earlier page; returns index.html's path."""
    os.makedirs(out, exist_ok=True)
    index = os.path.join(out, "index.html")
    if os.path.exists(index):
        os.remove(index)
    return index


def save_made(item, out, opts, errors):
    """Applies the options to a drawn figure and writes its files; False when that failed
    (the error is appended to `errors`). Closes the figure."""
    import matplotlib.pyplot as plt
    from . import style
    try:
        style.apply_options(item.fig, opts)
        item.files = style.save(item.fig, out, item.name, opts)
        return True
    except Exception as e:
        if os.environ.get("SADDLESCOPE_DEBUG"):
            raise
        errors.append((item.name, f"{type(e).__name__}: {e}"))
        return False
    finally:
        plt.close(item.fig)


def remove_stale(out, names, written):
    """Figures of an earlier report that this one did not write would be stale."""
    for name in names:
        for ext in EXTENSIONS:
            f = f"{name}.{ext}"
            p = os.path.join(out, f)
            if f not in written and os.path.exists(p):
                os.remove(p)


def write_page(out, index, page):
    tmp = os.path.join(out, ".index.html.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, index)


def build(run_dir, out_dir=None, log=None, options=None):
    """Writes the report; returns (index path, made names, skipped, errors).

    Raises RunDirError for a missing or corrupt run directory (before any
    figure is drawn) and OSError when the report folder cannot be written.
    """
    opts = options or DEFAULT
    if is_sweep(run_dir):
        from . import sweep
        return sweep.build(run_dir, out_dir, log=log, options=opts)
    run = load_run(run_dir)
    out = out_dir or os.path.join(run.path, "report")
    index = start_page(out)

    import importlib
    import matplotlib.pyplot as plt
    from . import style  # sets the backend and the rc parameters
    from .result import Made

    sections, skipped, errors, made_names, written = [], [], [], [], set()
    for mod_name in FIGURE_MODULES:
        mod = importlib.import_module(f".{mod_name}", __package__)
        try:
            with style.options(opts):
                items = mod.make(run, opts)
        except Exception as e:  # a bug in one figure must not cost the others
            if os.environ.get("SADDLESCOPE_DEBUG"):
                raise
            errors.append((mod_name, f"{type(e).__name__}: {e}"))
            plt.close("all")
            continue
        for item in items:
            if isinstance(item, Made):
                if not save_made(item, out, opts, errors):
                    continue
                written.update(item.files)
                after = []
                if item.name == "census":
                    after = [html_page._table_block(tables.census(run)),
                             html_page._table_block(tables.finder(run)),
                             html_page._table_block(tables.tolerances(run), "facts"),
                             html_page._table_block(tables.premature_stops(run))]
                sections.append((item, after))
                made_names.append(item.name)
            else:
                skipped.append(item)
            if log:
                log(item)
    remove_stale(out, FIGURE_NAMES, written)
    page = html_page.render(run, sections, skipped, errors, out)
    write_page(out, index, page)
    return index, made_names, skipped, errors
