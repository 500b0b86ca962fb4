#!/usr/bin/env bash
# Installs saddlescope's build and test dependencies from Debian's packages.
# Idempotent: packages already present are left alone, and apt-get runs only
# when something is missing. The CUDA toolkit is not installed here: when
# nvcc is on PATH (or in /usr/local/cuda/bin) the CUDA backend is built too.
set -euo pipefail

packages=(
  cmake ninja-build g++ make pkg-config  # build
  libfmt-dev                   # fmt: message and table formatting
  libcli11-dev                 # CLI11: the command line
  libtomlplusplus-dev          # toml++: experiment files
  nlohmann-json3-dev           # nlohmann-json: summary.json, benchmark JSON
  librandom123-dev             # Random123: Philox counter-based random numbers
  libsleef-dev                 # SLEEF: vectorized tanh for the CPU mlp
  libgtest-dev                 # GoogleTest: the test suite
  libopenblas-dev liblapacke-dev  # OpenBLAS + LAPACKE: CPU BLAS/LAPACK
  python3 python3-numpy python3-matplotlib  # the report (saddlescope report, python/)
  python3-pytest               # the report's tests (tests/python)
  libopenmpi-dev openmpi-bin   # Open MPI: mpirun -np R saddlescope run (ranks share a run)
)
# OpenMP comes with g++ (libgomp).

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "install_deps: all Debian packages present"
fi

if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "install_deps: CUDA toolkit found: the CUDA backend will be built"
else
  echo "install_deps: no CUDA toolkit: building the CPU backend only (the CUDA backend is a stub)"
fi
