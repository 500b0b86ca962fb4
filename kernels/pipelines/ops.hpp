// The coupled objectives' pipelines, written once over backend primitives
// (docs/design.md, Part II): each pipeline in kernels/pipelines/ is a
// function template over an `Ops` type that each backend implements with its
// own launches and library calls (src/cpu/objectives.cpp: OpenBLAS and
// OpenMP loops; src/cuda/objectives.cu: cuBLAS and generic kernels). The
// element-wise work between two GEMMs is a functor with an SS_HD call
// operator, defined beside the pipeline, so it too is written once.
//
// An Ops type provides (row-major arrays, T = float or double):
//   std::int64_t padded(rows)       rows the pass covers: the arrays of a
//                                   pass over `rows` rows hold this many
//                                   (CUDA: whole row tiles, padding rows zero
//                                   on input; CPU: rows);
//   gemm_rows(rows, tb, cols, k, A, B, C, beta = 0)
//                                   C [rows, cols] = A [rows, k] op(B) + beta
//                                   C, op(B) = B [k, cols] or (tb) B^T with B
//                                   [cols, k]; a row's bits do not depend on
//                                   how many rows share the call (row tiles);
//   gemm(ta, tb, m, n, k, A, B, C, beta = 0)
//                                   one GEMM C [m, n] = op(A) op(B) + beta C,
//                                   op(A) = A [m, k] or (ta) A^T, A [k, m];
//   gemm_batched(rows, ta, tb, m, n, k, A, sa, B, sb, C, sc, beta = 0)
//                                   for each entry e < rows, C_e = op(A_e)
//                                   op(B_e) + beta C_e with A_e = A + e sa
//                                   (and so on; a stride of 0 shares the
//                                   operand), each entry the same product
//                                   whatever the number of entries (CUDA:
//                                   calls of a fixed number of entries);
//   activate(x, rows, stride, len) x_r <- tanh(x_r) element-wise for the
//                                   rows r < rows of len elements, stride
//                                   apart (the networks' tanh; the CPU:
//                                   SLEEF's deterministic vectorized tanh,
//                                   within 3.5 ulp);
//   exp(x, rows, stride, len)      x_r <- exp(x_r) likewise (the networks'
//                                   softmax; the CPU: SLEEF's exp, 1 ulp);
//   map(rows, width, f)             f(r, k) for every r < rows, k < width, in
//                                   any order (f writes its own outputs);
//   reduce_apply(rows, width, f)    per row r: K double sums s (f.sum(r, k,
//                                   s) adds entry k's terms and may write
//                                   outputs), in a fixed order per backend
//                                   (CPU: k ascending; CUDA: block_sums'
//                                   tree), so a row's sums do not depend on
//                                   timing; then f.row(r, s) once (values,
//                                   losses) and f.apply(r, k, s) for every k
//                                   (projections; may be empty).
#pragma once

#include <cstdint>

#include "../hd.hpp"
