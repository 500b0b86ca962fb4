"""Figure options of `saddlescope report` (docs/report.md "Figure options").

    --dpi N                 raster resolution (PNG), default 100
    --size W,H              every figure W x H inches (default: each figure's own size)
    --format png|svg|pdf    the file format written beside the page (default: PNG and SVG);
                            the page always embeds a PNG, so one is always written
    --spectra-scale auto|linear|symlog
                            the eigenvalue axis of the spectra (auto: symlog when the
                            spectrum spans orders of magnitude)
    --no-titles             no figure titles or panel titles (the page's captions carry
                            them); panel letters, axis labels and legends stay
"""

import argparse

DPI_RANGE = (20, 1200)        # as `saddlescope report --dpi` checks it
SIZE_RANGE = (1.0, 100.0)     # inches, each of W and H
FORMATS = ("png", "svg", "pdf")
SPECTRA_SCALES = ("auto", "linear", "symlog")


class FigureOptions:
    """What the figure options ask for; the defaults reproduce the plain report."""

    def __init__(self, dpi=100, size=None, format=None, spectra_scale="auto", titles=True):
        self.dpi = int(dpi)
        self.size = None if size is None else (float(size[0]), float(size[1]))
        self.format = format
        self.spectra_scale = spectra_scale
        self.titles = bool(titles)

    def extensions(self):
        """The files written per figure, the page's PNG first."""
        if self.format is None:
            return ("png", "svg")
        if self.format == "png":
            return ("png",)
        return ("png", self.format)

    def __repr__(self):
        return (f"FigureOptions(dpi={self.dpi}, size={self.size}, format={self.format!r}, "
                f"spectra_scale={self.spectra_scale!r}, titles={self.titles})")


DEFAULT = FigureOptions()


def dpi_arg(text):
    """argparse type of --dpi: an integer in DPI_RANGE."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (dots per inch, "
                                         f"e.g. 300)") from None
    lo, hi = DPI_RANGE
    if not lo <= v <= hi:
        raise argparse.ArgumentTypeError(f"{v} is outside {lo}..{hi}")
    return v


def size_arg(text):
    """argparse type of --size: W,H in inches, each in SIZE_RANGE."""
    parts = text.replace("x", ",").split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not W,H (inches, e.g. 7,4)")
    try:
        w, h = float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not W,H with two numbers (inches, "
                                         "e.g. 7,4)") from None
    lo, hi = SIZE_RANGE
    if not (lo <= w <= hi and lo <= h <= hi):
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must each be in "
                                         f"{lo:g}..{hi:g} inches")
    return (w, h)


def add_arguments(ap):
    """The figure options, on an argparse parser."""
    g = ap.add_argument_group("figure options")
    g.add_argument("--dpi", type=dpi_arg, default=100, metavar="N",
                   help="resolution of raster (PNG) figures in dots per inch "
                   f"({DPI_RANGE[0]}..{DPI_RANGE[1]}, default 100)")
    g.add_argument("--size", type=size_arg, default=None, metavar="W,H",
                   help="size of every figure in inches (default: each figure's own)")
    g.add_argument("--format", choices=FORMATS, default=None,
                   help="file format of the figures beside the page (default: png and svg; "
                   "a PNG is always written for the page)")
    g.add_argument("--spectra-scale", choices=SPECTRA_SCALES, default="auto",
                   help="eigenvalue axis of the spectra: auto (symmetric-log when the "
                   "spectrum spans orders of magnitude), linear or symlog")
    g.add_argument("--no-titles", action="store_true",
                   help="no figure or panel titles (captions carry them); panel letters, "
                   "axis labels and legends stay")


def from_args(args):
    return FigureOptions(dpi=args.dpi, size=args.size, format=args.format,
                         spectra_scale=args.spectra_scale, titles=not args.no_titles)
