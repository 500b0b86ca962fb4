#!/usr/bin/env python3
"""gaussian-field ensembles: saddlescope beside PyTorch (and JAX when installed).

The same model and optimizer at the same sizes: B trajectories of
f(x) = mu/2 |x|^2 + sqrt(2/M) sum_j a_j cos(w_j . x + b_j) in N dimensions,
Adam (lr 1e-3), timed per step. PyTorch: one [B, N] parameter whose loss is
the sum of the B independent losses (the batched equivalent of vmap),
torch.optim.Adam (fused on CUDA, foreach on the CPU). JAX: jit(vmap(grad)) +
optax.adam. saddlescope: bench_fused_step --objective gaussian-field. The
random features differ between the programs (same distribution, same
shapes), so the work per step is the same but the trajectories are not
compared value by value. Prints trajectory-steps/s and ratios; writes
bench/results/field-<backend>-<device>.json.

  python3 bench/peers_field.py [--backend cpu|cuda] [--trajectories B] [--dim N] [--features M]
"""
import argparse, json, os, re, subprocess, time

import numpy as np


def torch_steps_per_s(b, n, m, device, steps, dtype):
    import torch
    g = torch.Generator(device="cpu").manual_seed(0)
    w = torch.randn(m, n, generator=g, dtype=dtype).to(device)
    a = torch.randn(m, generator=g, dtype=dtype).to(device)
    ph = (2 * np.pi * torch.rand(m, generator=g, dtype=dtype)).to(device)
    x = torch.randn(b, n, generator=g, dtype=dtype).to(device).requires_grad_(True)
    mu, c = 0.1, (2.0 / m) ** 0.5
    opt = torch.optim.Adam([x], lr=1e-3, **({"fused": True} if device == "cuda" else {"foreach": True}))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = (0.5 * mu * (x * x).sum()) + c * (a * torch.cos(x @ w.T + ph)).sum()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return b * steps / (time.perf_counter() - t0), torch.__version__


def jax_steps_per_s(b, n, m, steps):
    import jax, jax.numpy as jnp, optax
    key = jax.random.PRNGKey(0)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    w = jax.random.normal(k1, (m, n))
    a = jax.random.normal(k2, (m,))
    ph = 2 * jnp.pi * jax.random.uniform(k3, (m,))
    x = jax.random.normal(k4, (b, n))
    mu, c = 0.1, (2.0 / m) ** 0.5
    f = lambda xi: 0.5 * mu * jnp.dot(xi, xi) + c * jnp.sum(a * jnp.cos(w @ xi + ph))
    opt = optax.adam(1e-3)
    state = opt.init(x)

    @jax.jit
    def step(x, state):
        g = jax.vmap(jax.grad(f))(x)
        upd, state = opt.update(g, state)
        return optax.apply_updates(x, upd), state

    for _ in range(3):
        x, state = step(x, state)
    x.block_until_ready()
    t0 = time.perf_counter()
    for _ in range(steps):
        x, state = step(x, state)
    x.block_until_ready()
    return b * steps / (time.perf_counter() - t0), jax.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--trajectories", type=int, default=None)
    ap.add_argument("--dim", type=int, default=20000)
    ap.add_argument("--features", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--binary", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    gpu = args.backend == "cuda"
    b = args.trajectories or (4096 if gpu else 64)
    steps = args.steps or (50 if gpu else 5)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = args.binary or os.path.join(root, "build", "default" if gpu else "cpu", "bench", "bench_fused_step")
    tmp = os.path.join(root, "bench", "results", ".field.tmp.json")
    subprocess.run([binary, "--backend", args.backend, "--objective", "gaussian-field", "--dim", str(args.dim),
                    "--features", str(args.features), "--trajectories", str(b), "--steps", str(steps),
                    "--out", tmp], check=True, capture_output=True)
    ours = json.load(open(tmp))
    os.remove(tmp)
    adam = [r for r in ours["results"] if r["optimizer"] == "adam"][0]
    row = {"trajectories": b, "dim": args.dim, "features": args.features, "device": ours["device"],
           "saddlescope_adam_traj_steps_per_s": adam["trajectory_steps_per_second"]}
    try:
        import torch
        tps, tv = torch_steps_per_s(b, args.dim, args.features, "cuda" if gpu else "cpu", steps, torch.float32)
        row.update({"torch_version": tv, "torch_traj_steps_per_s": tps,
                    "speedup_vs_torch": row["saddlescope_adam_traj_steps_per_s"] / tps})
    except ImportError:
        pass
    try:
        jps, jv = jax_steps_per_s(b, args.dim, args.features, steps)
        row.update({"jax_version": jv, "jax_traj_steps_per_s": jps,
                    "speedup_vs_jax": row["saddlescope_adam_traj_steps_per_s"] / jps})
    except ImportError:
        pass
    print(json.dumps(row, indent=2))
    tag = re.sub(r"[^A-Za-z0-9]+", "-", ours["device"]).strip("-").lower()[:40]
    path = args.out or os.path.join(root, "bench", "results", f"field-{args.backend}-{tag}.json")
    with open(path, "w") as fh:
        json.dump({"benchmark": "gaussian-field ensemble, adam", "date": time.strftime("%Y-%m-%d"),
                   "results": [row]}, fh, indent=2)
    print("wrote", path)


if __name__ == "__main__":
    main()
