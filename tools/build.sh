#!/usr/bin/env bash
# Installs the dependencies, configures and builds saddlescope.
#   tools/build.sh [preset]     preset: default (CUDA when nvcc is found; the default) or cpu
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
bash tools/install_deps.sh
# nvcc often lives outside PATH; let CMake's CUDA detection find it.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
