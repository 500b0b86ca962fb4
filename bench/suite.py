#!/usr/bin/env python3
"""The benchmark suite: one command, one JSON, a short table.

  python3 bench/suite.py [--backend cpu|cuda] [--quick] [--timeout S] [--skip PART,...]

Runs, on the chosen backend (default: cuda when nvidia-smi finds a GPU, else
cpu), one after the other in this script:
  1. the fused step (gd, momentum, adam; styblinski-tang) at the issue's size
     (GPU 4,096 x 20,000, CPU 1,024 x 20,000) beside the measured copy
     bandwidth of the same bytes (bench_fused_step): the roof ratio;
  2. the separable ensemble beside PyTorch / JAX from the same starts, equal
     work checked (bench/peers_separable.py);
  3. the GEMM objectives gaussian-field and mlp-20k beside PyTorch / JAX
     (bench/peers_gemm.py; the mlp from the same starts and data at 16 and
     64 trajectories on the CPU, equal work checked), and the digits
     network ensemble beside PyTorch (bench/peers_network.py);
  4. the census eigensolvers beside numpy, torch and jax eigvalsh
     (bench/bench_census.py);
  5. scaling curves: adam step time vs trajectories B (N = 20,000) and vs
     dimension N (B = 256), and census time vs N;
  6. the flagship example end to end (mlp-20k with its census; on the CPU a
     reduced size, said in the JSON);
  7. on CUDA, the fraction of step time inside cuBLAS (bench/cublas_fraction.py).
The peers (PyTorch, JAX, optax) run in a virtual environment the suite
creates once from PyPI (bench/peers_venv.sh, in build/peers-venv; --python
names another interpreter). Each part's JSON is kept whole under "parts"; the suite JSON adds the device,
driver and toolkit versions, the commit and the date, and is written to
bench/results/suite-<backend>-<device>-<date>.json. Missing peers (torch, jax)
are recorded as such, never faked. --quick shrinks every size (a smoke run).
--timeout S stops any one program after S seconds and records the part as
timed out (a device session has minutes); --skip leaves out named parts
(fused_step, separable_peers, gaussian-field_peers, mlp_peers, network_peers, census_peers,
scaling, flagship, cublas_fraction), recorded as skipped.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


TIMEOUT = None  # seconds for any one program (--timeout); None: no limit


def sh(cmd, **kw):
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT,
                              timeout=kw.pop("timeout", TIMEOUT), **kw)
    except subprocess.TimeoutExpired as e:
        raise subprocess.CalledProcessError(124, cmd, output="",
                                            stderr=f"timed out after {e.timeout:g} s") from None


def version_of(cmd):
    try:
        return sh(cmd).stdout.strip().splitlines()[-1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return None


SKIP = set()


def part(name, cmd, out, results):
    """Runs one benchmark that writes JSON to `out`; keeps it (or the error) under results."""
    if name in SKIP:
        results[name] = {"skipped": "--skip"}
        return
    t0 = time.perf_counter()
    print(f"== {name}", flush=True)
    try:
        r = sh(cmd)
        if r.stdout.strip():
            print("\n".join("   " + l for l in r.stdout.strip().splitlines()[-8:]), flush=True)
        results[name] = json.load(open(out))
    except subprocess.CalledProcessError as e:
        results[name] = {"error": (e.stderr or e.stdout or str(e)).strip()[-2000:]}
        print("   failed:", results[name]["error"][-300:], flush=True)
    except (OSError, ValueError) as e:
        results[name] = {"error": str(e)}
    results[name]["suite_seconds"] = time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["cpu", "cuda"], default=None)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--out", default=None)
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds any one program may run; a part that runs longer is recorded as timed out")
    ap.add_argument("--skip", default="", help="comma-separated parts to leave out (recorded as skipped)")
    ap.add_argument("--python", default=None,
                    help="interpreter of the peers (default: bench/peers_venv.sh's, created on first use)")
    a = ap.parse_args()
    global TIMEOUT
    TIMEOUT = a.timeout
    SKIP.update(x for x in a.skip.split(",") if x)
    gpu_present = shutil.which("nvidia-smi") is not None and \
        version_of(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]) is not None
    backend = a.backend or ("cuda" if gpu_present else "cpu")
    gpu = backend == "cuda"
    build = os.path.join(ROOT, "build", "default" if gpu else "cpu")
    fused = os.path.join(build, "bench", "bench_fused_step")
    census = os.path.join(build, "bench", "bench_census")
    cli = os.path.join(build, "saddlescope")
    for b in (fused, census, cli):
        if not os.path.exists(b):
            sys.exit(f"suite: {b} is missing: build first (bash tools/build.sh {'default' if gpu else 'cpu'})")
    q = a.quick
    peers_py = a.python
    if peers_py is None:
        try:
            peers_py = sh(["bash", "bench/peers_venv.sh"], timeout=None).stdout.strip().splitlines()[-1]
        except (subprocess.CalledProcessError, IndexError) as e:
            print("suite: the peers' environment could not be made (" +
                  (getattr(e, "stderr", "") or str(e)).strip()[-200:] + "); peers run with", sys.executable)
            peers_py = sys.executable
    B = 256 if q else (4096 if gpu else 1024)
    steps = 5 if q else (100 if gpu else 10)
    parts = {}
    with tempfile.TemporaryDirectory() as tmp:
        j = lambda name: os.path.join(tmp, name + ".json")
        part("fused_step", [fused, "--backend", backend, "--trajectories", str(B), "--dim", "20000",
                            "--steps", str(steps), "--out", j("fused")], j("fused"), parts)
        part("separable_peers", [peers_py, "bench/peers_separable.py", "--backend", backend,
                                 "--binary", cli, "--out", j("sep")]
             + (["--trajectories", "32", "--dim", "2000", "--steps", "10"] if q else []),
             j("sep"), parts)
        for obj in ("gaussian-field", "mlp"):
            part(f"{obj}_peers", [peers_py, "bench/peers_gemm.py", "--backend", backend,
                                  "--objective", obj, "--binary", fused, "--out", j(obj)]
                 + (["--trajectories", "4", "--steps", "2", "--repeats", "1"]
                    + (["--dim", "2000"] if obj != "mlp" else []) if q else []), j(obj), parts)
        part("network_peers", [peers_py, "bench/peers_network.py", "--backend", backend,
                               "--binary", fused, "--out", j("network")]
             + (["--trajectories", "4", "--steps", "2", "--repeats", "1"] if q else []),
             j("network"), parts)
        part("census_peers", [peers_py, "bench/bench_census.py", "--backend", backend,
                              "--binary", census, "--out", j("census")]
             + (["--sizes", "64x20,256x2"] if q else []), j("census"), parts)
        # Scaling curves: adam step time vs B (N = 20,000) and vs N (B = 256).
        curves = {"step_vs_trajectories": [], "step_vs_dim": []}
        bs = [16, 64, 256] if q else ([256, 1024, 4096, 16384] if gpu else [16, 64, 256, 1024])
        ns = [1000, 5000] if q else [1000, 5000, 20000, 100000]
        if "scaling" in SKIP:
            bs, ns, curves = [], [], {"skipped": "--skip"}
        for key, grid in (("step_vs_trajectories", [(b_, 20000 if not q else 2000) for b_ in bs]),
                          ("step_vs_dim", [(64 if q else 256, n_) for n_ in ns])):
            for b_, n_ in grid:
                out = j(f"{key}-{b_}-{n_}")
                try:
                    sh([fused, "--backend", backend, "--trajectories", str(b_), "--dim", str(n_),
                        "--steps", str(steps), "--out", out])
                    r = [x for x in json.load(open(out))["results"] if x["optimizer"] == "adam"][0]
                    curves[key].append({"trajectories": b_, "dim": n_,
                                        "step_seconds": r["step_seconds"],
                                        "trajectory_steps_per_second": r["trajectory_steps_per_second"]})
                except (subprocess.CalledProcessError, OSError, ValueError, IndexError) as e:
                    curves[key].append({"trajectories": b_, "dim": n_, "error": str(e)[-300:]})
        parts["scaling"] = curves
        # The flagship example end to end.
        if "flagship" in SKIP:
            parts["flagship"] = {"skipped": "--skip"}
        t0 = time.perf_counter()
        flag = os.path.join(tmp, "flagship")
        sets = (["--set", "run.trajectories=1024", "--set", "run.max_steps=2000"] if gpu and not q
                else ["--set", "run.trajectories=8", "--set", "run.max_steps=" + ("20" if q else "200")])
        if gpu and not q:  # the flagship's census of 64 stopping points (dense 19,993^2 Hessians)
            sets += ["--set", "analysis.method=eigh", "--set", "analysis.max_points=64"]
        try:
            if "flagship" in SKIP:
                raise OSError("skipped")
            sh([cli, "run", "examples/mlp-20k.toml", "-o", flag, "--backend", backend] + sets)
            s = json.load(open(os.path.join(flag, "summary.json")))
            parts["flagship"] = {"example": "examples/mlp-20k.toml", "overrides": sets,
                                 "seconds": time.perf_counter() - t0,
                                 "timings": s["timings"], "trajectories": s["trajectories"],
                                 "max_steps": s["max_steps"]}
        except (subprocess.CalledProcessError, OSError, ValueError) as e:
            if "flagship" not in SKIP:
                parts["flagship"] = {"error": (getattr(e, "stderr", None) or str(e))[-500:]}
        if gpu:
            part("cublas_fraction", [sys.executable, "bench/cublas_fraction.py", "--binary", fused,
                                     "--out", j("cublas")], j("cublas"), parts)
    device = (parts.get("fused_step") or {}).get("device", backend)
    meta = {
        "suite": "saddlescope benchmark suite (bench/suite.py)",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": version_of(["git", "rev-parse", "--short", "HEAD"]),
        "backend": backend, "device": device, "quick": q,
        "driver": version_of(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
        if gpu else None,
        "toolkit": version_of(["nvcc", "--version"]) if gpu else None,
        "compiler": (sh(["c++", "--version"]).stdout.splitlines() or [None])[0],
        "python": sys.version.split()[0],
        "peers_python": os.path.relpath(peers_py, ROOT) if os.path.isabs(peers_py) and
        peers_py.startswith(ROOT + os.sep) else peers_py,
    }
    doc = {**meta, "parts": parts}
    tag = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()[:40]
    path = os.path.abspath(a.out or os.path.join(ROOT, "bench", "results",
                                                 f"suite-{backend}-{tag}-{time.strftime('%Y%m%d')}.json"))
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=2)
    # The short table.
    print("\nsummary", meta["device"], "commit", meta["commit"])
    fs = parts.get("fused_step", {}).get("results", [])
    for r in fs:
        print(f"  fused step {r['optimizer']:9s} {r['trajectory_steps_per_second']:10.3g} traj-steps/s"
              f"  {r['ratio_to_copy']:.2f} of copy roof")
    def ratio(r, peer):
        v = r.get(f"speedup_vs_{peer}")
        return f"x{v:.2f} {peer}" if v is not None else f"{peer} n/a"

    for r in parts.get("separable_peers", {}).get("results", []):
        print(f"  separable {r['optimizer']:5s} {ratio(r, 'torch')}  {ratio(r, 'jax')}"
              f"  (JAX without the per-step loss: {ratio(r, 'jax_gradient_only')})")
    for obj in ("gaussian-field", "mlp"):
        for r in parts.get(f"{obj}_peers", {}).get("results", []):
            print(f"  {obj:14s} adam B={r['trajectories']:<5d} {ratio(r, 'torch')}  {ratio(r, 'jax')}")
    for r in parts.get("network_peers", {}).get("results", []):
        print(f"  digits network adam B={r['trajectories']:<5d} {ratio(r, 'torch')}")
    for r in parts.get("census_peers", {}).get("results", []):
        peers = "  ".join(f"x{r['eigh_speedup_vs_' + p]:.2f} {p}" for p in ("numpy", "torch", "jax")
                          if r.get("eigh_speedup_vs_" + p))
        print(f"  eigh {r['n']:5d} x {r['batch']:<5d} {peers or 'no peer installed'}")
    if "seconds" in parts.get("flagship", {}):
        print(f"  flagship mlp-20k {parts['flagship']['seconds']:.1f} s ({' '.join(parts['flagship']['overrides'])})")
    print("wrote", path)
    # The scaling and peer figures beside it (needs matplotlib; skipped without).
    # The peers' Python (torch) may lack matplotlib where Debian's has it: try both.
    for py in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if not os.path.exists(py):
            continue
        r = subprocess.run([py, "-m", "saddlescope_report.bench", path],
                           cwd=os.path.join(ROOT, "python"), capture_output=True, text=True)
        if r.returncode == 0:
            break
    print(r.stdout.strip() if r.returncode == 0 else
          "figures not drawn: " + (r.stderr.strip().splitlines() or ["?"])[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
