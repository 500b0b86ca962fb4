"""saddlescope's report: figures and a self-contained HTML page from a run directory.

    python3 -m saddlescope_report RUN_DIR      (what `saddlescope report RUN_DIR` runs)

The package reads only the run directory (docs/run-directory.md, schema_version
2, and 1 with fallbacks; a sweep's directory gets the sweep report) and writes
RUN_DIR/report/: one PNG and one SVG (or PDF: --format) per figure and
index.html, which embeds the PNGs, so the page opens with no network and when
moved. What each figure shows and the figure options: docs/report.md.
"""

__version__ = "0.2.0"

from .rundir import RunDirError, load_run  # noqa: E402,F401  (the public API)

__all__ = ["RunDirError", "load_run"]
