#!/usr/bin/env python3
"""Separable ensembles: saddlescope beside PyTorch (and JAX when installed).

B trajectories of Adam (lr 1e-3) and gd (lr 1e-3) on styblinski-tang,
f(x) = 1/2 sum_i (x_i^4 - 16 x_i^2 + 5 x_i), from the SAME starts (uniform on
[-4, 4], float32, written to a .npy that saddlescope reads with init.kind =
"file"). Equal work is checked before times are compared: after the timed
steps every program's final points must agree with saddlescope's (f32,
relative 1e-4 of max |x|), since all follow torch.optim's update rules.

saddlescope runs through its command line (`saddlescope run`, results from
the run directory; its trajectory-steps/s count only the optimizer loop).
PyTorch: one [B, N] tensor, the gradient by autograd of the summed loss,
torch.optim.Adam / SGD (fused on CUDA, foreach on the CPU). JAX: jit(vmap(grad))
+ optax. Prints trajectory-steps/s and ratios; writes
bench/results/separable-<backend>-<device>.json.

  python3 bench/peers_separable.py [--backend cpu|cuda] [--trajectories B] [--dim N] [--steps K]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from peers_gemm import timed_steps_per_s  # the same timing as the GEMM peers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def saddlescope(binary, backend, x0, steps, tmp):
    b, n = x0.shape
    np.save(os.path.join(tmp, "starts.npy"), x0)
    exp = os.path.join(tmp, "sep.toml")
    with open(exp, "w") as f:
        f.write(f"""name = "separable-bench"
[objective]
kind = "styblinski-tang"
dim = {n}
[init]
kind = "file"
file = "starts.npy"
[run]
trajectories = {b}
max_steps = {steps}
grad_tol = 0
precision = "f32"
record_trajectories = 0
save_final_points = true
[[optimizer]]
kind = "adam"
lr = 0.001
[[optimizer]]
kind = "gd"
lr = 0.001
""")
    out = os.path.join(tmp, "run")
    subprocess.run([binary, "run", exp, "-o", out, "--backend", backend], check=True,
                   capture_output=True)
    s = json.load(open(os.path.join(out, "summary.json")))
    finals = np.load(os.path.join(out, "finals.npy"))  # [optimizers, B, N]
    rate = {o["label"]: o["trajectory_steps_per_second"] for o in s["optimizers"]}
    return rate, {"adam": finals[0], "gd": finals[1]}, s["device"]


def torch_run(x0, steps, device, kind):
    import torch
    x = torch.tensor(x0, device=device).requires_grad_(True)
    extra = {"fused": True} if device == "cuda" else {"foreach": True}
    opt = (torch.optim.Adam([x], lr=1e-3, **extra) if kind == "adam"
           else torch.optim.SGD([x], lr=1e-3, **extra))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = 0.5 * (x ** 4 - 16 * x ** 2 + 5 * x).sum()
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    # The timed run must end where saddlescope's does: warm-up steps count.
    warm = 2
    rate = x0.shape[0] * timed_steps_per_s(step, sync, steps - warm, warmup=warm)
    return rate, x.detach().cpu().numpy(), torch.__version__


def jax_run(x0, steps, kind):
    import jax
    import jax.numpy as jnp
    import optax
    f = lambda xi: 0.5 * jnp.sum(xi ** 4 - 16 * xi ** 2 + 5 * xi)
    opt = optax.adam(1e-3) if kind == "adam" else optax.sgd(1e-3)
    x = jnp.asarray(x0)
    state = opt.init(x)

    @jax.jit
    def step(x, state):
        g = jax.vmap(jax.grad(f))(x)
        upd, state = opt.update(g, state)
        return optax.apply_updates(x, upd), state

    box = [x, state]

    def run():
        box[0], box[1] = step(box[0], box[1])

    warm = 2
    rate = x0.shape[0] * timed_steps_per_s(run, lambda: box[0].block_until_ready(), steps - warm,
                                           warmup=warm)
    return rate, np.asarray(box[0]), jax.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--trajectories", type=int, default=None)
    ap.add_argument("--dim", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--binary", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    gpu = a.backend == "cuda"
    b = a.trajectories or (4096 if gpu else 256)
    steps = a.steps or (200 if gpu else 100)
    binary = a.binary or os.path.join(ROOT, "build", "default" if gpu else "cpu", "saddlescope")
    x0 = np.random.default_rng(0).uniform(-4, 4, size=(b, a.dim)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        ours, finals, device = saddlescope(binary, a.backend, x0, steps, tmp)
    rows = []
    for kind in ("adam", "gd"):
        row = {"optimizer": kind, "trajectories": b, "dim": a.dim, "steps": steps,
               "saddlescope_traj_steps_per_s": ours[kind]}
        scale = float(np.max(np.abs(finals[kind])))
        for peer, fn in (("torch", lambda k: torch_run(x0, steps, "cuda" if gpu else "cpu", k)),
                         ("jax", lambda k: jax_run(x0, steps, k))):
            try:
                rate, xf, version = fn(kind)
            except ImportError:
                row[f"{peer}_version"] = None
                continue
            diff = float(np.max(np.abs(xf - finals[kind]))) / scale
            row.update({f"{peer}_version": version, f"{peer}_traj_steps_per_s": rate,
                        f"{peer}_max_rel_diff": diff, f"{peer}_equal_work": diff <= 1e-4,
                        f"speedup_vs_{peer}": ours[kind] / rate if diff <= 1e-4 else None})
        rows.append(row)
        def peer_text(p):
            if not row.get(p + "_traj_steps_per_s"):
                return f"{p}: not installed"
            rate, diff = row[p + "_traj_steps_per_s"], row[p + "_max_rel_diff"]
            if row["speedup_vs_" + p] is None:  # unequal work: no ratio
                return f"{p}: {rate:.3g}/s (work differs: final points diff {diff:.1e} > 1e-4)"
            return f"{p}: {rate:.3g}/s (x{row['speedup_vs_' + p]:.2f}, diff {diff:.1e})"
        peers = "  ".join(peer_text(p) for p in ("torch", "jax"))
        print(f"{kind:5s} saddlescope {ours[kind]:.3g} traj-steps/s  {peers}")
    tag = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()[:40]
    path = a.out or os.path.join(ROOT, "bench", "results", f"separable-{a.backend}-{tag}.json")
    with open(path, "w") as fh:
        json.dump({"benchmark": "separable ensemble (styblinski-tang), adam and gd, same starts",
                   "date": time.strftime("%Y-%m-%d"), "device": device, "results": rows}, fh,
                  indent=2)
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
