"""Fixtures for the report tests: small run directories made by the CPU binary
(SADDLESCOPE_BINARY, set by ctest) or written directly in the documented
formats (docs/run-directory.md)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

try:
    import matplotlib  # noqa: F401
except ImportError:  # pragma: no cover - reported by the ctest wrapper
    pytest.exit("matplotlib is not installed for this Python: run bash tools/install_deps.sh "
                "(Debian: apt-get install python3-matplotlib)", returncode=1)


def binary():
    b = os.environ.get("SADDLESCOPE_BINARY")
    if b and os.path.exists(b):
        return b
    for cand in ("build/cpu/saddlescope", "build/default/saddlescope"):
        p = os.path.join(ROOT, cand)
        if os.path.exists(p):
            return p
    return None


def run_experiment(base, name, toml, sets=()):
    """Runs the CPU binary on an experiment text; returns the run directory."""
    exe = binary()
    if exe is None:
        pytest.skip("no saddlescope binary (set SADDLESCOPE_BINARY; ctest does)")
    exp = os.path.join(base, f"{name}.toml")
    with open(exp, "w") as f:
        f.write(toml)
    out = os.path.join(base, name)
    cmd = [exe, "run", exp, "-o", out, "--backend", "cpu", *[f"--set={s}" for s in sets]]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stderr}"
    return out


EXPERIMENTS = {
    # 1-D multi-start: basins of the double well, gd vs momentum.
    "dw1d": """
name = "dw1d"
seed = 1
[objective]
kind = "double-well"
dim = 1
[init]
kind = "uniform"
scale = 2.5
[run]
trajectories = 48
max_steps = 3000
precision = "f64"
save_final_points = true
[[optimizer]]
kind = "gd"
lr = 0.01
[[optimizer]]
kind = "momentum"
lr = 0.005
""",
    # The learning-rate textbook case: one start, two learning rates (one diverges).
    "square": """
name = "square"
[objective]
kind = "quadratic"
eigenvalues = [2.0]
[init]
kind = "point"
point = [2.0]
[run]
trajectories = 1
max_steps = 200
precision = "f64"
record_every = 1
[[optimizer]]
kind = "gd"
label = "lr=0.1"
lr = 0.1
[[optimizer]]
kind = "gd"
label = "lr=1.1"
lr = 1.1
""",
    # 2-D multi-start: four minima, nine critical points.
    "dw2d": """
name = "dw2d"
seed = 2
[objective]
kind = "double-well"
dim = 2
[init]
kind = "uniform"
scale = 2.5
[run]
trajectories = 40
max_steps = 2000
precision = "f64"
[[optimizer]]
kind = "gd"
lr = 0.01
""",
    # High-dimensional census with every critical point found (3^4 = 81).
    "census": """
name = "census"
seed = 3
[objective]
kind = "double-well"
dim = 4
[init]
kind = "uniform"
scale = 2.5
[run]
trajectories = 3000
max_steps = 1500
precision = "f64"
record_trajectories = 16
[[optimizer]]
kind = "gd"
lr = 0.01
[analysis]
points = ["stops", "critical"]
max_points = 100
crit_tol = 1e-8
[finder]
kind = "newton"
starts = 3000
max_steps = 60
""",
    "goe": """
name = "goe"
seed = 4
[objective]
kind = "goe-quadratic"
dim = 80
[init]
kind = "gaussian"
[run]
trajectories = 6
max_steps = 20
precision = "f64"
[[optimizer]]
kind = "gd"
lr = 0.01
[analysis]
points = ["stops"]
""",
    "pspin": """
name = "pspin"
seed = 7
[objective]
kind = "p-spin"
dim = 40
p = 3
[init]
kind = "sphere"
[run]
trajectories = 8
max_steps = 400
grad_tol = 1e-3
precision = "f64"
[[optimizer]]
kind = "gd"
lr = 0.05
[analysis]
points = ["stops"]
crit_tol = 1e-3
""",
    # Plateaus near a rotated saddle and an optimizer comparison with a target.
    "escape": """
