"""The Krylov census (lanczos, slq) and the sharpness along trajectories: reading
points.csv's Krylov columns, ritz.npy, quadrature.npy and sharpness.npy
(docs/run-directory.md), their error messages, and old run directories without them.
Synthetic run directories (synthetic.py), no binary needed."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from saddlescope_report import load_run
from saddlescope_report.rundir import POINT_COLUMNS_KRYLOV, RunDirError

PY_ENV = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "python")}


def report_py(run_dir, *args):
    return subprocess.run([sys.executable, "-m", "saddlescope_report", run_dir, "-q", *args],
                          capture_output=True, text=True, env=PY_ENV, timeout=120)


def _edit_csv(path, col, row, value):
    """Sets one cell of a CSV file (row 0 = the first line after the header)."""
    with open(path) as f:
        lines = f.read().split("\n")
    header = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[header.index(col)] = value
    lines[row + 1] = ",".join(cells)
    with open(path, "w") as f:
        f.write("\n".join(lines))


def _drop_columns(path, cols):
    with open(path) as f:
        lines = [ln.split(",") for ln in f.read().split("\n") if ln]
    keep = [j for j, h in enumerate(lines[0]) if h not in cols]
    with open(path, "w") as f:
        f.write("\n".join(",".join(ln[j] for j in keep) for ln in lines) + "\n")


# ---------------------------------------------------------------------------
# Reading


def test_slq_run_reads_columns_quadrature_and_three_part_groups(synth):
    run = load_run(synth("slq"))
    assert run.census_method == "slq" and run.krylov
    pts = run.points
    for col in POINT_COLUMNS_KRYLOV:
        assert col in pts and pts[col].shape == (pts["_rows"],)
    assert run.quadrature.shape == (pts["_rows"], 6, 24, 2)
    assert run.spectra is None and run.ritz is None
    # Uncertified points: n_zero is empty (NaN), the index a lower bound of the estimate.
    assert np.all(np.isnan(pts["n_zero"])) and np.all(pts["index_certified"] == 0)
    lb, cert, n = run.index_bound()
    assert lb is True and cert == 0 and n == pts["_rows"]
    groups = set(run.density["group"])
    assert "gd/stop/minimum" in groups and "newton/critical/saddle" in groups


def test_lanczos_run_reads_ritz_and_certification(synth):
    run = load_run(synth("lanczos"))
    assert run.census_method == "lanczos" and run.krylov
    P = run.points["_rows"]
    assert run.ritz.shape == (P, 8, 2) and run.quadrature is None and run.density is None
    cert = run.points["index_certified"] == 1
    assert 0 < cert.sum() < P
    # Certified points have n_zero, the others leave it empty; the estimates are empty.
    assert np.all(np.isfinite(run.points["n_zero"][cert]))
    assert np.all(np.isnan(run.points["n_zero"][~cert]))
    assert np.all(np.isnan(run.points["index_estimate"]))
    assert run.index_bound() == (True, int(cert.sum()), P)


def test_sharpness_run_reads_sharpness_and_its_spacing(synth):
    run = load_run(synth("eos"))
    assert run.sharpness_every == 50
    assert run.sharpness.shape == (5, 3, 1000 // 50 + 1, 2)
    assert run.points is None and not run.krylov and run.index_bound() is None
    # NaN after the diverged trajectory's stop (step 420).
    s = run.sharpness[1, 2, :, 0]
    assert np.all(np.isfinite(s[:9])) and np.all(np.isnan(s[9:]))


@pytest.mark.parametrize("name", ["dw", "pspin", "finder_only", "wide"])
def test_old_run_directories_have_none_of_it(synth, name):
    run = load_run(synth(name))
    assert not run.krylov and run.index_bound() is None
    assert run.ritz is None and run.quadrature is None and run.sharpness is None
    assert run.sharpness_every == 0


# ---------------------------------------------------------------------------
# Corrupt files: RunDirError naming the file (exit 2)


def _save(path, a):
    np.save(path, a)


KRYLOV_CASES = {
    # (scenario, file, corrupt, words in the message)
    "ritz_wrong_k": ("lanczos", "ritz.npy",
                     lambda d: _save(f"{d}/ritz.npy", np.zeros((48, 6, 2))),
                     ["shape [48, 6, 2], expected [48, 8, 2]", "k = 4"]),
    "ritz_wrong_points": ("lanczos", "ritz.npy",
                          lambda d: _save(f"{d}/ritz.npy", np.zeros((47, 8, 2))),
                          ["expected [48, 8, 2]", "points.csv row"]),
    "ritz_not_3d": ("lanczos", "ritz.npy", lambda d: _save(f"{d}/ritz.npy", np.zeros((48, 8))),
                    ["dimensions", "[points, 2k, 2]"]),
    "quadrature_wrong_probes": ("slq", "quadrature.npy",
                                lambda d: _save(f"{d}/quadrature.npy",
                                                np.zeros((48, 5, 24, 2))),
                                ["expected [48, 6, 24, 2]", "probes = 6"]),
    "quadrature_wrong_steps": ("slq", "quadrature.npy",
                               lambda d: _save(f"{d}/quadrature.npy",
                                               np.zeros((48, 6, 23, 2))),
                               ["expected [48, 6, 24, 2]", "lanczos_steps = 24"]),
    "quadrature_integers": ("slq", "quadrature.npy",
                            lambda d: _save(f"{d}/quadrature.npy",
                                            np.zeros((48, 6, 24, 2), np.int64)),
                            ["dtype int64"]),
    "points_lack_krylov_columns": ("slq", "points.csv",
                                   lambda d: _drop_columns(f"{d}/points.csv",
                                                           {"index_estimate", "index_stderr"}),
                                   ["index_estimate", "census.method = 'slq'"]),
    "certified_not_a_flag": ("lanczos", "points.csv",
                             lambda d: _edit_csv(f"{d}/points.csv", "index_certified", 3, "2"),
                             ["line 5, column index_certified: 2 is not 0 or 1"]),
    "steps_not_a_count": ("lanczos", "points.csv",
                          lambda d: _edit_csv(f"{d}/points.csv", "lanczos_steps", 0, "2.5"),
                          ["line 2, column lanczos_steps: 2.5 is not a step count"]),
    "stderr_negative": ("slq", "points.csv",
                        lambda d: _edit_csv(f"{d}/points.csv", "index_stderr", 1, "-0.5"),
                        ["line 3, column index_stderr: -0.5 is negative"]),
    "sharpness_wrong_steps": ("eos", "sharpness.npy",
                              lambda d: _save(f"{d}/sharpness.npy", np.zeros((5, 3, 20, 2))),
                              ["expected [5, 3, 21, 2]", "1000 / 50 + 1"]),
    "sharpness_wrong_trajectories": ("eos", "sharpness.npy",
                                     lambda d: _save(f"{d}/sharpness.npy",
                                                     np.zeros((5, 4, 21, 2))),
                                     ["expected [5, 3, 21, 2]", "record_trajectories"]),
    "sharpness_without_spacing": ("eos", "sharpness.npy",
                                  lambda d: _edit_text(f"{d}/config.toml",
                                                       "sharpness_every = 50\n", ""),
                                  ["run.sharpness_every"]),
    "sharpness_listed_but_missing": ("eos", "sharpness.npy",
                                     lambda d: os.remove(f"{d}/sharpness.npy"),
                                     ["summary.json lists it"]),
}


def _edit_text(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


@pytest.mark.parametrize("case", sorted(KRYLOV_CASES))
def test_corrupt_krylov_and_sharpness_files(synth_copy, case):
    scenario, fname, corrupt, words = KRYLOV_CASES[case]
    d = synth_copy(scenario)
    corrupt(d)
    with pytest.raises(RunDirError) as e:
        load_run(d)
    assert os.path.basename(e.value.path) == fname, str(e.value)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_corrupt_sharpness_exits_2_naming_the_file(synth_copy):
    d = synth_copy("eos")
    np.save(f"{d}/sharpness.npy", np.zeros((5, 3, 20, 2)))
    r = report_py(d)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "sharpness.npy" in r.stderr and "expected [5, 3, 21, 2]" in r.stderr
    assert not os.path.exists(os.path.join(d, "report", "index.html"))


def test_ritz_shape_without_k_in_summary_or_config(synth_copy):
    """Without k anywhere the second dimension must still be even (2k)."""
    d = synth_copy("lanczos")
    s = json.load(open(f"{d}/summary.json"))
    del s["census"]["k"]
    json.dump(s, open(f"{d}/summary.json", "w"))
    _edit_text(f"{d}/config.toml", "k = 4\n", "")
    assert load_run(d).ritz.shape[1] == 8
    np.save(f"{d}/ritz.npy", np.zeros((48, 7, 2)))
    with pytest.raises(RunDirError, match="2k"):
        load_run(d)


# ---------------------------------------------------------------------------
# Figures

import matplotlib.pyplot as plt  # noqa: E402

from saddlescope_report import spectra as spectra_fig  # noqa: E402
from saddlescope_report import style  # noqa: E402
from saddlescope_report.options import FigureOptions  # noqa: E402
from saddlescope_report.result import Made, Skipped  # noqa: E402


def draw(mod, run, opts=None):
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


def test_split_group():
    split = spectra_fig.split_group
    assert split("gd/stop/minimum", True) == ("gd", "stop", "minimum")
    assert split("lr/0.1/plateau/saddle", True) == ("lr/0.1", "plateau", "saddle")
    assert split("newton/critical/saddle", True) == ("newton", "critical", "saddle")
    assert split("gd/minimum", False) == ("gd", None, "minimum")
    assert split("a/b/minimum", True) == ("a/b", None, "minimum")  # b is no source
    assert split("gd/stop/minimum", False) == ("gd/stop", None, "minimum")


def test_slq_spectra_log_density_three_part_groups_and_pspin_overlay(synth):
    run = load_run(synth("slq"))
    items = draw(spectra_fig, run)
    made = items[0]
    assert isinstance(made, Made)
    assert "SLQ" in made.caption and "one bin width" in made.caption
    assert "logarithmic" in made.caption
    panels = [a for a in made.fig.axes if a.get_title(loc="left")]
    groups = list(dict.fromkeys(run.density["group"]))
    assert len(panels) == len(groups)  # one (log) panel per group, no linear column
    p, R = 3, 2 * np.sqrt(6)
    for ax in panels:
        assert ax.get_yscale() == "log"
        g = ax.get_title(loc="left").split()[0]
        opt, src, cls = spectra_fig.split_group(g, True)
        m = ((run.points["optimizer"] == opt) & (run.points["source"] == src)
             & (run.points["class"] == cls))
        # The point count in the title and the overlay from this group's energies alone.
        assert f"({int(m.sum())} point" in ax.get_title(loc="left")
        theory = spectra_fig._theory(run, g, True)
        E = run.points["f"][m]
        assert theory[2] == pytest.approx((-p * E.max() - R, -p * E.min() + R))
        assert any(line.get_label().startswith("semicircle") for line in ax.get_lines())
        # The log axis reaches down to SLQ_FLOOR of the peak, not into the far tails.
        dens = run.density["density"][run.density["group"] == g]
        assert ax.get_ylim()[0] >= dens.max() * spectra_fig.SLQ_FLOOR * 0.999
    close(items)


def test_eigh_spectra_keep_two_views(synth):
    items = draw(spectra_fig, load_run(synth("pspin")))
    scales = {a.get_yscale() for a in items[0].fig.axes if a.get_title(loc="left")}
    assert scales == {"linear", "log"}
    close(items)


def test_lanczos_spectra_skipped_naming_the_method(synth):
    items = draw(spectra_fig, load_run(synth("lanczos")))
    assert isinstance(items[0], Skipped)
    assert "lanczos" in items[0].reason and "inertia" not in items[0].reason


from saddlescope_report import index_estimate as estimate_fig  # noqa: E402
from saddlescope_report import report  # noqa: E402


def _markers(ax, marker):
    """The plain lines of a marker (not the error bars' caps, which are "_" too)."""
    inside = {id(x) for c in ax.containers for part in c if part is not None
              for x in (part if isinstance(part, tuple) else (part,))}
    return [ln for ln in ax.get_lines() if ln.get_marker() == marker and id(ln) not in inside]


def test_index_estimate_figure_draws_estimates_errors_and_lower_bounds(synth):
    run = load_run(synth("slq"))
    items = draw(estimate_fig, run)
    made = items[0]
    assert isinstance(made, Made) and made.name == "index_estimate"
    ax = next(a for a in made.fig.axes if a.get_title(loc="left").startswith("SLQ"))
    pts, N = run.points, run.spectrum_dim
    assert N == 59
    from matplotlib.container import ErrorbarContainer
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    labels = [c.get_label() for c in bars]
    assert labels == ["gd / stop (12)", "adam / stop (12)", "newton / critical (24)"]
    for c in bars:
        opt, src = c.get_label().split(" (")[0].split(" / ")
        rows = np.nonzero((pts["optimizer"] == opt) & (pts["source"] == src))[0]
        line = c.lines[0]
        assert np.allclose(line.get_xdata(), pts["f"][rows])
        assert np.allclose(line.get_ydata(), pts["index_estimate"][rows] / N)
        half = np.array([abs(s[1][1] - s[0][1]) / 2 for s in c.lines[2][0].get_segments()])
        assert np.allclose(half, pts["index_stderr"][rows] / N)
        assert line.get_marker() == style.SOURCE_MARKERS[src]
    # Lower bounds: a dash at index / N for every uncertified point.
    dashes = _markers(ax, "_")
    ydash = np.sort(np.concatenate([ln.get_ydata() for ln in dashes]))
    assert np.allclose(ydash, np.sort(pts["index"] / N))
    # The estimate lies at or above the lower bound in this scenario (more mass below 0).
    assert np.all(pts["index_estimate"] + 1e-9 >= 0)
    assert "lower bound" in made.caption and "standard error" in made.caption
    assert any(ln.get_label().startswith("theory α(E)") for ln in ax.get_lines())
    close(items)


def test_index_estimate_marks_certified_points_exact(synth_copy):
    d = synth_copy("slq")
    # Certify the first point: its index is then exact (a cross, not a dash).
    _edit_csv(f"{d}/points.csv", "index_certified", 0, "1")
    run = load_run(d)
    items = draw(estimate_fig, run)
    ax = next(a for a in items[0].fig.axes if a.get_title(loc="left").startswith("SLQ"))
    crosses = _markers(ax, "x")
    assert len(crosses) == 1 and crosses[0].get_xdata()[0] == run.points["f"][0]
    dashes = sum(len(ln.get_xdata()) for ln in _markers(ax, "_"))
    assert dashes == run.points["_rows"] - 1
    close(items)


@pytest.mark.parametrize("name", ["lanczos", "dw", "eos"])
def test_index_estimate_skipped_without_the_columns(synth, name):
    items = draw(estimate_fig, load_run(synth(name)))
    assert isinstance(items[0], Skipped)
    assert "slq" in items[0].reason


def test_slq_report_builds_every_figure(synth, tmp_path):
    out = str(tmp_path / "rep")
    index, made, skipped, errors = report.build(synth("slq"), out)
    assert errors == []
    assert {"census", "index_energy", "index_estimate", "spectra", "facts"} <= set(made)
    page = open(index, encoding="utf-8").read()
    assert "index_estimate.png" in page and "SLQ" in page


from saddlescope_report import sharpness as sharpness_fig  # noqa: E402


def test_stability_limits():
    lim = sharpness_fig.stability_limit
    assert lim("gd", {"lr": 0.8}, 0.8) == (pytest.approx(2.5), "2/lr", "")
    assert lim("gd", {"lr": 1.0, "weight_decay": 0.5}, 1.0) == (pytest.approx(1.5),
                                                                "2/lr − wd", "wd = 0.5")
    assert lim("momentum", {"lr": 0.1, "momentum": 0.9}, 0.1) == (pytest.approx(38.0),
                                                                  "(2 + 2μ)/lr", "μ = 0.9")
    # momentum's documented default is 0.9 (docs/experiment.md)
    assert lim("momentum", {"lr": 0.1}, 0.1)[0] == pytest.approx(38.0)
    # Heavy ball with dampening tau: lr (1 - tau) lambda < 2 + 2 mu.
    assert lim("momentum", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}, 0.1)[0] == \
        pytest.approx(3.8 / 0.07)
    # Nesterov: lr lambda < (2 + 2 mu) / (1 + 2 mu).
    assert lim("momentum", {"lr": 0.1, "momentum": 0.5, "nesterov": True}, 0.1)[0] == \
        pytest.approx(15.0)
    for kind in ("adam", "rmsprop", "adagrad", "adamw", "nadam", "radam"):
        v, why, _ = lim(kind, {"lr": 0.01}, 0.01)
        assert v is None and "preconditioned" in why
    assert lim("langevin", {"lr": 0.01}, 0.01)[0] is None
    assert lim("gd", {"lr": 0.0}, 0.0)[0] is None


