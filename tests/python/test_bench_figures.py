"""The benchmark-suite figures (python -m saddlescope_report.bench) on the
committed CPU suite result: both figures are written, with one curve per
measured series, and a file that is not a suite result exits 2."""
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))


def suite_json():
    files = sorted(glob.glob(os.path.join(ROOT, "bench", "results", "suite-*.json")))
    assert files, "bench/results holds a suite result"
    return files[-1]


def test_figures_hold_the_measured_series(tmp_path):
    import json
    from saddlescope_report import bench
    doc = json.load(open(suite_json()))
    fig = bench.scaling_figure(doc)
    axes = fig.axes
    assert len(axes[0].lines) == 1 and len(axes[1].lines) == 1  # adam vs B, vs N
    census = doc["parts"]["census_peers"]["results"]
    expect = 2 + sum(any(r.get(f"{p}_eigvalsh_s") is not None for r in census)
                     for p in ("numpy", "torch", "jax"))
    assert len(axes[2].lines) == expect
    assert len(axes[1].lines[0].get_xdata()) == len(doc["parts"]["scaling"]["step_vs_dim"])
    rc = bench.main([suite_json(), "-o", str(tmp_path)])
    assert rc == 0
    for name in ("scaling", "peers"):
        for ext in ("png", "svg"):
            assert os.path.getsize(tmp_path / f"{name}.{ext}") > 1000


def test_not_a_suite_result_exits_2(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"benchmark": "something else"}')
    r = subprocess.run([sys.executable, "-m", "saddlescope_report.bench", str(bad)],
                       cwd=os.path.join(ROOT, "python"), capture_output=True, text=True)
    assert r.returncode == 2 and "not a bench/suite.py result" in r.stderr
    assert "Traceback" not in r.stderr
