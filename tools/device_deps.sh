#!/usr/bin/env bash
# Dependencies for a GPU machine that has CUDA and CMake but neither these
# Debian packages nor a network (the device machines lent to some sessions).
#
#   tools/device_deps.sh pack     # here: download the .deb files into .device-deps/debs
#   tools/device_deps.sh unpack   # there: extract them into .device-deps/root
#   tools/device_deps.sh env      # there: print the exports that make CMake and the loader find them
#   tools/device_deps.sh bin      # here: pack build/default's programs into .device-deps/bin.tar.xz
#                                 #   (configured with -DSADDLESCOPE_MPI=OFF: no MPI runtime there)
#   tools/device_deps.sh install  # there: unpack them into build/default (no build on device time)
#
# Carry .device-deps/debs with the device tool's `carry`, then on the device:
#   bash tools/device_deps.sh unpack && eval "$(bash tools/device_deps.sh env)" && bash bench/gpu_session.sh
# (bench/gpu_session.sh does the unpack itself when .device-deps/debs exists.)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.device-deps
debs=(libfmt-dev libfmt9 libcli11-dev libtomlplusplus-dev libtomlplusplus3 nlohmann-json3-dev librandom123-dev
      libsleef-dev libsleef3 libgtest-dev googletest libopenblas-dev libopenblas0 libopenblas-pthread-dev
      libopenblas0-pthread liblapacke liblapacke-dev libtmglib3 libgfortran5)
arch=x86_64-linux-gnu

case "${1:-}" in
  pack)
    mkdir -p "$dir/debs"
    (cd "$dir/debs" && apt-get download "${debs[@]}")
    du -sh "$dir/debs"
    ;;
  unpack)
    root="$PWD/$dir/root"
    rm -rf "$root" && mkdir -p "$root"
    for d in "$dir"/debs/*.deb; do dpkg -x "$d" "$root"; done
    # Debian selects the BLAS/LAPACK implementation through alternatives,
    # which dpkg -x does not create: point them at OpenBLAS (pthreads).
    lib="$root/usr/lib/$arch"
    for so in libopenblas.so libopenblas.so.0 libblas.so libblas.so.3 liblapack.so liblapack.so.3; do
      src="$lib/openblas-pthread/$so"
      [ -e "$src" ] && ln -sf "$src" "$lib/$so"
    done
    echo "unpacked into $root"
    ;;
  env)
    root="$PWD/$dir/root/usr"
    echo "export CMAKE_PREFIX_PATH=\"$root\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}\""
    echo "export CPATH=\"$root/include:$root/include/$arch\${CPATH:+:\$CPATH}\""
    echo "export LD_LIBRARY_PATH=\"$root/lib/$arch:$root/lib/$arch/openblas-pthread\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
    echo "export LIBRARY_PATH=\"$root/lib/$arch\${LIBRARY_PATH:+:\$LIBRARY_PATH}\""
    ;;
  bin)
    # The programs a GPU session runs, built here (same CUDA toolkit, x86-64),
    # so that the device's minutes go to running them. Their compiled-in test
    # data paths point into this checkout: SOURCE_DIR lets `install` link it.
    b=build/default
    for f in saddlescope tests/saddlescope_tests bench/bench_fused_step bench/bench_census \
      bench/bench_steps bench/bench_krylov; do
      [ -x "$b/$f" ] || { echo "device_deps bin: $b/$f is missing: cmake --build --preset default" >&2; exit 1; }
    done
    grep -q "^CMAKE_CUDA_COMPILER:" "$b/CMakeCache.txt" ||
      { echo "device_deps bin: $b was configured without CUDA" >&2; exit 1; }
    # The device machines have no MPI runtime (and dpkg -x cannot relocate
    # Open MPI's): their programs are built without it.
    if ldd "$b/saddlescope" | grep -q libmpi; then
      echo "device_deps bin: $b/saddlescope links MPI, which the device lacks: build it without:" >&2
      echo "  cmake --preset default -DSADDLESCOPE_MPI=OFF && cmake --build --preset default" >&2
      exit 1
    fi
    mkdir -p "$dir"
    echo "$PWD" > "$b/SOURCE_DIR"
    git rev-parse HEAD > "$b/COMMIT" 2>/dev/null || true
    tar -C "$b" -cJf "$dir/bin.tar.xz" SOURCE_DIR COMMIT saddlescope tests/saddlescope_tests \
      bench/bench_fused_step bench/bench_census bench/bench_steps bench/bench_krylov
    du -sh "$dir/bin.tar.xz"
    ;;
  install)
    [ -f "$dir/bin.tar.xz" ] || { echo "device_deps install: no $dir/bin.tar.xz" >&2; exit 1; }
    mkdir -p build/default && tar -C build/default -xJf "$dir/bin.tar.xz"
    src=$(cat build/default/SOURCE_DIR)
    if [ "$src" != "$PWD" ] && ! [ -e "$src" ]; then mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"; fi
    echo "installed build/default programs built from $(cat build/default/COMMIT 2>/dev/null) in $src"
    ;;
  *)
    echo "usage: tools/device_deps.sh pack|unpack|env|bin|install" >&2
    exit 2
    ;;
esac
