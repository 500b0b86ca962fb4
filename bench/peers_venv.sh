#!/usr/bin/env bash
# Creates (once) the Python environment of the benchmark peers: PyTorch, JAX
# and optax from PyPI beside numpy, in build/peers-venv (ignored by git).
# Prints the interpreter's path on its last line. bench/suite.py calls it;
# PEERS_VENV=DIR chooses another place. On a machine with an NVIDIA driver
# JAX's CUDA plugin is installed too (jax[cuda13]); without one, jax[cpu].
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${PEERS_VENV:-$root/build/peers-venv}"
py="$venv/bin/python"
want_cuda=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && want_cuda=1
stamp="$venv/.peers-ok-$want_cuda"
if [ ! -f "$stamp" ]; then
  echo "peers_venv: creating $venv (PyTorch, JAX, optax from PyPI; a few minutes)" >&2
  base="$(command -v /usr/bin/python3 || command -v python3)"
  [ -x "$py" ] || "$base" -m venv "$venv"
  "$py" -m pip install -q --upgrade pip >&2
  jax="jax[cpu]"
  [ "$want_cuda" = 1 ] && jax="jax[cuda13]"
  "$py" -m pip install -q numpy "$jax" optax torch >&2
  touch "$stamp"
fi
echo "$py"
