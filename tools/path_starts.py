#!/usr/bin/env python3
"""Finder starts taken along descent paths (Dauphin et al. 2014 started
Newton's method from points of training trajectories): the recorded path
points of a run directory (run.record_paths = true; paths.npy
[optimizers, record_trajectories, records, dim]) at the chosen records,
written as a float64 .npy [starts, dim] for [finder.init] kind = "file".

    python3 tools/path_starts.py RUN_DIR OUT.npy [--records 2,3,4,5,6,8] [--optimizer 0]

Record r is step r * run.record_every. The starts are ordered trajectory
by trajectory, the records in the order given. examples/digits-critical-points.toml
says how its data/digits_path_starts.npy was made.
"""
import argparse
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("out")
    ap.add_argument("--records", default="2,3,4,5,6,8", help="record indices, comma-separated")
    ap.add_argument("--optimizer", type=int, default=0, help="which optimizer's paths (file order)")
    a = ap.parse_args()
    path = os.path.join(a.run_dir, "paths.npy")
    if not os.path.exists(path):
        raise SystemExit(f"{path}: no recorded paths; run with --set run.record_paths=true")
    paths = np.load(path)
    records = [int(r) for r in a.records.split(",")]
    if max(records) >= paths.shape[2]:
        raise SystemExit(f"{path} holds records 0 to {paths.shape[2] - 1}; asked for {max(records)}")
    starts = paths[a.optimizer][:, records, :].reshape(-1, paths.shape[3]).astype(np.float64)
    if not np.all(np.isfinite(starts)):
        raise SystemExit("some chosen records are NaN (a trajectory stopped before them)")
    np.save(a.out, starts)
    print(f"wrote {a.out}: {starts.shape[0]} starts of dimension {starts.shape[1]}")


if __name__ == "__main__":
    main()
