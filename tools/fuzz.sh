#!/usr/bin/env bash
# Fuzzes the experiment parser and validation with libFuzzer (clang from the
# distribution) under AddressSanitizer + UndefinedBehaviorSanitizer.
#   tools/fuzz.sh [seconds]      default 600
# Seeds: examples/*.toml and tests/fuzz/regressions/. A finding is written
# to build/fuzz/crash-* (or leak-, timeout-): copy it into
# tests/fuzz/regressions/ (the test suite parses every file there), fix, rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
need=(clang libclang-rt-14-dev libfmt-dev libtomlplusplus-dev)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
mkdir -p build/fuzz/corpus
# -DNDEBUG as in the product's builds: toml++ 3.3's debug assertions fire on
# some malformed input that its release build reports as a parse error.
clang++ -std=c++17 -O1 -g -DNDEBUG -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -Iinclude -I. -DSADDLESCOPE_VERSION='"fuzz"' \
  tools/fuzz/fuzz_experiment.cpp src/core/config.cpp src/core/experiment.cpp \
  -lfmt -o build/fuzz/fuzz_experiment
cp examples/*.toml tests/fuzz/regressions/* build/fuzz/corpus/ 2>/dev/null || true
./build/fuzz/fuzz_experiment -max_total_time="$seconds" -timeout=5 -max_len=4096 \
  -artifact_prefix=build/fuzz/ -print_final_stats=1 build/fuzz/corpus