def _iterate(h, mu, tau=0.0, nesterov=False, steps=3000):
    """torch.optim.SGD's update on f = x^2 / 2 with lr = h (docs/experiment.md "Update
    rules"); True when it stays bounded."""
    x, b = 1.0, None
    for _ in range(steps):
        g = x
        b = g if b is None else mu * b + (1 - tau) * g
        x -= h * (g + mu * b if nesterov else b)
        if abs(x) > 1e6:
            return False
    return True


@pytest.mark.parametrize("cfg", [{"momentum": 0.9}, {"momentum": 0.5, "dampening": 0.3},
                                 {"momentum": 0.6, "nesterov": True}, {"momentum": 0.0}])
def test_stability_limits_match_the_update_rule(cfg):
    """Just below the limit the update on a quadratic of curvature 1 converges, just above
    it diverges."""
    limit, _, _ = sharpness_fig.stability_limit("momentum", {"lr": 1.0, **cfg}, 1.0)
    args = (cfg.get("momentum", 0.9), cfg.get("dampening", 0.0), cfg.get("nesterov", False))
    assert _iterate(limit * 0.98, *args) and not _iterate(limit * 1.02, *args)


def _panels(fig):
    return {a.get_title(loc="left").split(" (")[0]: a for a in fig.axes
            if a.get_title(loc="left")}


