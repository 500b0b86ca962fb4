"""1-D and 2-D objectives evaluated on a grid for the landscape figures.

The separable kinds, rosenbrock and the unrotated quadratics have closed
forms (docs/experiment.md). A rotated quadratic and the goe-quadratic draw
their matrix from the seed with Philox, which the report does not repeat:
since f = 1/2 x^T A x, A is recovered exactly by least squares from the
recorded (x_t, f(x_t)) pairs of paths.npy and curves.npy, and checked
against them. Other kinds have no surface: the figures draw the recorded
points only.
"""

import math

import numpy as np


class Landscape:
    """f, gradient and Hessian of a 1-D or 2-D objective, vectorized over points [..., d]."""

    def __init__(self, dim, f, grad, hess, formula, source="closed form"):
        self.dim, self.f, self.grad, self.hess = dim, f, grad, hess
        self.formula, self.source = formula, source


def _separable(dim, term, d1, d2, formula):
    def f(x):
        return term(x).sum(axis=-1)

    def grad(x):
        return d1(x)

    def hess(x):
        h = d2(x)
        out = np.zeros(x.shape + (dim,))
        for i in range(dim):
            out[..., i, i] = h[..., i]
        return out

    return Landscape(dim, f, grad, hess, formula)


def _quadratic(A, formula, source="closed form"):
    A = np.asarray(A, dtype=np.float64)
    d = A.shape[0]

    def f(x):
        return 0.5 * np.einsum("...i,ij,...j->...", x, A, x)

    def grad(x):
        return x @ A.T

    def hess(x):
        return np.broadcast_to(A, x.shape[:-1] + (d, d))

    return Landscape(d, f, grad, hess, formula, source)


def _fit_quadratic(run):
    """A of f = 1/2 x^T A x from the recorded positions and losses (None when unsure)."""
    if run.paths is None or run.curves is None or run.paths.shape[1] == 0:
        return None
    d = run.dim
    x = np.asarray(run.paths, dtype=np.float64).reshape(-1, d)
    fx = np.asarray(run.curves[..., 0], dtype=np.float64).reshape(-1)
    ok = np.all(np.isfinite(x), axis=1) & np.isfinite(fx)
    x, fx = x[ok], fx[ok]
    # Keep moderate points: huge ones (escaping to divergence) dominate the fit.
    if x.shape[0] > 20000:
        idx = np.linspace(0, x.shape[0] - 1, 20000).round().astype(int)
        x, fx = x[idx], fx[idx]
    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    if x.shape[0] < 3 * len(pairs):
        return None
    cols = [0.5 * x[:, i] * x[:, j] * (1 if i == j else 2) for i, j in pairs]
    M = np.stack(cols, axis=1)
    scale = np.maximum(np.abs(fx), 1e-300)
    w = 1.0 / scale  # relative residuals: every point counts alike
    coef, *_ = np.linalg.lstsq(M * w[:, None], fx * w, rcond=None)
    A = np.zeros((d, d))
    for c, (i, j) in zip(coef, pairs):
        A[i, j] = A[j, i] = c
    rel = np.abs(M @ coef - fx) / np.maximum(np.abs(fx), 1e-12 * np.max(np.abs(fx)))
    if not np.all(np.isfinite(rel)) or np.median(rel) > 1e-3:
        return None
    return A


def landscape_for(run):
    """The Landscape of a 1-D or 2-D run, or None (with a reason) when it has no surface."""
    d, kind, oc = run.dim, run.kind, run.objective_config
    if d > 2:
        return None, f"N = {d}: landscapes are drawn for N = 1 and 2"
    if kind == "double-well":
        return _separable(d, lambda x: x**4 - 4 * x**2 + x, lambda x: 4 * x**3 - 8 * x + 1,
                          lambda x: 12 * x**2 - 8, "f = Σ x⁴ − 4x² + x"), ""
    if kind == "styblinski-tang":
        return _separable(d, lambda x: 0.5 * (x**4 - 16 * x**2 + 5 * x),
                          lambda x: 2 * x**3 - 16 * x + 2.5, lambda x: 6 * x**2 - 16,
                          "f = ½ Σ x⁴ − 16x² + 5x"), ""
    if kind == "rastrigin":
        a = float(oc.get("a", 10.0))
        return _separable(d, lambda x: a + x**2 - a * np.cos(2 * np.pi * x),
                          lambda x: 2 * x + 2 * np.pi * a * np.sin(2 * np.pi * x),
                          lambda x: 2 + 4 * np.pi**2 * a * np.cos(2 * np.pi * x),
                          f"f = Σ {a:g} + x² − {a:g} cos 2πx"), ""
    if kind == "rosenbrock" and d == 2:
        def f(x):
            return 100 * (x[..., 1] - x[..., 0]**2)**2 + (1 - x[..., 0])**2

        def grad(x):
            u = x[..., 1] - x[..., 0]**2
            return np.stack([-400 * x[..., 0] * u - 2 * (1 - x[..., 0]), 200 * u], axis=-1)

        def hess(x):
            h = np.zeros(x.shape + (2,))
            h[..., 0, 0] = 1200 * x[..., 0]**2 - 400 * x[..., 1] + 2
            h[..., 0, 1] = h[..., 1, 0] = -400 * x[..., 0]
            h[..., 1, 1] = 200
            return h

        return Landscape(2, f, grad, hess, "f = 100 (y − x²)² + (1 − x)²"), ""
    if kind in ("quadratic", "saddle-2d", "bowl-2d", "goe-quadratic"):
        rotated = bool(oc.get("rotate", False)) or kind == "goe-quadratic"
        if not rotated:
            if kind == "saddle-2d":
                lam = [2.0, -2.0]
            elif kind == "bowl-2d":
                lam = [2.0, 2.0]
            elif "eigenvalues" in oc:
                lam = [float(v) for v in oc["eigenvalues"]]
            else:
                k, c = int(oc.get("negative", 0)), float(oc.get("curvature", 1.0))
                lam = [-c] * k + [c] * (d - k)
            if len(lam) != d:
                return None, "config.toml's eigenvalues do not match objective.dim"
            names = ["x", "y"] if d == 2 else ["x"]
            if d == 2:
                names = ["x₁", "x₂"]
            terms = []
            for i, v in enumerate(lam):
                c = v / 2
                mag = "" if abs(c) == 1 else f"{abs(c):g}·"
                sign = "−" if c < 0 else "+"
                terms.append((sign, f"{mag}{names[i]}²"))
            text = ("−" if terms[0][0] == "−" else "") + terms[0][1]
            for sign, t in terms[1:]:
                text += f" {sign} {t}"
            return _quadratic(np.diag(lam), "f = " + text), ""
        A = _fit_quadratic(run)
        if A is None:
            return None, ("the matrix of this quadratic is drawn from the seed; too few "
                          "recorded points to recover it")
        return _quadratic(A, "f = ½ xᵀAx", "A recovered from the recorded (x, f) pairs"), ""
    return None, f"{kind}: no closed form in the report; only the recorded points are drawn"


