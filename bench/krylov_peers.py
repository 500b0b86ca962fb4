#!/usr/bin/env python3
"""PyHessian beside saddlescope's Krylov census on one mlp point (issue 15's benchmark).

    ./build/cpu/bench/bench_krylov --experiment examples/mlp-20k.toml --backend cpu \\
        --export /tmp/krylov-point > /tmp/krylov.json
    /tmp/pyh-venv/bin/python bench/krylov_peers.py /tmp/krylov-point

Needs numpy, torch and pyhessian (python3 -m venv /tmp/pyh-venv;
/tmp/pyh-venv/bin/pip install numpy torch pyhessian), as
tools/pyhessian_reference.py, whose module-free helpers it reuses (the
stand-in for torch.eig that PyHessian 0.1 calls).

The exported directory holds the objective's data X [n, d], Y [n, o], the
point x (saddlescope's flat layout [W1, b1, W2, b2], kernels/network.hpp),
saddlescope's results for that point (ritz.npy: the k lowest and highest
Ritz values with residuals; quadrature.npy: the SLQ nodes and weights) and
shape.json (sizes, and bench_krylov's whole JSON under "ours"). This script
builds the same network as a torch module in float64 (the census's
analysis precision), runs PyHessian on it with the same Hessian-vector
product budget for the density (density(iter=steps, n_v=probes)) and its
power iteration for the top k eigenvalues (eigenvalues(top_n=k) at its
defaults, maxIter=100, tol=1e-3), each timed, and prints one JSON object:
the times per point side by side (ours: bench_krylov's lanczos + slq
seconds per point of the same run), the top eigenvalues of both with
their relative differences, and the Wasserstein-1 distance between the two
SLQ densities relative to the spectrum's range.
"""
import json
import os
import sys
import time

import numpy as np
import torch
from pyhessian import hessian as PyHessian

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from pyhessian_reference import torch_eig_for_pyhessian  # noqa: E402


class Mlp(torch.nn.Module):
    """saddlescope's mlp student: out = tanh(X W1^T + b1) W2^T + b2 (kernels/network.hpp)."""

    def __init__(self, d, h, o, x):
        super().__init__()
        self.fc1 = torch.nn.Linear(d, h)
        self.fc2 = torch.nn.Linear(h, o)
        x = torch.as_tensor(x)
        w1, b1 = h * d, h * d + h
        w2 = b1 + o * h
        with torch.no_grad():
            self.fc1.weight.copy_(x[:w1].reshape(h, d))
            self.fc1.bias.copy_(x[w1:b1])
            self.fc2.weight.copy_(x[b1:w2].reshape(o, h))
            self.fc2.bias.copy_(x[w2:])

    def forward(self, inputs):
        return self.fc2(torch.tanh(self.fc1(inputs)))


def criterion(out, targets):
    """1/(2n) ||out - Y||_F^2, the mlp loss."""
    return torch.nn.functional.mse_loss(out, targets, reduction="sum") / (2.0 * out.shape[0])


def wasserstein1(a, b):
    """W1 between two discrete measures [(value, weight)], each normalized to mass 1."""
    va, wa = np.array([p[0] for p in a]), np.array([p[1] for p in a])
    vb, wb = np.array([p[0] for p in b]), np.array([p[1] for p in b])
    wa, wb = wa / wa.sum(), wb / wb.sum()
    xs = np.sort(np.concatenate([va, vb]))
    fa = np.array([wa[va <= x].sum() for x in xs[:-1]])
    fb = np.array([wb[vb <= x].sum() for x in xs[:-1]])
    return float(np.sum(np.abs(fa - fb) * np.diff(xs)))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    shape = json.load(open(os.path.join(d, "shape.json")))
    ours = shape["ours"]
    X, Y, x = (np.load(os.path.join(d, f)) for f in ("X.npy", "Y.npy", "x.npy"))
    ritz, quad = np.load(os.path.join(d, "ritz.npy")), np.load(os.path.join(d, "quadrature.npy"))
    k = ritz.shape[0] // 2
    probes, steps = quad.shape[0], quad.shape[1]
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(os.cpu_count() or 1)
    model = Mlp(shape["d"], shape["h"], shape["o"], x)
    inputs, targets = torch.as_tensor(X), torch.as_tensor(Y)
    with torch.no_grad():
        loss = float(criterion(model(inputs), targets))
    hess = PyHessian(model, criterion, data=(inputs, targets), cuda=False)

    torch.manual_seed(1)
    t0 = time.perf_counter()
    top, _ = hess.eigenvalues(top_n=k)
    eig_s = time.perf_counter() - t0
    torch.manual_seed(3)
    t0 = time.perf_counter()
    with torch_eig_for_pyhessian():
        nodes, weights = hess.density(iter=steps, n_v=probes)
    dens_s = time.perf_counter() - t0

    ours_top = sorted((v for v in ritz[k:, 0] if np.isfinite(v)), key=abs, reverse=True)[:k]
    top = sorted(top, key=abs, reverse=True)
    rel = [abs(a - b) / abs(b) for a, b in zip(top, ours_top)]
    ours_q = [(n, w) for n, w in quad.reshape(-1, 2) if np.isfinite(n)]
    theirs_q = [(n, w) for pn, pw in zip(nodes, weights) for n, w in zip(pn, pw)]
    span = max(v for v, _ in ours_q) - min(v for v, _ in ours_q)
    ours_point = ours["lanczos"]["seconds_per_point"] + ours["slq"]["seconds_per_point"]
    out = {
        "peer": "pyhessian 0.1, torch " + torch.__version__,
        "threads": torch.get_num_threads(),
        "dim": int(x.size),
        "loss": loss,
        "pyhessian": {"eigenvalues_seconds": eig_s, "density_seconds": dens_s,
                      "top_eigenvalues": [float(v) for v in top],
                      "settings": {"top_n": k, "maxIter": 100, "tol": 1e-3,
                                   "density_iter": steps, "n_v": probes}},
        "saddlescope": {"lanczos_seconds_per_point": ours["lanczos"]["seconds_per_point"],
                        "slq_seconds_per_point": ours["slq"]["seconds_per_point"],
                        "top_eigenvalues": [float(v) for v in ours_top],
                        "backend": ours["backend"], "device": ours["device"]},
        "top_relative_difference": rel,
        "density_w1_over_range": wasserstein1(ours_q, theirs_q) / span if span > 0 else None,
        "per_point_speedup": (eig_s + dens_s) / ours_point if ours_point > 0 else None,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
