"""python3 -m saddlescope_report.bench SUITE.json [-o OUT_DIR]: figures of a
benchmark suite result (bench/suite.py).

Draws scaling.png/.svg: the adam step's trajectory-steps per second against
the number of trajectories B (at N = 20,000) and against the dimension N (at
fixed B), and the census eigensolver time against the matrix size N with
numpy, torch and jax eigvalsh beside it when the suite measured them; and peers.png/.svg:
saddlescope's throughput relative to PyTorch and JAX per benchmark (1 = par).
Exit 2 when the file is missing or not a suite result.
"""

import argparse
import json
import os
import sys

PROG = "saddlescope_report.bench"


def _fail(msg):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(2)


def _load(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        _fail(f"{path}: {e.strerror}")
    except ValueError as e:
        _fail(f"{path}: not valid JSON ({e})")
    if not isinstance(doc, dict) or "parts" not in doc:
        _fail(f"{path}: not a bench/suite.py result (no 'parts')")
    return doc


def scaling_figure(doc):
    from .style import plt
    parts = doc["parts"]
    sc = parts.get("scaling", {})
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    fig.suptitle(f"Scaling on {doc.get('device')} ({doc.get('backend')}), commit {doc.get('commit')}",
                 x=0.01, ha="left")
    for ax, key, xkey, xlabel in ((axes[0], "step_vs_trajectories", "trajectories",
                                   "trajectories B (N = 20,000)"),
                                  (axes[1], "step_vs_dim", "dim", "dimension N (fixed B)")):
        rows = [r for r in sc.get(key, []) if "trajectory_steps_per_second" in r]
        if not rows:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
            continue
        x = [r[xkey] for r in rows]
        y = [r["trajectory_steps_per_second"] for r in rows]
        ax.plot(x, y, "o-", label="adam step")
        ax.set_xscale("log")
        if max(y) > 10 * min(y):
            ax.set_yscale("log")
        else:  # a flat curve stays flat-looking: linear, from zero
            ax.set_ylim(0, 1.15 * max(y))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("trajectory-steps / s")
        ax.set_title("fused step throughput")
        ax.legend(loc="best")
    ax = axes[2]
    census = parts.get("census_peers", {}).get("results", [])
    pts = [r for r in census if isinstance(r, dict) and "n" in r]
    if pts:
        n = [r["n"] for r in pts]
        for key, label in (("saddlescope_eigh_s", "saddlescope eigh"),
                           ("saddlescope_inertia_s", "saddlescope inertia"),
                           ("numpy_eigvalsh_s", "numpy.linalg.eigvalsh"),
                           ("torch_eigvalsh_s", "torch.linalg.eigvalsh"),
                           ("jax_eigvalsh_s", "jax.numpy.linalg.eigvalsh")):
            ys = [r.get(key) for r in pts]
            if any(v is not None for v in ys):
                per = [v / r.get("batch", 1) if v is not None else float("nan")
                       for v, r in zip(ys, pts)]
                ax.plot(n, per, "o-", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("matrix size N")
        ax.set_ylabel("seconds per matrix")
        ax.set_title("census eigensolvers")
        ax.legend(loc="best")
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "census not measured", ha="center", transform=ax.transAxes)
    return fig


def peers_figure(doc):
    from .style import plt
    parts = doc["parts"]
    labels, torch, jax = [], [], []
    for name, key in (("separable_peers", "optimizer"), ("gaussian-field_peers", None),
                      ("mlp_peers", None)):
        for r in parts.get(name, {}).get("results", []):
            labels.append(name.replace("_peers", "") + (f" {r[key]}" if key else " adam")
                          + (f" B={r['trajectories']}" if key is None and "trajectories" in r else ""))
            torch.append(r.get("speedup_vs_torch"))
            jax.append(r.get("speedup_vs_jax"))
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * max(1, len(labels))))
    fig.suptitle(f"saddlescope throughput / peer throughput, {doc.get('device')}", x=0.01,
                 ha="left")
    ys = list(range(len(labels)))
    h = 0.38
    for off, vals, name, color in ((-h / 2, torch, "PyTorch", "#ee4c2c"),
                                   (h / 2, jax, "JAX", "#5e97f6")):
        xs = [v if v is not None else 0 for v in vals]
        ax.barh([y + off for y in ys], xs, height=h, color=color, label=name)
        for y, v in zip(ys, vals):
            ax.text(v if v else 0.02, y + off, f" x{v:.2f}" if v else " not measured",
                    va="center", fontsize=8)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    ax.set_xlabel("speedup (1 = par; > 1: saddlescope faster)")
    ax.legend(loc="lower right")
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("suite_json")
    ap.add_argument("-o", "--output", default=None, help="folder (default: beside the JSON)")
    a = ap.parse_args(argv)
    doc = _load(a.suite_json)
    from .style import save
    out = a.output or os.path.splitext(a.suite_json)[0] + "-figures"
    os.makedirs(out, exist_ok=True)
    for name, make in (("scaling", scaling_figure), ("peers", peers_figure)):
        fig = make(doc)
        save(fig, out, name)
        print(f"  {name}: {os.path.join(out, name)}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
