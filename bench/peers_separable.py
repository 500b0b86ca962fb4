#!/usr/bin/env python3
"""Separable ensembles: saddlescope beside PyTorch (and JAX when installed).

B trajectories of Adam (lr 1e-3) and gd (lr 1e-3) on styblinski-tang,
f(x) = 1/2 sum_i (x_i^4 - 16 x_i^2 + 5 x_i), from the SAME starts (uniform on
[-4, 4], float32, written to a .npy that saddlescope reads with init.kind =
"file"). Equal work is checked before times are compared: after the timed
steps every program's final points must agree with saddlescope's (f32,
relative 1e-4 of max |x|), since all follow torch.optim's update rules.

saddlescope runs through its command line (`saddlescope run`: the final
points from the run directory, and the run's own rate, setup included, as
saddlescope_run_traj_steps_per_s), and bench_fused_step times the same
ensembles by the median step, the statistic the peers are timed by: the
ratios use it.
Every program keeps each trajectory's loss at every step, as a run does (it
judges divergence and plateaus on it every step). PyTorch: one [B, N]
tensor, the gradient by autograd of the summed loss, torch.optim.Adam / SGD
(fused on CUDA, foreach on the CPU). JAX: jit(vmap(value_and_grad)) + optax
with the buffers donated (updated in place); "jax_gradient_only" is the same
without the loss (less work than a run: shown, not an equal-work ratio). Prints trajectory-steps/s and ratios; writes
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

from peers_gemm import settle, timed_steps_per_s  # the same timing as the GEMM peers

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


def saddlescope_steps(fused, backend, b, n, steps):
    """The median step time of the same ensembles (bench_fused_step: the
    same statistic as the peers' timed_steps_per_s); the run's own rate above
    also counts its setup (allocating and filling the arrays, reading the
    starts, copying the final points: about 0.3 s at 1,024 x 20,000)."""
    settle()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "f.json")
        subprocess.run([fused, "--backend", backend, "--trajectories", str(b), "--dim", str(n),
                        "--steps", str(max(steps - 1, 1)), "--optimizers", "gd,adam", "--lr", "1e-3",
                        "--out", out], check=True, capture_output=True)
        return {r["optimizer"]: r["trajectory_steps_per_second"] for r in json.load(open(out))["results"]}


def torch_run(x0, steps, device, kind):
    import torch
    x = torch.tensor(x0, device=device).requires_grad_(True)
    extra = {"fused": True} if device == "cuda" else {"foreach": True}
    opt = (torch.optim.Adam([x], lr=1e-3, **extra) if kind == "adam"
           else torch.optim.SGD([x], lr=1e-3, **extra))

    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        loss = 0.5 * (x ** 4 - 16 * x ** 2 + 5 * x).sum(dim=1)  # every trajectory's loss
        loss.sum().backward()
        losses.append(loss.detach())
        opt.step()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    # The timed run must end where saddlescope's does: warm-up steps count.
    warm = 2
    rate = x0.shape[0] * timed_steps_per_s(step, sync, steps - warm, warmup=warm)
    return rate, x.detach().cpu().numpy(), torch.__version__


def jax_run(x0, steps, kind, with_loss=True):
    """JAX: jit(vmap(value_and_grad)) + optax, the points and the optimizer
    state donated to each step (updated in place). with_loss keeps every
    trajectory's loss at every step, as a run does (it judges divergence and
    plateaus on it at every step): the equal-work variant. Without it, the
    gradient only: less work than a run, timed for comparison."""
    import jax
    import jax.numpy as jnp
    import optax
    f = lambda xi: 0.5 * jnp.sum(xi ** 4 - 16 * xi ** 2 + 5 * xi)
    opt = optax.adam(1e-3) if kind == "adam" else optax.sgd(1e-3)
    x = jnp.asarray(x0)
    state = opt.init(x)

    def step(x, state):
        if with_loss:
            loss, g = jax.vmap(jax.value_and_grad(f))(x)
        else:
            loss, g = None, jax.vmap(jax.grad(f))(x)
        upd, state = opt.update(g, state)
        return optax.apply_updates(x, upd), state, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    box = [x, state]
    losses = []

    def run():
        box[0], box[1], loss = step(box[0], box[1])
        losses.append(loss)  # kept, as a run keeps its records

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
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds (ours, torch, jax)")
    ap.add_argument("--binary", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    gpu = a.backend == "cuda"
    b = a.trajectories or (4096 if gpu else 256)
    steps = a.steps or (200 if gpu else 100)
    binary = a.binary or os.path.join(ROOT, "build", "default" if gpu else "cpu", "saddlescope")
    fused = os.path.join(os.path.dirname(binary), "bench", "bench_fused_step")
    x0 = np.random.default_rng(0).uniform(-4, 4, size=(b, a.dim)).astype(np.float32)
    dev = "cuda" if gpu else "cpu"
    peers = (("torch", lambda k: torch_run(x0, steps, dev, k)),
             ("jax", lambda k: jax_run(x0, steps, k)),
             ("jax_gradient_only", lambda k: jax_run(x0, steps, k, with_loss=False)))
    rows = {k: {"optimizer": k, "trajectories": b, "dim": a.dim, "steps": steps, "rounds": []}
            for k in ("adam", "gd")}
    for _ in range(a.repeats):  # interleaved rounds: ours, then each peer
        with tempfile.TemporaryDirectory() as tmp:
            run_rate, finals, device = saddlescope(binary, a.backend, x0, steps, tmp)
        ours = saddlescope_steps(fused, a.backend, b, a.dim, steps)
        for kind, row in rows.items():
            rnd = {"saddlescope": ours[kind], "saddlescope_run": run_rate[kind]}
            scale = float(np.max(np.abs(finals[kind])))
            for peer, fn in peers:
                try:
                    rate, xf, version = fn(kind)
                except ImportError:
                    row[f"{peer}_version"] = None
                    continue
                row[f"{peer}_version"] = version
                rnd[peer] = rate
                rnd[peer + "_max_rel_diff"] = float(np.max(np.abs(xf - finals[kind]))) / scale
            row["rounds"].append(rnd)
    for kind, row in rows.items():
        rr = row["rounds"]
        row["saddlescope_traj_steps_per_s"] = float(np.median([r["saddlescope"] for r in rr]))
        row["saddlescope_run_traj_steps_per_s"] = float(np.median([r["saddlescope_run"] for r in rr]))
        for peer, _ in peers:
            if not row.get(peer + "_version"):
                continue
            diff = max(r[peer + "_max_rel_diff"] for r in rr)
            ratios = [r["saddlescope"] / r[peer] for r in rr]
            row.update({f"{peer}_traj_steps_per_s": float(np.median([r[peer] for r in rr])),
                        f"{peer}_max_rel_diff": diff, f"{peer}_equal_work": diff <= 1e-4,
                        f"{peer}_speedups": ratios,
                        f"speedup_vs_{peer}": float(np.median(ratios)) if diff <= 1e-4 else None})
        row["jax_gradient_only_note"] = ("the same final points without the per-step loss: "
                                         "less work than a run, not an equal-work ratio")
        def peer_text(p):
            if not row.get(p + "_traj_steps_per_s"):
                return f"{p}: not installed"
            rate, diff = row[p + "_traj_steps_per_s"], row[p + "_max_rel_diff"]
            if row["speedup_vs_" + p] is None:  # unequal work: no ratio
                return f"{p}: {rate:.3g}/s (work differs: final points diff {diff:.1e} > 1e-4)"
            r = row[p + "_speedups"]
            return f"{p}: {rate:.3g}/s (x{row['speedup_vs_' + p]:.2f}, x{min(r):.2f}-{max(r):.2f})"
        text = "  ".join(peer_text(p) for p, _ in peers)
        print(f"{kind:5s} saddlescope {row['saddlescope_traj_steps_per_s']:.3g} traj-steps/s  {text}")
    rows = list(rows.values())
    tag = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()[:40]
    path = a.out or os.path.join(ROOT, "bench", "results", f"separable-{a.backend}-{tag}.json")
    with open(path, "w") as fh:
        json.dump({"benchmark": "separable ensemble (styblinski-tang), adam and gd, same starts",
                   "date": time.strftime("%Y-%m-%d"), "device": device,
                   "statistic": "median of the interleaved rounds; step rates of the timed steps", "results": rows}, fh,
                  indent=2)
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
