#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (CPU
# backend; the CUDA tests skip). Any sanitizer report fails the test that
# triggered it (halt_on_error / abort_on_error in the preset).
#   tools/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
cmake --preset sanitize >/dev/null
cmake --build --preset sanitize -j "$(nproc)"
ctest --preset sanitize -j "$(nproc)"
