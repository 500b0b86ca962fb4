// The BLAS kernels of the programs (the CLI and the benchmarks): see
// choose_blas_kernels. Header-only: call it first thing in main().
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern "C" char* openblas_get_corename(void);

namespace saddlescope {

// OpenBLAS (the CPU backend's BLAS) picks its kernels from the CPU model
// when it loads; a model newer than the library falls back to its oldest
// x86-64 kernels (Prescott, SSE3), several times slower on AVX-512 and AVX2
// CPUs (the mlp-20k run 4.5x; docs/design.md, II.4). The choice is fixed at
// load time, so the program starts itself again with OPENBLAS_CORETYPE
// naming the kernel family the CPU supports. A set OPENBLAS_CORETYPE is
// kept (and stops a second start).
inline void choose_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const char* core = openblas_get_corename();
  if (core == nullptr || std::strcmp(core, "Prescott") != 0) return;
  __builtin_cpu_init();
  const char* family = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    family = "SkylakeX";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    family = "Haswell";
  if (family == nullptr) return;
  ::setenv("OPENBLAS_CORETYPE", family, 1);
  ::execv("/proc/self/exe", argv);  // returns only when it failed: go on with the loaded kernels
}

}  // namespace saddlescope
