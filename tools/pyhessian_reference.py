#!/usr/bin/env python3
"""PyHessian and exact-Hessian references for the mlp objective's spectrum (issue 15).

Regenerate (needs numpy, torch and pyhessian; the C++ tests themselves do not):

    python3 -m venv /tmp/pyh-venv
    /tmp/pyh-venv/bin/pip install numpy torch pyhessian
    /tmp/pyh-venv/bin/python tools/pyhessian_reference.py

from the repository root. It writes tests/data/pyhessian_mlp.json.

The case is one small instance of saddlescope's mlp objective (kernels/network.hpp,
kernels/pipelines/networks.hpp): parameters x = [W1 (h x d) row-major, b1 (h),
W2 (o x h) row-major, b2 (o)], inputs X (n x d), labels Y (n x o),

    H = tanh(X W1^T + b1),  out = H W2^T + b2,  L(x) = 1/(2n) ||out - Y||_F^2,

with d = 8, h = 24, o = 2, n = 128 (N = h d + h + o h + o = 266 parameters).
Everything is drawn from one numpy RandomState(SEED), in this order: X (n x d)
standard normal; a teacher of the student's shape (x_teacher, drawn like the
student below, biases included, unlike saddlescope's own bias-free teacher);
label noise NOISE * standard normal (n x o), so Y = teacher(X) + noise; the
student x, each block standard normal / sqrt(fan_in) (fan_in = d for W1 and
b1, h for W2 and b2). x is this random draw itself (no training steps): a
point far from a minimum, where the Hessian is strongly indefinite (160 of its
266 eigenvalues are negative, the smallest |lambda| is 1.3e-4).

Computed, all in float64 on the CPU:
  - exact: L at x, the dense Hessian of L over the flat x
    (torch.autograd.functional.hessian), its eigenvalues (torch.linalg.eigvalsh,
    all N, ascending), its trace and its number of negative eigenvalues;
  - PyHessian (pyhessian.hessian on an nn.Module, see MlpModule): the top
    eigenvalues by power iteration with deflation (eigenvalues(); power
    iteration finds the eigenvalues of largest magnitude, so they are compared
    with the exact eigenvalues sorted by |lambda|), the Hutchinson trace
    estimate (trace(); every sample v^T H v with its Rademacher probe v) and
    the SLQ density (density(); for each probe its Lanczos nodes and Gauss
    quadrature weights, and the Rademacher start vector itself).
Each PyHessian call is preceded by torch.manual_seed with its own seed. The
probes are regenerated afterwards by replaying PyHessian's random draws (it
draws with torch.randint_like per parameter tensor, in the module's parameter
order, which is the flat x order) and stored as +-1 in flat-x order.

Checks (the script exits non-zero when one fails):
  - the module's parameters, concatenated, are x; L from x by the formula
    above written in numpy equals the module's loss, and the module's gradient
    (PyHessian's gradsH) equals the gradient over the flat x (the layout is
    right);
  - a module Hessian-vector product (PyHessian's own) equals the dense Hessian
    times the vector;
  - every Hutchinson sample equals z^T H z for its replayed probe z;
  - for each SLQ probe, the exact Gauss rule of its replayed start vector
    (gauss_quadrature: numpy Lanczos on the dense Hessian, stored beside
    PyHessian's) reproduces the moments u^T H^j u, j = 0..4, of u = v/||v||
    to rounding (a 100-node Gauss rule is exact for these degrees), and
    PyHessian's nodes, weights and moments agree with it to 1e-4;
  - PyHessian's top eigenvalues agree with the exact ones by magnitude to
    1e-5 (relative errors printed).

PyHessian normalises by dividing by ||v|| + 1e-6, so its "unit" vectors have
norm 1 - O(1e-6): its power-iteration eigenvalues carry a factor
(1 + 1e-6)^-2 (relative error 2e-6, printed undone as a check), and its
Lanczos nodes and weights are perturbed at the 1e-6 level (a node can fall
just outside [lambda_min, lambda_max]). The exact Gauss rules are the
references to compare an exact Lanczos with; PyHessian's are what the tool
itself reports.

PyHessian 0.1 (the version on PyPI) calls torch.eig in density(), which torch
removed in 2.0. During that call only, torch.eig is replaced by an equivalent
for the symmetric tridiagonal Lanczos matrix (torch.linalg.eigh; nodes come out
ascending). PyHessian makes its work vectors with torch.zeros / torch.randn at
the default dtype, so the script sets torch's default dtype to float64.
"""

