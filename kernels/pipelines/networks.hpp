// The fully connected networks' pipelines (objective kinds network, mlp and
// deep-linear: kernels/network.hpp), written once over the backends' Ops
// (kernels/pipelines/ops.hpp): forward and backward passes and Hessian-vector products by the
// R-operator (Pearlmutter), each step a batched GEMM with one entry per row (every entry the same
// single-matrix product the CPU would make per trajectory) or an element-wise map; and the dense
// Hessians of any objective from its Hessian-vector products at one point.
//
// Strides: a batched GEMM entry e reads A at a + e * sa (and so on); a
// stride of 0 shares an operand between the entries (the inputs X; the one
// point of a dense Hessian, `shared`).
#pragma once

#include <cstdint>

#include "../network.hpp"
#include "ops.hpp"

namespace saddlescope::pipelines {

// ---------------------------------------------------------------------------
// Element-wise steps. Maps over rows (e, q) = (entry, sample) take rs =
// e * samples + q; every entry's arrays are one work row, ws (or, for the
// forward arrays of a shared point, 0) apart, each slot [samples, width].

// Element (e, q, j) of a slot at stride s.
SS_HD std::int64_t slot_index(std::int64_t rs, std::int64_t j, std::int64_t s, std::int64_t samples,
                              std::int64_t width) {
  const std::int64_t e = rs / samples;
  return e * s + (rs - e * samples) * width + j;
}

// a_e[q, j] += p_e[off + j]: a bias row added to every sample of entry e.
template <class T>
struct NetBias {
  T* a;
  std::int64_t as;
  const T* p;
  std::int64_t ps, off, samples, width;
  SS_HD void operator()(std::int64_t rs, std::int64_t j) const {
    a[slot_index(rs, j, as, samples, width)] += p[rs / samples * ps + off + j];
  }
};

// H = act(A) on an entry's whole slot [samples, width] (k < samples width).
template <class T, Activation F>
struct NetActivate {
  const T* a;
  T* h;
  std::int64_t ws;
  SS_HD void operator()(std::int64_t e, std::int64_t k) const {
    h[e * ws + k] = act_value<F>(a[e * ws + k]);
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

// Cross-entropy, first step: P_q = Z_q - max_j Z_q[j] per sample (rows
// (e, q), width 1); Ops::exp then turns P into exp(Z_q - max).
template <class T>
struct NetSoftmaxShift {
  const T* z;
  T* prob;
  std::int64_t ws, samples, o;
  SS_HD void operator()(std::int64_t rs, std::int64_t) const {
    const std::int64_t k = slot_index(rs, 0, ws, samples, o);
    T m = z[k];
    for (std::int64_t j = 1; j < o; ++j) m = z[k + j] > m ? z[k + j] : m;
    for (std::int64_t j = 0; j < o; ++j) prob[k + j] = z[k + j] - m;
  }
};

// The loss of entry e (Ops::reduce_apply over its samples q), Z -> dZ in
// place: mse, r = Z - Y, dZ = r / n, sum 1/2 |r|^2; cross-entropy (P
// holding exp(Z_q - m_q), m_q = max_j Z_q[j]), S_q = sum_j P_q[j], P =
// softmax(Z) = P / S (kept for the R-operator), dZ = (P - onehot(c)) / n,
// sum log S_q + m_q - Z_q[c] = logsumexp(Z_q) - Z_q[c]. The loss / n into
// f[e]; with labels, the training accuracy into acc[e] (when not null):
// the fraction of samples whose label is the first maximum of Z_q (NaN
// outputs count as wrong).
template <class T>
struct NetLossRows {
  static constexpr int K = 2;
  T* z;
  T* prob;
  std::int64_t ws, o;
  const T* y;
  const std::int32_t* labels;
  bool cross_entropy;
  T inv_n;
  double samples;
  double* f;
  double* acc;
  SS_HD void sum(std::int64_t e, std::int64_t q, double (&s)[K]) const {
    T* zq = z + e * ws + q * o;
    T m = zq[0];
    std::int64_t first = 0;  // the first largest output
    bool nan = !(zq[0] == zq[0]);
    for (std::int64_t j = 1; j < o; ++j) {
      nan = nan || !(zq[j] == zq[j]);
      if (zq[j] > m) {
        m = zq[j];
        first = j;
      }
    }
    if (labels && !nan && first == labels[q]) s[1] += 1.0;
    if (!cross_entropy) {
      for (std::int64_t j = 0; j < o; ++j) {
        const T res = zq[j] - y[q * o + j];
        zq[j] = res * inv_n;
        s[0] += 0.5 * static_cast<double>(res) * static_cast<double>(res);
      }
      return;
    }
    const std::int32_t c = labels[q];
    T* pq = prob + e * ws + q * o;
    T total = T(0);
    for (std::int64_t j = 0; j < o; ++j) total += pq[j];
    s[0] += static_cast<double>(log(total)) + static_cast<double>(m - zq[c]);
    const T inv = T(1) / total;
    for (std::int64_t j = 0; j < o; ++j) {
      pq[j] = pq[j] * inv;
      zq[j] = (pq[j] - (j == c ? T(1) : T(0))) * inv_n;
    }
  }
  SS_HD void row(std::int64_t e, const double (&s)[K]) const {
    f[e] = s[0] / samples;
    if (acc) acc[e] = s[1] / samples;
  }
  SS_HD void apply(std::int64_t, std::int64_t, const double (&)[K]) const {}
};

// dA = dH act'(A): the forward slots of one layer, an entry's whole slot.
template <class T, Activation F>
struct NetDact {
  const T *dh, *a, *h;
  T* da;
  std::int64_t ws;
  SS_HD void operator()(std::int64_t e, std::int64_t j) const {
    const std::int64_t k = e * ws + j;
    da[k] = dh[k] * act_d<F>(a[k], h[k]);
  }
};

// Weight decay of row e (Ops::reduce_apply over its parameters): f[e] +=
// lambda/2 |x_e|^2 and, when g is not null, g_e += lambda x_e.
template <class T>
struct NetDecay {
  static constexpr int K = 1;
  const T* x;
  T* g;
  std::int64_t dim;
  double lambda;
  double* f;
  SS_HD void sum(std::int64_t e, std::int64_t k, double (&s)[K]) const {
    const T xv = x[e * dim + k];
    s[0] += static_cast<double>(xv) * static_cast<double>(xv);
    if (g) g[e * dim + k] += static_cast<T>(lambda) * xv;
  }
  SS_HD void row(std::int64_t e, const double (&s)[K]) const { f[e] += 0.5 * lambda * s[0]; }
  SS_HD void apply(std::int64_t, std::int64_t, const double (&)[K]) const {}
};

// R{H} = act'(A) R{A} on an entry's whole slot; the forward A, H at stride fs.
template <class T, Activation F>
struct NetRAct {
  const T* ra;
  T* rh;
  const T *a, *h;
  std::int64_t ws, fs;
  SS_HD void operator()(std::int64_t e, std::int64_t j) const {
    const std::int64_t k = e * ws + j, fk = e * fs + j;
    rh[k] = act_d<F>(a[fk], h[fk]) * ra[k];
  }
};

// mse: R{dZ} = R{Z} / n in place, an entry's whole slot.
template <class T>
struct NetRMse {
  T* rz;
  std::int64_t ws;
  T inv_n;
  SS_HD void operator()(std::int64_t e, std::int64_t j) const {
    rz[e * ws + j] = rz[e * ws + j] * inv_n;
  }
};

// cross-entropy: R{dZ_q} = P_q o (R{Z_q} - P_q . R{Z_q}) / n in place, one
// sample per call (width 1); P at stride fs.
template <class T>
struct NetRSoftmax {
  T* rz;
  const T* prob;
  std::int64_t ws, fs, samples, o;
  T inv_n;
  SS_HD void operator()(std::int64_t rs, std::int64_t) const {
    T* r = rz + slot_index(rs, 0, ws, samples, o);
    const T* p = prob + slot_index(rs, 0, fs, samples, o);
    T dot = T(0);
    for (std::int64_t j = 0; j < o; ++j) dot += p[j] * r[j];
    for (std::int64_t j = 0; j < o; ++j) r[j] = p[j] * (r[j] - dot) * inv_n;
  }
};

// R{dA} = R{dH} act'(A) + dH act''(A) R{A} in place of R{dH}, an entry's
// whole slot; the forward A, H, dH at stride fs.
template <class T, Activation F>
struct NetRDact {
  T* rdh;
  const T *ra, *a, *h, *dh;
  std::int64_t ws, fs;
  SS_HD void operator()(std::int64_t e, std::int64_t j) const {
    const std::int64_t k = e * ws + j, fk = e * fs + j;
    rdh[k] = rdh[k] * act_d<F>(a[fk], h[fk]) + dh[fk] * act_dd<F>(a[fk], h[fk]) * ra[k];
  }
};

// hv_e += lambda v_e (weight decay's Hessian lambda I).
template <class T>
struct NetRDecay {
  T* hv;
  const T* v;
  std::int64_t dim;
  T lambda;
  SS_HD void operator()(std::int64_t e, std::int64_t k) const {
    hv[e * dim + k] += lambda * v[e * dim + k];
  }
};

// ---------------------------------------------------------------------------
// The fully connected network (kernels/network.hpp: the parameter and work
// row layouts, the activations).

template <class T>
struct NetworkArrays {
  const NetworkLayout* lay;
  const std::int64_t* d;  // widths d_0 .. d_L
  Activation act;
  NetworkLoss loss;
  double weight_decay;
  const T* x;                  // inputs [n, d_0]
  const T* y;                  // mse targets [n, d_L] (else unused)
  const std::int32_t* labels;  // class per sample [n]: cross-entropy's, or null (no accuracy)
};

// Forward and backward pass of `rows` parameter rows x [rows, dim]: for l =
// 1 .. L, A_l = H_(l-1) W_l^T (+ b_l), H_l = act(A_l) (l < L; tanh through
// Ops::activate, in place), Z = A_L; the loss (into f, with the accuracy
// into acc when acc and labels are not null; Z -> dZ); when g is not null
// the gradient rows: for l = L .. 1, grad W_l = dA_l^T H_(l-1), grad b_l =
// colsum dA_l, dH_(l-1) = dA_l W_l, dA_(l-1) = dH_(l-1) act'(A_(l-1)), with
// dA_L = dZ; then the weight decay. Work space: work [padded(rows), lay->work].
template <class Ops, class T>
void network_value_grad(Ops& ops, const NetworkArrays<T>& m, std::int64_t rows, const T* x, T* g,
                        double* f, double* acc, T* work) {
  if (rows == 0) return;
  const NetworkLayout& lay = *m.lay;
  const std::int64_t dim = lay.dim, n = lay.n, ws = lay.work, L = lay.L, rp = ops.padded(rows);
  const std::int64_t* d = m.d;
  const bool linear = m.act == Activation::linear, pre = keeps_pre(m.act);
  const auto prev = [&](std::int64_t l) -> const T* { return l == 1 ? m.x : work + lay.h[l - 1]; };
  const auto prev_stride = [&](std::int64_t l) { return l == 1 ? std::int64_t(0) : ws; };
  for (std::int64_t l = 1; l <= L; ++l) {
    T* a = work + (l == L ? lay.out : pre ? lay.a[l] : lay.h[l]);
    ops.gemm_batched(rows, false, true, n, d[l], d[l - 1], prev(l), prev_stride(l), x + lay.w[l],
                     dim, a, ws);  // H_(l-1) W_l^T
    if (lay.b[l] >= 0) ops.map(rp * n, d[l], NetBias<T>{a, ws, x, dim, lay.b[l], n, d[l]});
    if (l == L || linear) continue;
    if (m.act == Activation::tanh) {
      ops.activate(a, rp, ws, n * d[l]);
    } else {
      with_activation(m.act, [&](auto act) {
        ops.map(rp, n * d[l], NetActivate<T, decltype(act)::value>{a, work + lay.h[l], ws});
      });
    }
  }
  const bool ce = m.loss == NetworkLoss::cross_entropy;
  if (ce) {  // P = exp(Z - max) per sample
    ops.map(rp * n, 1, NetSoftmaxShift<T>{work + lay.out, work + lay.prob, ws, n, d[L]});
    ops.exp(work + lay.prob, rp, ws, n * d[L]);
  }
  ops.reduce_apply(rp, n,
                   NetLossRows<T>{work + lay.out, work + lay.prob, ws, d[L], m.y, m.labels, ce,
                                  T(1) / static_cast<T>(n), static_cast<double>(n), f,
                                  m.labels ? acc : nullptr});
  if (g) {
    for (std::int64_t l = L; l >= 1; --l) {
      const T* da = work + (l == L ? lay.out : lay.da[l]);
      ops.gemm_batched(rows, true, false, d[l], d[l - 1], n, da, ws, prev(l), prev_stride(l),
                       g + lay.w[l], dim);  // dA_l^T H_(l-1)
      if (lay.b[l] >= 0) ops.map(rp, d[l], ColumnSums<T>{da, ws, g + lay.b[l], dim, n, d[l]});
      if (l == 1) break;
      T* dh = work + lay.dh[l - 1];
      ops.gemm_batched(rows, false, false, n, d[l - 1], d[l], da, ws, x + lay.w[l], dim, dh,
                       ws);  // dA_l W_l
      if (!linear)
        with_activation(m.act, [&](auto act) {
          ops.map(rp, n * d[l - 1],
                  NetDact<T, decltype(act)::value>{dh, work + (pre ? lay.a[l - 1] : lay.h[l - 1]),
                                                   work + lay.h[l - 1], work + lay.da[l - 1], ws});
        });
    }
  }
  if (m.weight_decay != 0.0) ops.reduce_apply(rp, dim, NetDecay<T>{x, g, dim, m.weight_decay, f});
}

// Hessian-vector products by the R-operator for `rows` directions v [rows,
// dim] into hv, at parameters x with the forward work rows of
// network_value_grad (run with g). shared: every direction at the one point
// x and its one work row (the columns of a dense Hessian); else direction r
// at row r. R{A_l} = R{H_(l-1)} W_l^T + H_(l-1) V_l^T (+ c_l) (R{H_0} = 0:
// X V_1^T), R{H_l} = act'(A_l) R{A_l}; R{dZ} = R{Z} / n (mse) or P o (R{Z} -
// P . R{Z}) / n (cross-entropy); then for l = L .. 1: R{grad W_l} =
// R{dA_l}^T H_(l-1) + dA_l^T R{H_(l-1)}, R{grad b_l} = colsum R{dA_l},
// R{dH_(l-1)} = R{dA_l} W_l + dA_l V_l, R{dA_(l-1)} = R{dH_(l-1)} act'(A) +
// dH_(l-1) act''(A) R{A_(l-1)}; then + lambda v. Work space: rwork
// [padded(rows), lay->work], in the forward layout (kernels/network.hpp).
template <class Ops, class T>
void network_hvp(Ops& ops, const NetworkArrays<T>& m, std::int64_t rows, bool shared, const T* x,
                 const T* work, const T* v, T* hv, T* rwork) {
  if (rows == 0) return;
  const NetworkLayout& lay = *m.lay;
  const std::int64_t dim = lay.dim, n = lay.n, ws = lay.work, L = lay.L, rp = ops.padded(rows);
  const std::int64_t ps = shared ? 0 : dim, fs = shared ? 0 : ws;
  const std::int64_t* d = m.d;
  const bool linear = m.act == Activation::linear, pre = keeps_pre(m.act);
  const auto fpre = [&](std::int64_t l) { return work + (pre ? lay.a[l] : lay.h[l]); };
  for (std::int64_t l = 1; l <= L; ++l) {
    T* ra = rwork + (l == L ? lay.out : lay.a[l]);
    if (l == 1) {
      ops.gemm_batched(rows, false, true, n, d[1], d[0], m.x, 0, v + lay.w[1], dim, ra,
                       ws);  // X V_1^T
    } else {
      ops.gemm_batched(rows, false, true, n, d[l], d[l - 1], rwork + lay.h[l - 1], ws, x + lay.w[l],
                       ps, ra, ws);  // R{H_(l-1)} W_l^T
      ops.gemm_batched(rows, false, true, n, d[l], d[l - 1], work + lay.h[l - 1], fs, v + lay.w[l],
                       dim, ra, ws, T(1));  // + H_(l-1) V_l^T
    }
    if (lay.b[l] >= 0) ops.map(rp * n, d[l], NetBias<T>{ra, ws, v, dim, lay.b[l], n, d[l]});
    if (l < L && !linear)
      with_activation(m.act, [&](auto act) {
        ops.map(rp, n * d[l],
                NetRAct<T, decltype(act)::value>{ra, rwork + lay.h[l], fpre(l), work + lay.h[l], ws,
                                                 fs});
      });
  }
  const T inv_n = T(1) / static_cast<T>(n);
  if (m.loss == NetworkLoss::cross_entropy)
    ops.map(rp * n, 1, NetRSoftmax<T>{rwork + lay.out, work + lay.prob, ws, fs, n, d[L], inv_n});
  else
    ops.map(rp, n * d[L], NetRMse<T>{rwork + lay.out, ws, inv_n});
  for (std::int64_t l = L; l >= 1; --l) {
    const T* rda = rwork + (l == L ? lay.out : lay.dh[l]);  // R{dA_l}, in place of R{dH_l}
    const T* da = work + (l == L ? lay.out : lay.da[l]);
    if (l == 1) {
      ops.gemm_batched(rows, true, false, d[1], d[0], n, rda, ws, m.x, 0, hv + lay.w[1],
                       dim);  // R{dA_1}^T X
    } else {
      ops.gemm_batched(rows, true, false, d[l], d[l - 1], n, rda, ws, work + lay.h[l - 1], fs,
                       hv + lay.w[l], dim);  // R{dA_l}^T H_(l-1)
      ops.gemm_batched(rows, true, false, d[l], d[l - 1], n, da, fs, rwork + lay.h[l - 1], ws,
                       hv + lay.w[l], dim, T(1));  // + dA_l^T R{H_(l-1)}
    }
    if (lay.b[l] >= 0) ops.map(rp, d[l], ColumnSums<T>{rda, ws, hv + lay.b[l], dim, n, d[l]});
    if (l == 1) break;
    T* rdh = rwork + lay.dh[l - 1];
    ops.gemm_batched(rows, false, false, n, d[l - 1], d[l], rda, ws, x + lay.w[l], ps, rdh,
                     ws);  // R{dA_l} W_l
    ops.gemm_batched(rows, false, false, n, d[l - 1], d[l], da, fs, v + lay.w[l], dim, rdh, ws,
                     T(1));  // + dA_l V_l
    if (!linear)
      with_activation(m.act, [&](auto act) {
        ops.map(
            rp, n * d[l - 1],
            NetRDact<T, decltype(act)::value>{rdh, rwork + lay.a[l - 1], fpre(l - 1),
                                              work + lay.h[l - 1], work + lay.dh[l - 1], ws, fs});
      });
  }
  if (m.weight_decay != 0.0)
    ops.map(rp, dim, NetRDecay<T>{hv, v, dim, static_cast<T>(m.weight_decay)});
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