name = "escape"
seed = 11
[objective]
kind = "quadratic"
dim = 6
negative = 2
curvature = 1.0
rotate = true
[init]
kind = "gaussian"
scale = 1e-6
[run]
trajectories = 24
max_steps = 600
diverge_above = 1e3
grad_tol = 1e-12
precision = "f64"
target_loss = -10.0
[plateau]
grad_threshold = 1e-3
min_steps = 10
[[optimizer]]
kind = "gd"
lr = 0.1
[[optimizer]]
kind = "momentum"
lr = 0.1
[[optimizer]]
kind = "adam"
lr = 0.01
[analysis]
points = ["plateaus"]
""",
    # A finder-only census (no [[optimizer]]).
    "fonly": """
name = "fonly"
seed = 3
[objective]
kind = "double-well"
dim = 3
[init]
kind = "uniform"
scale = 2.5
[analysis]
points = ["critical"]
crit_tol = 1e-8
[finder]
kind = "newton"
starts = 300
max_steps = 60
""",
    # A sweep over the dimension: sweep.csv, sweep/NNN/, summary.json kind "sweep".
    "sweep": """
name = "sweep"
seed = 3
[objective]
kind = "double-well"
dim = 2
[init]
kind = "uniform"
scale = 2.5
[run]
trajectories = 8
max_steps = 500
[[optimizer]]
kind = "gd"
lr = 0.01
[analysis]
points = ["stops", "critical"]
crit_tol = 1e-8
[finder]
kind = "newton"
starts = 60
max_steps = 60
[sweep]
"objective.dim" = [1, 2, 3]
""",
}


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("runs"))


_cache = {}


@pytest.fixture(scope="session")
def make_run(runs_dir):
    def get(name):
        if name not in _cache:
            _cache[name] = run_experiment(runs_dir, name, EXPERIMENTS[name])
        return _cache[name]
    return get


_reports = {}


@pytest.fixture(scope="session")
def reported(make_run):
    """(run_dir, build result) of each experiment's report, built once."""
    from saddlescope_report import report

    def get(name):
        if name not in _reports:
            d = make_run(name)
            _reports[name] = (d, report.build(d))
        return _reports[name]
    return get


@pytest.fixture
def copy_run(make_run, tmp_path):
    """A private copy of a run directory, to corrupt."""
    def get(name):
        dst = str(tmp_path / name)
        shutil.copytree(make_run(name), dst)
        return dst
    return get