def test_sharpness_figure_lines_medians_and_limits(synth):
    run = load_run(synth("eos"))
    items = draw(sharpness_fig, run)
    made = items[0]
    assert isinstance(made, Made) and made.name == "sharpness"
    panels = _panels(made.fig)
    assert list(panels) == run.labels
    steps = np.arange(21) * 50
    for o, label in enumerate(run.labels):
        ax = panels[label]
        thin = [ln for ln in ax.get_lines() if ln.get_linewidth() == 0.8]
        assert len(thin) == 3
        thick = [ln for ln in ax.get_lines() if ln.get_linewidth() == 2.2]
        assert len(thick) == 1
        top = np.asarray(run.sharpness[o, :, :, 0])
        n = np.sum(np.isfinite(top), axis=0)
        want = np.where(n >= 2, np.nanmedian(top, axis=0), np.nan)
        assert np.allclose(thick[0].get_xdata(), steps)
        assert np.allclose(thick[0].get_ydata(), want, equal_nan=True)
    # The limits: dashed where near the data, named where far above, none for adam.
    dashed = {label: [ln for ln in panels[label].get_lines() if ln.get_linestyle() == "--"]
              for label in run.labels}
    assert dashed["gd-1.0"][0].get_ydata()[0] == pytest.approx(2.0)
    assert dashed["gd-1.0"][0].get_label() == "2/lr = 2"
    assert dashed["gd-wd"][0].get_ydata()[0] == pytest.approx(1.5)
    assert dashed["gd-wd"][0].get_label() == "2/lr − wd = 1.5\n(wd = 0.5)"
    assert not dashed["gd-0.1"] and not dashed["momentum"] and not dashed["adam"]
    texts = {label: " ".join(t.get_text() for t in panels[label].texts)
             for label in run.labels}
    assert texts["gd-0.1"] == "2/lr = 20\nfar above the axis"
    assert texts["momentum"] == "(2 + 2μ)/lr = 38\n(μ = 0.9) far above the axis"
    assert "no stability line" in texts["adam"]
    assert "No line for adam" in made.caption and "Cohen et al. 2021" in made.caption
    # The diverged trajectory (gd-1.0, trajectory 2) stops at step 420.
    thin = [ln for ln in panels["gd-1.0"].get_lines() if ln.get_linewidth() == 0.8]
    assert np.all(np.isnan(thin[2].get_ydata()[steps > 420]))
    close(items)


