"""Schema-2 run directories written directly in the documented formats (synthetic.py):
figure options, the census over distinct points, the index-energy law, finder-only
runs, sweeps and their corrupt files. No binary needed; checked on the matplotlib
objects and on the files written."""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import matplotlib.pyplot as plt

from conftest import ROOT, write_synthetic_run
from saddlescope_report import census as census_fig
from saddlescope_report import index_energy as ie_fig
from saddlescope_report import load_run, report, style
from saddlescope_report import spectra as spectra_fig
from saddlescope_report.__main__ import main
from saddlescope_report.options import FigureOptions
from saddlescope_report.result import Made, Skipped

PY_ENV = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "python")}


def draw(mod, run, opts=None):
    """mod.make under the options, as report.build draws it: [Made or Skipped]."""
    opts = opts or FigureOptions()
    with style.options(opts):
        items = mod.make(run, opts)
    for it in items:
        if isinstance(it, Made):
            style.apply_options(it.fig, opts)
    return items


def close(items):
    for it in items:
        if isinstance(it, Made):
            plt.close(it.fig)


def left_title(ax):
    return ax.get_title(loc="left")


# ---------------------------------------------------------------------------
# Figure options


def test_options_size_dpi_pdf_and_no_titles(synth, tmp_path):
    d = synth("pspin")
    out = str(tmp_path / "rep")
    opts = FigureOptions(dpi=60, size=(7.0, 3.5), format="pdf", titles=False)
    index, made, skipped, errors = report.build(d, out, options=opts)
    assert errors == []
    assert set(made) == {"census", "index_energy", "spectra", "facts"}
    from PIL import Image
    for name in made:
        # The page's PNG is always written; PDF beside it, no SVG.
        assert os.path.exists(os.path.join(out, f"{name}.png"))
        assert not os.path.exists(os.path.join(out, f"{name}.svg"))
        with open(os.path.join(out, f"{name}.pdf"), "rb") as f:
            assert f.read(5) == b"%PDF-"
        im = Image.open(os.path.join(out, f"{name}.png"))
        assert im.info["dpi"][0] == pytest.approx(60, abs=0.1)
        if name not in ("spectra", "facts"):  # those keep the height their rows need
            assert im.size == (420, 210), name
        else:
            assert im.size[0] == 420 and im.size[1] >= 210
    page = open(index, encoding="utf-8").read()
    assert 'href="census.pdf"' in page and 'href="census.svg"' not in page
    assert page.count("data:image/png;base64,") == len(made) - 1
    # A later report in another format leaves no stale files of the first.
    report.build(d, out, options=FigureOptions(dpi=40, format="png"))
    assert not [f for f in os.listdir(out) if f.endswith((".pdf", ".svg"))]


def test_no_titles_removes_titles_and_keeps_letters_labels_and_legends(synth):
    run = load_run(synth("dw"))
    items = draw(census_fig, run, FigureOptions(titles=False))
    fig = items[0].fig
    assert getattr(fig, "_suptitle", None) is None
    titled = [a for a in fig.axes if left_title(a)]
    assert [left_title(a) for a in titled] == ["(a)", "(b)", "(c)"]
    for a in titled:
        assert a.get_title(loc="center") == "" and a.get_xlabel() and a.get_ylabel()
    assert any(a.get_legend() is not None for a in fig.axes)
    close(items)
    # Panels named by their group keep the name after the letter.
    items = draw(spectra_fig, run, FigureOptions(titles=False))
    names = [left_title(a) for a in items[0].fig.axes if left_title(a)]
    assert names[0].startswith("(a) gd/minimum") and names[1].startswith("(b) gd/minimum")
    close(items)
    # With titles (the default) the suptitle says what was run.
    items = draw(census_fig, run)
    assert "dw-census" in items[0].fig._suptitle.get_text()
    close(items)


