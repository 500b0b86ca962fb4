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
import argparse, json, os, re, subprocess, tempfile, time

import numpy as np


def settle():
    """Lets the thread pools of the program timed before (OpenBLAS, OpenMP,
    XLA's) stop spinning, so that they take no core from the next one."""
    time.sleep(1.0)


def timed_steps_per_s(step, sync, steps, warmup=3):
    """Steps per second of step() after warm-up: the median of the steps'
    own times (each followed by sync(), which waits for the device), the same
    statistic as bench_fused_step's."""
    settle()
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return 1.0 / float(np.median(times))


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


def mlp_split(p, b):
    """Views of the parameter rows [b, dim] (layout of kernels/network.hpp)."""
    d, h, o = MLP["d"], MLP["h"], MLP["o"]
    return (p[:, : h * d].reshape(b, h, d), p[:, h * d : h * d + h].reshape(b, 1, h),
            p[:, h * d + h : h * d + h + o * h].reshape(b, o, h), p[:, h * d + h + o * h :].reshape(b, 1, o))


def torch_mlp_run(x, y, starts, updates, lr, device, timed):
    """PyTorch: one [B, dim] parameter whose loss is the sum of the B students'
    losses (batched matmuls), torch.optim.Adam (fused on CUDA, foreach on the
    CPU); `updates` steps from the starts, the last `timed` of them timed."""
    import torch
    n = x.shape[0]
    b = starts.shape[0]
    xs, ys = torch.tensor(x, device=device), torch.tensor(y, device=device)
    p = torch.tensor(starts, device=device).requires_grad_(True)
    opt = torch.optim.Adam([p], lr=lr, **({"fused": True} if device == "cuda" else {"foreach": True}))

    def step():
        opt.zero_grad(set_to_none=True)
        w1, b1, w2, b2 = mlp_split(p, b)
        hid = torch.tanh(torch.matmul(xs, w1.transpose(1, 2)) + b1)   # [b, n, h]
        out = torch.matmul(hid, w2.transpose(1, 2)) + b2              # [b, n, o]
        loss = ((out - ys) ** 2).sum() / (2 * n)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rate = b * timed_steps_per_s(step, sync, timed, warmup=updates - timed)
    return rate, p.detach().cpu().double().numpy(), torch.__version__


def jax_mlp_run(x, y, starts, updates, lr, timed):
    """JAX: jit(vmap(grad)) + optax.adam, the parameters and the optimizer
    state donated to each step (updated in place)."""
    import jax, jax.numpy as jnp, optax
    n = x.shape[0]
    xs, ys = jnp.asarray(x), jnp.asarray(y)
    d, h, o = MLP["d"], MLP["h"], MLP["o"]

    def loss(q):
        w1 = q[: h * d].reshape(h, d)
        b1 = q[h * d : h * d + h]
        w2 = q[h * d + h : h * d + h + o * h].reshape(o, h)
        b2 = q[h * d + h + o * h :]
        out = jnp.tanh(xs @ w1.T + b1) @ w2.T + b2
        return jnp.sum((out - ys) ** 2) / (2 * n)

    opt = optax.adam(lr)
    p = jnp.asarray(starts)
    state = opt.init(p)

    def step(p, state):
        g = jax.vmap(jax.grad(loss))(p)
        upd, state = opt.update(g, state)
        return optax.apply_updates(p, upd), state

    step = jax.jit(step, donate_argnums=(0, 1))
    box = [p, state]

    def run():
        box[0], box[1] = step(box[0], box[1])

    rate = starts.shape[0] * timed_steps_per_s(run, lambda: box[0].block_until_ready(), timed,
                                               warmup=updates - timed)
    return rate, np.asarray(box[0], dtype=np.float64), jax.__version__


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


