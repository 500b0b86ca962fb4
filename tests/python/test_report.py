"""The report renders every figure a run's contents allow, the page is
self-contained, and figures hold the series the data calls for (checked on
the matplotlib objects, not on pixels)."""

import base64
import filecmp
import math
import os
import re

import numpy as np
import pytest

from conftest import write_synthetic_run
from saddlescope_report import load_run, report
from saddlescope_report import census as census_fig
from saddlescope_report import curves as curves_fig
from saddlescope_report import landscape as landscape_fig
from saddlescope_report import optimizers as optimizers_fig
from saddlescope_report import spectra as spectra_fig

import matplotlib.pyplot as plt

EXPECTED = {
    # run: figures that must be drawn (and no others but OPTIONAL's)
    "dw1d": {"landscape", "basins", "curves", "optimizers", "facts"},
    "square": {"landscape", "curves", "optimizers", "facts"},
    "dw2d": {"landscape", "surface", "basins", "curves", "optimizers", "facts"},
    "census": {"curves", "optimizers", "census", "index_energy", "spectra", "facts"},
    "goe": {"curves", "optimizers", "census", "spectra", "facts"},
    "pspin": {"curves", "optimizers", "census", "index_energy", "spectra", "facts"},
    "escape": {"curves", "optimizers", "census", "spectra", "facts"},
    "fonly": {"census", "index_energy", "spectra", "facts"},
}
# Drawn when the census found critical points (index_energy has bins), else skipped.
OPTIONAL = {"goe": {"index_energy"}, "escape": {"index_energy"}}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_report_renders_the_figures_the_run_allows(reported, name):
    run_dir, (index, made, skipped, errors) = reported(name)
    assert errors == []
    assert EXPECTED[name] <= set(made) <= EXPECTED[name] | OPTIONAL.get(name, set())
    out = os.path.join(run_dir, "report")
    assert index == os.path.join(out, "index.html")
    for fig in made:
        for ext in ("png", "svg"):
            p = os.path.join(out, f"{fig}.{ext}")
            assert os.path.getsize(p) > 1000, p
    with open(os.path.join(out, f"{made[0]}.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # Figures without data are named on the page with the reason.
    page = open(index, encoding="utf-8").read()
    for s in skipped:
        assert s.reason.split(":")[0] in page
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_sweep_report_from_the_binary(reported):
    run_dir, (index, made, skipped, errors) = reported("sweep")
    assert errors == []
    for stat in ("saddle_fraction", "distinct_minima", "distinct_saddles", "critical_points",
                 "converged_fraction", "final_loss_median"):
        assert f"{stat}-vs-objective.dim" in made, stat
    page = open(index, encoding="utf-8").read()
    for k in range(3):
        assert f"<td>sweep/{k:03d}</td>" in page


@pytest.mark.parametrize("name", ["dw2d", "escape"])
def test_page_is_self_contained_and_references_only_existing_files(reported, name):
    run_dir, (index, made, _, _) = reported(name)
    page = open(index, encoding="utf-8").read()
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert refs
    images = [r for r in refs if r.startswith("data:")]
    assert len(images) == len(made) - 1  # every figure embedded; facts.png only linked
    for r in images:
        assert r.startswith("data:image/png;base64,")
        assert base64.b64decode(r.split(",", 1)[1])[:4] == b"\x89PNG"
    for r in refs:
        if r.startswith("data:") or r.startswith("#"):
            continue
        assert "://" not in r, f"network reference {r}"
        assert os.path.exists(os.path.join(os.path.dirname(index), r)), r
    anchors = set(re.findall(r'id="([^"]+)"', page))
    for r in refs:
        if r.startswith("#"):
            assert r[1:] in anchors
    assert "<script" not in page and "http" not in page


def test_tables_hold_the_run_facts_and_census(reported):
    run_dir, (index, *_rest) = reported("census")
    page = open(index, encoding="utf-8").read()
    run = load_run(run_dir)
    for text in ("double-well", "cpu on", "saddle fraction", "newton", "3,000 per optimizer"):
        assert text in page, text
    frac = run.census["saddle_fraction_among_critical"]
    assert f"{frac:.4g}" in page
    if run.schema >= 2:  # the finder's outcomes and the rules in force are tabled
        for text in ("converged", "stalled", "polish steps", "λ_tol", "merge"):
            assert text in page, text


def title(ax):
    return ax.get_title(loc="left")


def _lines_with_labels(ax, labels):
    return [ln for ln in ax.get_lines() if ln.get_label() in labels]


def test_curves_hold_one_median_per_optimizer(make_run):
    run = load_run(make_run("square"))
    (made,) = curves_fig.make(run)
    ax_f, ax_g = [a for a in made.fig.axes if a.get_xlabel().startswith("step")]
    assert len(_lines_with_labels(ax_f, run.labels)) == 2
    assert len(_lines_with_labels(ax_g, run.labels)) == 2
    # One trajectory per optimizer: no interquartile band.
    assert not [c for c in ax_f.collections if type(c).__name__ == "PolyCollection"]
    # lr = 0.1: f_k = 4 * 0.64^k exactly (gd on x^2 from 2), so the median is that curve.
    line = _lines_with_labels(ax_f, ["lr=0.1"])[0]
    x, y = line.get_data()
    k = np.asarray(x[:40], dtype=int)
    np.testing.assert_allclose(y[:40], 4 * 0.64 ** k, rtol=1e-5)
    assert ax_f.get_yscale() == "log" and ax_g.get_yscale() == "log"
    plt.close(made.fig)


def test_curves_shade_plateaus_and_bands(make_run):
    run = load_run(make_run("escape"))
    (made,) = curves_fig.make(run)
    ax_f = [a for a in made.fig.axes if a.get_xlabel().startswith("step")][0]
    polys = [c for c in ax_f.collections if type(c).__name__ == "PolyCollection"]
    assert len(polys) == 3  # one interquartile band per optimizer
    spans = [p for p in ax_f.patches if type(p).__name__ == "Polygon"]
    assert spans, "plateau episodes should be shaded"
    plt.close(made.fig)


def test_spectra_rows_follow_density_groups_and_goe_semicircle(make_run):
    run = load_run(make_run("goe"))
    (made,) = spectra_fig.make(run)
    groups = list(dict.fromkeys(run.density["group"].tolist()))
    data_axes = [a for a in made.fig.axes if a.get_xlabel() or title(a)]
    assert len(data_axes) == 2 * len(groups)  # linear and log view per group
    ax = data_axes[0]
    semi = [ln for ln in ax.get_lines() if ln.get_label().startswith("semicircle")]
    assert len(semi) == 1
    zero = [ln for ln in ax.get_lines() if ln.get_label() == "λ = 0"]
    assert len(zero) == 1
    # The overlay has the semicircle's variance sigma^2 = 1; the run's spectrum matches it.
    x, y = semi[0].get_data()
    y = np.nan_to_num(y)
    mean = np.trapz(x * y, x) / np.trapz(y, x)
    var = np.trapz((x - mean) ** 2 * y, x) / np.trapz(y, x)
    assert abs(mean) < 1e-3 and abs(var - 1.0) < 0.02
    ev = np.asarray(run.spectra).ravel()
    assert abs(ev.mean()) < 0.15 and abs(ev.var() - 1.0) < 0.2
    plt.close(made.fig)


def test_pspin_overlay_is_centred_where_the_spectra_are(make_run):
    run = load_run(make_run("pspin"))
    (made,) = spectra_fig.make(run)
    lin = [a for a in made.fig.axes if a.get_yscale() == "linear" and a.get_lines()]
    for ax in lin:
        group = title(ax).split("  ")[0]
        opt, _, cls = group.rpartition("/")
        m = (run.points["optimizer"] == opt) & (run.points["class"] == cls)
        semi = [ln for ln in ax.get_lines() if ln.get_label().startswith("semicircle")][0]
        x, y = semi.get_data()
        y = np.nan_to_num(y)
        overlay_mean = np.trapz(x * y, x) / np.trapz(y, x)
        data_mean = float(np.nanmean(np.asarray(run.spectra)[m]))
        # Riemannian Hessian at energy E: mean -pE (p = 3), radius 2 sqrt(6).
        assert abs(overlay_mean - data_mean) < 0.5, (group, overlay_mean, data_mean)
        assert abs(overlay_mean + 3 * np.mean(run.points["f"][m])) < 1e-2
    plt.close(made.fig)


def test_synthetic_goe_spectrum_matches_the_overlay(tmp_path):
    rng = np.random.default_rng(0)
    N = 1000
    a = rng.normal(size=(N, N)) / math.sqrt(N)
    A = (a + a.T) / math.sqrt(2)  # GOE: off-diagonal variance 1/N, diagonal 2/N
    spec = np.sort(np.linalg.eigvalsh(A))[None, :]
    d = write_synthetic_run(str(tmp_path / "goe"), spec, [0.0])
    run = load_run(d)
    (made,) = spectra_fig.make(run)
    ax = [a for a in made.fig.axes if a.get_yscale() == "linear" and a.get_lines()][0]
    semi = [ln for ln in ax.get_lines() if ln.get_label().startswith("semicircle")][0]
    x, y = semi.get_data()
    lo, hi, dens = run.density["bin_lo"], run.density["bin_hi"], run.density["density"]
    centres = (lo + hi) / 2
    assert np.mean(np.abs(np.interp(centres, x, y) - dens)) < 0.03
    plt.close(made.fig)


def _bars(ax, label):
    """Heights of the bar series with this label, by bar x position rounded to the index."""
    out = {}
    for c in ax.containers:
        if c.get_label() == label:
            for p in c.patches:
                k = int(round(p.get_x() + p.get_width() / 2))
                out[k] = out.get(k, 0) + p.get_height()
    return out


def test_census_bars_per_source_and_closed_form(make_run):
    run = load_run(make_run("census"))
    (made,) = census_fig.make(run)
    ax_h = [a for a in made.fig.axes if "per index" in title(a)][0]
    dt = run.distinct_table()
    ok = np.isfinite(dt["index"])
    # One series per source; a distinct point counts once in every source that found it.
    for s, col in (("stop", "mult_stop"), ("critical", "mult_critical")):
        found = ok & (dt[col] > 0)
        heights = _bars(ax_h, s)
        rest = _bars(ax_h, f"{s}: not critical")
        for k, h in rest.items():
            heights[k] = heights.get(k, 0) + h
        assert sum(heights.values()) == int(found.sum()), s
        for k, h in heights.items():
            assert h == int(np.sum(found & (dt["index"] == k))), (s, k)
    # All 3^4 critical points found: C(4,k) 2^(4-k) marked and matched by the bars.
    law = [ln for ln in ax_h.get_lines() if ln.get_label().startswith("closed form")]
    assert len(law) == 1
    np.testing.assert_array_equal(law[0].get_ydata(), [16, 32, 24, 8, 1])
    crit = _bars(ax_h, "critical")
    assert [crit.get(k, 0) for k in range(5)] == [16, 32, 24, 8, 1]
    plt.close(made.fig)


def test_landscape_1d_panels_critical_points_and_basins(make_run):
    run = load_run(make_run("dw1d"))
    made = {m.name: m for m in landscape_fig.make(run)}
    fig = made["landscape"].fig
    panels = [a for a in fig.axes if a.get_xlabel() == "x"]
    assert len(panels) == len(run.labels)
    for ax in panels:
        crit = [c for c in ax.collections if str(c.get_label()).startswith("critical")]
        assert sum(c.get_offsets().shape[0] for c in crit) == 3  # 2 minima, 1 maximum
        assert len(ax.get_lines()) >= 1 + min(16, run.record_trajectories)
    # Basins: one colour per minimum reached, and the boundary at the maximum 0.126.
    b = made["basins"].fig
    legend_axes = [a for a in b.axes if a.get_legend() is not None]
    texts = [t.get_text() for a in legend_axes for t in a.get_legend().get_texts()]
    assert sum(t.startswith("ended at minimum") for t in texts) == 2
    vlines = [ln for a in b.axes for ln in a.get_lines() if ln.get_linestyle() == "--"]
    assert any(abs(ln.get_xdata()[0] - 0.126) < 1e-3 for ln in vlines)
    for m in made.values():
        plt.close(m.fig)


def test_landscape_2d_basins_find_the_four_minima(make_run):
    run = load_run(make_run("dw2d"))
    made = {m.name: m for m in landscape_fig.make(run)}
    assert set(made) == {"landscape", "surface", "basins"}
    ax = [a for a in made["landscape"].fig.axes if a.get_xlabel() == "x₁"][0]
    crit = [c for c in ax.collections if str(c.get_label()).startswith("critical")]
    assert sum(c.get_offsets().shape[0] for c in crit) == 9
    labels = {str(c.get_label()) for c in crit}
    assert labels == {"critical: minimum", "critical: saddle", "critical: maximum"}
    texts = [t.get_text() for a in made["basins"].fig.axes if a.get_legend()
             for t in a.get_legend().get_texts()]
    assert 2 <= sum(t.startswith("ended at minimum") for t in texts) <= 4
    for m in made.values():
        plt.close(m.fig)


def test_optimizers_panels_with_plateaus_and_target(make_run):
    run = load_run(make_run("escape"))
    (made,) = optimizers_fig.make(run)
    titles = [title(a) for a in made.fig.axes if title(a)]
    for t in ("outcomes", "final loss", "stop step", "plateau durations", "escape",
              "steps to target"):
        assert any(x.startswith(t) for x in titles), (t, titles)
    ax = [a for a in made.fig.axes if title(a).startswith("steps to target")][0]
    # One CDF per optimizer that reached the target plus quartile markers.
    reached = [o["comparison"]["reached_target"] for o in run.summary["optimizers"]]
    curves = [ln for ln in ax.get_lines() if ln.get_label() in run.labels]
    assert len(curves) == sum(1 for r in reached if r > 0)
    plt.close(made.fig)


def test_output_is_deterministic(reported, tmp_path):
    d, _ = reported("square")
    a, b = os.path.join(d, "report"), str(tmp_path / "again")
    report.build(d, b)
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b)) and "index.html" in names
    for n in names:
        assert filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False), n


def test_a_killed_report_leaves_no_complete_looking_page(make_run, tmp_path, monkeypatch):
    from saddlescope_report import style
    d = make_run("square")
    out = tmp_path / "rep"
    out.mkdir()
    (out / "index.html").write_text("<html>an earlier, complete report</html>")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(style, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        report.build(d, str(out))
    assert not (out / "index.html").exists()
