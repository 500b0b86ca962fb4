#!/usr/bin/env python3
"""Census eigensolver benchmark with its peers, side by side on the same matrices.

For each size, random symmetric float64 matrices (numpy, seeded) go to
bench_census (saddlescope's eigh and inertia on the chosen backend) and to
the peers in this process: numpy.linalg.eigvalsh (CPU only),
torch.linalg.eigvalsh and jax.numpy.linalg.eigvalsh (jit, float64; on the
GPU when --backend cuda). Equal work is checked (eigenvalues agree within
1e-8 relative to the largest) before times are compared; each time is the
best of --repeats, the peers' interleaved with ours round by round. Prints
a table and writes bench/results/census-<backend>-<device>.json.

  python3 bench/bench_census.py [--backend cpu|cuda] [--sizes 256x4,1024x2] [--binary build/cpu/bench/bench_census]

Needs numpy; torch and jax are optional (a missing peer is recorded as such).
"""
import argparse, json, os, platform, re, subprocess, sys, tempfile, time

import numpy as np

from peers_gemm import settle  # idle thread pools stop spinning between programs


def torch_eigvalsh(mats, device, repeats):
    import torch
    t = torch.from_numpy(mats).to(device)
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        w = torch.linalg.eigvalsh(t)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, w.cpu().numpy(), torch.__version__


def numpy_eigvalsh(mats, device, repeats):
    if device != "cpu":
        raise ImportError("numpy runs on the CPU only")
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        w = np.linalg.eigvalsh(mats)
        best = min(best, time.perf_counter() - t0)
    return best, w, np.__version__


def jax_eigvalsh(mats, device, repeats):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    t = jax.device_put(jnp.asarray(mats), jax.devices("gpu" if device == "cuda" else "cpu")[0])
    f = jax.jit(jnp.linalg.eigvalsh)
    w = f(t).block_until_ready()  # compile outside the timing
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        w = f(t).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return best, np.asarray(w), jax.__version__


PEERS = {"numpy": numpy_eigvalsh, "torch": torch_eigvalsh, "jax": jax_eigvalsh}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--sizes", default=None, help="NxBATCH list, e.g. 256x8,1024x2")
    ap.add_argument("--binary", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = args.binary or os.path.join(root, "build", "default" if args.backend == "cuda" else "cpu", "bench", "bench_census")
    if args.sizes is None:
        args.sizes = ("64x1000,256x8,1024x2,2048x1,4096x1" if args.backend == "cpu" else
                      "64x10000,256x64,1024x16,4096x4")
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    rng = np.random.default_rng(0)
    rows = []
    for n, batch in sizes:
        r = rng.standard_normal((batch, n, n))
        mats = np.ascontiguousarray(0.5 * (r + r.transpose(0, 2, 1)))
        with tempfile.TemporaryDirectory() as tmp:
            mpath, wpath = os.path.join(tmp, "m.npy"), os.path.join(tmp, "w.npy")
            np.save(mpath, mats)
            settle()
            out = subprocess.run([binary, "--matrices", mpath, "--backend", args.backend, "--repeats",
                                  str(args.repeats), "--eigenvalues-out", wpath],
                                 check=True, capture_output=True, text=True).stdout
            ours = json.loads(out.strip().splitlines()[-1])
            w_ours = np.load(wpath)
        row = {"n": n, "batch": batch, "saddlescope_eigh_s": ours["eigh_seconds"],
               "saddlescope_inertia_s": ours["inertia_seconds"],
               "inertia_index_mismatches": ours["inertia_index_mismatches"], "device": ours["device"]}
        dev = "cuda" if args.backend == "cuda" else "cpu"
        for peer, fn in PEERS.items():
            try:
                settle()
                t_peer, w_peer, ver = fn(mats, dev, args.repeats)
            except ImportError:
                row[peer + "_eigvalsh_s"] = None
                continue
            scale = np.abs(w_peer).max()
            err = float(np.abs(w_peer - w_ours).max() / scale)
            if err > 1e-8:
                raise SystemExit(f"unequal work at n={n}: {peer}'s eigenvalues differ by {err:.2e} (relative)")
            row.update({peer + "_eigvalsh_s": t_peer, peer + "_version": ver, peer + "_max_rel_diff": err,
                        "eigh_speedup_vs_" + peer: t_peer / ours["eigh_seconds"],
                        "inertia_speedup_vs_" + peer: t_peer / ours["inertia_seconds"]})
        rows.append(row)
        peers = "".join(f"  {p} x{row['eigh_speedup_vs_' + p]:.2f}" for p in PEERS if row.get(p + "_eigvalsh_s"))
        print(f"n={n:6d} batch={batch:6d}  eigh {ours['eigh_seconds']:.4f}s  inertia {ours['inertia_seconds']:.4f}s"
              f"  eigh speedup:{peers or ' no peer installed'}", flush=True)
    device = rows[0]["device"] if rows else platform.processor()
    tag = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()[:40]
    path = args.out or os.path.join(root, "bench", "results", f"census-{args.backend}-{tag}.json")
    with open(path, "w") as f:
        json.dump({"benchmark": "census", "backend": args.backend, "device": device,
                   "date": time.strftime("%Y-%m-%d"), "statistic": f"best of {args.repeats}",
                   "results": rows}, f, indent=2)
    print("wrote", path)


if __name__ == "__main__":
    main()
