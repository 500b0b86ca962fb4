#!/usr/bin/env bash
# One command for a session with a GPU (docs/status.md says what awaits one).
# In order of what matters most, each step bounded so the whole fits one
# device call (GPU_SESSION_SECONDS, default 570):
#   1. every CUDA test against the CPU backend, SADDLESCOPE_REQUIRE_CUDA=1 so
#      that none may skip (cuda-tests.log): the tests over backends
#      (tests/backends.hpp) instantiated on cuda, named cuda/Suite.Test/case;
#   2. compute-sanitizer memcheck and racecheck on the CUDA tests
#      (sanitizer.log);
#   3. the fused step in f64, the finder's and census's steps one-off
#      against prepared (steps-cuda-*.json; bench/bench_steps.cpp), the
#      Krylov census on 1,024 mlp-20k points (appended to steps-cuda-*.json;
#      bench/bench_krylov.cpp) and the
#      benchmark suite beside PyTorch / JAX (fused_step-cuda-f64-*.json,
#      suite-cuda-*.json; bench/suite.py);
#   4. the 20k example end to end (st20k-summary.json);
#   5. the rest of the test binary (other-tests.log).
# Writes at most 8 files to $OUT (default ./gpu-results); session.log holds
# nvidia-smi and every step's tail. Commit them under bench/results/.
#
# The device machines have CUDA and CMake but not the Debian packages and no
# network. Prepare here:
#   bash tools/device_deps.sh pack   # the .deb files
#   cmake --build --preset default && bash tools/device_deps.sh bin   # the programs, built here
# and carry .device-deps (device tool: carry = [".device-deps"]). Without
# .device-deps/bin.tar.xz the programs are built there (minutes of device time).
#   command: bash bench/gpu_session.sh [all|tests|bench]
set -uo pipefail
mode="${1:-all}"
cd "$(dirname "$0")/.."
out="${OUT:-gpu-results}"
mkdir -p "$out"
log="$out/session.log"
exec > >(tee -a "$log") 2>&1
export PATH="/usr/local/cuda/bin:$PATH"
export SADDLESCOPE_REQUIRE_CUDA=1 PYTHONUNBUFFERED=1
budget="${GPU_SESSION_SECONDS:-570}"
# Runs "$@" for at most min(cap, time left) seconds.
bounded() {
  local cap=$1; shift
  local t=$((budget - SECONDS)); ((t > cap)) && t=$cap
  if ((t < 10)); then echo "(not run, out of time: $*)"; return 124; fi
  timeout -k 5 "$t" "$@"; local rc=$?
  ((rc == 124)) && echo "(stopped after $t s: $*)"
  return $rc
}
nvidia-smi 2>&1 | head -20
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-')
echo "== GPU: $gpu   commit $(git rev-parse --short HEAD 2>/dev/null)"

if [ -d .device-deps/debs ] && ! [ -f /usr/include/toml++/toml.h ]; then
  bash tools/device_deps.sh unpack > /dev/null
  eval "$(bash tools/device_deps.sh env)"
fi
tests=build/default/tests/saddlescope_tests
if [ -f .device-deps/bin.tar.xz ]; then
  bash tools/device_deps.sh install
fi
if ! "$tests" --gtest_list_tests > /dev/null 2>&1; then
  [ -x "$tests" ] && { echo "carried programs do not run here:"; "$tests" --gtest_list_tests 2>&1 | head -3; }
  echo "== build ($SECONDS s)"
  rm -rf build/default
  cmake --preset default > /dev/null && bounded 300 cmake --build --preset default -j "$(nproc)" 2>&1 | grep -E "error|warning"
  [ -x "$tests" ] || { echo "build failed"; exit 1; }
fi

