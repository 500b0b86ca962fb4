#!/usr/bin/env python3
"""Run-directory regression: every example (at reduced sizes) and one
experiment holding every optimizer, run on the CPU; the SHA-256 of each
output file, wall-clock fields aside, compared with
tests/regression/example_digests.json.

  python3 tests/regression/example_digests.py BINARY            # compare (exit 1 on a difference)
  python3 tests/regression/example_digests.py BINARY --write    # record the current digests

A refactoring must leave every digest unchanged (issue 14's acceptance: run
directories byte-identical before and after, timings aside). A change that
means to change results records new digests in the same commit and says so.
The reductions (--set) keep each example's character and cost seconds.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIGESTS = os.path.join(ROOT, "tests", "regression", "example_digests.json")

SMALL = ["run.trajectories=12", "run.max_steps=300"]
CASES = {
    "deep-linear-plateaus": SMALL + ["analysis.max_points=8"],
    "double-well-basins": SMALL,
    "double-well-census": SMALL + ["analysis.max_points=16"],
    "double-well-critical-points": SMALL + ["analysis.max_points=64", "finder.starts=200"],
    "double-well-textbook-left": [],
    "double-well-textbook": [],
    "digits-optimizers": ["run.trajectories=3", "run.max_steps=30", "objective.data.samples=100"],
    "digits-critical-points": ["run.trajectories=4", "run.max_steps=200", "finder.max_steps=3",
                               "objective.data.samples=60", "analysis.max_points=8"],
    "gaussian-field-sweep": ["finder.starts=40", "analysis.max_points=40"],
    "gaussian-field": SMALL + ["objective.dim=20", "analysis.max_points=8"],
    "mlp-edge-of-stability": ["run.trajectories=2", "run.record_trajectories=2",
                              "run.max_steps=300"],
    "mlp-20k": ["run.trajectories=4", "run.max_steps=20", "objective.inputs=6",
                "objective.hidden=5", "objective.samples=16"],
    "p-spin-census": SMALL + ["objective.dim=12", "analysis.max_points=8"],
    "rotated-quadratic": SMALL,
    "saddle-2d": SMALL,
    "saddle-escape": SMALL,
    "saddle-stable-manifold": [],
    "styblinski-tang-20k": SMALL + ["objective.dim=200"],
    "textbook-square": [],
}

# Every optimizer once, non-default hyperparameters where they exist.
EVERY_OPTIMIZER = """
name = "every-optimizer"
seed = 5
[objective]
kind = "styblinski-tang"
dim = 6
[init]
kind = "uniform"
scale = 4.0
[run]
trajectories = 10
max_steps = 200
precision = "f64"
[[optimizer]]
kind = "gd"
lr = 0.01
[[optimizer]]
kind = "momentum"
lr = 0.005
nesterov = true
[[optimizer]]
kind = "adagrad"
lr = 0.1
lr_decay = 0.01
[[optimizer]]
kind = "rmsprop"
lr = 0.01
momentum = 0.5
weight_decay = 0.01
[[optimizer]]
kind = "adam"
lr = 0.05
betas = [0.8, 0.99]
[[optimizer]]
kind = "perturbed-gd"
lr = 0.01
[[optimizer]]
kind = "langevin"
lr = 0.01
temperature = 0.01
[[optimizer]]
kind = "saddle-free-newton"
lr = 0.5
[[optimizer]]
kind = "annealing"
temperature = 0.5
[analysis]
max_points = 16
"""


# The optimizers added by the registry (issue 14), recorded when added.
ADAM_FAMILY = """
name = "adam-family"
seed = 6
[objective]
kind = "rastrigin"
dim = 5
[init]
kind = "uniform"
scale = 3.0
[run]
trajectories = 10
max_steps = 150
[[optimizer]]
kind = "adamw"
lr = 0.05
[[optimizer]]
kind = "nadam"
weight_decay = 0.01
[[optimizer]]
kind = "radam"
lr = 0.02
betas = [0.8, 0.99]
[analysis]
max_points = 12
"""


def timeless_summary(text):
    doc = json.loads(text)

    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items()
                    if k not in ("timings", "seconds", "trajectory_steps_per_second", "device",
                                 "seconds_to_target", "budget_bytes")}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    return json.dumps(strip(doc), sort_keys=True)


def timeless_csv(text):
    rows = [line.split(",") for line in text.splitlines()]
    if not rows:
        return text
    keep = [i for i, c in enumerate(rows[0]) if "second" not in c]
    return "\n".join(",".join(r[i] for i in keep if i < len(r)) for r in rows)


def digest_dir(path):
    out = {}
    for dirpath, _, files in os.walk(path):
        for f in sorted(files):
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, path)
            if f in ("checkpoint.bin",) or f.endswith(".log"):
                continue
            data = open(full, "rb").read()
            if f == "summary.json":
                data = timeless_summary(data.decode()).encode()
            elif f.endswith(".csv"):
                data = timeless_csv(data.decode()).encode()
            elif f == "config.toml" or f == "sweep.toml":
                data = re.sub(rb'\nbackend = "[a-z]+"', b"", data)
                # start files are written with their absolute path: the checkout's place
                data = data.replace(ROOT.encode() + b"/", b"<repository>/")
            out[rel] = hashlib.sha256(data).hexdigest()[:16]
    return out


def run(binary, source, sets, out):
    cmd = [binary, "run", source, "-o", out, "--backend", "cpu"]
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    write = "--write" in sys.argv[2:]
    got = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, sets in CASES.items():
            out = os.path.join(tmp, name)
            run(binary, os.path.join("examples", name + ".toml"), sets, out)
            got[name] = digest_dir(out)
        for name, text in (("every-optimizer", EVERY_OPTIMIZER), ("adam-family", ADAM_FAMILY)):
            path = os.path.join(tmp, name + ".toml")
            with open(path, "w") as fh:
                fh.write(text)
            run(binary, path, [], os.path.join(tmp, name))
            got[name] = digest_dir(os.path.join(tmp, name))
    if write:
        with open(DIGESTS, "w") as fh:
            json.dump(got, fh, indent=1, sort_keys=True)
            fh.write("\n")
        print(f"wrote {DIGESTS}: {sum(len(v) for v in got.values())} files of {len(got)} runs")
        return 0
    want = json.load(open(DIGESTS))
    bad = []
    for name in sorted(set(want) | set(got)):
        w, g = want.get(name, {}), got.get(name, {})
        for f in sorted(set(w) | set(g)):
            if w.get(f) != g.get(f):
                bad.append(f"{name}/{f}: recorded {w.get(f)}, now {g.get(f)}")
    if bad:
        print("run directories differ from tests/regression/example_digests.json:")
        print("\n".join("  " + b for b in bad))
        return 1
    print(f"{len(got)} run directories, {sum(len(v) for v in got.values())} files: as recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