def test_default_size_and_formats_are_unchanged(synth, tmp_path):
    run = load_run(synth("pspin"))
    items = draw(census_fig, run)
    assert tuple(items[0].fig.get_size_inches()) == (7.5, 4.6)
    written = style.save(items[0].fig, str(tmp_path), "census")
    assert written == ["census.png", "census.svg"]
    # PDF files carry no date: the same figure gives the same bytes.
    pdf = FigureOptions(format="pdf", dpi=40)
    assert style.save(items[0].fig, str(tmp_path / ".."), "a", pdf) == ["a.png", "a.pdf"]
    style.save(items[0].fig, str(tmp_path), "b", pdf)
    assert open(tmp_path / ".." / "a.pdf", "rb").read() == open(tmp_path / "b.pdf", "rb").read()
    close(items)


@pytest.mark.parametrize("args", [["--dpi", "abc"], ["--dpi", "5"], ["--size", "7"],
                                  ["--size", "7,x"], ["--size", "0,3"], ["--format", "gif"],
                                  ["--spectra-scale", "log"], ["--titles"]])
def test_invalid_options_exit_2_like_argparse(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(["somewhere", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "error:" in err


def test_options_through_the_command_line(synth, tmp_path):
    out = str(tmp_path / "cli")
    r = subprocess.run([sys.executable, "-m", "saddlescope_report", synth("pspin"), "-o", out,
                        "--dpi", "72", "--size", "6,4", "--format", "svg",
                        "--spectra-scale", "symlog", "--no-titles"],
                       capture_output=True, text=True, env=PY_ENV, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "PNG and SVG" in r.stdout
    from PIL import Image
    assert Image.open(os.path.join(out, "census.png")).size == (432, 288)
    assert os.path.exists(os.path.join(out, "census.svg"))
    assert not os.path.exists(os.path.join(out, "census.pdf"))


# ---------------------------------------------------------------------------
# Spectra: scale and bins


def test_spectra_symlog_is_chosen_for_a_wide_spectrum_and_forced_by_the_flag(synth):
    wide = load_run(synth("wide"))
    for scale, expect in (("auto", "symlog"), ("symlog", "symlog"), ("linear", "linear")):
        items = draw(spectra_fig, wide, FigureOptions(spectra_scale=scale))
        axes = [a for a in items[0].fig.axes if left_title(a)]
        assert {a.get_xscale() for a in axes} == {expect}, scale
        close(items)
    narrow = load_run(synth("dw"))
    for scale, expect in (("auto", "linear"), ("symlog", "symlog")):
        items = draw(spectra_fig, narrow, FigureOptions(spectra_scale=scale))
        axes = [a for a in items[0].fig.axes if left_title(a)]
        assert {a.get_xscale() for a in axes} == {expect}, scale
        close(items)
    assert spectra_fig.choose_scale([-1e3, -1e-6, 1e-6, 2e-5, 3e-4, 1e-2, 5.0, 1e3]) [0] == \
        "symlog"
    assert spectra_fig.choose_scale(np.linspace(-2, 2, 1001))[0] == "linear"


def _steps(ax):
    return [p for p in ax.patches if type(p).__name__ == "StepPatch"]


@pytest.mark.parametrize("name,scale", [("dw", "auto"), ("wide", "auto"), ("wide", "linear"),
                                        ("pspin", "symlog")])
def test_zero_is_a_bin_edge_and_negative_counts_stay_left(synth, name, scale):
    run = load_run(synth(name))
    items = draw(spectra_fig, run, FigureOptions(spectra_scale=scale))
    keys = np.char.add(np.char.add(run.points["optimizer"], "/"), run.points["class"])
    checked = 0
    for ax in items[0].fig.axes:
        t = left_title(ax)
        if not t or "log scale" in t:
            continue
        group = t.split("  ")[0]
        v = np.asarray(run.spectra)[keys == group].ravel()
        values, edges, _ = _steps(ax)[0].get_data()
        assert 10 <= values.size <= 202 or np.ptp(v) == 0
        if edges[0] < 0 < edges[-1]:
            assert 0.0 in edges, group
            # Bins left of 0 hold exactly the negative eigenvalues.
            left = edges[1:] <= 0
            if ax.get_xscale() == "linear":
                mass = np.sum(values[left] * np.diff(edges)[left])
            else:
                mass = np.sum(values[left])
            assert mass == pytest.approx(np.mean(v < 0), abs=1e-9), group
            checked += 1
    assert checked or name == "dw"
    close(items)


def test_bins_follow_the_sample_and_are_mirrored_on_symlog():
    rng = np.random.default_rng(0)
    small = rng.normal(size=50)
    big = rng.normal(size=50000)
    e_small, _ = spectra_fig.histogram(small, ("linear", None))
    e_big, _ = spectra_fig.histogram(big, ("linear", None))
    assert 10 <= e_small.size - 1 < e_big.size - 1 <= 202
    assert 0.0 in e_big and np.allclose(np.diff(e_big), np.diff(e_big)[0])
    v = np.concatenate([-(10.0 ** rng.uniform(-6, 3, 3000)), 10.0 ** rng.uniform(-6, 3, 3000)])
    edges, frac = spectra_fig.histogram(v, ("symlog", 1e-6))
    fwd, _ = spectra_fig.symlog_transform(1e-6)
    t = fwd(edges)
    w = t[1] - t[0]
    assert 0.0 in edges and np.allclose(np.diff(t), w)  # uniform in the symlog coordinate
    assert np.allclose(t / w, np.round(t / w))  # on the grid k * w: mirrored around 0
    k = int(np.argmax(edges == 0.0))
    assert frac.sum() == pytest.approx(1.0)
    assert np.sum(frac[: k]) == pytest.approx(0.5, abs=1e-12)


# ---------------------------------------------------------------------------
# Census over distinct points


def _bar_heights(ax, label):
    out = {}
    for c in ax.containers:
        if c.get_label() == label:
            for p in c.patches:
                k = int(round(p.get_x() + p.get_width() / 2))
                out[k] = out.get(k, 0) + p.get_height()
    return out


def test_census_counts_distinct_points_with_multiplicities_apart(synth):
    run = load_run(synth("dw"))
    d = run.distinct
    (made,) = draw(census_fig, run)
    ax_a, ax_b, ax_c = [a for a in made.fig.axes if left_title(a)]
    assert left_title(ax_a).startswith("(a) distinct points")
    ok = np.isfinite(d["index"])
    for s in ("stop", "critical"):
        col = d[f"mult_{s}"]
        found = ok & (col > 0)
        once = _bar_heights(ax_a, s)
        for k, h in _bar_heights(ax_a, f"{s}: not critical").items():
            once[k] = once.get(k, 0) + h
        weighted = _bar_heights(ax_b, s)
        for k, h in _bar_heights(ax_b, f"{s}: not critical").items():
            weighted[k] = weighted.get(k, 0) + h
        for k in range(int(d["index"][ok].max()) + 1):
            sel = found & (d["index"] == k)
            assert once.get(k, 0) == int(sel.sum()), (s, k)
            assert weighted.get(k, 0) == pytest.approx(col[sel].sum()), (s, k)
    # The black outline counts every distinct point once.
    (outline,) = [p for p in ax_a.patches if type(p).__name__ == "StepPatch"]
    assert outline.get_data()[0].sum() == int(ok.sum()) == d["_rows"]
    # 3^4 distinct critical points: the closed form, matched by the finder's bars.
    law = [ln for ln in ax_a.get_lines() if ln.get_label().startswith("closed form")]
    np.testing.assert_array_equal(law[0].get_ydata(), [16, 32, 24, 8, 1])
    crit = _bar_heights(ax_a, "critical")
    assert [crit.get(k, 0) for k in range(5)] == [16, 32, 24, 8, 1]
    # Weighted counts span orders of magnitude: log axis there.
    assert ax_b.get_yscale() == "log"
    # (c): one dot per distinct point at its multiplicity.
    dots = np.concatenate([c.get_offsets() for c in ax_c.collections])
    assert dots.shape[0] == d["_rows"]
    assert sorted(dots[:, 1]) == sorted(np.maximum(d["multiplicity"], 0.8))
    close([made])


def test_census_tables_show_distinct_and_weighted_finder_and_rules(synth):
    from saddlescope_report import html, tables
    d = synth("dw")
    run = load_run(d)
    page = "".join(html._table_block(t(run)) for t in (
        tables.census, tables.finder, tables.tolerances, tables.premature_stops,
        tables.run_facts))
    cen = json.load(open(os.path.join(d, "summary.json")))["census"]
    mw = cen["multiplicity_weighted"]
    # "all" row: distinct counts with the weighted ones in brackets.
    assert (f"<td>{cen['classes']['minimum']} ({mw['classes']['minimum']})</td>") in page
    assert f"<td>{cen['distinct_points']}</td>" in page
    out = cen["finder"]["outcomes"]
    for k in ("converged", "stalled", "max_steps", "diverged"):
        assert re.search(rf"<td>{out[k]} \(\d+%\)</td>", page), k
    assert "λ_tol" in page and "zero_tol at" in page and "merge" in page
    assert "Premature stops" in page and "distinct point" in page
    assert f"{cen['distinct_points']} distinct" in page  # run facts


def test_census_without_distinct_csv_reads_schema_1(tmp_path):
    rng = np.random.default_rng(1)
    spec = np.sort(rng.normal(size=(5, 6)), axis=1)
    d = write_synthetic_run(str(tmp_path / "old"), spec, list(np.linspace(-1, 1, 5)))
    run = load_run(d)
    assert run.schema == 1 and run.distinct is None
    (made,) = draw(census_fig, run)
    assert "analysed points" in made.caption and "schema_version 1" in made.caption
    close([made])
    index, made, skipped, errors = report.build(d, str(tmp_path / "rep"),
                                                options=FigureOptions(dpi=40, format="png"))
    assert errors == [] and {"census", "spectra"} <= set(made)


# ---------------------------------------------------------------------------
# Index-energy law


def _series(ax):
    """{label: (x, y, yerr)} of the errorbar series."""
    out = {}
    for c in ax.containers:
        if type(c).__name__ != "ErrorbarContainer":
            continue
        line, _, bars = c.lines
        x, y = line.get_data()
        segs = bars[0].get_segments() if bars else []
        err = np.array([abs(s[1][1] - s[0][1]) / 2 for s in segs])
        out[c.get_label().split(" ")[0]] = (np.asarray(x), np.asarray(y), err)
    return out


def test_index_energy_points_are_the_summary_bins(synth):
    run = load_run(synth("dw"))
    (made,) = draw(ie_fig, run)
    ax = [a for a in made.fig.axes if left_title(a)][0]
    series = _series(ax)
    bins = run.census["index_energy"]["per_source"]
    # The finder found every distinct critical point: "all" is its series, not drawn twice.
    assert set(series) == {"stop", "critical"}
    for s, (x, y, err) in series.items():
        b = bins[s]
        np.testing.assert_allclose(x, [v["f_mean"] for v in b])
        np.testing.assert_allclose(y, [v["alpha_mean"] for v in b])
        np.testing.assert_allclose(err, [v["alpha_stderr"] or 0.0 for v in b], atol=1e-12)
    # Faint dots: the distinct critical points at index / N.
    d = run.distinct
    crit = (d["critical"] > 0) & np.isfinite(d["index"])
    dots = np.concatenate([c.get_offsets() for c in ax.collections
                           if type(c).__name__ == "PathCollection"])
    assert dots.shape[0] == int(crit.sum())
    np.testing.assert_allclose(sorted(dots[:, 1]), sorted(d["index"][crit] / 4))
    close([made])


def _semicircle_fraction_below_zero(centre, radius, n=200001):
    lam = np.linspace(centre - radius, centre + radius, n)
    dens = np.sqrt(np.maximum(radius ** 2 - (lam - centre) ** 2, 0))
    below = lam < 0
    return np.trapz(dens * below, lam) / np.trapz(dens, lam)


def test_pspin_theory_curve_and_threshold(synth):
    run = load_run(synth("pspin"))
    (made,) = draw(ie_fig, run)
    ax = [a for a in made.fig.axes if left_title(a)][0]
    (theory,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("theory")]
    E, alpha = theory.get_data()
    p, R = 3, 2 * math.sqrt(6)
    for i in range(0, E.size, 60):
        assert alpha[i] == pytest.approx(_semicircle_fraction_below_zero(-p * E[i], R),
                                         abs=2e-4)
    # The bins' alpha_theory (summary.json) lies on the curve.
    for b in run.census["index_energy"]["per_source"]["critical"]:
        assert np.interp(b["f_mean"], E, alpha) == pytest.approx(b["alpha_theory"], abs=1e-4)
    (x, y, _), = _series(ax).values()
    np.testing.assert_allclose(x, [b["f_mean"] for b in
                                   run.census["index_energy"]["per_source"]["critical"]])
    eth = [ln for ln in ax.get_lines() if ln.get_label().startswith("E_th")]
    assert eth and eth[0].get_xdata()[0] == pytest.approx(-2 * math.sqrt(2 / 3))
    close([made])


def test_gaussian_field_gets_a_field_value_panel(synth):
    run = load_run(synth("gfield"))
    (made,) = draw(ie_fig, run)
    axes = [a for a in made.fig.axes if left_title(a)]
    assert len(axes) == 2 and "f_field" in axes[1].get_xlabel()
    (x, y, _), = _series(axes[1]).values()
    bins = run.census["index_energy_field"]["per_source"]["critical"]
    np.testing.assert_allclose(x, [b["f_mean"] for b in bins])
    np.testing.assert_allclose(y, [b["alpha_mean"] for b in bins])
    close([made])


def test_index_energy_skipped_without_critical_points(synth):
    (item,) = draw(ie_fig, load_run(synth("wide")))
    assert isinstance(item, Skipped) and "no bins" in item.reason


def test_index_energy_computed_for_runs_without_it(synth, tmp_path):
    import shutil
    d = str(tmp_path / "noie")
    shutil.copytree(synth("pspin"), d)
    s = json.load(open(f"{d}/summary.json"))
    bins = s["census"].pop("index_energy")["per_source"]["critical"]
    json.dump(s, open(f"{d}/summary.json", "w"))
    (made,) = draw(ie_fig, load_run(d))
    (x, y, _), = _series([a for a in made.fig.axes if left_title(a)][0]).values()
    np.testing.assert_allclose(x, [b["f_mean"] for b in bins])
    np.testing.assert_allclose(y, [b["alpha_mean"] for b in bins])
    assert "computed here" in made.caption
    close([made])


# ---------------------------------------------------------------------------
# Finder-only runs and sweeps


def test_finder_only_run_renders_what_applies(synth, tmp_path):
    d = synth("finder_only")
    index, made, skipped, errors = report.build(d, str(tmp_path / "rep"),
                                                options=FigureOptions(dpi=40, format="png"))
    assert errors == []
    assert set(made) == {"census", "index_energy", "spectra", "facts"}
    reasons = {s.name: s.reason for s in skipped}
    for name in ("landscape", "curves", "optimizers"):
        assert "finder-only" in reasons[name]
    page = open(index, encoding="utf-8").read()
    assert "finder only: newton" in page and "converged" in page


def test_sweep_report_draws_each_statistic_against_each_key(synth, tmp_path):
    d = synth("sweep2")
    out = str(tmp_path / "rep")
    index, made, skipped, errors = report.build(d, out, options=FigureOptions(dpi=40,
                                                                              format="png"))
    assert errors == []
    stats = ["saddle_fraction", "saddle_fraction_weighted", "distinct_points",
             "critical_points", "distinct_minima", "distinct_saddles", "index_mean",
             "premature_stops", "final_loss_median", "plateau_steps_median",
             "converged_fraction"]
    keys = ["objective.dim", "optimizer.0.lr"]
    assert sorted(made) == sorted(f"{s}-vs-{k}" for s in stats for k in keys)
    assert [s.name for s in skipped] == ["steps_to_target_median"]
    for name in made:
        assert os.path.getsize(os.path.join(out, f"{name}.png")) > 1000
    page = open(index, encoding="utf-8").read()
    rel = os.path.relpath(os.path.join(d, "sweep", "000", "report", "index.html"), out)
    assert f'href="{rel}"' in page
    assert page.count("<tr>") == 1 + 6  # header + one row per point
    assert page.count('report/index.html"') == 1  # only point 0 has a report


def test_sweep_figures_lines_and_log_axis(synth):
    from saddlescope_report import sweep
    from saddlescope_report.rundir import load_sweep
    sw = load_sweep(synth("sweep2"))
    items = {}
    for m in sweep.figures(sw):
        if isinstance(m, Made):
            if m.name in ("distinct_saddles-vs-objective.dim",
                          "final_loss_median-vs-optimizer.0.lr"):
                items[m.name] = m
            else:
                plt.close(m.fig)
    ax = items["distinct_saddles-vs-objective.dim"].fig.axes[0]
    assert len(ax.get_lines()) == 2  # one per value of optimizer.0.lr
    assert ax.get_xlabel() == "objective.dim"
    ax = items["final_loss_median-vs-optimizer.0.lr"].fig.axes[0]
    assert len(ax.get_lines()) == 2 * 3  # optimizers x values of objective.dim
    x, y = ax.get_lines()[0].get_data()
    rows = [r for r in range(sw.rows) if sw.cells["objective.dim"][r] == "2"]
    np.testing.assert_allclose(y, sw.values["optimizer.0.final_loss_median"][rows])
    close(list(items.values()))
    sw1 = load_sweep(synth("sweep1"))  # lr over 3 decades: log axis
    per_optimizer = ("converged_fraction", "final_loss_median", "plateau_steps_median")
    for m in sweep.figures(sw1):
        if isinstance(m, Made):
            ax = m.fig.axes[0]
            assert ax.get_xscale() == "log", m.name
            assert len(ax.get_lines()) == (2 if m.name.startswith(per_optimizer) else 1), \
                m.name
            plt.close(m.fig)


# ---------------------------------------------------------------------------
# Corrupt schema-2 files: exit 2 naming the file


def _report_py(run_dir):
    return subprocess.run([sys.executable, "-m", "saddlescope_report", run_dir, "-q"],
                          capture_output=True, text=True, env=PY_ENV, timeout=120)


def _edit(path, old, new):
    text = open(path).read()
    assert old in text, old
    open(path, "w").write(text.replace(old, new, 1))


def _points_bad_distinct(d):
    lines = open(f"{d}/points.csv").read().splitlines()
    head = lines[0].split(",")
    j = head.index("distinct_id")
    cells = lines[1].split(",")
    cells[j] = "99999"
    lines[1] = ",".join(cells)
    open(f"{d}/points.csv", "w").write("\n".join(lines) + "\n")


CORRUPT = {
    "points_distinct_id": ("points.csv", _points_bad_distinct, "distinct_id"),
    "distinct_class": ("distinct.csv", lambda d: _edit(f"{d}/distinct.csv", ",saddle,",
                                                       ",saddel,"), "class"),
    "distinct_missing_column": ("distinct.csv", lambda d: _edit(
        f"{d}/distinct.csv", "multiplicity,", "multiplicty,"), "multiplicity"),
    "finder_outcome": ("finder.csv", lambda d: _edit(f"{d}/finder.csv", ",stalled,",
                                                     ",stuck,"), "outcome"),
    "distinct_listed_missing": ("distinct.csv", lambda d: os.remove(f"{d}/distinct.csv"),
                                "summary.json lists it"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_schema_2_files_exit_2(synth_copy, case):
    fname, corrupt, words = CORRUPT[case]
    d = synth_copy("finder_only")
    corrupt(d)
    r = _report_py(d)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert fname in r.stderr and words in r.stderr, r.stderr


def test_corrupt_sweep_exits_2(synth_copy):
    d = synth_copy("sweep1")
    _edit(f"{d}/sweep.csv", "optimizer.0.lr,", "lr,")
    r = _report_py(d)
    assert r.returncode == 2 and "sweep.csv" in r.stderr and "optimizer.0.lr" in r.stderr
    os.remove(f"{d}/summary.json")
    r = _report_py(d)
    assert r.returncode == 2 and "summary.json" in r.stderr and "sweep" in r.stderr