def test_sharpness_no_titles_keeps_panel_names(synth):
    run = load_run(synth("eos"))
    items = draw(sharpness_fig, run, FigureOptions(titles=False))
    fig = items[0].fig
    assert getattr(fig, "_suptitle", None) is None
    names = [a.get_title(loc="left") for a in fig.axes if a.get_title(loc="left")]
    assert names[0].startswith("(a) gd-0.1")
    close(items)


@pytest.mark.parametrize("name", ["dw", "slq", "finder_only"])
def test_sharpness_skipped_without_the_file(synth, name):
    items = draw(sharpness_fig, load_run(synth(name)))
    assert isinstance(items[0], Skipped) and "sharpness_every" in items[0].reason


def test_sharpness_report_builds(synth, tmp_path):
    out = str(tmp_path / "rep")
    index, made, skipped, errors = report.build(synth("eos"), out)
    assert errors == []
    assert "sharpness" in made and "curves" in made
    assert os.path.exists(os.path.join(out, "sharpness.png"))
    assert made.index("sharpness") == made.index("curves") + 1


from saddlescope_report import census as census_fig  # noqa: E402
from saddlescope_report import index_energy as ie_fig  # noqa: E402
from saddlescope_report import tables  # noqa: E402


def test_lanczos_census_says_uncertified_indices_are_lower_bounds(synth):
    run = load_run(synth("lanczos"))
    cap, header, rows = tables.census(run)
    assert "Lower bounds" in cap and "16 of the 48 points are not certified" in cap
    assert "index_is_lower_bound" in cap and "certified_points = 32" in cap
    facts = dict(tables.run_facts(run)[2])
    assert facts["certification"].startswith("lanczos: 32 of 48 points certified")
    rules = dict(tables.tolerances(run)[2])
    assert rules["eigensolver"].startswith("lanczos (k = 4, lanczos_steps = 59) in f64")
    items = draw(census_fig, run)
    made = items[0]
    assert "Lower bounds" in made.caption
    xlabels = {a.get_xlabel() for a in made.fig.axes if a.get_xlabel()}
    assert xlabels == {"index k (16 of 48 points: lower bounds from Ritz values)"}
    close(items)
    items = draw(ie_fig, run)
    assert "Lower bounds" in items[0].caption
    close(items)


