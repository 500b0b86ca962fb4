#!/usr/bin/env python3
"""Fraction of GPU kernel time spent inside cuBLAS during saddlescope's
ensemble steps (issue 4 target: >= 70% for gaussian-field and mlp at
dim 20,000), measured with Nsight Systems on bench_fused_step.

  python3 bench/cublas_fraction.py --binary build/default/bench/bench_fused_step \
      --out cublas-fraction.json

Needs `nsys` on PATH (the CUDA toolkit's Nsight Systems). Kernels are
attributed to cuBLAS by name: cuBLAS's GEMM / GEMV kernels are named
*gemm*, *gemv*, *xmma*, *cutlass* or *cublas*; every other kernel
(saddlescope's fused step, status, epilogues) is not.
"""
import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

CUBLAS = re.compile(r"gemm|gemv|xmma|cutlass|cublas", re.IGNORECASE)

CASES = [  # (objective, trajectories, extra args): the GPU sizes
    ("gaussian-field", 4096, ["--dim", "20000", "--features", "1024"]),
    ("mlp", 1024, []),
]


def kernel_times(csv_path):
    """(name, total ns) per kernel from `nsys stats --report cuda_gpu_kern_sum`."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        total = next(v for k, v in r.items() if k and k.startswith("Total Time"))
        out.append((r["Name"], float(total)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default="build/default/bench/bench_fused_step")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--precision", default="f32", choices=["f32", "f64"])
    ap.add_argument("--out", default=None, help="JSON file for the results")
    a = ap.parse_args()
    if shutil.which("nsys") is None:
        print("cublas_fraction: nsys (Nsight Systems) not on PATH; nothing measured", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for obj, b, extra in CASES:
            rep = os.path.join(tmp, obj)
            cmd = [a.binary, "--backend", "cuda", "--objective", obj, "--trajectories", str(b),
                   "--steps", str(a.steps), "--precision", a.precision] + extra
            subprocess.run(["nsys", "profile", "-o", rep, "--force-overwrite", "true",
                            "--trace", "cuda"] + cmd, check=True, stdout=subprocess.DEVNULL)
            subprocess.run(["nsys", "stats", "--report", "cuda_gpu_kern_sum", "--format", "csv",
                            "--output", rep, rep + ".nsys-rep"], check=True,
                           stdout=subprocess.DEVNULL)
            csv_path = next(os.path.join(tmp, f) for f in os.listdir(tmp)
                            if f.startswith(obj) and f.endswith(".csv"))
            times = kernel_times(csv_path)
            total = sum(t for _, t in times)
            blas = sum(t for n, t in times if CUBLAS.search(n))
            r = {"objective": obj, "trajectories": b, "precision": a.precision,
                 "cublas_fraction": blas / total if total else None,
                 "kernels": [{"name": n[:120], "ns": t} for n, t in
                             sorted(times, key=lambda x: -x[1])[:12]]}
            print(f"{obj}: {100 * r['cublas_fraction']:.1f}% of GPU kernel time in cuBLAS "
                  f"(target >= 70%)")
            results.append(r)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"benchmark": "cublas_fraction", "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
