#!/usr/bin/env bash
# One command for a session with a GPU: build with CUDA, run every test (the
# CUDA tests then compare against the CPU backend instead of skipping),
# compute-sanitizer memcheck and racecheck on the CUDA tests, the fused-step
# benchmarks and the 20k example. Writes at most 8 files to $OUT (default
# ./gpu-results): session.log (with nvidia-smi), suite-cuda-*.json (bench/suite.py),
# fused_step-cuda-f64-*.json, st20k-summary.json (the device tool returns at most 8 files).
#
# The device machines have CUDA and CMake but not the Debian packages and no
# network: run `bash tools/device_deps.sh pack` here first and carry
# .device-deps/debs (device tool: carry = [".device-deps/debs"]).
#   command: bash bench/gpu_session.sh [all|tests|bench]
# (a device command may run 10 minutes at most: `tests` = build, ctest,
# compute-sanitizer; `bench` = build, benchmark suite, example; `all` = both)
set -uo pipefail
mode="${1:-all}"
cd "$(dirname "$0")/.."
out="${OUT:-gpu-results}"
mkdir -p "$out"
log="$out/session.log"
exec > >(tee -a "$log") 2>&1
export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi 2>&1 | head -20   # into session.log (the device tool returns at most 8 files)
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-')
echo "== GPU: $gpu"

if [ -d .device-deps/debs ] && ! [ -f /usr/include/toml++/toml.h ]; then
  bash tools/device_deps.sh unpack
  eval "$(bash tools/device_deps.sh env)"
fi
echo "== build"
cmake --preset default > /dev/null && cmake --build --preset default -j "$(nproc)" 2>&1 | grep -E "error|warning" 
[ -x build/default/tests/saddlescope_tests ] || { echo "build failed"; exit 1; }
grep -q "SADDLESCOPE_HAVE_CUDA:INTERNAL=ON\|CMAKE_CUDA_COMPILER:" build/default/CMakeCache.txt && echo "CUDA configured"

if [ "$mode" != "bench" ]; then
echo "== ctest"
ctest --preset default -j 8 2>&1 | tail -4
echo "== CUDA tests"
./build/default/tests/saddlescope_tests --gtest_filter='*Cuda*' 2>&1 | grep -E "^\[  (PASSED|FAILED|SKIPPED)|Failure|OK maxdiff" | head -40
for tool in memcheck racecheck; do
  echo "== compute-sanitizer $tool"
  compute-sanitizer --tool "$tool" --error-exitcode 9 \
    ./build/default/tests/saddlescope_tests --gtest_filter='*Cuda*' 2>&1 | tail -4
  echo "rc=${PIPESTATUS[0]}"
done
fi
if [ "$mode" != "tests" ]; then
echo "== benchmark suite (one JSON: fused step vs copy roof, peers, census, scaling, flagship, cuBLAS fraction)"
python3 bench/suite.py --backend cuda --out "$out/suite-cuda-$gpu.json" 2>&1 | tail -20
./build/default/bench/bench_fused_step --backend cuda --precision f64 --out "$out/fused_step-cuda-f64-$gpu.json"
echo "== example styblinski-tang-20k"
rm -rf /tmp/st20k
./build/default/saddlescope run examples/styblinski-tang-20k.toml -o /tmp/st20k 2>&1 | tail -8
cp /tmp/st20k/summary.json "$out/st20k-summary.json" 2>/dev/null
fi
