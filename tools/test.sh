#!/usr/bin/env bash
# Sets up, builds and runs every test (ctest). On a machine without a GPU the
# CUDA tests are skipped with the reason; with one they run against the CPU.
#   tools/test.sh [preset]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
bash tools/build.sh "$preset"
ctest --preset "$preset" -j "$(nproc)"
