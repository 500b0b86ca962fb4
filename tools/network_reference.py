#!/usr/bin/env python3
"""PyTorch reference values for the network objective (issue 17): loss,
gradient, Hessian-vector product and dense Hessian of small fully connected
networks, by torch.autograd with double backward in float64.

Regenerate (needs torch and numpy; the C++ tests that read the file do not):

    build/peers-venv/bin/python tools/network_reference.py      (bench/peers_venv.sh makes it)

from the repository root. It writes tests/data/network_reference.json.

The objective (the contract the C++ network objective implements):
  layers = [d_0, d_1, ..., d_L]; parameters theta, in layer order l = 1..L:
  W_l [d_l, d_{l-1}] row-major, then b_l [d_l] when bias is on.
  a_0 = x (a sample, d_0 inputs); z_l = W_l a_{l-1} + b_l; a_l = act(z_l) for
  l < L; the output z_L is linear (the logits for cross-entropy).
  mse:           L = 1/(2n) sum_q |z_L(x_q) - y_q|^2            (y [n, d_L])
  cross-entropy: L = 1/n sum_q (logsumexp(z_L(x_q)) - z_L(x_q)[y_q])   (y [n] in 0..d_L-1)
  weight decay lambda: + lambda/2 |theta|^2 (every parameter, biases too,
  as torch.optim's weight_decay treats every parameter it is given).
  Activations: tanh, relu (second derivative taken as 0, as autograd's),
  softplus log(1 + e^z), gelu (exact, with erf), sigmoid, linear.

Cases: every activation x both losses x depths 1, 2, 3 (layers [3, 2],
[3, 4, 2], [3, 4, 3, 2]), bias on, no weight decay; plus bias off and weight
decay 0.01 on a few. n = 7 samples from a fixed generator; cross-entropy
labels include the class boundaries 0 and d_L - 1. Each case stores the
data, theta, a direction v, and L(theta), grad L, H v and H (row-major).
"""
import json
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

ACTS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "softplus": torch.nn.functional.softplus,  # log(1 + e^z), beta 1, threshold 20
    "gelu": lambda z: torch.nn.functional.gelu(z, approximate="none"),
    "sigmoid": torch.sigmoid,
    "linear": lambda z: z,
}
DEPTHS = {1: [3, 2], 2: [3, 4, 2], 3: [3, 4, 3, 2]}


def unpack(theta, layers, bias):
    ws, bs, k = [], [], 0
    for l in range(1, len(layers)):
        rows, cols = layers[l], layers[l - 1]
        ws.append(theta[k:k + rows * cols].reshape(rows, cols))
        k += rows * cols
        if bias:
            bs.append(theta[k:k + rows])
            k += rows
        else:
            bs.append(None)
    assert k == theta.numel()
    return ws, bs


def loss_fn(theta, layers, act, loss, bias, decay, x, y):
    ws, bs = unpack(theta, layers, bias)
    a = x
    for l, (w, b) in enumerate(zip(ws, bs)):
        z = a @ w.T + (b if b is not None else 0)
        a = ACTS[act](z) if l < len(ws) - 1 else z
    n = x.shape[0]
    if loss == "mse":
        value = ((a - y) ** 2).sum() / (2 * n)
    else:
        value = (torch.logsumexp(a, dim=1) - a[torch.arange(n), y]).sum() / n
    return value + 0.5 * decay * (theta ** 2).sum()


def dim_of(layers, bias):
    return sum(layers[l] * layers[l - 1] + (layers[l] if bias else 0) for l in range(1, len(layers)))


def case(seed, layers, act, loss, bias=True, decay=0.0, n=7):
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, layers[0]))
    if loss == "mse":
        y = g.normal(size=(n, layers[-1]))
    else:
        y = g.integers(0, layers[-1], size=n)
        y[0], y[1] = 0, layers[-1] - 1  # the class boundaries
    dim = dim_of(layers, bias)
    theta = 0.7 * g.normal(size=dim)
    v = g.normal(size=dim)
    tx = torch.tensor(x)
    ty = torch.tensor(y)
    tt = torch.tensor(theta, requires_grad=True)
    tv = torch.tensor(v)
    f = lambda t: loss_fn(t, layers, act, loss, bias, decay, tx, ty)
    value = f(tt)
    (grad,) = torch.autograd.grad(value, tt, create_graph=True)
    (hv,) = torch.autograd.grad(grad, tt, grad_outputs=tv, retain_graph=True)
    hess = torch.autograd.functional.hessian(f, torch.tensor(theta))
    # The reference checks itself: H v against the Hessian, H symmetric,
    # and the gradient and H v against central differences (step 1e-6).
    h = hess.numpy()
    assert np.allclose(h @ v, hv.numpy(), rtol=1e-12, atol=1e-12) and np.allclose(h, h.T, atol=1e-12)
    eps, fd = 1e-6, np.zeros(dim)
    for i in range(dim):
        e = np.zeros(dim)
        e[i] = eps
        fd[i] = (float(f(torch.tensor(theta + e))) - float(f(torch.tensor(theta - e)))) / (2 * eps)
    def grad_at(t):
        t = torch.tensor(t, requires_grad=True)
        return torch.autograd.grad(f(t), t)[0].numpy()
    fdh = (grad_at(theta + eps * v) - grad_at(theta - eps * v)) / (2 * eps)
    scale = 1 + np.abs(grad.detach().numpy()).max()
    assert np.abs(fd - grad.detach().numpy()).max() <= 1e-6 * scale, (layers, act, loss)
    assert np.abs(fdh - hv.numpy()).max() <= 1e-5 * (1 + np.abs(hv.numpy()).max()), (layers, act, loss)
    return {
        "layers": layers, "activation": act, "loss": loss, "bias": bias, "weight_decay": decay,
        "x": x.ravel().tolist(), "y": y.ravel().tolist(), "samples": n,
        "theta": theta.tolist(), "v": v.tolist(),
        "value": float(value.detach()), "grad": grad.detach().numpy().tolist(),
        "hvp": hv.numpy().tolist(), "hessian": hess.numpy().ravel().tolist(),
    }


def main():
    cases, seed = [], 100
    for act in ACTS:
        for loss in ("mse", "cross-entropy"):
            for depth, layers in DEPTHS.items():
                cases.append(case(seed, layers, act, loss))
                seed += 1
    for act, loss, bias, decay in (("tanh", "mse", False, 0.0), ("relu", "cross-entropy", False, 0.01),
                                   ("gelu", "cross-entropy", True, 0.01), ("softplus", "mse", True, 0.01)):
        cases.append(case(seed, DEPTHS[2], act, loss, bias, decay))
        seed += 1
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "data", "network_reference.json")
    with open(path, "w") as fh:
        json.dump({"generator": "tools/network_reference.py", "torch": torch.__version__,
                   "dtype": "float64", "cases": cases}, fh, separators=(",", ":"))
    print(f"wrote {path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
