#!/usr/bin/env bash
# Installs the dependencies, configures and builds saddlescope.
#   tools/build.sh [preset]     preset: default (CUDA when nvcc is found; the default) or cpu
# SADDLESCOPE_WERROR=1 turns every compiler warning (g++ and nvcc) into an
# error (CMAKE_COMPILE_WARNING_AS_ERROR); CI sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
bash tools/install_deps.sh
# nvcc often lives outside PATH; let CMake's CUDA detection find it.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
werror=()
[ "${SADDLESCOPE_WERROR:-0}" = 1 ] && werror=(-DCMAKE_COMPILE_WARNING_AS_ERROR=ON)
cmake --preset "$preset" "${werror[@]}" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
