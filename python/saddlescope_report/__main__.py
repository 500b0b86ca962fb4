"""python3 -m saddlescope_report RUN_DIR [-o OUT_DIR] [figure options]: what
`saddlescope report` runs (figure options: options.py, docs/report.md).

Exit codes (docs/design.md section 2): 0 report written; 2 bad input (a missing or
corrupt run-directory file: the message names the file and the problem);
1 anything else (a figure that failed, a report folder that cannot be
written, matplotlib missing); invalid options exit 2 with argparse's message.
No tracebacks unless SADDLESCOPE_DEBUG is set.
"""

import argparse
import os
import sys

PROG = "saddlescope report"
INSTALL_HINT = ("install the report's dependencies with `bash tools/install_deps.sh` "
                "(Debian: apt-get install python3-numpy python3-matplotlib)")


def _fail(msg, code):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    return code


def main(argv=None):
    from . import options
    ap = argparse.ArgumentParser(
        prog=PROG, description="Figures (PNG, SVG or PDF) and a self-contained "
        "report/index.html for a saddlescope run directory (or a sweep's).")
    ap.add_argument("run_dir", help="run directory written by saddlescope run")
    ap.add_argument("-o", "--output", help="report folder (default RUN_DIR/report)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    options.add_arguments(ap)
    args = ap.parse_args(argv)
    opts = options.from_args(args)
    try:
        import numpy  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as e:
        return _fail(f"{e.name or 'a module'} is not installed for {sys.executable}: "
                     f"{INSTALL_HINT}", 1)
    from .rundir import RunDirError
    from . import report
    try:
        def log(item):
            if args.quiet:
                return
            if hasattr(item, "fig"):
                print(f"  {item.name}: {item.title}")
            else:
                print(f"  {item.name}: not drawn ({item.reason})")
        index, made, skipped, errors = report.build(args.run_dir, args.output, log=log,
                                                    options=opts)
    except RunDirError as e:
        return _fail(str(e), 2)
    except OSError as e:
        if os.environ.get("SADDLESCOPE_DEBUG"):
            raise
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"cannot write the report: {where}{e.strerror or e}", 1)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if os.environ.get("SADDLESCOPE_DEBUG"):
            raise
        return _fail(f"internal error: {type(e).__name__}: {e} (run with SADDLESCOPE_DEBUG=1 "
                     "for the traceback, and please report it)", 1)
    for name, err in errors:
        print(f"{PROG}: error: figure {name} failed: {err}", file=sys.stderr)
    if not args.quiet:
        kinds = " and ".join(e.upper() for e in opts.extensions())
        print(f"report: {index} ({len(made)} figure{'s' if len(made) != 1 else ''}, {kinds} "
              "beside it)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
