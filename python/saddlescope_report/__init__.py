"""saddlescope's report: figures and a self-contained HTML page from a run directory.

    python3 -m saddlescope_report RUN_DIR      (what `saddlescope report RUN_DIR` runs)

The package reads only the run directory (docs/run-directory.md) and writes
RUN_DIR/report/: one PNG and one SVG per figure and index.html, which embeds
the PNGs, so the page opens with no network and when moved. What each figure
shows: docs/report.md.
"""

__version__ = "0.1.0"

from .rundir import RunDirError, load_run  # noqa: E402,F401  (the public API)

__all__ = ["RunDirError", "load_run"]