import contextlib
import datetime
import importlib.metadata
import json
import os
import sys
import time

import numpy as np
import torch
from pyhessian import hessian as PyHessian

D, HIDDEN, OUT, SAMPLES = 8, 24, 2, 128
SEED = 15  # numpy RandomState for the data, the teacher and the student
NOISE = 0.05  # std of the Gaussian label noise

# PyHessian settings. Power iteration: tighter than PyHessian's defaults
# (maxIter=100, tol=1e-3), so that its eigenvalues converge to ~1e-6.
EIG_TOP_N, EIG_MAX_ITER, EIG_TOL, EIG_SEED = 5, 1000, 1e-12, 1
# Hutchinson: tol = 0 turns off PyHessian's early stop (it stops once the
# running mean changes by less than tol, relative), so exactly TRACE_MAX_ITER
# samples are drawn (the running mean is positive here).
TRACE_MAX_ITER, TRACE_TOL, TRACE_SEED = 100, 0.0, 2
# SLQ: DENSITY_PROBES Lanczos runs of DENSITY_ITER steps each.
DENSITY_ITER, DENSITY_PROBES, DENSITY_SEED = 100, 10, 3

MOMENT_DEGREES = 4


def num_params():
    return HIDDEN * D + HIDDEN + OUT * HIDDEN + OUT


def split(x):
    """W1 (h x d), b1 (h), W2 (o x h), b2 (o) of a flat x (kernels/network.hpp's layout)."""
    w1, b1 = HIDDEN * D, HIDDEN * D + HIDDEN
    w2 = b1 + OUT * HIDDEN
    return (x[:w1].reshape(HIDDEN, D), x[w1:b1], x[b1:w2].reshape(OUT, HIDDEN), x[w2:])


def mlp_out(x, X):
    W1, b1, W2, b2 = split(x)
    return np.tanh(X @ W1.T + b1) @ W2.T + b2


def mlp_loss_numpy(x, X, Y):
    """saddlescope's mlp loss, L = 1/(2n) ||tanh(X W1^T + b1) W2^T + b2 - Y||_F^2."""
    r = mlp_out(x, X) - Y
    return float(0.5 * np.sum(r * r) / X.shape[0])


def mlp_loss_torch(x, X, Y):
    """The same loss in torch, as a function of the flat x (for the dense Hessian)."""
    W1, b1, W2, b2 = split(x)
    r = torch.tanh(X @ W1.T + b1) @ W2.T + b2 - Y
    return 0.5 * torch.sum(r * r) / X.shape[0]


def draw_params(rng):
    """A parameter vector in flat-x order, each block standard normal / sqrt(fan_in)."""
    return np.concatenate([
        rng.standard_normal(HIDDEN * D) / np.sqrt(D),
        rng.standard_normal(HIDDEN) / np.sqrt(D),
        rng.standard_normal(OUT * HIDDEN) / np.sqrt(HIDDEN),
        rng.standard_normal(OUT) / np.sqrt(HIDDEN),
    ])


def build_case():
    rng = np.random.RandomState(SEED)
    X = rng.standard_normal((SAMPLES, D))
    teacher = draw_params(rng)
    Y = mlp_out(teacher, X) + NOISE * rng.standard_normal((SAMPLES, OUT))
    x = draw_params(rng)
    return X, Y, x