def ours_run(binary, backend, objective, b, steps, lr, dim, features, export):
    """bench_fused_step's adam on the same sizes (median step time); with
    export, its starts, data and final points in that directory."""
    settle()
    tmp = os.path.join(export or tempfile.gettempdir(), "ours.json")
    cmd = [binary, "--backend", backend, "--objective", objective, "--dim", str(dim),
           "--features", str(features), "--trajectories", str(b), "--steps", str(steps),
           "--optimizers", "adam", "--lr", repr(lr), "--out", tmp]
    subprocess.run(cmd + (["--export", export] if export else []), check=True, capture_output=True)
    ours = json.load(open(tmp))
    return ours["results"][0]["trajectory_steps_per_second"], ours


# Equal work for the mlp: every peer's final parameters after the same
# updates from the same starts and data. f32 gradients summed in another
# order differ in their last bits, and where a coordinate's gradient is
# near zero (a hidden unit whose output weight is near zero) Adam's
# normalized step turns that into a step of +-lr: one of 80,000 coordinates
# flips after one update. So the check is (a) at least 99.9% of the
# coordinates within 1e-5 of max |x| and (b) the final losses (in float64,
# here) within 1e-4 relative of ours; a different model, data or update rule
# fails both by orders of magnitude.
MLP_EQUAL_COORDS, MLP_EQUAL_TOL, MLP_EQUAL_LOSS = 0.999, 1e-5, 1e-4


def mlp_losses(x, y, p):
    """The students' losses 1/(2n) |tanh(X W1^T + b1) W2^T + b2 - Y|^2 in float64."""
    x, y, p = x.astype(np.float64), y.astype(np.float64), p.astype(np.float64)
    w1, b1, w2, b2 = mlp_split(p, p.shape[0])
    out = np.tanh(x @ w1.transpose(0, 2, 1) + b1) @ w2.transpose(0, 2, 1) + b2
    return ((out - y) ** 2).sum(axis=(1, 2)) / (2 * x.shape[0])