def write_synthetic_run(path, spectra, f_values, kind="goe-quadratic", objective=None):
    """A census run directory written in the documented formats, no binary needed."""
    os.makedirs(path)
    P, n = spectra.shape
    dim = n + 1 if kind == "p-spin" else n
    obj = {"kind": kind, "dim": dim, **(objective or {})}
    cfg = ["name = \"synthetic\"", "seed = 0", "", "[objective]"]
    cfg += [f"{k} = {json.dumps(v)}" for k, v in obj.items()]
    cfg += ["", "[run]", "trajectories = 2", "max_steps = 10", "record_every = 10",
            "record_trajectories = 2", "grad_tol = 1e-06", "", "[[optimizer]]", "kind = \"gd\"",
            "label = \"gd\"", "lr = 0.01", ""]
    with open(os.path.join(path, "config.toml"), "w") as f:
        f.write("\n".join(cfg))
    q = {"count": 2, "min": 0.0, "q25": 0.0, "median": 0.0, "q75": 0.0, "max": 0.0}
    summary = {"schema_version": 1, "version": "0.1.0", "name": "synthetic", "seed": 0,
               "backend": "cpu", "device": "test", "objective": {"kind": kind, "dim": dim},
               "trajectories": 2, "max_steps": 10, "precision": "f64", "target_loss": None,
               "optimizers": [{"label": "gd", "kind": "gd", "lr": 0.01,
                               "outcomes": {"converged": 0, "diverged": 0, "max_steps": 2},
                               "final_loss": q, "steps": q}],
               "census": {"points": P, "method": "eigh"},
               "files": ["config.toml", "trajectories.csv", "curves.npy", "points.csv",
                         "spectra.npy", "density.csv", "summary.json"]}
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump(summary, f)
    with open(os.path.join(path, "trajectories.csv"), "w") as f:
        f.write("optimizer,trajectory,outcome,steps,f_init,f_final,grad_norm_final,"
                "plateau_count,plateau_steps,longest_plateau,first_escape_step\n")
        for b in range(2):
            f.write(f"gd,{b},max_steps,10,1.0,0.5,0.1,0,0,0,\n")
    curves = np.ones((1, 2, 2, 2), dtype=np.float32)
    np.save(os.path.join(path, "curves.npy"), curves)
    np.save(os.path.join(path, "spectra.npy"), spectra.astype(np.float64))
    with open(os.path.join(path, "points.csv"), "w") as f:
        f.write("point,source,optimizer,trajectory,step,f,grad_norm,index,n_zero,n_pos,"
                "lambda_min,lambda_max,class\n")
        for i in range(P):
            s = spectra[i]
            k = int(np.sum(s < -1e-9))
            cls = "minimum" if k == 0 else ("maximum" if k == n else "saddle")
            f.write(f"{i},stop,gd,{i},10,{f_values[i]!r},0.1,{k},0,{n - k},{s[0]!r},{s[-1]!r},"
                    f"{cls}\n")
    allv = spectra.ravel()
    edges = np.linspace(allv.min(), allv.max(), 41)
    with open(os.path.join(path, "density.csv"), "w") as f:
        f.write("group,bin_lo,bin_hi,density\n")
        classes = ["minimum" if np.sum(s < -1e-9) == 0 else "saddle" for s in spectra]
        for cls in dict.fromkeys(classes):
            v = spectra[[c == cls for c in classes]].ravel()
            h, _ = np.histogram(v, edges)
            dens = h / (v.size * np.diff(edges))
            for lo, hi, d in zip(edges[:-1], edges[1:], dens):
                f.write(f"gd/{cls},{lo!r},{hi!r},{d!r}\n")
    return path


# ---------------------------------------------------------------------------
# Synthetic run directories of schema_version 2 (synthetic.py), no binary needed.

import synthetic  # noqa: E402

SYNTHETIC = {
    "dw": lambda d: synthetic.double_well(d),
    "finder_only": lambda d: synthetic.double_well(d, dim=3, finder_only=True),
    "pspin": lambda d: synthetic.pspin(d),
    "gfield": lambda d: synthetic.gaussian_field(d),
    "wide": lambda d: synthetic.wide_spectrum(d),
    "slq": lambda d: synthetic.krylov_pspin(d, "slq"),
    "lanczos": lambda d: synthetic.krylov_pspin(d, "lanczos"),
    "eos": lambda d: synthetic.edge_of_stability(d),
    "sweep1": lambda d: synthetic.sweep(d, {"optimizer.0.lr": [1e-4, 1e-3, 1e-2, 1e-1]}),
    "sweep2": lambda d: synthetic.sweep(d, {"objective.dim": [2, 3, 4],
                                            "optimizer.0.lr": [0.001, 0.01]}),
}
_synth = {}


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    """synth(name): the path of a synthetic run directory (written once per session)."""
    base = tmp_path_factory.mktemp("synthetic")

    def get(name):
        if name not in _synth:
            _synth[name] = SYNTHETIC[name](str(base / name))
        return _synth[name]
    return get


@pytest.fixture
def synth_copy(synth, tmp_path):
    """A private copy of a synthetic run directory, to corrupt."""
    def get(name):
        dst = str(tmp_path / name)
        shutil.copytree(synth(name), dst)
        return dst
    return get
