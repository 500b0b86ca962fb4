#!/usr/bin/env python3
"""PyTorch reference trajectories for the optimizer rules in kernels/optimizers.hpp.

Regenerate (needs torch and numpy; the C++ test itself does not need torch):

    python3 tools/torch_reference.py

from the repository root. It writes tests/data/optimizer_reference.json, which
tests/test_optimizers_torch.cpp replays on the CPU backend step for step.

Every case runs one torch.optim optimizer (single-tensor path: foreach=False,
everything else at torch's defaults unless listed) for STEPS steps on one
objective, from a fixed start, in float64 and in float32. Step k is the plain
torch loop: zero_grad, f(x) from the objective's formula, backward, step. The
trajectory x_0 .. x_STEPS (x_k = parameters after k steps) is stored for each
dtype; float32 values are stored as the exact doubles they convert to.

Objectives (formulas as in kernels/objectives.hpp):
  styblinski_tang, dim 8: f = 1/2 sum x^4 - 16 x^2 + 5 x,
      start = numpy RandomState(0).normal(size=8) * 2
  rosenbrock, dim 6: f = sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2,
      start = numpy RandomState(1).uniform(-1.5, 1.5, size=6)

Hyperparameters are stored under the field names of OptimizerParams (all
twelve fields for every case; fields the optimizer does not read keep their
OptimizerParams defaults). AdamW, NAdam and RAdam run at torch's defaults
(AdamW's weight_decay 1e-2, decoupled; NAdam's momentum_decay 4e-3; NAdam's
and RAdam's weight decay coupled, added to the gradient) and with changed
hyperparameters. Learning rates are per objective: rosenbrock's
curvature (up to ~3000 at |x| ~ 1.5) needs smaller rates for the SGD family
than styblinski-tang's. The script checks that every trajectory moves and
stays bounded, and reports how far float32 drifts from float64 (a measure of
how strongly each trajectory amplifies rounding differences).
"""

import datetime
import json
import math
import os
import sys

import numpy as np
import torch

STEPS = 60

# OptimizerParams defaults (kernels/optimizers.hpp).
PARAM_DEFAULTS = {
    "lr": 1e-3,
    "weight_decay": 0.0,
    "momentum": 0.0,
    "dampening": 0.0,
    "nesterov": False,
    "alpha": 0.99,
    "eps": 1e-8,
    "beta1": 0.9,
    "beta2": 0.999,
    "lr_decay": 0.0,
    "initial_accumulator_value": 0.0,
    "momentum_decay": 4e-3,
}


def objective_specs():
    return {
        "styblinski_tang": {"dim": 8, "start": np.random.RandomState(0).normal(size=8) * 2.0},
        "rosenbrock": {"dim": 6, "start": np.random.RandomState(1).uniform(-1.5, 1.5, size=6)},
    }


def objective_value(kind, x):
    if kind == "styblinski_tang":
        return 0.5 * (x**4 - 16.0 * x**2 + 5.0 * x).sum()
    if kind == "rosenbrock":
        a, b = x[:-1], x[1:]
        return (100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2).sum()
    raise ValueError(kind)


