// Elementwise transcendental functions over arrays for the CPU backend,
// vectorized by SLEEF (Debian's libsleef): the networks' tanh activation,
// which glibc evaluates one element at a time (it was 60% of the mlp's
// step), and the exponentials of their softmax (exp at SLEEF's 1.0-ulp bound).
//
// All paths use SLEEF's deterministic FMA family ("finz") at its 3.5-ulp
// bound (u35: 3x faster than the 1.0-ulp u10 functions, measured 2.7 ulp
// at worst in float and 2.9 in double; the u10 tanh was a quarter of the
// f32 mlp-20k step):
// AVX-512F (16 float / 8 double lanes), AVX2+FMA (8 / 4 lanes) or the scalar
// `purecfma` function, chosen once at run time. The finz functions perform the
// same operations at every vector width, so every path returns the same bits
// and results do not depend on the CPU (tests/test_vector_math.cpp checks
// each path the CPU has against the scalar one, and the accuracy against
// long double). Only an x86-64 CPU without FMA (before 2013) or another
// architecture falls back to glibc's tanh, whose last bits differ.
#pragma once

#include <cstdint>

namespace saddlescope {

enum class VectorIsa : int { scalar = 0, avx2 = 1, avx512 = 2 };

// The widest path this CPU runs.
VectorIsa best_vector_isa();

// x[i] = tanh(x[i]) for i < n, on the given path (default: the best one).
void tanh_inplace(float* x, std::int64_t n, VectorIsa isa = best_vector_isa());
void tanh_inplace(double* x, std::int64_t n, VectorIsa isa = best_vector_isa());
// x[i] = exp(x[i]) (SLEEF's finz exp at 1.0 ulp; the networks' softmax).
void exp_inplace(float* x, std::int64_t n, VectorIsa isa = best_vector_isa());
void exp_inplace(double* x, std::int64_t n, VectorIsa isa = best_vector_isa());

}  // namespace saddlescope
