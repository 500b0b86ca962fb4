#!/usr/bin/env python3
"""MPI ranks give one process's run directory (docs/design.md II.6,
"Many processes"): `mpirun -np R saddlescope run` for R = 1, 2 and 3 against
the run without mpirun, byte for byte (timings, the device line and the
memory plan, which is rank 0's share, aside), for a separable objective, a
network (GEMM) objective with a census and a Newton finder, a census with a
finder, and a sweep; then a rank killed mid-run and `run --resume`; then the
refusals (more ranks than trajectories, an unwritable run directory on rank
0, a missing data file, a resume with another rank count): exit 2 from
every rank, one message, nothing half-written.

  python3 tests/mpi/mpi_runs.py BINARY [CASE ...]
      CASE: identical, resume, sweep_resume, errors (default: all)
Open MPI runs oversubscribed (more ranks than cores is fine here).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "regression"))
import example_digests  # noqa: E402  (digests of run directories, timings aside)

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMP_WAIT_POLICY="PASSIVE")
# Keep Open MPI off networks a container may not have (shared memory within one node).
ENV.setdefault("OMPI_MCA_btl", "self,vader")
MPIRUN = shutil.which("mpirun") or "mpirun"

EXPERIMENTS = {
    # name: (example, --set overrides)
    "separable": ("double-well-census", ["run.trajectories=11", "run.max_steps=300",
                                         "analysis.max_points=16", "run.save_final_points=true"]),
    # Plateau points in the census; paths and sharpness along them; 2-d paths.
    "plateaus": ("deep-linear-plateaus", ["run.trajectories=12", "run.max_steps=300",
                                          "analysis.max_points=8"]),
    "sharpness": ("mlp-edge-of-stability", ["run.trajectories=3", "run.record_trajectories=3",
                                            "run.max_steps=300"]),
    "paths": ("saddle-2d", ["run.trajectories=12", "run.max_steps=300"]),
    "network-finder": ("digits-critical-points",
                       ["run.trajectories=5", "run.max_steps=150", "finder.max_steps=3",
                        "objective.data.samples=60", "analysis.max_points=8"]),
    "mlp": ("mlp-20k", ["run.trajectories=7", "run.max_steps=20", "objective.inputs=6",
                        "objective.hidden=5", "objective.samples=16"]),
    "census-finder": ("double-well-critical-points",
                      ["run.trajectories=40", "run.max_steps=300", "finder.starts=37",
                       "analysis.max_points=64"]),
    "sweep": ("gaussian-field-sweep", ["finder.starts=23", "analysis.max_points=40"]),
    # Two points, three ranks: a group of two ranks shares the first point's work.
    "sweep-groups": (None, []),
    # Every optimizer, the host-driven ones (saddle-free Newton, annealing) included.
    "every-optimizer": (None, ["run.trajectories=7"]),
}
WRITTEN = {"sweep-groups": lambda: SWEEP_GROUPS,
           "every-optimizer": lambda: example_digests.EVERY_OPTIMIZER}

SWEEP_GROUPS = """
name = "sweep-groups"
seed = 4
[objective]
kind = "double-well"
dim = 8
[init]
kind = "uniform"
scale = 2.0
[run]
trajectories = 9
max_steps = 400
[[optimizer]]
kind = "momentum"
lr = 0.01
momentum = 0.9
[analysis]
points = ["stops", "critical"]
max_points = 32
[finder]
kind = "newton"
starts = 13
[sweep]
"seed" = [4, 5]
"""


def digests(path):
    """example_digests' digests with summary.json's memory_plan (rank 0's share) left out."""
    out = {}
    for dirpath, _, files in os.walk(path):
        for f in files:
            if f == "summary.json":
                full = os.path.join(dirpath, f)
                doc = json.load(open(full))
                doc.pop("memory_plan", None)
                json.dump(doc, open(full, "w"))
    for rel, d in example_digests.digest_dir(path).items():
        out[rel] = d
    return out


def run(cmd, ranks=None, check=True, **kw):
    full = ([MPIRUN, "-np", str(ranks)] if ranks else []) + cmd
    p = subprocess.run(full, env=ENV, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        sys.exit(f"FAILED ({p.returncode}): {' '.join(full)}\n{p.stdout}\n{p.stderr}")
    return p


def experiment_args(name, tmp=None):
    example, sets = EXPERIMENTS[name]
    if example is None:  # written here
        path = os.path.join(tmp, name + ".toml")
        open(path, "w").write(WRITTEN[name]())
        args = [path, "--backend", "cpu"]
    else:
        args = [os.path.join(ROOT, "examples", example + ".toml"), "--backend", "cpu"]
    for s in sets:
        args += ["--set", s]
    return args


def identical(binary, tmp):
    for name in EXPERIMENTS:
        ref = os.path.join(tmp, name + "-1process")
        run([binary, "run", *experiment_args(name, tmp), "-o", ref])
        want = digests(ref)
        for ranks in (1, 2, 3):
            out = os.path.join(tmp, f"{name}-{ranks}ranks")
            p = run([binary, "run", *experiment_args(name, tmp), "-o", out], ranks=ranks)
            got = digests(out)
            bad = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
            if bad:
                sys.exit(f"FAILED: {name} with {ranks} ranks differs from one process in "
                         f"{', '.join(bad)}")
            if ranks > 1 and f"MPI: {ranks} ranks" not in p.stderr:
                sys.exit(f"FAILED: {name}: no MPI line on stderr:\n{p.stderr}")
            if p.stdout.count("results in") != 1:
                sys.exit(f"FAILED: {name}: the report should be printed once (rank 0):\n{p.stdout}")
            print(f"ok: {name}: {ranks} rank(s) == one process ({len(got)} files)")


# Long enough to be stopped mid-run; checkpoints every 0.2 s.
LONG = ["run.trajectories=1000", "run.max_steps=100000", "run.grad_tol=0",
        "run.checkpoint_every=0.2", "analysis.max_points=16"]


def long_args():
    args = [os.path.join(ROOT, "examples", "double-well-census.toml"), "--backend", "cpu"]
    for s in LONG:
        args += ["--set", s]
    return args


def start_and_hit(binary, out, ranks, victim_rank, sig):
    """Starts the long run on `ranks` ranks, waits for the victim's first
    checkpoint, sends it `sig`; returns (exit code, stderr)."""
    p = subprocess.Popen([MPIRUN, "-np", str(ranks), binary, "run", *long_args(), "-o", out],
                         env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = os.path.join(out, f"checkpoint.rank-{victim_rank}-of-{ranks}.bin")
    t0 = time.time()
    while not os.path.exists(ckpt):
        if time.time() - t0 > 60 or p.poll() is not None:
            sys.exit(f"FAILED: rank {victim_rank} wrote no checkpoint\n" + p.communicate()[1])
        time.sleep(0.05)
    time.sleep(0.3)
    victim = None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={victim_rank}".encode() in env and out.encode() in cmd:
            victim = int(pid)
    if victim is None:
        sys.exit(f"FAILED: rank {victim_rank}'s process not found")
    os.kill(victim, sig)
    _, err = p.communicate(timeout=120)
    if p.returncode == 0 or os.path.exists(os.path.join(out, "summary.json")):
        sys.exit(f"FAILED: the stopped run finished ({p.returncode})\n{err}")
    return p.returncode, err


def resume(binary, tmp):
    ref = os.path.join(tmp, "resume-1process")
    run([binary, "run", *long_args(), "-o", ref])
    want = digests(ref)
    # SIGTERM to one rank: it checkpoints and asks the others to; all stop, naming it.
    out = os.path.join(tmp, "stopped-3ranks")
    code, err = start_and_hit(binary, out, 3, 2, signal.SIGTERM)
    if code != 1 or "rank 2 of 3" not in err or "run --resume" not in err:
        sys.exit(f"FAILED: SIGTERM to rank 2: exit {code} (want 1, naming rank 2)\n{err}")
    saved = sorted(f for f in os.listdir(out) if f.startswith("checkpoint.rank-"))
    if saved != [f"checkpoint.rank-{k}-of-3.bin" for k in range(3)]:
        sys.exit(f"FAILED: after a stop every rank should have checkpointed: {saved}")
    run([binary, "run", "--resume", out], ranks=3)
    got = digests(out)
    bad = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    if bad:
        sys.exit(f"FAILED: the run resumed after a stop differs in {', '.join(bad)}")
    print("ok: SIGTERM to one rank stops every rank with checkpoints (exit 1, naming it); "
          "run --resume == one process")
    # SIGKILL to one rank (no goodbye): the launcher ends the others.
    out = os.path.join(tmp, "resume-2ranks")
    code, err = start_and_hit(binary, out, 2, 1, signal.SIGKILL)
    print(f"ok: rank 1 killed (mpirun exit {code}); no summary.json")
    # Another rank count is refused, naming the right one.
    q = run([binary, "run", "--resume", out], ranks=3, check=False)
    if q.returncode != 2 or "mpirun -np 2" not in q.stderr:
        sys.exit(f"FAILED: resume with 3 ranks: exit {q.returncode}\n{q.stderr}")
    q = run([binary, "run", "--resume", out], check=False)
    if q.returncode != 2 or "mpirun -np 2" not in q.stderr:
        sys.exit(f"FAILED: resume as one process: exit {q.returncode}\n{q.stderr}")
    print("ok: a resume with another number of ranks is refused (exit 2)")
    run([binary, "run", "--resume", out], ranks=2)
    got = digests(out)
    bad = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    if bad:
        sys.exit(f"FAILED: the resumed run differs from one process in {', '.join(bad)}")
    left = [f for f in os.listdir(out) if f.startswith("checkpoint")]
    if left:
        sys.exit(f"FAILED: checkpoints left after the run finished: {left}")
    print("ok: killed rank + run --resume == one process")


def sweep_resume(binary, tmp):
    """A sweep on 3 ranks (groups: ranks 0-1 run point 000, rank 2 point 001),
    SIGTERM to rank 2 mid-point: every rank stops with its checkpoint; a resume
    on 2 ranks is refused (the groups would change); on 3 it gives one
    process's sweep."""
    path = os.path.join(tmp, "sweep-long.toml")
    text = open(os.path.join(ROOT, "examples", "double-well-census.toml")).read()
    open(path, "w").write(text + '\n[sweep]\n"seed" = [4, 5]\n')
    args = [path, "--backend", "cpu"]
    for s in LONG:
        args += ["--set", s]
    ref = os.path.join(tmp, "sweep-long-1process")
    run([binary, "run", *args, "-o", ref])
    out = os.path.join(tmp, "sweep-long-3ranks")
    p = subprocess.Popen([MPIRUN, "-np", "3", binary, "run", *args, "-o", out], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = os.path.join(out, "sweep", "001", "checkpoint.bin")  # rank 2 alone runs point 001
    t0 = time.time()
    while not os.path.exists(ckpt):
        if time.time() - t0 > 60 or p.poll() is not None:
            sys.exit("FAILED: no checkpoint of point 001\n" + p.communicate()[1])
        time.sleep(0.05)
    time.sleep(0.3)
    for pid in os.listdir("/proc"):
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except (OSError, NotADirectoryError):
            continue
        if b"OMPI_COMM_WORLD_RANK=2" in env and out.encode() in cmd:
            os.kill(int(pid), signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    if p.returncode != 1 or os.path.exists(os.path.join(out, "summary.json")):
        sys.exit(f"FAILED: the stopped sweep: exit {p.returncode} (want 1)\n{err}")
    q = run([binary, "run", "--resume", out], ranks=2, check=False)
    if q.returncode != 2 or "number of MPI ranks it was started with" not in q.stderr:
        sys.exit(f"FAILED: sweep resume on 2 ranks: exit {q.returncode}\n{q.stderr}")
    run([binary, "run", "--resume", out], ranks=3)
    want, got = digests(ref), digests(out)
    bad = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    if bad:
        sys.exit(f"FAILED: the resumed sweep differs from one process in {', '.join(bad)}")
    print("ok: a sweep stopped on 3 ranks, refused on 2, resumed on 3 == one process")


def refused(binary, tmp, what, cmd, ranks, expect, out=None):
    p = run(cmd, ranks=ranks, check=False)
    if p.returncode != 2:
        sys.exit(f"FAILED: {what}: exit {p.returncode} (want 2)\n{p.stderr}")
    if expect not in p.stderr:
        sys.exit(f"FAILED: {what}: no '{expect}' in\n{p.stderr}")
    if p.stderr.count("saddlescope: error") != 1:
        sys.exit(f"FAILED: {what}: want the error once (rank 0 names the ranks):\n{p.stderr}")
    if out and os.path.exists(out) and os.listdir(out):
        sys.exit(f"FAILED: {what}: {out} holds {os.listdir(out)}")
    line = next(x for x in p.stderr.splitlines() if x.startswith("saddlescope: error"))
    print(f"ok: {what}: exit 2: {line[:160]}")


def errors(binary, tmp):
    sep = experiment_args("separable")
    out = os.path.join(tmp, "too-many-ranks")
    refused(binary, tmp, "more ranks than trajectories",
            [binary, "run", *sep, "--set", "run.trajectories=2", "-o", out], 3,
            "3 ranks share 2 trajectories", out)
    refused(binary, tmp, "unwritable run directory on rank 0",
            [binary, "run", *sep, "-o", "/proc/saddlescope-cannot-write-here"], 2, "rank 0")
    bad = os.path.join(tmp, "missing-data.toml")
    text = open(os.path.join(ROOT, "examples", "digits-optimizers.toml")).read()
    open(bad, "w").write(text.replace("data/digits_x.npy", "data/no_such_file.npy"))
    out = os.path.join(tmp, "missing-data")
    refused(binary, tmp, "a missing data file", [binary, "run", bad, "-o", out], 2,
            "no_such_file.npy", out)
    p = run([binary, "validate", *sep], ranks=3)
    for r in range(3):
        if f"# rank {r} of 3" not in p.stdout or "memory plan" not in p.stdout:
            sys.exit(f"FAILED: validate under MPI lists no share for rank {r}:\n{p.stdout}")
    print("ok: validate under MPI prints each rank's share and memory plan")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    cases = sys.argv[2:] or ["identical", "resume", "sweep_resume", "errors"]
    with tempfile.TemporaryDirectory(prefix="saddlescope-mpi-") as tmp:
        for c in cases:
            {"identical": identical, "resume": resume, "sweep_resume": sweep_resume,
             "errors": errors}[c](binary, tmp)


if __name__ == "__main__":
    main()