def critical_points(land, lo, hi):
    """Critical points in the box [lo, hi] (arrays of length d) with their class.

    1-D: sign changes of f' on a fine grid, refined by bisection. 2-D: Newton
    from a grid of starts. Returns (points [k, d], classes list).
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    if land.dim == 1:
        xs = np.linspace(lo[0], hi[0], 4001)
        g = land.grad(xs[:, None])[:, 0]
        roots = list(xs[g == 0])
        idx = np.nonzero(np.sign(g[:-1]) * np.sign(g[1:]) < 0)[0]
        for i in idx:
            a, b = xs[i], xs[i + 1]
            ga = g[i]
            for _ in range(80):
                m = 0.5 * (a + b)
                gm = land.grad(np.array([[m]]))[0, 0]
                if np.sign(gm) == np.sign(ga):
                    a, ga = m, gm
                else:
                    b = m
            roots.append(0.5 * (a + b))
        pts = np.array(sorted(roots)).reshape(-1, 1)
    else:
        n = 21
        gx = np.linspace(lo[0], hi[0], n)
        gy = np.linspace(lo[1], hi[1], n)
        X = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
        for _ in range(60):
            H = land.hess(X)
            g = land.grad(X)
            det = H[:, 0, 0] * H[:, 1, 1] - H[:, 0, 1] * H[:, 1, 0]
            ok = np.abs(det) > 1e-14
            step = np.zeros_like(X)
            step[ok, 0] = (H[ok, 1, 1] * g[ok, 0] - H[ok, 0, 1] * g[ok, 1]) / det[ok]
            step[ok, 1] = (-H[ok, 1, 0] * g[ok, 0] + H[ok, 0, 0] * g[ok, 1]) / det[ok]
            X = X - step
            X[~np.all(np.isfinite(X), axis=1)] = np.nan
        span = float(np.max(hi - lo))
        gn = np.linalg.norm(land.grad(X), axis=1)
        gscale = max(1.0, float(np.nanmax(np.abs(land.f(X))))) if np.any(np.isfinite(gn)) else 1
        inside = np.all((X >= lo - 1e-9 * span) & (X <= hi + 1e-9 * span), axis=1)
        good = np.isfinite(gn) & (gn <= 1e-7 * gscale) & inside
        pts = []
        for x in X[good]:
            if all(np.linalg.norm(x - p) > 1e-6 * span for p in pts):
                pts.append(x)
        pts = np.array(sorted(pts, key=lambda p: (p[0], p[1]))).reshape(-1, 2)
    classes = []
    for x in pts:
        ev = np.linalg.eigvalsh(np.asarray(land.hess(x[None, :])[0], dtype=float))
        tol = 1e-9 * max(1.0, float(np.max(np.abs(ev))))
        neg, zero = int(np.sum(ev < -tol)), int(np.sum(np.abs(ev) <= tol))
        if zero:
            classes.append("degenerate")
        elif neg == 0:
            classes.append("minimum")
        elif neg == len(ev):
            classes.append("maximum")
        else:
            classes.append("saddle")
    return pts, classes


def semicircle(lam, centre, radius):
    """Wigner semicircle density with the given centre and radius."""
    u = (np.asarray(lam, float) - centre) / radius
    out = np.zeros_like(u)
    inside = np.abs(u) < 1
    out[inside] = 2.0 / (math.pi * radius) * np.sqrt(1 - u[inside] ** 2)
    return out