# Cases: name, OptimizerParams kind, torch class, torch kwargs (besides lr),
# lr per objective. The OptimizerParams fields are derived from the kwargs.
CASES = [
    ("sgd", "gd", "SGD", {}, {"styblinski_tang": 0.01, "rosenbrock": 2e-4}),
    ("sgd_momentum", "momentum", "SGD", {"momentum": 0.9},
     {"styblinski_tang": 0.01, "rosenbrock": 1e-4}),
    ("sgd_momentum_dampening_wd", "momentum", "SGD",
     {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
     {"styblinski_tang": 0.01, "rosenbrock": 2e-4}),
    ("sgd_nesterov", "momentum", "SGD", {"momentum": 0.9, "nesterov": True},
     {"styblinski_tang": 0.005, "rosenbrock": 1e-4}),
    ("adagrad", "adagrad", "Adagrad",
     {"lr_decay": 0.01, "initial_accumulator_value": 0.1},
     {"styblinski_tang": 0.1, "rosenbrock": 0.1}),
    ("rmsprop", "rmsprop", "RMSprop", {"alpha": 0.99},
     {"styblinski_tang": 0.01, "rosenbrock": 0.01}),
    ("rmsprop_momentum_wd", "rmsprop", "RMSprop", {"momentum": 0.5, "weight_decay": 0.01},
     {"styblinski_tang": 0.005, "rosenbrock": 0.005}),
    ("adam", "adam", "Adam", {}, {"styblinski_tang": 0.05, "rosenbrock": 0.05}),
    ("adam_betas_eps_wd", "adam", "Adam",
     {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.01},
     {"styblinski_tang": 0.02, "rosenbrock": 0.02}),
    ("adamw", "adamw", "AdamW", {}, {"styblinski_tang": 0.05, "rosenbrock": 0.05}),
    ("adamw_betas_eps_wd", "adamw", "AdamW",
     {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
     {"styblinski_tang": 0.02, "rosenbrock": 0.02}),
    ("nadam", "nadam", "NAdam", {}, {"styblinski_tang": 0.05, "rosenbrock": 0.05}),
    ("nadam_momentum_decay_wd", "nadam", "NAdam",
     {"betas": (0.8, 0.99), "momentum_decay": 0.01, "weight_decay": 0.01},
     {"styblinski_tang": 0.02, "rosenbrock": 0.02}),
    # RAdam's first steps (rho_k <= 5) are plain momentum steps lr m: on
    # rosenbrock's gradients (~3000 at the start) they need SGD's small rate.
    ("radam", "radam", "RAdam", {}, {"styblinski_tang": 0.05, "rosenbrock": 2e-4}),
    ("radam_betas_eps_wd", "radam", "RAdam",
     {"betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.01},
     {"styblinski_tang": 0.02, "rosenbrock": 2e-4}),
]


def torch_defaults(cls_name):
    """torch.optim's own defaults for the keyword arguments we map."""
    import inspect

    sig = inspect.signature(getattr(torch.optim, cls_name).__init__)
    return {k: v.default for k, v in sig.parameters.items()
            if v.default is not inspect.Parameter.empty}


def optimizer_params(kind, cls_name, lr, kwargs):
    """All OptimizerParams fields of the case (torch's defaults for what it reads)."""
    p = dict(PARAM_DEFAULTS)
    d = torch_defaults(cls_name)
    d.update(kwargs)
    p["lr"] = lr
    p["weight_decay"] = float(d["weight_decay"])
    if cls_name == "SGD":
        p["momentum"] = float(d["momentum"])
        p["dampening"] = float(d["dampening"])
        p["nesterov"] = bool(d["nesterov"])
        assert (kind == "gd") == (p["momentum"] == 0.0)
    elif cls_name == "Adagrad":
        p["eps"] = float(d["eps"])
        p["lr_decay"] = float(d["lr_decay"])
        p["initial_accumulator_value"] = float(d["initial_accumulator_value"])
    elif cls_name == "RMSprop":
        p["alpha"] = float(d["alpha"])
        p["eps"] = float(d["eps"])
        p["momentum"] = float(d["momentum"])
        assert not d["centered"]
    elif cls_name == "Adam":
        p["beta1"] = float(d["betas"][0])
        p["beta2"] = float(d["betas"][1])
        p["eps"] = float(d["eps"])
        assert not d["amsgrad"] and not d["decoupled_weight_decay"]
    elif cls_name == "AdamW":
        p["beta1"] = float(d["betas"][0])
        p["beta2"] = float(d["betas"][1])
        p["eps"] = float(d["eps"])
        assert not d["amsgrad"]
    elif cls_name == "NAdam":
        p["beta1"] = float(d["betas"][0])
        p["beta2"] = float(d["betas"][1])
        p["eps"] = float(d["eps"])
        p["momentum_decay"] = float(d["momentum_decay"])
        assert not d.get("decoupled_weight_decay", False)
    elif cls_name == "RAdam":
        p["beta1"] = float(d["betas"][0])
        p["beta2"] = float(d["betas"][1])
        p["eps"] = float(d["eps"])
        assert not d.get("decoupled_weight_decay", False)
    return p


def run_torch(objective, start, cls_name, lr, kwargs, dtype):
    x = torch.tensor(start, dtype=dtype, requires_grad=True)
    opt = getattr(torch.optim, cls_name)([x], lr=lr, foreach=False, **kwargs)
    traj = [x.detach().clone()]
    for _ in range(STEPS):
        opt.zero_grad()
        f = objective_value(objective, x)
        f.backward()
        opt.step()
        traj.append(x.detach().clone())
    return torch.stack(traj).to(torch.float64).numpy()


def torch_call(cls_name, lr, kwargs):
    args = [f"lr={lr!r}"] + [f"{k}={v!r}" for k, v in kwargs.items()] + ["foreach=False"]
    return f"torch.optim.{cls_name}({', '.join(args)})"


def main():
    torch.set_num_threads(1)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = os.path.join(root, "tests", "data", "optimizer_reference.json")
    objectives = objective_specs()
    cases = []
    print(f"{'case':44s} {'dtype':8s} {'|x60-x0|':>10s} {'max|x|':>8s} {'f0':>12s} {'f60':>12s} "
          f"{'f32-f64':>9s}")
    for objective, spec in objectives.items():
        start = [float(v) for v in spec["start"]]
        f0 = float(objective_value(objective, torch.tensor(start, dtype=torch.float64)))
        for name, kind, cls_name, kwargs, lrs in CASES:
            lr = lrs[objective]
            params = optimizer_params(kind, cls_name, lr, kwargs)
            trajs = {}
            for dtype_name, dtype in (("float64", torch.float64), ("float32", torch.float32)):
                trajs[dtype_name] = run_torch(objective, start, cls_name, lr, kwargs, dtype)
            drift = float(np.max(np.abs(trajs["float32"] - trajs["float64"]) /
                                 np.maximum(1.0, np.abs(trajs["float64"]))))
            for dtype_name, traj in trajs.items():
                moved = float(np.linalg.norm(traj[-1] - traj[0]))
                xmax = float(np.max(np.abs(traj)))
                f60 = float(objective_value(objective, torch.tensor(traj[-1])))
                label = f"{objective}/{name}"
                print(f"{label:44s} {dtype_name:8s} {moved:10.4f} {xmax:8.3f} {f0:12.5g} "
                      f"{f60:12.5g} {drift:9.2e}")
                # Non-trivial and not diverging.
                if not (np.all(np.isfinite(traj)) and xmax < 10.0 and moved > 0.1 and f60 < f0):
                    sys.exit(f"case {label} {dtype_name}: trajectory is trivial or diverges")
                cases.append({
                    "name": f"{objective}/{name}/{dtype_name}",
                    "objective": {"kind": objective, "dim": spec["dim"]},
                    "start": start,
                    "optimizer": {"kind": kind, **params},
                    "torch": torch_call(cls_name, lr, kwargs),
                    "dtype": dtype_name,
                    "steps": STEPS,
                    "x": [[float(v) for v in row] for row in traj],
                })
    doc = {
        "generator": "tools/torch_reference.py",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "description": "x[k] = parameters after k torch.optim steps (zero_grad, f from the "
                       "objective formula, backward, step), k = 0..steps; foreach=False",
        "steps": STEPS,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    # json writes floats with repr (shortest round-trip form): full precision.
    with open(out_path, "w") as fh:
        json.dump(doc, fh, indent=1, allow_nan=False)
        fh.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.relpath(out_path, root)}")


if __name__ == "__main__":
    main()
