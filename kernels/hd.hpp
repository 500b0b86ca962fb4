// Host/device portability for the math shared by the CPU and CUDA backends.
// SS_HD marks a function that compiles as plain C++ under g++ and as
// __host__ __device__ under nvcc, so one definition serves both backends.
#pragma once

#if defined(__CUDACC__)
#define SS_HD __host__ __device__ __forceinline__
#else
#define SS_HD inline
#endif

#include <cmath>
#include <cstdint>

namespace saddlescope {
// Overloads for float and double on host (std::) and device (CUDA's std::).
using std::cos;
using std::erf;
using std::exp;
using std::fabs;
using std::log;
using std::log1p;
using std::sin;
using std::sqrt;
using std::tanh;

// True for finite values; written without isfinite so that host and device
// share one definition (x - x is NaN for inf and NaN).
SS_HD bool finite(double v) { return v - v == 0.0; }
}  // namespace saddlescope