def mlp_equal_work(x, y, ours, peer):
    """(equal, fraction of coordinates within the tolerance, largest relative loss difference)."""
    scale = float(np.max(np.abs(ours)))
    close = float(np.mean(np.abs(peer - ours) <= MLP_EQUAL_TOL * scale))
    lo, lp = mlp_losses(x, y, ours), mlp_losses(x, y, peer)
    dloss = float(np.max(np.abs(lp - lo) / np.abs(lo)))
    return close >= MLP_EQUAL_COORDS and dloss <= MLP_EQUAL_LOSS, close, dloss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--objective", default="gaussian-field", choices=["gaussian-field", "mlp"])
    ap.add_argument("--trajectories", default=None,
                    help="B, or several comma-separated (mlp default: 16,64 on the CPU)")
    ap.add_argument("--dim", type=int, default=20000)
    ap.add_argument("--features", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds (ours, torch, jax)")
    ap.add_argument("--binary", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    gpu = args.backend == "cuda"
    mlp = args.objective == "mlp"
    bs = ([int(v) for v in args.trajectories.split(",")] if args.trajectories else
          [(1024 if mlp else 4096)] if gpu else ([16, 64] if mlp else [64]))
    steps = args.steps or (50 if gpu else 20)
    lr = 1e-3
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = args.binary or os.path.join(root, "build", "default" if gpu else "cpu", "bench", "bench_fused_step")
    dev = "cuda" if gpu else "cpu"
    rows, device = [], None
    for b in bs:
        row = {"objective": args.objective, "optimizer": "adam", "lr": lr, "trajectories": b,
               "steps_timed": steps, "features": args.features if not mlp else None,
               "statistic": "median step time; rounds interleaved (ours, torch, jax)",
               "rounds": []}
        for _ in range(args.repeats):
            rnd = {}
            with tempfile.TemporaryDirectory() as tmp:
                ours, meta = ours_run(binary, args.backend, args.objective, b, steps, lr, args.dim,
                                      args.features, tmp if mlp else None)
                device, row["dim"] = meta["device"], meta["dim"]
                rnd["saddlescope"] = ours
                if mlp:
                    x, y = np.load(os.path.join(tmp, "X.npy")), np.load(os.path.join(tmp, "Y.npy"))
                    starts = np.load(os.path.join(tmp, "starts.npy"))
                    finals = np.load(os.path.join(tmp, "finals_adam.npy"))
                    updates = json.load(open(os.path.join(tmp, "updates.json")))["updates"]["adam"]
                for peer in ("torch", "jax"):
                    try:
                        if mlp:
                            rate, xf, ver = (torch_mlp_run(x, y, starts, updates, lr, dev, steps)
                                             if peer == "torch" else
                                             jax_mlp_run(x, y, starts, updates, lr, steps))
                            eq, close, dloss = mlp_equal_work(x, y, finals, xf)
                            rnd[peer + "_equal_work"] = eq
                            rnd[peer + "_coordinates_close"] = close
                            rnd[peer + "_loss_rel_diff"] = dloss
                        else:
                            import torch  # noqa: F401 (ImportError: not installed)
                            rate, ver = (torch_steps_per_s(b, args.dim, args.features, dev, steps,
                                                           torch.float32) if peer == "torch" else
                                         jax_steps_per_s(b, args.dim, args.features, steps))
                        rnd[peer] = rate
                        row[peer + "_version"] = ver
                    except ImportError:
                        row[peer + "_version"] = None
            row["rounds"].append(rnd)
        row["saddlescope_adam_traj_steps_per_s"] = float(np.median([r["saddlescope"] for r in row["rounds"]]))
        for peer in ("torch", "jax"):
            if not row.get(peer + "_version"):
                continue
            ratios = [r["saddlescope"] / r[peer] for r in row["rounds"]]
            row[peer + "_traj_steps_per_s"] = float(np.median([r[peer] for r in row["rounds"]]))
            row[peer + "_speedups"] = ratios
            if mlp:
                row[peer + "_equal_work"] = all(r[peer + "_equal_work"] for r in row["rounds"])
                row[peer + "_coordinates_close"] = min(r[peer + "_coordinates_close"] for r in row["rounds"])
                row[peer + "_loss_rel_diff"] = max(r[peer + "_loss_rel_diff"] for r in row["rounds"])
                if not row[peer + "_equal_work"]:  # unequal work: no ratio
                    row["speedup_vs_" + peer] = None
                    continue
            else:
                row[peer + "_equal_work"] = "same sizes and update rule; data differ (not compared)"
            row["speedup_vs_" + peer] = float(np.median(ratios))
        rows.append(row)
        def txt(p):
            if not row.get(p + "_version"):
                return f"{p}: not installed"
            if row.get("speedup_vs_" + p) is None:
                return (f"{p}: work differs ({row[p + '_coordinates_close']:.4f} of the coordinates close, "
                        f"losses {row[p + '_loss_rel_diff']:.1e} apart)")
            r = row[p + "_speedups"]
            return f"{p}: x{row['speedup_vs_' + p]:.2f} (x{min(r):.2f}-{max(r):.2f})"
        print(f"{args.objective} B={b}: saddlescope {row['saddlescope_adam_traj_steps_per_s']:.4g} "
              f"traj-steps/s  {txt('torch')}  {txt('jax')}", flush=True)
    tag = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()[:40]
    path = args.out or os.path.join(root, "bench", "results", f"{args.objective}-{args.backend}-{tag}.json")
    with open(path, "w") as fh:
        json.dump({"benchmark": f"{args.objective} ensemble, adam", "date": time.strftime("%Y-%m-%d"),
                   "device": device,
                   "equal_work": {"coordinates_close_at_least": MLP_EQUAL_COORDS,
                                  "coordinate_tolerance_of_max_abs": MLP_EQUAL_TOL,
                                  "loss_relative_tolerance": MLP_EQUAL_LOSS} if mlp else None,
                   "results": rows}, fh, indent=2)
    print("wrote", path)


if __name__ == "__main__":
    main()
