// The networks' pipelines (the teacher-student MLP and the deep linear
// network), written once over the backends' Ops (kernels/pipelines/ops.hpp):
// forward and backward passes and Hessian-vector products by the R-operator
// (Pearlmutter), each step a batched GEMM with one entry per row (every
// entry the same single-matrix product the CPU would make per trajectory)
// or an element-wise map; and the dense Hessians of any objective from its
// Hessian-vector products at one point.
//
// Strides: a batched GEMM entry e reads A at a + e * sa (and so on); a
// stride of 0 shares an operand between the entries (the inputs X; the one
// point of a dense Hessian, `shared`).
#pragma once

#include <cstdint>

#include "../mlp.hpp"
#include "ops.hpp"

namespace saddlescope::pipelines {

// ---------------------------------------------------------------------------
// Element-wise steps. Maps over [entries * samples, width] rows take the
// entry once per row (e = rs / samples, hoisted out of the entry loop), so
// no element divides.

// a[rs, j] += p_e[off + j] (a bias row added to every sample of entry e).
template <class T>
struct AddBias {
  T* a;
  const T* p;
  std::int64_t ps, off, samples, width;
  SS_HD void operator()(std::int64_t rs, std::int64_t j) const {
    const std::int64_t e = rs / samples;
    a[rs * width + j] += p[e * ps + off + j];
  }
};

// Sums over the samples in order (the CPU's order): dst_e[j] = sum_q
// src_e[q, j], src_e at src + e * ss [samples, width], dst_e at dst + e * ds.
template <class T>
struct ColumnSums {
  const T* src;
  std::int64_t ss;
  T* dst;
  std::int64_t ds, samples, width;
  SS_HD void operator()(std::int64_t e, std::int64_t j) const {
    const T* s = src + e * ss + j;
    T acc = T(0);
    for (std::int64_t q = 0; q < samples; ++q) acc += s[q * width];
    dst[e * ds + j] = acc;
  }
};

// MLP residuals of entry e (Ops::reduce_apply): r = out + b2 - Y, out <-
// dout = r / n, and the loss 1/(2n) sum r^2 into f[e].
template <class T>
struct MlpResidual {
  static constexpr int K = 1;
  T* out;
  const T* p;
  std::int64_t ps, b2;
  const T* y;
  unsigned no, o;
  T inv_n;
  double* f;
  double samples;
  SS_HD void sum(std::int64_t e, std::int64_t q, double (&s)[K]) const {
    T* oq = out + e * no + q;
    const T res = *oq + p[e * ps + b2 + static_cast<unsigned>(q) % o] - y[q];
    *oq = res * inv_n;
    s[0] += 0.5 * static_cast<double>(res) * static_cast<double>(res);
  }
  SS_HD void row(std::int64_t e, const double (&s)[K]) const { f[e] = s[0] / samples; }
  SS_HD void apply(std::int64_t, std::int64_t, const double (&)[K]) const {}
};

// dA = dH tanh'(A) through H = tanh(A) (da may alias dh); flat rows.
template <class T>
struct MlpDact {
  const T *dh, *h;
  T* da;
  std::int64_t width;
  SS_HD void operator()(std::int64_t r, std::int64_t q) const {
    const std::int64_t k = r * width + q;
    da[k] = dh[k] * mlp_act_d(h[k]);
  }
};

// R{A} = X V1^T + c1 (ra holds X V1^T), R{H} = tanh'(A) R{A}: rows (e, sample).
template <class T>
struct MlpRHidden {
  T *ra, *rh;
  const T* h;
  std::int64_t hs;  // H's stride per entry: samples * hidden, or 0 (shared)
  const T* v;
  std::int64_t vs, b1, samples, hidden;
  SS_HD void operator()(std::int64_t rs, std::int64_t j) const {
    const std::int64_t e = rs / samples, q = rs - e * samples;
    const std::int64_t k = rs * hidden + j;
    ra[k] += v[e * vs + b1 + j];
    rh[k] = mlp_act_d(h[e * hs + q * hidden + j]) * ra[k];
  }
};

// R{dout} = (R{out} + c2) / n in place: rows (e, sample).
template <class T>
struct MlpROut {
  T* rout;
  const T* v;
  std::int64_t vs, b2, samples, o;
  T inv_n;
  SS_HD void operator()(std::int64_t rs, std::int64_t j) const {
    const std::int64_t e = rs / samples;
    rout[rs * o + j] = (rout[rs * o + j] + v[e * vs + b2 + j]) * inv_n;
  }
};

// R{dA} = R{dH} tanh'(A) + dH tanh''(A) R{A} in place of R{dH}: rows (e, sample).
template <class T>
struct MlpRDact {
  T* rdh;
  const T *h, *dh;
  std::int64_t hs;  // stride of H and dH per entry (0: shared)
  const T* ra;
  std::int64_t samples, hidden;
  SS_HD void operator()(std::int64_t rs, std::int64_t j) const {
    const std::int64_t e = rs / samples, q = rs - e * samples;
    const std::int64_t k = rs * hidden + j, f = e * hs + q * hidden + j;
    rdh[k] = rdh[k] * mlp_act_d(h[f]) + dh[f] * mlp_act_dd(h[f]) * ra[k];
  }
};

// Deep-linear residuals of entry e (Ops::reduce_apply): R = Z_L - Y, dZ_L =
// R / n, and the loss 1/(2n) ||R||^2 into f[e].
template <class T>
struct DlResidual {
  static constexpr int K = 1;
  const T* z;
  T* dz;
  std::int64_t ws;
  const T* y;
  T samples;
  double* f;
  SS_HD void sum(std::int64_t e, std::int64_t q, double (&s)[K]) const {
    const T res = z[e * ws + q] - y[q];
    dz[e * ws + q] = res / samples;
    s[0] += 0.5 * static_cast<double>(res) * static_cast<double>(res);
  }
  SS_HD void row(std::int64_t e, const double (&s)[K]) const {
    f[e] = s[0] / static_cast<double>(samples);
  }
  SS_HD void apply(std::int64_t, std::int64_t, const double (&)[K]) const {}
};

// dst_e = src_e / n (R{dZ_L} = R{Z_L} / n), rows e of width len, ws apart.
template <class T>
struct DlROut {
  const T* src;
  T* dst;
  std::int64_t ws;
  T samples;
  SS_HD void operator()(std::int64_t e, std::int64_t q) const {
    dst[e * ws + q] = src[e * ws + q] / samples;
  }
};

// ---------------------------------------------------------------------------
// The MLP (layout of a parameter row in kernels/mlp.hpp).

template <class T>
struct MlpArrays {
  MlpShape s;
  const T* x;  // inputs [n, d]
  const T* y;  // labels [n, o]
  std::int64_t dim;
};

// Forward and backward pass of `rows` parameter rows x [rows, dim]: A = X
// W1^T, H = tanh(A + b1) (in place in hid), out = H W2^T, the residuals (loss
// into f, out <- dout) and, when g is not null, the gradient rows: grad W2 =
// dout^T H, grad b2 = colsum dout, dH = dout W2, dA = dH tanh'(A) (da may
// alias dh), grad W1 = dA^T X, grad b1 = colsum dA. Work spaces hid, dh, da
// [padded(rows), n, h], out [padded(rows), n, o]; f [padded(rows)].
template <class Ops, class T>
void mlp_value_grad(Ops& ops, const MlpArrays<T>& m, std::int64_t rows, const T* x, T* g, double* f,
                    T* hid, T* dh, T* da, T* out) {
  if (rows == 0) return;
  const MlpShape& s = m.s;
  const std::int64_t dim = m.dim, n = s.n, d = s.d, hh = s.h, o = s.o;
  const std::int64_t nh = n * hh, no = n * o, rp = ops.padded(rows);
  ops.gemm_batched(rows, false, true, n, hh, d, m.x, 0, x + s.w1(), dim, hid, nh);  // X W1^T
  ops.map(rp * n, hh, AddBias<T>{hid, x, dim, s.b1(), n, hh});
  ops.activate(hid, rp * nh);                                                        // tanh
  ops.gemm_batched(rows, false, true, n, o, hh, hid, nh, x + s.w2(), dim, out, no);  // H W2^T
  ops.reduce_apply(
      rp, no,
      MlpResidual<T>{out, x, dim, s.b2(), m.y, static_cast<unsigned>(no), static_cast<unsigned>(o),
                     T(1) / static_cast<T>(n), f, static_cast<double>(n)});
  if (!g) return;
  ops.gemm_batched(rows, true, false, o, hh, n, out, no, hid, nh, g + s.w2(), dim);  // dout^T H
  ops.map(rp, o, ColumnSums<T>{out, no, g + s.b2(), dim, n, o});
  ops.gemm_batched(rows, false, false, n, hh, o, out, no, x + s.w2(), dim, dh, nh);  // dout W2
  ops.map(rp, nh, MlpDact<T>{dh, hid, da, nh});
  ops.gemm_batched(rows, true, false, hh, d, n, da, nh, m.x, 0, g + s.w1(), dim);  // dA^T X
  ops.map(rp, hh, ColumnSums<T>{da, nh, g + s.b1(), dim, n, hh});
}

// Hessian-vector products for `rows` directions v [rows, dim] into hv, at
// parameters x with the forward arrays hid, dh (before tanh': da not
// aliasing dh) and dout (in out) of mlp_value_grad. shared: every
// direction at the one point x (its forward arrays once: the columns of a
// dense Hessian); else direction r at row r. Work spaces ra, rh, rdh
// [padded(rows), n, h], rout [padded(rows), n, o].
template <class Ops, class T>
void mlp_hvp(Ops& ops, const MlpArrays<T>& m, std::int64_t rows, bool shared, const T* x,
             const T* hid, const T* dh, const T* dout, const T* v, T* hv, T* ra, T* rh, T* rdh,
             T* rout) {
  if (rows == 0) return;
  const MlpShape& s = m.s;
  const std::int64_t dim = m.dim, n = s.n, d = s.d, hh = s.h, o = s.o;
  const std::int64_t nh = n * hh, no = n * o, rp = ops.padded(rows);
  const std::int64_t ps = shared ? 0 : dim, hs = shared ? 0 : nh, os = shared ? 0 : no;
  const T* w2 = x + s.w2();
  const T* v2 = v + s.w2();
  const T inv_n = T(1) / static_cast<T>(n);
  ops.gemm_batched(rows, false, true, n, hh, d, m.x, 0, v + s.w1(), dim, ra, nh);  // X V1^T
  ops.map(rp * n, hh, MlpRHidden<T>{ra, rh, hid, hs, v, dim, s.b1(), n, hh});
  ops.gemm_batched(rows, false, true, n, o, hh, rh, nh, w2, ps, rout, no);          // R{H} W2^T
  ops.gemm_batched(rows, false, true, n, o, hh, hid, hs, v2, dim, rout, no, T(1));  // + H V2^T
  ops.map(rp * n, o, MlpROut<T>{rout, v, dim, s.b2(), n, o, inv_n});
  // R{grad W2} = R{dout}^T H + dout^T R{H};  R{grad b2} = colsum R{dout}
  ops.gemm_batched(rows, true, false, o, hh, n, rout, no, hid, hs, hv + s.w2(), dim);
  ops.gemm_batched(rows, true, false, o, hh, n, dout, os, rh, nh, hv + s.w2(), dim, T(1));
  ops.map(rp, o, ColumnSums<T>{rout, no, hv + s.b2(), dim, n, o});
  // R{dH} = R{dout} W2 + dout V2;  R{dA} = R{dH} tanh'(A) + dH tanh''(A) R{A}
  ops.gemm_batched(rows, false, false, n, hh, o, rout, no, w2, ps, rdh, nh);
  ops.gemm_batched(rows, false, false, n, hh, o, dout, os, v2, dim, rdh, nh, T(1));
  ops.map(rp * n, hh, MlpRDact<T>{rdh, hid, dh, hs, ra, n, hh});
  ops.gemm_batched(rows, true, false, hh, d, n, rdh, nh, m.x, 0, hv + s.w1(), dim);  // R{dA}^T X
  ops.map(rp, hh, ColumnSums<T>{rdh, nh, hv + s.b1(), dim, n, hh});
}

// ---------------------------------------------------------------------------
// The deep linear network: a parameter row is [W_1 (d_1 x d_0), ..., W_L],
// Z_l = W_l Z_(l-1) with Z_0 = X [d_0, n], L = 1/(2n) ||Z_L - Y||^2.

template <class T>
struct DeepLinearArrays {
  const std::int64_t* d;  // widths d_0 .. d_L
  std::int64_t layers;    // L
  std::int64_t n;         // samples
  const T* x;             // [d_0, n]
  const T* y;             // [d_L, n]
  const T* zeros;         // d_0 n zeros: R{Z_0}
  std::int64_t dim;
  const std::int64_t* off;   // W_l at off[l] of a parameter row
  const std::int64_t* zoff;  // Z_l at zoff[l] of a work row (dZ_l at span + zoff[l])
  std::int64_t span;         // n (d_1 + ... + d_L)
  std::int64_t ws;           // work row: 2 span
};

// Forward and backward pass of `rows` parameter rows: Z_l = W_l Z_(l-1), the
// residuals (loss into f, dZ_L = (Z_L - Y) / n) and, when g is not null, the
// gradient rows: grad W_l = dZ_l Z_(l-1)^T and dZ_(l-1) = W_l^T dZ_l for l
// = L .. 1. Work space: work [padded(rows), ws].
template <class Ops, class T>
void dl_value_grad(Ops& ops, const DeepLinearArrays<T>& a, std::int64_t rows, const T* x, T* g,
                   double* f, T* work) {
  if (rows == 0) return;
  const std::int64_t dim = a.dim, n = a.n, ws = a.ws, L = a.layers, rp = ops.padded(rows);
  const std::int64_t* d = a.d;
  T* z = work;            // Z_l at z + zoff[l]
  T* dz = work + a.span;  // dZ_l at dz + zoff[l]
  const auto act = [&](std::int64_t l) -> const T* { return l == 1 ? a.x : z + a.zoff[l - 1]; };
  const auto act_stride = [&](std::int64_t l) { return l == 1 ? std::int64_t(0) : ws; };
  for (std::int64_t l = 1; l <= L; ++l)  // Z_l = W_l Z_(l-1)
    ops.gemm_batched(rows, false, false, d[l], n, d[l - 1], x + a.off[l], dim, act(l),
                     act_stride(l), z + a.zoff[l], ws);
  ops.reduce_apply(rp, d[L] * n,
                   DlResidual<T>{z + a.zoff[L], dz + a.zoff[L], ws, a.y, static_cast<T>(n), f});
  if (!g) return;
  for (std::int64_t l = L; l >= 1; --l) {
    ops.gemm_batched(rows, false, true, d[l], d[l - 1], n, dz + a.zoff[l], ws, act(l),
                     act_stride(l), g + a.off[l], dim);  // grad W_l = dZ_l Z_(l-1)^T
    if (l == 1) break;
    ops.gemm_batched(rows, true, false, d[l - 1], n, d[l], x + a.off[l], dim, dz + a.zoff[l], ws,
                     dz + a.zoff[l - 1], ws);  // dZ_(l-1) = W_l^T dZ_l
  }
}

// Hessian-vector products by the R-operator for `rows` directions v into hv
// at parameters x with the forward work rows of dl_value_grad (run with g):
// R{Z_l} = V_l Z_(l-1) + W_l R{Z_(l-1)} (R{Z_0} = 0, its terms added as the
// exact zeros they are), R{dZ_L} = R{Z_L} / n, then for l = L .. 1: R{grad
// W_l} = R{dZ_l} Z_(l-1)^T + dZ_l R{Z_(l-1)}^T and R{dZ_(l-1)} = V_l^T dZ_l +
// W_l^T R{dZ_l}. shared as for mlp_hvp. Work space rwork [padded(rows), ws]:
// R{Z_l} and R{dZ_l} at the offsets of Z_l and dZ_l.
template <class Ops, class T>
void dl_hvp(Ops& ops, const DeepLinearArrays<T>& a, std::int64_t rows, bool shared, const T* x,
            const T* work, const T* v, T* hv, T* rwork) {
  if (rows == 0) return;
  const std::int64_t dim = a.dim, n = a.n, ws = a.ws, L = a.layers, rp = ops.padded(rows);
  const std::int64_t ps = shared ? 0 : dim, fs = shared ? 0 : ws;
  const std::int64_t* d = a.d;
  const T* z = work;            // forward Z_l, rows fs apart
  const T* dz = work + a.span;  // forward dZ_l
  T* rz = rwork;                // R{Z_l}, rows ws apart
  T* rdz = rwork + a.span;      // R{dZ_l}
  const auto act = [&](std::int64_t l) -> const T* { return l == 1 ? a.x : z + a.zoff[l - 1]; };
  const auto act_stride = [&](std::int64_t l) { return l == 1 ? std::int64_t(0) : fs; };
  // R{Z_(l-1)}: the zeros for l = 1 (shared by every entry).
  const auto rprev = [&](std::int64_t l) -> const T* {
    return l == 1 ? a.zeros : rz + a.zoff[l - 1];
  };
  const auto rprev_stride = [&](std::int64_t l) { return l == 1 ? std::int64_t(0) : ws; };
  for (std::int64_t l = 1; l <= L; ++l) {
    const std::int64_t m_l = d[l], k_l = d[l - 1];
    ops.gemm_batched(rows, false, false, m_l, n, k_l, v + a.off[l], dim, act(l), act_stride(l),
                     rz + a.zoff[l], ws);  // V_l Z_(l-1)
    ops.gemm_batched(rows, false, false, m_l, n, k_l, x + a.off[l], ps, rprev(l), rprev_stride(l),
                     rz + a.zoff[l], ws, T(1));  // + W_l R{Z_(l-1)}
  }
  ops.map(rp, d[L] * n, DlROut<T>{rz + a.zoff[L], rdz + a.zoff[L], ws, static_cast<T>(n)});
  for (std::int64_t l = L; l >= 1; --l) {
    const std::int64_t m_l = d[l], k_l = d[l - 1];
    ops.gemm_batched(rows, false, true, m_l, k_l, n, rdz + a.zoff[l], ws, act(l), act_stride(l),
                     hv + a.off[l], dim);  // R{dZ_l} Z_(l-1)^T
    ops.gemm_batched(rows, false, true, m_l, k_l, n, dz + a.zoff[l], fs, rprev(l), rprev_stride(l),
                     hv + a.off[l], dim, T(1));  // + dZ_l R{Z_(l-1)}^T
    if (l == 1) break;
    ops.gemm_batched(rows, true, false, k_l, n, m_l, v + a.off[l], dim, dz + a.zoff[l], fs,
                     rdz + a.zoff[l - 1], ws);  // V_l^T dZ_l
    ops.gemm_batched(rows, true, false, k_l, n, m_l, x + a.off[l], ps, rdz + a.zoff[l], ws,
                     rdz + a.zoff[l - 1], ws, T(1));  // + W_l^T R{dZ_l}
  }
}

// ---------------------------------------------------------------------------
// Dense Hessians from Hessian-vector products at one point.

// Rows j < rows of v [rows, n]: the unit vectors e_(k0 + j) for j < cols,
// zero rows after them (padding).
template <class T>
struct UnitRows {
  T* v;
  std::int64_t k0, cols, n;
  SS_HD void operator()(std::int64_t j, std::int64_t i) const {
    v[j * n + i] = j < cols && i == k0 + j ? T(1) : T(0);
  }
};

// Column k0 + j of the row-major h [n, n] = row j of hv [cols, n].
template <class T>
struct Columns {
  const T* hv;
  T* h;
  std::int64_t k0, n;
  SS_HD void operator()(std::int64_t j, std::int64_t i) const { h[i * n + k0 + j] = hv[j * n + i]; }
};

// h [n, n] <- (h + h^T) / 2 in T: row i, entries k > i.
template <class T>
struct Symmetrize {
  T* h;
  std::int64_t n;
  SS_HD void operator()(std::int64_t i, std::int64_t c) const {
    const std::int64_t k = i + 1 + c;
    if (k < n) h[i * n + k] = h[k * n + i] = (h[i * n + k] + h[k * n + i]) / T(2);
  }
};

// The Hessian h [n, n] at the point whose forward pass has run: columns
// H e_k in groups of up to `group` unit directions (v, hv: [padded(group),
// n]) through hvp(c) (c directions of v into hv), then (H + H^T) / 2 in T.
template <class Ops, class T, class Hvp>
void hessian_from_hvps(Ops& ops, std::int64_t n, std::int64_t group, T* v, T* hv, T* h, Hvp&& hvp) {
  for (std::int64_t k0 = 0; k0 < n; k0 += group) {
    const std::int64_t c = group < n - k0 ? group : n - k0;
    ops.map(ops.padded(c), n, UnitRows<T>{v, k0, c, n});
    hvp(c);
    ops.map(c, n, Columns<T>{hv, h, k0, n});
  }
  ops.map(n, n, Symmetrize<T>{h, n});
}

}  // namespace saddlescope::pipelines