class MlpModule(torch.nn.Module):
    """The student as a module: its parameters() are W1, b1, W2, b2, the flat-x order.

    nn.Linear's weight is (out_features, in_features) = (h, d) for fc1 and
    (o, h) for fc2, both row-major, as in x.
    """

    def __init__(self, x):
        super().__init__()
        self.fc1 = torch.nn.Linear(D, HIDDEN)
        self.fc2 = torch.nn.Linear(HIDDEN, OUT)
        W1, b1, W2, b2 = split(torch.as_tensor(x))
        with torch.no_grad():
            self.fc1.weight.copy_(W1)
            self.fc1.bias.copy_(b1)
            self.fc2.weight.copy_(W2)
            self.fc2.bias.copy_(b2)

    def forward(self, inputs):
        return self.fc2(torch.tanh(self.fc1(inputs)))


def mlp_criterion(out, targets):
    """criterion(out, Y) = 1/(2n) ||out - Y||_F^2, the mlp loss."""
    return torch.nn.functional.mse_loss(out, targets, reduction="sum") / (2.0 * out.shape[0])


def flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


def rademacher_replay(params, count):
    """The next `count` Rademacher vectors PyHessian's trace()/density() draw, flattened."""
    probes = []
    for _ in range(count):
        v = [torch.randint_like(p, high=2) for p in params]
        for v_i in v:
            v_i[v_i == 0] = -1
        probes.append(flat(v).detach())
    return probes


@contextlib.contextmanager
def torch_eig_for_pyhessian():
    """torch.eig (removed in torch 2.0) for PyHessian 0.1's density(): symmetric input only.

    Returns what torch.eig(T, eigenvectors=True) returned: eigenvalues as an
    (n, 2) real/imaginary array and the eigenvectors as columns.
    """
    def eig(T, eigenvectors=False):
        if not torch.equal(T, T.T):
            raise ValueError("the torch.eig stand-in handles symmetric matrices only")
        w, V = torch.linalg.eigh(T)
        return torch.stack([w, torch.zeros_like(w)], dim=1), (V if eigenvectors else None)

    saved = getattr(torch, "eig", None)
    torch.eig = eig
    try:
        yield
    finally:
        torch.eig = saved


def gauss_quadrature(Hd, start, steps):
    """The exact `steps`-node Gauss quadrature of start's spectral measure under Hd.

    Lanczos from start / ||start|| with full reorthogonalisation (twice per
    step), in numpy float64: nodes are the eigenvalues of the tridiagonal
    matrix (ascending), weights the squares of their eigenvectors' first
    components. What PyHessian's density() computes, without its perturbation.
    """
    V = np.zeros((steps, len(start)))
    alpha, beta = np.zeros(steps), np.zeros(steps - 1)
    v = start / np.linalg.norm(start)
    for k in range(steps):
        V[k] = v
        w = Hd @ v
        alpha[k] = v @ w
        for _ in range(2):
            w -= V[: k + 1].T @ (V[: k + 1] @ w)
        if k < steps - 1:
            beta[k] = np.linalg.norm(w)
            v = w / beta[k]
    T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    nodes, S = np.linalg.eigh(T)
    return nodes, S[0] ** 2


def check(ok, message):
    if not ok:
        sys.exit(f"check failed: {message}")


