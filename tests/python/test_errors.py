"""Missing or corrupt run-directory files: exit 2 with the file and the
problem named, never a traceback; the same through `saddlescope report`."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, binary

PY_ENV = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "python")}


def report_py(run_dir):
    return subprocess.run([sys.executable, "-m", "saddlescope_report", run_dir, "-q"],
                          capture_output=True, text=True, env=PY_ENV, timeout=120)


def _truncate(path, keep):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:keep])


def _replace(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


CASES = {
    "summary_missing": ("summary.json", lambda d: os.remove(f"{d}/summary.json"),
                        "did not finish"),
    "summary_not_json": ("summary.json", lambda d: _truncate(f"{d}/summary.json", 50),
                         "not valid JSON"),
    "config_not_toml": ("config.toml", lambda d: _replace(f"{d}/config.toml", "[run]",
                                                          "[run"), "not valid TOML"),
    "curves_truncated": ("curves.npy", lambda d: _truncate(f"{d}/curves.npy", 200),
                         "not a valid .npy"),
    "curves_wrong_shape": ("curves.npy", lambda d: np.save(f"{d}/curves.npy",
                                                           np.zeros((1, 2, 3), np.float32)),
                           "dimensions"),
    "trajectories_not_number": ("trajectories.csv",
                                lambda d: _replace(f"{d}/trajectories.csv", ",converged,",
                                                   ",converged,abc"), "line"),
    "trajectories_short": ("trajectories.csv", lambda d: _truncate(
        f"{d}/trajectories.csv", os.path.getsize(f"{d}/trajectories.csv") // 2),
        ("cells", "rows")),
    "paths_listed_but_missing": ("paths.npy", lambda d: os.remove(f"{d}/paths.npy"),
                                 "summary.json lists it"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupt_run_dir_exits_2_naming_the_file(copy_run, case):
    fname, corrupt, words = CASES[case]
    d = copy_run("dw1d")
    corrupt(d)
    r = report_py(d)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    words = (words,) if isinstance(words, str) else words
    assert fname in r.stderr and any(w in r.stderr for w in words), r.stderr
    assert not os.path.exists(os.path.join(d, "report", "index.html"))


def _replace_class(path):
    """An unknown class in the first saddle row (class is not the last column in schema 2)."""
    with open(path) as f:
        text = f.read()
    old = ",saddle," if ",saddle," in text else ",saddle\n"
    _replace(path, old, old.replace("saddle", "minimal"))


CENSUS_CASES = {
    "points_bad_class": ("points.csv", lambda d: _replace_class(f"{d}/points.csv"), "class"),
    "spectra_wrong_shape": ("spectra.npy", lambda d: np.save(f"{d}/spectra.npy",
                                                             np.zeros((3, 3))), "shape"),
    "density_negative": ("density.csv", lambda d: _replace(f"{d}/density.csv", "\ngd/",
                                                           "\ngd/x,1,0,-1\ngd/"), "negative"),
}


@pytest.mark.parametrize("case", sorted(CENSUS_CASES))
def test_corrupt_census_files_exit_2(copy_run, case):
    fname, corrupt, words = CENSUS_CASES[case]
    d = copy_run("goe")
    corrupt(d)
    r = report_py(d)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert fname in r.stderr and words in r.stderr, r.stderr


def test_not_a_run_directory(tmp_path):
    r = report_py(str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "no such directory" in r.stderr
    r = report_py(str(tmp_path))
    assert r.returncode == 2 and "config.toml" in r.stderr and "Traceback" not in r.stderr


def test_unsupported_schema_version(copy_run):
    d = copy_run("square")
    s = json.load(open(f"{d}/summary.json"))
    s["schema_version"] = 99
    json.dump(s, open(f"{d}/summary.json", "w"))
    r = report_py(d)
    assert r.returncode == 2 and "schema_version" in r.stderr


def _cli(args, **env):
    exe = binary()
    if exe is None:
        pytest.skip("no saddlescope binary")
    e = {**os.environ, "SADDLESCOPE_PYTHON": sys.executable, **env}
    return subprocess.run([exe, "report", *args], capture_output=True, text=True, env=e,
                          timeout=120)


def test_cli_report_writes_the_page(copy_run):
    d = copy_run("square")
    r = _cli([d])
    assert r.returncode == 0, r.stderr
    assert os.path.exists(os.path.join(d, "report", "index.html"))
    assert "index.html" in r.stdout


def test_cli_report_passes_exit_2_through(copy_run):
    d = copy_run("square")
    os.remove(f"{d}/summary.json")
    r = _cli([d])
    assert r.returncode == 2 and "summary.json" in r.stderr and "Traceback" not in r.stderr


def test_cli_report_without_matplotlib_says_how_to_install(tmp_path):
    r = _cli([str(tmp_path)], SADDLESCOPE_PYTHON="/nonexistent/python3")
    assert r.returncode == 1
    assert "install_deps.sh" in r.stderr and "matplotlib" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_report_needs_a_run_dir():
    r = _cli([])
    assert r.returncode == 2
