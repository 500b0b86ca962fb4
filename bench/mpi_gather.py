#!/usr/bin/env python3
"""MPI: what the gathers cost against the compute per rank (issue 18's benchmark).

Runs one experiment with `mpirun -np R saddlescope run` for R = 1 .. 4 (and
once without mpirun) and reads rank 0's summary.json: the total time, the
time rank 0 waited for the other ranks to arrive at a gather (their compute
running longer: load imbalance), the time the bytes took to move, and the
bytes rank 0 received. Two experiments: a separable one whose gathers carry
the final points (stops for the census: B x N values per optimizer) and a
dense census (the mlp at N = 1,441: each census point's spectrum, N values,
and its facts go to rank 0). docs/design.md II.6 turns these numbers into a
model of multi-node scaling.

  python3 bench/mpi_gather.py [--ranks 1,2,3,4] [--repeats 2]

Writes bench/results/mpi-gather-cpu-<cpu>-<cores>-cores.json. On this
machine (2 cores) R = 3 and 4 are oversubscribed: their compute time grows,
what matters there is the gather's share.
"""
import argparse, json, os, platform, re, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "build", "cpu", "saddlescope")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMP_WAIT_POLICY="PASSIVE")
ENV.setdefault("OMPI_MCA_btl", "self,vader")

EXPERIMENTS = {
    "double-well-stops": ("double-well-census",
                          ["objective.dim=2000", "run.trajectories=512", "run.max_steps=400",
                           "run.grad_tol=0", "analysis.max_points=32", "run.save_final_points=true"]),
    "mlp-dense-census": ("mlp-20k",
                         ["run.trajectories=64", "run.max_steps=200", "objective.inputs=40",
                          "objective.hidden=32", "objective.samples=256", "analysis.method=\"eigh\"",
                          "analysis.points=[\"stops\"]", "analysis.max_points=24"]),
}


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].lower()
                return "amd-epyc" if "epyc" in name else "xeon" if "xeon" in name else "cpu"
    except OSError:
        pass
    return platform.machine()


def one(example, sets, ranks, out):
    cmd = ([shutil.which("mpirun"), "-np", str(ranks)] if ranks else []) + [
        BINARY, "run", os.path.join(ROOT, "examples", example + ".toml"), "--backend", "cpu",
        "-o", out]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    s = json.load(open(os.path.join(out, "summary.json")))
    t = s["timings"]
    mpi = t.get("mpi", {"gather_wait_s": 0.0, "gather_transfer_s": 0.0, "gathered_bytes": 0})
    return {"total_s": t["total_s"], "gather_wait_s": mpi["gather_wait_s"],
            "gather_transfer_s": mpi["gather_transfer_s"], "gathered_bytes": mpi["gathered_bytes"],
            "census_s": t.get("census_s")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", default="1,2,3,4")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY}: build first (cmake --preset cpu && cmake --build build/cpu)")
    cores = os.cpu_count()
    result = {"benchmark": "mpi_gather", "machine": f"{cpu_name()}, {cores} cores",
              "mpi": subprocess.run(["mpirun", "--version"], capture_output=True,
                                    text=True).stdout.splitlines()[0],
              "note": "rank 0's summary.json timings (best of repeats by total); compute = total - "
                      "gather wait - gather transfer; ranks beyond the cores are oversubscribed",
              "experiments": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (example, sets) in EXPERIMENTS.items():
            rows = []
            for r in [0] + [int(x) for x in a.ranks.split(",")]:
                best = None
                for k in range(a.repeats):
                    m = one(example, sets, r, os.path.join(tmp, f"{name}-{r}-{k}"))
                    if best is None or m["total_s"] < best["total_s"]:
                        best = m
                best["ranks"] = r if r else "one process, no mpirun"
                best["compute_s"] = best["total_s"] - best["gather_wait_s"] - best["gather_transfer_s"]
                best["transfer_share"] = best["gather_transfer_s"] / best["total_s"]
                rows.append(best)
                print(f"{name:18} R={best['ranks']!s:<22} total {best['total_s']:7.3f} s  "
                      f"wait {best['gather_wait_s']:6.3f} s  transfer {best['gather_transfer_s']:7.4f} s "
                      f"({100 * best['transfer_share']:.2f}%)  {best['gathered_bytes'] / 1e6:8.2f} MB "
                      f"to rank 0", flush=True)
            result["experiments"][name] = {"example": example, "set": sets, "runs": rows}
    out = os.path.join(ROOT, "bench", "results", f"mpi-gather-cpu-{cpu_name()}-{cores}-cores.json")
    json.dump(result, open(out, "w"), indent=2)
    print("wrote", os.path.relpath(out, ROOT))


if __name__ == "__main__":
    main()
