#!/usr/bin/env bash
# One command for a session with a GPU (the device tool runs it in the repo
# root): build with CUDA, run every test (the CUDA tests then run against the
# CPU backend instead of skipping), compute-sanitizer memcheck and racecheck
# on the CUDA tests, and the fused-step benchmark. Results go to $OUT (or
# ./gpu-results) to be committed under bench/results/.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-results}"
mkdir -p "$out"
export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-')
bash tools/build.sh default > "$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
ctest --preset default -j 8 > "$out/ctest.log" 2>&1; echo "ctest rc=$?" | tee -a "$out/ctest.log"
tail -5 "$out/ctest.log"
./build/default/tests/saddlescope_tests --gtest_filter='*Cuda*' > "$out/cuda_tests.log" 2>&1
echo "cuda tests rc=$?"; grep -E "PASSED|FAILED|SKIPPED" "$out/cuda_tests.log" | head -20
for tool in memcheck racecheck; do
  compute-sanitizer --tool "$tool" --error-exitcode 9 \
    ./build/default/tests/saddlescope_tests --gtest_filter='*Cuda*:-*Determinism*' \
    > "$out/sanitizer-$tool.log" 2>&1
  echo "compute-sanitizer $tool rc=$?"; tail -3 "$out/sanitizer-$tool.log"
done
./build/default/bench/bench_fused_step --backend cuda --out "$out/fused_step-cuda-$gpu.json"
./build/default/bench/bench_fused_step --backend cuda --precision f64 --out "$out/fused_step-cuda-f64-$gpu.json"
./build/default/saddlescope run examples/styblinski-tang-20k.toml -o "$out/st20k" > "$out/st20k.log" 2>&1
echo "flagship example rc=$?"; tail -8 "$out/st20k.log"
rm -rf "$out/st20k/finals.npy"