def main():
    start_time = time.perf_counter()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = os.path.join(root, "tests", "data", "pyhessian_mlp.json")
    N = num_params()

    X, Y, x = build_case()
    Xt, Yt, xt = torch.tensor(X), torch.tensor(Y), torch.tensor(x)

    # Exact reference: the dense Hessian of L over the flat x.
    loss = float(mlp_loss_torch(xt, Xt, Yt))
    Hd = torch.autograd.functional.hessian(lambda v: mlp_loss_torch(v, Xt, Yt), xt)
    check(torch.allclose(Hd, Hd.T, rtol=0, atol=1e-13), "dense Hessian is not symmetric")
    Hd = 0.5 * (Hd + Hd.T)
    evals = torch.linalg.eigvalsh(Hd)
    trace_exact = float(torch.trace(Hd))
    negative = int((evals < 0).sum())
    by_magnitude = evals[torch.argsort(evals.abs(), descending=True)]
    print(f"N = {N}, loss = {loss!r}")
    print(f"exact: lambda_min {float(evals[0]):.6g}, lambda_max {float(evals[-1]):.6g}, "
          f"trace {trace_exact:.10g}, {negative} negative, "
          f"smallest |lambda| {float(evals.abs().min()):.3g}")

    # The module PyHessian sees, and the layout checks.
    model = MlpModule(x)
    params = list(model.parameters())
    check(torch.equal(flat(params).detach(), xt), "module parameters are not x in flat order")
    loss_module = float(mlp_criterion(model(Xt), Yt).detach())
    loss_numpy = mlp_loss_numpy(x, X, Y)
    print(f"loss: numpy (flat x) {loss_numpy!r}, module {loss_module!r}, torch (flat x) {loss!r}")
    check(abs(loss_numpy - loss_module) <= 1e-14 * loss_numpy, "numpy and module losses differ")
    check(abs(loss - loss_module) <= 1e-14 * loss, "flat-x and module losses differ")

    hess = PyHessian(model, mlp_criterion, data=(Xt, Yt), cuda=False)
    x_req = xt.clone().requires_grad_()
    grad = torch.autograd.grad(mlp_loss_torch(x_req, Xt, Yt), x_req)[0]
    grad_err = float((flat(hess.gradsH).detach() - grad).norm() / grad.norm())
    print(f"module gradient vs flat-x gradient: relative error {grad_err:.2e}")
    check(grad_err < 1e-13, "module gradient differs from the flat-x gradient")
    rng = np.random.RandomState(SEED + 1)
    v = torch.tensor(rng.standard_normal(N))
    v_blocks = list(torch.split(v, [p.numel() for p in params]))
    v_blocks = [b.reshape(p.shape) for b, p in zip(v_blocks, params)]
    hv = flat(torch.autograd.grad(hess.gradsH, hess.params, grad_outputs=v_blocks,
                                  retain_graph=True))
    hv_err = float((hv - Hd @ v).norm() / (Hd @ v).norm())
    print(f"module Hessian-vector product vs dense H v: relative error {hv_err:.2e}")
    check(hv_err < 1e-12, "module Hessian-vector product differs from the dense Hessian")

    # PyHessian: top eigenvalues by power iteration.
    torch.manual_seed(EIG_SEED)
    top, _ = hess.eigenvalues(maxIter=EIG_MAX_ITER, tol=EIG_TOL, top_n=EIG_TOP_N)
    print(f"top {EIG_TOP_N} eigenvalues (power iteration finds the largest |lambda|):")
    # PyHessian divides by ||v|| + 1e-6 where it normalises, so its unit vectors
    # have norm 1/(1 + 1e-6) and its Rayleigh quotients carry a factor
    # (1 + 1e-6)^-2: a relative bias of 2e-6, shown undone in the last column.
    bias = (1.0 + 1e-6) ** -2
    print(f"  {'k':>2s} {'exact':>22s} {'pyhessian':>22s} {'rel. error':>10s} "
          f"{'rel. error of pyhessian / (1+1e-6)^-2':>38s}")
    top_rel_errors = []
    for k, lam in enumerate(top):
        ref = float(by_magnitude[k])
        rel = abs(lam - ref) / abs(ref)
        top_rel_errors.append(rel)
        print(f"  {k:2d} {ref:22.16g} {lam:22.16g} {rel:10.2e} "
              f"{abs(lam / bias - ref) / abs(ref):38.2e}")
    check(max(top_rel_errors) < 1e-5, "PyHessian's top eigenvalues disagree with the exact ones")

    # PyHessian: Hutchinson trace; the probes replayed and every sample checked.
    torch.manual_seed(TRACE_SEED)
    trace_samples = hess.trace(maxIter=TRACE_MAX_ITER, tol=TRACE_TOL)
    torch.manual_seed(TRACE_SEED)
    trace_probes = rademacher_replay(params, len(trace_samples))
    sample_err = max(abs(s - float(z @ Hd @ z)) / abs(float(z @ Hd @ z))
                     for s, z in zip(trace_samples, trace_probes))
    trace_mean = float(np.mean(trace_samples))
    trace_sem = float(np.std(trace_samples, ddof=1) / np.sqrt(len(trace_samples)))
    print(f"trace: exact {trace_exact:.10g}, Hutchinson ({len(trace_samples)} samples) "
          f"{trace_mean:.10g} +- {trace_sem:.3g} (standard error), relative error "
          f"{abs(trace_mean - trace_exact) / abs(trace_exact):.2e}; samples vs z^T H z: "
          f"max relative difference {sample_err:.2e}")
    check(len(trace_samples) == TRACE_MAX_ITER, "Hutchinson stopped early")
    check(sample_err < 1e-12, "a Hutchinson sample differs from z^T H z of its replayed probe")
    check(abs(trace_mean - trace_exact) < 5 * trace_sem, "Hutchinson mean far from the trace")

    # PyHessian: SLQ density; the start vectors replayed and the moments checked.
    torch.manual_seed(DENSITY_SEED)
    with torch_eig_for_pyhessian():
        nodes, weights = hess.density(iter=DENSITY_ITER, n_v=DENSITY_PROBES)
    torch.manual_seed(DENSITY_SEED)
    density_probes = rademacher_replay(params, DENSITY_PROBES)
    nodes = [[float(t) for t in probe] for probe in nodes]
    weights = [[float(w) for w in probe] for probe in weights]
    gauss = [gauss_quadrature(Hd.numpy(), z.numpy(), DENSITY_ITER) for z in density_probes]
    lo, hi = float(evals[0]), float(evals[-1])
    scale = max(abs(lo), abs(hi))
    gauss_moment_err = pyhessian_moment_err = node_diff = weight_diff = 0.0
    for th, w, (g_th, g_w), z in zip(nodes, weights, gauss, density_probes):
        th, w = np.array(th), np.array(w)
        node_diff = max(node_diff, float(np.max(np.abs(th - g_th))) / scale)
        weight_diff = max(weight_diff, float(np.max(np.abs(w - g_w))))
        u = z / z.norm()
        hu = u.clone()
        for j in range(MOMENT_DEGREES + 1):
            exact = float(u @ hu)  # u^T H^j u
            gauss_moment_err = max(gauss_moment_err,
                                   abs(float(np.sum(g_w * g_th**j)) - exact) / scale**j)
            pyhessian_moment_err = max(pyhessian_moment_err,
                                       abs(float(np.sum(w * th**j)) - exact) / scale**j)
            hu = Hd @ hu
    print(f"SLQ: {DENSITY_PROBES} probes x {DENSITY_ITER} Lanczos steps; quadrature moments "
          f"j = 0..{MOMENT_DEGREES} vs u^T H^j u (error / max|lambda|^j): exact Gauss rule "
          f"{gauss_moment_err:.2e}, PyHessian {pyhessian_moment_err:.2e}")
    print(f"SLQ: PyHessian vs exact Gauss rule: nodes max |difference| / max|lambda| "
          f"{node_diff:.2e}, weights max |difference| {weight_diff:.2e}")
    check(gauss_moment_err < 1e-12, "the Gauss rule's moments differ from the probes' moments")
    check(pyhessian_moment_err < 1e-4, "PyHessian's SLQ moments differ from the probes' moments")
    check(node_diff < 1e-4 and weight_diff < 1e-4, "PyHessian's SLQ differs from the Gauss rule")

    def negative_estimate(rules):
        return N * float(np.mean([np.sum(np.asarray(w)[np.asarray(th) < 0]) for th, w in rules]))

    negative_slq = negative_estimate(zip(nodes, weights))
    negative_gauss = negative_estimate(gauss)
    print(f"SLQ estimate of the number of negative eigenvalues: PyHessian {negative_slq:.2f}, "
          f"exact Gauss rules {negative_gauss:.2f} (exact count {negative})")

    doc = {
        "generator": "tools/pyhessian_reference.py",
        "description": "saddlescope mlp objective (kernels/network.hpp): x = [W1 (h x d) row-major, "
                       "b1 (h), W2 (o x h) row-major, b2 (o)], L = 1/(2n) ||tanh(X W1^T + b1) "
                       "W2^T + b2 - Y||_F^2; exact Hessian spectrum and PyHessian's estimates "
                       "at x",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "pyhessian_version": importlib.metadata.version("pyhessian"),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dtype": "float64",
        "shape": {"d": D, "h": HIDDEN, "o": OUT, "n": SAMPLES},
        "dim": N,
        "data": {"seed": SEED, "noise": NOISE,
                 "draws": "numpy RandomState(seed): X, teacher (like x), noise, x"},
        "X": [float(t) for t in X.reshape(-1)],
        "Y": [float(t) for t in Y.reshape(-1)],
        "x": [float(t) for t in x],
        "loss": loss,
        "exact": {
            "method": "torch.autograd.functional.hessian, torch.linalg.eigvalsh",
            "eigenvalues": [float(t) for t in evals],
            "trace": trace_exact,
            "negative_count": negative,
        },
        "pyhessian": {
            "top_eigenvalues": {
                "call": f"eigenvalues(maxIter={EIG_MAX_ITER}, tol={EIG_TOL!r}, "
                        f"top_n={EIG_TOP_N})",
                "max_iter": EIG_MAX_ITER, "tol": EIG_TOL, "top_n": EIG_TOP_N,
                "torch_seed": EIG_SEED,
                "note": "power iteration with deflation: largest |lambda| first",
                "values": [float(t) for t in top],
                "exact_by_magnitude": [float(t) for t in by_magnitude[:EIG_TOP_N]],
                "relative_errors": top_rel_errors,
            },
            "trace": {
                "call": f"trace(maxIter={TRACE_MAX_ITER}, tol={TRACE_TOL!r})",
                "max_iter": TRACE_MAX_ITER, "tol": TRACE_TOL, "torch_seed": TRACE_SEED,
                "samples": [float(s) for s in trace_samples],
                "mean": trace_mean,
                "standard_error": trace_sem,
                "probes": [[int(t) for t in z] for z in trace_probes],
            },
            "density": {
                "call": f"density(iter={DENSITY_ITER}, n_v={DENSITY_PROBES})",
                "iter": DENSITY_ITER, "n_v": DENSITY_PROBES, "torch_seed": DENSITY_SEED,
                "note": "per probe: start (Rademacher, flat-x order); PyHessian's Lanczos "
                        "nodes (ascending) and weights (squared first components, summing to "
                        "1) for start/||start||; gauss_nodes, gauss_weights: the exact Gauss "
                        "rule of the same start (numpy Lanczos on the dense Hessian, full "
                        "reorthogonalisation), which PyHessian's normalisation (||v|| + 1e-6) "
                        "perturbs at ~1e-6",
                "probes": [{"start": [int(t) for t in z], "nodes": th, "weights": w,
                            "gauss_nodes": [float(t) for t in g_th],
                            "gauss_weights": [float(t) for t in g_w]}
                           for z, th, w, (g_th, g_w) in zip(density_probes, nodes, weights,
                                                            gauss)],
                "negative_count_estimate": negative_slq,
                "negative_count_estimate_gauss": negative_gauss,
            },
        },
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    # json writes floats with repr (shortest round-trip form): full precision.
    with open(out_path, "w") as fh:
        json.dump(doc, fh, indent=1, allow_nan=False)
        fh.write("\n")
    print(f"wrote {os.path.relpath(out_path, root)} ({os.path.getsize(out_path)} bytes) in "
          f"{time.perf_counter() - start_time:.1f} s")


if __name__ == "__main__":
    main()