if [ "$mode" != "bench" ]; then
  echo "== CUDA tests, SADDLESCOPE_REQUIRE_CUDA=1 ($SECONDS s)"
  bounded 120 "$tests" --gtest_filter='cuda/*' > "$out/cuda-tests.log" 2>&1
  echo "rc=$?"
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |Failure|^\[==========\]" "$out/cuda-tests.log" | head -40
  for tool in memcheck racecheck; do
    echo "== compute-sanitizer $tool ($SECONDS s)"
    # memcheck over every CUDA test took about 4 minutes on an H200
    # (bench/results/gpu-nvidia-h200-20261129/); racecheck covers the
    # kernels with shared memory (the fused step's and status kernel's
    # reductions: the ensemble suites, determinism, and the evaluation of
    # the separable objectives and the rotated quadratic; the compaction
    # scan, the retraction and perturbation blocks: the ensemble and
    # determinism suites; the shared pipelines' reduce-and-apply kernel: the p-spin's, the gaussian field's and the networks'
    # evaluation cases) within its bound.
    cap=$([ $tool = memcheck ] && echo 240 || echo 90)
    race='cuda/BackendEnsemble*:cuda/BackendDeterminism*:cuda/BackendEval.*/quadratic*'
    race+=':cuda/BackendEval.*/double_well*:cuda/BackendEval.*/styblinski_tang*'
    race+=':cuda/BackendEval.*/rastrigin*:cuda/BackendEval.*/rosenbrock*'
    race+=':cuda/BackendEval.*/pspin*:cuda/BackendRowTiles.*/pspin_p2*'
    race+=':cuda/BackendEval.*/gaussian_field*:cuda/BackendEval.*/mlp*:cuda/BackendEval.*/deep_linear*'
    filter=$([ $tool = memcheck ] && echo 'cuda/*' || echo "$race")
    echo "==== $tool" >> "$out/sanitizer.log"
    bounded "$cap" compute-sanitizer --tool "$tool" --error-exitcode 9 \
      "$tests" --gtest_filter="$filter" > "$out/$tool.tmp" 2>&1
    echo "rc=$?"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|^\[  (PASSED|FAILED) |Invalid|Race" "$out/$tool.tmp" | head -8
    cat "$out/$tool.tmp" >> "$out/sanitizer.log" && rm -f "$out/$tool.tmp"
  done
fi
if [ "$mode" != "tests" ]; then
  echo "== fused step f64 ($SECONDS s)"
  bounded 45 ./build/default/bench/bench_fused_step --backend cuda --precision f64 \
    --out "$out/fused_step-cuda-f64-$gpu.json" 2>&1 | tail -6
  echo "== finder and census steps, one-off against prepared ($SECONDS s)"
  for ex in "gaussian-field objective.dim=200" "p-spin-census objective.dim=100"; do
    set -- $ex
    bounded 40 ./build/default/bench/bench_steps --experiment "examples/$1.toml" --set "$2" \
      --backend cuda --batch 8 >> "$out/steps-cuda-$gpu.json"
  done
  echo "== Krylov census: lanczos and slq on 1,024 stopping points of mlp-20k ($SECONDS s)"
  # Appended to the steps file (the device tool returns at most 8 files).
  bounded 90 ./build/default/bench/bench_krylov --experiment examples/mlp-20k.toml \
    --set run.trajectories=1024 --points 1024 --group 256 --backend cuda \
    >> "$out/steps-cuda-$gpu.json"
  tail -c 600 "$out/steps-cuda-$gpu.json"
  echo "== benchmark suite ($SECONDS s)"
  # Its figures stay behind (the device tool returns at most 8 files).
  mkdir -p /tmp/suite
  # The device has no network: its own python3 (with torch and jax) runs the peers.
  bounded 150 python3 bench/suite.py --backend cuda --timeout 60 --python python3 \
    --skip cublas_fraction,flagship --out "/tmp/suite/suite-cuda-$gpu.json" 2>&1 | tail -25
  cp /tmp/suite/suite-cuda-"$gpu".json "$out/" 2>/dev/null
  echo "== example styblinski-tang-20k ($SECONDS s)"
  rm -rf /tmp/st20k
  bounded 30 ./build/default/saddlescope run examples/styblinski-tang-20k.toml -o /tmp/st20k 2>&1 | tail -8
  cp /tmp/st20k/summary.json "$out/st20k-summary.json" 2>/dev/null
fi
if [ "$mode" != "bench" ]; then
  echo "== the other tests, CUDA build ($SECONDS s)"
  bounded 600 "$tests" --gtest_filter='-cuda/*' > "$out/other-tests.log" 2>&1
  echo "rc=$?"
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[==========\]" "$out/other-tests.log" | head -20
fi
echo "== done ($SECONDS s)"
