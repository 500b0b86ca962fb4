#!/usr/bin/env python3
"""GEMM-objective ensembles: saddlescope beside PyTorch (and JAX when installed).

The same model and optimizer at the same sizes, Adam (lr 1e-3), timed per step:
  gaussian-field: B trajectories of f(x) = mu/2 |x|^2 + sqrt(2/M) sum_j a_j cos(w_j . x + b_j)
  mlp:            B students of the teacher-student tanh regression (default sizes:
                  100 inputs, 196 hidden, 1 output, 256 samples -> 19,993 parameters)
PyTorch: one [B, N] parameter whose loss is the sum of the B independent losses
(the batched equivalent of torch.func.vmap; batched matmuls for the mlp),
torch.optim.Adam (fused on CUDA, foreach on the CPU). JAX: jit(vmap(grad)) +
optax.adam. saddlescope: bench_fused_step --objective <kind>. The random data
differ between the programs (same distributions, same shapes), so the work per
step is the same but trajectories are not compared value by value. Prints
trajectory-steps/s and ratios; writes bench/results/<objective>-<backend>-<device>.json.

  python3 bench/peers_gemm.py [--objective gaussian-field|mlp] [--backend cpu|cuda]
                              [--trajectories B] [--dim N] [--features M]
"""
import argparse, json, os, re, subprocess, time

import numpy as np


def timed_steps_per_s(step, sync, steps, warmup=3):
    """Steps per second of step() after warm-up; sync() waits for the device."""
    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return steps / (time.perf_counter() - t0)


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

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return b * timed_steps_per_s(step, sync, steps), torch.__version__


MLP = dict(d=100, h=196, o=1, n=256)


def torch_mlp_steps_per_s(b, device, steps, dtype):
    import torch
    d, h, o, n = MLP["d"], MLP["h"], MLP["o"], MLP["n"]
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=dtype).to(device)
    y = torch.randn(n, o, generator=g, dtype=dtype).to(device)
    dim = h * d + h + o * h + o
    p = (0.1 * torch.randn(b, dim, generator=g, dtype=dtype)).to(device).requires_grad_(True)
    opt = torch.optim.Adam([p], lr=1e-3, **({"fused": True} if device == "cuda" else {"foreach": True}))

    def step():
        opt.zero_grad(set_to_none=True)
        w1 = p[:, : h * d].view(b, h, d)
        b1 = p[:, h * d : h * d + h].view(b, 1, h)
        w2 = p[:, h * d + h : h * d + h + o * h].view(b, o, h)
        b2 = p[:, h * d + h + o * h :].view(b, 1, o)
        hid = torch.tanh(torch.matmul(x, w1.transpose(1, 2)) + b1)   # [b, n, h]
        out = torch.matmul(hid, w2.transpose(1, 2)) + b2              # [b, n, o]
        loss = ((out - y) ** 2).sum() / (2 * n)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return b * timed_steps_per_s(step, sync, steps), torch.__version__


def jax_mlp_steps_per_s(b, steps):
    import jax, jax.numpy as jnp, optax
    d, h, o, n = MLP["d"], MLP["h"], MLP["o"], MLP["n"]
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(k1, (n, d))
    y = jax.random.normal(k2, (n, o))
    dim = h * d + h + o * h + o
    p = 0.1 * jax.random.normal(k3, (b, dim))

    def loss(q):
        w1 = q[: h * d].reshape(h, d)
        b1 = q[h * d : h * d + h]
        w2 = q[h * d + h : h * d + h + o * h].reshape(o, h)
        b2 = q[h * d + h + o * h :]
        out = jnp.tanh(x @ w1.T + b1) @ w2.T + b2
        return jnp.sum((out - y) ** 2) / (2 * n)

    opt = optax.adam(1e-3)
    state = opt.init(p)

    @jax.jit
    def step(p, state):
        g = jax.vmap(jax.grad(loss))(p)
        upd, state = opt.update(g, state)
        return optax.apply_updates(p, upd), state

    box = [p, state]

    def run():
        box[0], box[1] = step(box[0], box[1])

    return b * timed_steps_per_s(run, lambda: box[0].block_until_ready(), steps), jax.__version__


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

    box = [x, state]

    def run():
        box[0], box[1] = step(box[0], box[1])

    return b * timed_steps_per_s(run, lambda: box[0].block_until_ready(), steps), jax.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--objective", default="gaussian-field", choices=["gaussian-field", "mlp"])
    ap.add_argument("--trajectories", type=int, default=None)
    ap.add_argument("--dim", type=int, default=20000)
    ap.add_argument("--features", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--binary", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    gpu = args.backend == "cuda"
    mlp = args.objective == "mlp"
    b = args.trajectories or ((1024 if mlp else 4096) if gpu else (16 if mlp else 64))
    steps = args.steps or (50 if gpu else 5)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = args.binary or os.path.join(root, "build", "default" if gpu else "cpu", "bench", "bench_fused_step")
    tmp = os.path.join(root, "bench", "results", ".gemm.tmp.json")
    subprocess.run([binary, "--backend", args.backend, "--objective", args.objective, "--dim", str(args.dim),
                    "--features", str(args.features), "--trajectories", str(b), "--steps", str(steps),
                    "--out", tmp], check=True, capture_output=True)
    ours = json.load(open(tmp))
    os.remove(tmp)
    adam = [r for r in ours["results"] if r["optimizer"] == "adam"][0]
    row = {"objective": args.objective, "trajectories": b, "dim": ours["dim"],
           "features": args.features if not mlp else None, "device": ours["device"],
           "saddlescope_adam_traj_steps_per_s": adam["trajectory_steps_per_second"]}
    try:
        import torch
        dev = "cuda" if gpu else "cpu"
        tps, tv = (torch_mlp_steps_per_s(b, dev, steps, torch.float32) if mlp else
                   torch_steps_per_s(b, args.dim, args.features, dev, steps, torch.float32))
        row.update({"torch_version": tv, "torch_traj_steps_per_s": tps,
                    "speedup_vs_torch": row["saddlescope_adam_traj_steps_per_s"] / tps})
    except ImportError:
        pass
    try:
        jps, jv = jax_mlp_steps_per_s(b, steps) if mlp else jax_steps_per_s(b, args.dim, args.features, steps)
        row.update({"jax_version": jv, "jax_traj_steps_per_s": jps,
                    "speedup_vs_jax": row["saddlescope_adam_traj_steps_per_s"] / jps})
    except ImportError:
        pass
    print(json.dumps(row, indent=2))
    tag = re.sub(r"[^A-Za-z0-9]+", "-", ours["device"]).strip("-").lower()[:40]
    path = args.out or os.path.join(root, "bench", "results", f"{args.objective}-{args.backend}-{tag}.json")
    with open(path, "w") as fh:
        json.dump({"benchmark": f"{args.objective} ensemble, adam", "date": time.strftime("%Y-%m-%d"),
                   "results": [row]}, fh, indent=2)
    print("wrote", path)


if __name__ == "__main__":
    main()