def test_slq_census_lower_bounds_point_to_the_estimates(synth):
    run = load_run(synth("slq"))
    assert "48 of the 48 points are not certified" in tables.census(run)[0]
    items = draw(ie_fig, run)
    assert "index_estimate figure" in items[0].caption
    close(items)
    items = draw(census_fig, run)
    assert {a.get_xlabel() for a in items[0].fig.axes if a.get_xlabel()} == \
        {"index k (lower bounds from Ritz values)"}
    close(items)


def test_all_certified_census_says_counts_are_exact(synth_copy):
    d = synth_copy("lanczos")
    s = json.load(open(f"{d}/summary.json"))
    s["census"]["index_is_lower_bound"] = False
    s["census"]["certified_points"] = 48
    json.dump(s, open(f"{d}/summary.json", "w"))
    run = load_run(d)
    cap = tables.census(run)[0]
    assert "every point was certified" in cap and "Lower bounds" not in cap
    items = draw(census_fig, run)
    assert {a.get_xlabel() for a in items[0].fig.axes if a.get_xlabel()} == {"index k"}
    close(items)


def test_eigh_census_has_no_certification_note(synth):
    run = load_run(synth("dw"))
    assert tables.index_bound_note(run) is None
    assert "certification" not in dict(tables.run_facts(run)[2])
    assert "Lower bounds" not in tables.census(run)[0]


def test_sharpness_narrow_size_wraps_columns(synth, tmp_path):
    """--size 7,4: three columns (about 1.9 in each), two blocks, laid out without
    collapsed axes."""
    import warnings
    run = load_run(synth("eos"))
    opts = FigureOptions(size=(7.0, 4.0), dpi=40)
    items = draw(sharpness_fig, run, opts)
    fig = items[0].fig
    tops = list(_panels(fig).values())
    assert len({round(a.get_position().x0, 3) for a in tops}) == 3
    assert fig.get_size_inches()[1] >= 0.9 + 3.6 * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(str(tmp_path / "s.png"), dpi=40)
    close(items)
