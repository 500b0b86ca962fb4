// CPU backend: OpenMP loops over the shared per-element math in kernels/,
// OpenBLAS GEMMs for coupled objectives. It is the reference backend that
// every CUDA result is tested against.
#include <cblas.h>
#include <fmt/format.h>
#include <lapacke.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

#include "kernels/gaussian_field.hpp"
#include "kernels/inertia.hpp"
#include "kernels/mlp.hpp"
#include "kernels/pspin.hpp"
#include "saddlescope/backend.hpp"
#include "saddlescope/errors.hpp"
#include "src/core/checkpoint.hpp"
#include "src/core/host_track.hpp"
#include "src/cpu/vector_math.hpp"

// Row passes compiled for several x86-64 levels, chosen at load time
// (GCC's function multiversioning); one generic version elsewhere, and under
// AddressSanitizer (the sanitizer build checks memory, not instruction sets,
// and three instrumented copies of every pass triple its compile time).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define SS_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SS_CPU_CLONES
#endif
// `flatten` on the row passes (below); not under AddressSanitizer, where the
// instrumented flattened passes took over 10 minutes to compile.
#if defined(__SANITIZE_ADDRESS__)
#define SS_FLATTEN
#else
#define SS_FLATTEN __attribute__((flatten))
#endif

namespace saddlescope {
namespace {

template <class T>
std::vector<T> convert(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// Row-major C[m, n] = op(A) op(B) (+ beta C), op(A) [m, k], op(B) [k, n];
// ta / tb transpose A [k, m] / B [n, k]. The rows of C are split over the
// OpenMP threads, each calling single-threaded OpenBLAS: OpenBLAS's own
// pthreads and idle OpenMP threads otherwise compete for the cores (measured
// 2.3x slower on the gaussian-field step with 2 cores).
void gemm_call(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b,
               float* c, float beta) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.0f, a, lda, b, tb ? k : n, beta, c, n);
}
void gemm_call(bool ta, bool tb, int m, int n, int k, const double* a, int lda, const double* b,
               double* c, double beta) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.0, a, lda, b, tb ? k : n, beta, c, n);
}
// Row tile of the row-batched GEMMs. OpenBLAS computes a row of C with
// another kernel (another summation order) when it falls in a remainder
// block of fewer rows than its unroll, so a trajectory's bits would depend
// on how many rows share the call: the chunk, the thread split, the running
// rows after compaction. Calls are therefore made on whole tiles of
// kRowTile rows (a multiple of every OpenBLAS unroll), the last one padded
// with zero rows: a row's result is then the same for any row count and
// position (measured on OpenBLAS 0.3.21, f32 and f64, and held by
// tests/test_engine.cpp's chunking and compaction tests).
constexpr std::int64_t kRowTile = 32;

// C (m x n) = A (m x k, or k x m when ta) B + beta C, in whole row tiles
// when !ta (rows of A are trajectories), split over threads by tiles.
template <class T>
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, const T* b,
          T* c, T beta = T(0)) {
  const int lda = static_cast<int>(ta ? m : k);
  if (ta) {  // one call: the rows of A are not trajectories
    gemm_call(ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), a, lda, b, c,
              beta);
    return;
  }
  const std::int64_t tiles = m / kRowTile, rest = m % kRowTile;
  const std::int64_t threads =
      (m * n * k > (1 << 18)) ? std::min<std::int64_t>(omp_get_max_threads(), tiles) : 1;
  if (tiles > 0) {
    const std::int64_t per = (tiles + std::max<std::int64_t>(threads, 1) - 1) /
                             std::max<std::int64_t>(threads, 1) * kRowTile;
#pragma omp parallel for schedule(static) if (threads > 1)
    for (std::int64_t t = 0; t < std::max<std::int64_t>(threads, 1); ++t) {
      const std::int64_t r0 = t * per, r1 = std::min(tiles * kRowTile, r0 + per);
      if (r0 >= r1) continue;
      gemm_call(false, tb, static_cast<int>(r1 - r0), static_cast<int>(n), static_cast<int>(k),
                a + r0 * k, lda, b, c + r0 * n, beta);
    }
  }
  if (rest == 0) return;
  // The last rows in a zero-padded tile.
  const std::int64_t r0 = tiles * kRowTile;
  // Per-thread buffers kept between calls: no allocation per step.
  thread_local std::vector<T> ap, cp;
  ap.assign(static_cast<std::size_t>(kRowTile * k), T(0));
  cp.assign(static_cast<std::size_t>(kRowTile * n), T(0));
  std::copy_n(a + r0 * k, rest * k, ap.data());
  if (beta != T(0)) std::copy_n(c + r0 * n, rest * n, cp.data());
  gemm_call(false, tb, static_cast<int>(kRowTile), static_cast<int>(n), static_cast<int>(k),
            ap.data(), static_cast<int>(k), b, cp.data(), beta);
  std::copy_n(cp.data(), rest * n, c + r0 * n);
}

// m[r, j] += bias[j] for an r x c row-major matrix.
template <class T>
void add_row_bias(T* m, const T* bias, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) m[r * cols + j] += bias[j];
}

// out[j] = sum_r m[r, j], rows in order, for an r x c row-major matrix.
template <class T>
void column_sums(const T* m, std::int64_t rows, std::int64_t cols, T* out) {
  for (std::int64_t j = 0; j < cols; ++j) out[j] = T(0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) out[j] += m[r * cols + j];
}

// The teacher-student MLP on one parameter row p (layout in kernels/mlp.hpp):
// the forward pass, value and gradient, and Hessian-vector products by
// forward-over-reverse differentiation (Pearlmutter's R-operator), each a few
// single-threaded GEMMs; the callers run trajectories in parallel.
template <class T>
struct MlpPass {
  const MlpShape& s;
  const T* x;                           // inputs [n, d]
  const T* y;                           // labels [n, o]
  std::vector<T> h, out, dout, dh, da;  // [n, h], [n, o], [n, o], [n, h], [n, h]
  std::vector<T> ra, rh, rout, rdh;     // R-operator work space (hvp)

  MlpPass(const MlpShape& shape, const T* inputs, const T* labels)
      : s(shape), x(inputs), y(labels) {}

  // Forward and backward at parameters p: returns L, writes the gradient g.
  double value_grad(const T* p, T* g) {
    const auto n = static_cast<int>(s.n), d = static_cast<int>(s.d), hh = static_cast<int>(s.h),
               o = static_cast<int>(s.o);
    h.resize(static_cast<std::size_t>(s.n * s.h));
    out.resize(static_cast<std::size_t>(s.n * s.o));
    dout.resize(out.size());
    dh.resize(h.size());
    const T *w1 = p + s.w1(), *b1 = p + s.b1(), *w2 = p + s.w2(), *b2 = p + s.b2();
    gemm_call(false, true, n, hh, d, x, d, w1, h.data(), T(0));  // X W1^T
    add_row_bias(h.data(), b1, s.n, s.h);
    tanh_inplace(h.data(), s.n * s.h);  // mlp_act, vectorized (src/cpu/vector_math.hpp)
    gemm_call(false, true, n, o, hh, h.data(), hh, w2, out.data(), T(0));  // H W2^T
    double loss = 0;
    const T inv_n = T(1) / static_cast<T>(s.n);
    for (std::int64_t q = 0; q < s.n * s.o; ++q) {
      const T r = out[q] + b2[q % s.o] - y[q];
      loss += 0.5 * static_cast<double>(r) * static_cast<double>(r);
      dout[q] = r * inv_n;
    }
    if (!g) return loss / static_cast<double>(s.n);
    gemm_call(true, false, o, hh, n, dout.data(), o, h.data(), g + s.w2(), T(0));  // dout^T H
    column_sums(dout.data(), s.n, s.o, g + s.b2());
    gemm_call(false, false, n, hh, o, dout.data(), o, w2, dh.data(), T(0));  // dout W2
    da.resize(dh.size());
    for (std::int64_t q = 0; q < s.n * s.h; ++q) da[q] = dh[q] * mlp_act_d(h[q]);
    gemm_call(true, false, hh, d, n, da.data(), hh, x, g + s.w1(), T(0));  // dA^T X
    column_sums(da.data(), s.n, s.h, g + s.b1());
    return loss / static_cast<double>(s.n);
  }

  // H v at the parameters of the last value_grad (which must have run with g).
  void hvp(const T* p, const T* v, T* hv) {
    const auto n = static_cast<int>(s.n), d = static_cast<int>(s.d), hh = static_cast<int>(s.h),
               o = static_cast<int>(s.o);
    const T* w2 = p + s.w2();
    const T *v1 = v + s.w1(), *c1 = v + s.b1(), *v2 = v + s.w2(), *c2 = v + s.b2();
    ra.resize(h.size());
    rh.resize(h.size());
    rout.resize(out.size());
    rdh.resize(h.size());
    gemm_call(false, true, n, hh, d, x, d, v1, ra.data(), T(0));  // R{A} = X V1^T + c1
    add_row_bias(ra.data(), c1, s.n, s.h);
    for (std::int64_t q = 0; q < s.n * s.h; ++q) rh[q] = mlp_act_d(h[q]) * ra[q];  // R{H}
    gemm_call(false, true, n, o, hh, rh.data(), hh, w2, rout.data(), T(0));        // R{H} W2^T
    gemm_call(false, true, n, o, hh, h.data(), hh, v2, rout.data(), T(1));         // + H V2^T
    const T inv_n = T(1) / static_cast<T>(s.n);
    for (std::int64_t q = 0; q < s.n * s.o; ++q) rout[q] = (rout[q] + c2[q % s.o]) * inv_n;
    // R{grad W2} = R{dout}^T H + dout^T R{H};  R{grad b2} = colsum R{dout}
    gemm_call(true, false, o, hh, n, rout.data(), o, h.data(), hv + s.w2(), T(0));
    gemm_call(true, false, o, hh, n, dout.data(), o, rh.data(), hv + s.w2(), T(1));
    column_sums(rout.data(), s.n, s.o, hv + s.b2());
    // R{dH} = R{dout} W2 + dout V2;  R{dA} = R{dH} tanh'(A) + dH tanh''(A) R{A}
    gemm_call(false, false, n, hh, o, rout.data(), o, w2, rdh.data(), T(0));
    gemm_call(false, false, n, hh, o, dout.data(), o, v2, rdh.data(), T(1));
    for (std::int64_t q = 0; q < s.n * s.h; ++q)
      rdh[q] = rdh[q] * mlp_act_d(h[q]) + dh[q] * mlp_act_dd(h[q]) * ra[q];
    gemm_call(true, false, hh, d, n, rdh.data(), hh, x, hv + s.w1(), T(0));  // R{dA}^T X
    column_sums(rdh.data(), s.n, s.h, hv + s.b1());
  }
};

// The deep linear network on one parameter row p = [W_1 (d_1 x d_0), ...,
// W_L (d_L x d_(L-1))]: Z_l = W_l Z_(l-1) with Z_0 = X [d_0, n];
// L = 1/(2n) ||Z_L - Y||^2; backpropagation, and Hessian-vector products by
// the R-operator: R{Z_l} = V_l Z_(l-1) + W_l R{Z_(l-1)}, then
// R{grad W_l} = R{dZ_l} Z_(l-1)^T + dZ_l R{Z_(l-1)}^T and
// R{dZ_(l-1)} = V_l^T dZ_l + W_l^T R{dZ_l}.
template <class T>
struct DeepLinearPass {
  const std::vector<std::int64_t>& d;  // widths d_0 .. d_L
  std::int64_t n;
  const T* x;                           // [d_0, n]
  const T* y;                           // [d_L, n]
  std::vector<std::vector<T>> z, dz;    // activations and their gradients per layer
  std::vector<std::vector<T>> rz, rdz;  // their R-operator images (hvp)
  std::vector<std::int64_t> off;        // offset of W_l in the parameter row

  DeepLinearPass(const std::vector<std::int64_t>& widths, std::int64_t samples, const T* inputs,
                 const T* targets)
      : d(widths),
        n(samples),
        x(inputs),
        y(targets),
        z(widths.size()),
        dz(widths.size()),
        rz(widths.size()),
        rdz(widths.size()),
        off(widths.size(), 0) {
    for (std::size_t l = 1; l < d.size(); ++l)
      off[l] = off[l - 1] + (l > 1 ? d[l - 1] * d[l - 2] : 0);
  }
  std::size_t layers() const { return d.size() - 1; }
  const T* layer(const T* p, std::size_t l) const { return p + off[l]; }
  const T* act(std::size_t l) const { return l == 0 ? x : z[l].data(); }

  double value_grad(const T* p, T* g) {
    const int ni = static_cast<int>(n);
    for (std::size_t l = 1; l <= layers(); ++l) {
      z[l].resize(static_cast<std::size_t>(d[l] * n));
      gemm_call(false, false, static_cast<int>(d[l]), ni, static_cast<int>(d[l - 1]), layer(p, l),
                static_cast<int>(d[l - 1]), act(l - 1), z[l].data(), T(0));
    }
    const std::size_t L = layers();
    dz[L].resize(z[L].size());
    double loss = 0;
    for (std::size_t q = 0; q < z[L].size(); ++q) {
      const T r = z[L][q] - y[q];
      loss += 0.5 * static_cast<double>(r) * static_cast<double>(r);
      dz[L][q] = r / static_cast<T>(n);
    }
    for (std::size_t l = L; l >= 1; --l) {
      gemm_call(false, true, static_cast<int>(d[l]), static_cast<int>(d[l - 1]), ni, dz[l].data(),
                ni, act(l - 1), g + off[l], T(0));  // grad W_l = dZ_l Z_(l-1)^T
      if (l == 1) break;
      dz[l - 1].resize(static_cast<std::size_t>(d[l - 1] * n));
      gemm_call(true, false, static_cast<int>(d[l - 1]), ni, static_cast<int>(d[l]), layer(p, l),
                static_cast<int>(d[l - 1]), dz[l].data(), dz[l - 1].data(), T(0));  // W_l^T dZ_l
    }
    return loss / static_cast<double>(n);
  }

  // H v at the parameters of the last value_grad.
  void hvp(const T* p, const T* v, T* hv) {
    const int ni = static_cast<int>(n);
    const std::size_t L = layers();
    rz[0].assign(static_cast<std::size_t>(d[0] * n), T(0));
    for (std::size_t l = 1; l <= L; ++l) {
      rz[l].resize(static_cast<std::size_t>(d[l] * n));
      const int m = static_cast<int>(d[l]), k = static_cast<int>(d[l - 1]);
      gemm_call(false, false, m, ni, k, layer(v, l), k, act(l - 1), rz[l].data(), T(0));
      gemm_call(false, false, m, ni, k, layer(p, l), k, rz[l - 1].data(), rz[l].data(), T(1));
    }
    rdz[L] = rz[L];
    for (auto& q : rdz[L]) q /= static_cast<T>(n);
    for (std::size_t l = L; l >= 1; --l) {
      const int m = static_cast<int>(d[l]), k = static_cast<int>(d[l - 1]);
      gemm_call(false, true, m, k, ni, rdz[l].data(), ni, act(l - 1), hv + off[l], T(0));
      gemm_call(false, true, m, k, ni, dz[l].data(), ni, rz[l - 1].data(), hv + off[l], T(1));
      if (l == 1) break;
      rdz[l - 1].resize(static_cast<std::size_t>(d[l - 1] * n));
      gemm_call(true, false, k, ni, m, layer(v, l), k, dz[l].data(), rdz[l - 1].data(), T(0));
      gemm_call(true, false, k, ni, m, layer(p, l), k, rdz[l].data(), rdz[l - 1].data(), T(1));
    }
  }
};

// Objective arrays in precision T and the view the shared math reads; the
// GEMM parts of coupled objectives (rotated quadratic, gaussian-field, the
// networks, the p-spin).
template <class T>
struct HostObjective {
  std::vector<T> lambda, matrix, w, a, b, mlp_x, mlp_y, dl_x, dl_y, couplings;
  MlpShape mlp;
  std::vector<std::int64_t> dl_widths;
  std::int64_t dl_samples = 0;
  T mu = 0, c = 0;
  std::int64_t m = 0;  // gaussian-field features
  int p = 0;           // p-spin order
  LocalObjective<T> view{};
  mutable std::vector<T> z, u;  // gaussian-field work space [rows, m]; p-spin [rows, n^2]

  explicit HostObjective(const ObjectiveData& d)
      : lambda(convert<T>(d.lambda)),
        matrix(convert<T>(d.matrix)),
        w(convert<T>(d.field_w)),
        a(convert<T>(d.field_a)),
        b(convert<T>(d.field_b)),
        mlp_x(convert<T>(d.mlp_x)),
        mlp_y(convert<T>(d.mlp_y)),
        dl_x(convert<T>(d.dl_x)),
        dl_y(convert<T>(d.dl_y)),
        couplings(convert<T>(d.couplings)),
        mlp(d.mlp),
        dl_widths(d.dl_widths),
        dl_samples(d.dl_samples),
        mu(static_cast<T>(d.field_mu)),
        m(d.features()),
        p(d.pspin_p) {
    c = m > 0 ? static_cast<T>(std::sqrt(2.0 / static_cast<double>(m))) : T(0);
    view.kind = d.kind;
    view.n = d.dim;
    view.lambda = lambda.empty() ? nullptr : lambda.data();
    view.coupled = d.coupled();
    view.rastrigin_a = static_cast<T>(d.rastrigin_a);
  }
  bool field() const { return view.kind == ObjectiveKind::gaussian_field; }
  bool is_mlp() const { return view.kind == ObjectiveKind::mlp; }
  bool is_network() const { return is_mlp() || view.kind == ObjectiveKind::deep_linear; }
  bool pspin() const { return view.kind == ObjectiveKind::p_spin; }
  // Objectives whose per-trajectory value comes from the GEMM pass.
  bool row_values() const { return field() || is_network() || pspin(); }

  // The retraction onto the sphere |x|^2 = n of the running rows.
  void retract_rows(std::int64_t rows, T* x, const std::int8_t* outcome) const {
    const std::int64_t n = view.n;
#pragma omp parallel for schedule(static) if (rows * n > 16384)
    for (std::int64_t r = 0; r < rows; ++r)
      if (outcome[r] == kRunning) sphere_retract(n, x + r * n);
  }

  // p = 3: calls fn(r, Y_r) for every row r of x with Y_r = T . x_r =
  // grad^2 H(x_r) [n, n], from GEMMs X T^T over blocks of rows ([block, n^2]
  // work space of at most 8M elements); rows of a block run in parallel.
  template <class Fn>
  void for_each_pspin_hessian(std::int64_t rows, const T* x, Fn&& fn) const {
    const std::int64_t n = view.n, nn = n * n;
    const std::int64_t block =
        std::max<std::int64_t>(1, std::min<std::int64_t>(rows, kPspinWorkElements / nn));
    u.resize(static_cast<std::size_t>(block * nn));
    for (std::int64_t r0 = 0; r0 < rows; r0 += block) {
      const std::int64_t rb = std::min(block, rows - r0);
      gemm(false, true, rb, nn, n, x + r0 * n, couplings.data(), u.data());  // [rb, n^2]
#pragma omp parallel for schedule(static)
      for (std::int64_t k = 0; k < rb; ++k) fn(r0 + k, u.data() + k * nn);
    }
  }
  // y = Y v for one row (single-threaded: callers run rows in parallel).
  void pspin_apply(const T* y_mat, const T* v, T* out) const {
    const int n = static_cast<int>(view.n);
    gemm_call(false, false, n, 1, n, y_mat, n, v, out, T(0));
  }
  // Runs fn(pass) with a fresh per-trajectory pass of the network objective.
  template <class Fn>
  void with_pass(Fn&& fn) const {
    if (is_mlp()) {
      MlpPass<T> pass(mlp, mlp_x.data(), mlp_y.data());
      fn(pass);
    } else {
      DeepLinearPass<T> pass(dl_widths, dl_samples, dl_x.data(), dl_y.data());
      fn(pass);
    }
  }

  // Coupled gradient rows G for `rows` rows of x and, for the field, the
  // values F (per row); no-op when not coupled.
  void coupled_value_grad(std::int64_t rows, const T* x, T* g, double* f) const {
    if (!view.coupled) return;
    const std::int64_t n = view.n;
    if (pspin()) {  // g_E = Y x / (p - 1), then E and the projection (kernels/pspin.hpp)
      if (p == 2) {
        gemm(false, false, rows, n, n, x, couplings.data(), g);  // G_E = X A
#pragma omp parallel for schedule(static)
        for (std::int64_t r = 0; r < rows; ++r)
          f[r] = pspin_grad_epilogue(p, n, x + r * n, g + r * n);
        return;
      }
      for_each_pspin_hessian(rows, x, [&](std::int64_t r, const T* y_mat) {
        T* g_r = g + r * n;
        pspin_apply(y_mat, x + r * n, g_r);
        for (std::int64_t i = 0; i < n; ++i) g_r[i] /= T(2);
        f[r] = pspin_grad_epilogue(p, n, x + r * n, g_r);
      });
      return;
    }
    if (is_network()) {
      // One pass (and its work space) per thread, not per trajectory.
#pragma omp parallel
      with_pass([&](auto& pass) {
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t r = 0; r < rows; ++r) f[r] = pass.value_grad(x + r * n, g + r * n);
      });
      return;
    }
    if (!field()) {
      gemm(false, false, rows, n, n, x, matrix.data(), g);  // G = X A
      return;
    }
    z.resize(static_cast<std::size_t>(rows * m));
    gemm(false, true, rows, m, n, x, w.data(), z.data());  // Z = X W^T
#pragma omp parallel for schedule(static) if (rows * m > 16384)
    for (std::int64_t r = 0; r < rows; ++r) {
      double fr = 0;
      for (std::int64_t i = 0; i < n; ++i)
        fr += 0.5 * static_cast<double>(mu) * x[r * n + i] * x[r * n + i];
      for (std::int64_t j = 0; j < m; ++j) {
        double v;
        T gw;
        field_feature(z[r * m + j], a[j], b[j], c, v, gw);
        fr += v;
        z[r * m + j] = gw;
      }
      f[r] = fr;
    }
    std::copy(x, x + rows * n, g);
    for (std::int64_t k = 0; k < rows * n; ++k) g[k] *= mu;
    gemm(false, false, rows, n, m, z.data(), w.data(), g, T(1));  // G = mu X + S W
  }

  // Hessian-vector products of the coupled objectives: H v per row.
  void coupled_hvp(std::int64_t rows, const T* x, const T* v, T* hv) const {
    const std::int64_t n = view.n;
    if (pspin()) {  // P (Y - c I) P v with c = x . g_E / |x|^2
      if (p == 2) {
        std::vector<T> ge(static_cast<std::size_t>(rows * n)), pv(v, v + rows * n);
        gemm(false, false, rows, n, n, x, couplings.data(), ge.data());  // G_E = X A
#pragma omp parallel for schedule(static)
        for (std::int64_t r = 0; r < rows; ++r) sphere_project(n, x + r * n, pv.data() + r * n);
        gemm(false, false, rows, n, n, pv.data(), couplings.data(), hv);  // (P V) A
#pragma omp parallel for schedule(static)
        for (std::int64_t r = 0; r < rows; ++r)
          pspin_hvp_epilogue(n, x + r * n, sphere_weingarten(n, x + r * n, ge.data() + r * n),
                             pv.data() + r * n, hv + r * n);
        return;
      }
      for_each_pspin_hessian(rows, x, [&](std::int64_t r, const T* y_mat) {
        std::vector<T> ge(static_cast<std::size_t>(n)), pv(v + r * n, v + (r + 1) * n);
        pspin_apply(y_mat, x + r * n, ge.data());
        for (auto& q : ge) q /= T(2);
        const double cw = sphere_weingarten(n, x + r * n, ge.data());
        sphere_project(n, x + r * n, pv.data());
        pspin_apply(y_mat, pv.data(), hv + r * n);
        pspin_hvp_epilogue(n, x + r * n, cw, pv.data(), hv + r * n);
      });
      return;
    }
    if (is_network()) {
#pragma omp parallel
      with_pass([&](auto& pass) {
        std::vector<T> g(static_cast<std::size_t>(n));
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t r = 0; r < rows; ++r) {
          pass.value_grad(x + r * n, g.data());
          pass.hvp(x + r * n, v + r * n, hv + r * n);
        }
      });
      return;
    }
    if (!field()) {
      gemm(false, false, rows, n, n, v, matrix.data(), hv);  // rows of V A (A symmetric)
      return;
    }
    z.resize(static_cast<std::size_t>(rows * m));
    u.resize(static_cast<std::size_t>(rows * m));
    gemm(false, true, rows, m, n, x, w.data(), z.data());  // Z = X W^T
    gemm(false, true, rows, m, n, v, w.data(), u.data());  // U = V W^T
    for (std::int64_t k = 0; k < rows * m; ++k)
      u[k] *= field_curvature(z[k], a[k % m], b[k % m], c);
    std::copy(v, v + rows * n, hv);
    for (std::int64_t k = 0; k < rows * n; ++k) hv[k] *= mu;
    gemm(false, false, rows, n, m, u.data(), w.data(), hv, T(1));  // mu V + (h o U) W
  }

  // Dense Hessian of a coupled objective at one point x: h [n, n].
  void coupled_hessian(const T* x, T* h) const {
    const std::int64_t n = view.n;
    if (pspin()) {  // the embedded Riemannian Hessian P (Y - c I) P
      std::vector<T> y_mat(couplings.begin(), couplings.begin() + n * n);
      if (p == 3) gemm(false, false, n * n, 1, n, couplings.data(), x, y_mat.data());  // T . x
      const double r = row_dot(n, x, x);
      std::vector<double> q(static_cast<std::size_t>(n)), yq(static_cast<std::size_t>(n), 0.0);
      for (std::int64_t i = 0; i < n; ++i) q[i] = x[i] / std::sqrt(r);
      double alpha = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t j = 0; j < n; ++j) yq[i] += y_mat[i * n + j] * q[j];
        alpha += q[i] * yq[i];
      }
      const double cw = alpha / (p - 1);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j)
          h[i * n + j] =
              sphere_hessian_entry(y_mat[i * n + j], i == j, q[i], q[j], yq[i], yq[j], alpha, cw);
      return;
    }
    if (is_network()) {  // column k = H e_k, one forward pass; symmetrized
      with_pass([&](auto& pass) {
        std::vector<T> g(static_cast<std::size_t>(n)), e(static_cast<std::size_t>(n), T(0)),
            col(static_cast<std::size_t>(n));
        pass.value_grad(x, g.data());
        for (std::int64_t k = 0; k < n; ++k) {
          e[k] = T(1);
          pass.hvp(x, e.data(), col.data());
          e[k] = T(0);
          for (std::int64_t i = 0; i < n; ++i) h[i * n + k] = col[i];
        }
      });
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t k = i + 1; k < n; ++k)
          h[i * n + k] = h[k * n + i] = (h[i * n + k] + h[k * n + i]) / T(2);
      return;
    }
    if (!field()) {
      std::copy(matrix.begin(), matrix.end(), h);
      return;
    }
    z.resize(static_cast<std::size_t>(m));
    gemm(false, true, 1, m, n, x, w.data(), z.data());
    std::vector<T> dw(w);  // diag(h) W
    for (std::int64_t j = 0; j < m; ++j) {
      const T hj = field_curvature(z[j], a[j], b[j], c);
      for (std::int64_t i = 0; i < n; ++i) dw[j * n + i] *= hj;
    }
    std::fill(h, h + n * n, T(0));
    for (std::int64_t i = 0; i < n; ++i) h[i * n + i] = mu;
    gemm(true, false, n, n, m, w.data(), dw.data(), h, T(1));  // mu I + W^T diag(h) W
  }
};

// The CPU row pass's per-trajectory sums run in kSumLanes lanes: coordinate
// i adds into lane i % kSumLanes, in order, and the lanes are combined in a
// fixed order at the end. The sums are therefore the same for every vector
// width the compiler picks (and on every CPU), while the lanes leave it free
// to vectorize the pass (one ordered sum cannot be: floating-point addition
// is not associative).
constexpr std::int64_t kSumLanes = 16;

// Coordinates [i0, i0 + len) of one row, coordinate i0 + j into lane j.
// kUpdate, kSave (plateau points) and kStates (optimizer state arrays) fixed
// at compile time keep the loop free of branches the vectorizer cannot take;
// opt and sc are copies, so their fields are loop invariants, not loads.
template <class T, bool kUpdate, bool kSave, int kStates>
SS_HD void lane_block(const LocalObjective<T>& obj, const OptimizerParams opt, const StepScalars sc,
                      const T* xc, const T* grow, T* xn, T* s1, T* s2, T* save,
                      std::uint64_t row_coord, std::int64_t i0, std::int64_t len, double* f,
                      double* gsq, double* xm) {
#pragma omp simd
  for (std::int64_t j = 0; j < len; ++j) {
    const std::int64_t i = i0 + j;
    IterationSums e{f[j], gsq[j], xm[j]};
    if (kSave) save[i] = xn[i];
    T a = kUpdate && kStates >= 1 ? s1[i] : T(0);
    T b = kUpdate && kStates >= 2 ? s2[i] : T(0);
    const T x1 = fused_coordinate(obj, opt, sc, xc, grow, i, e, a, b, row_coord);
    if (kUpdate) {
      xn[i] = x1;
      if (kStates >= 1) s1[i] = a;
      if (kStates >= 2) s2[i] = b;
    }
    f[j] = e.f;
    gsq[j] = e.gsq;
    xm[j] = e.xmax;
  }
}

template <class T, bool kUpdate, bool kSave, int kStates>
SS_HD IterationSums lane_row(const LocalObjective<T>& obj, const OptimizerParams& opt,
                             const StepScalars& sc, const T* xc, const T* grow, T* xn, T* s1, T* s2,
                             T* save, std::uint64_t row_coord, std::int64_t n) {
  alignas(64) double f[kSumLanes] = {}, gsq[kSumLanes] = {}, xm[kSumLanes] = {};
  const std::int64_t full = n - n % kSumLanes;
  for (std::int64_t i0 = 0; i0 < full; i0 += kSumLanes)
    lane_block<T, kUpdate, kSave, kStates>(obj, opt, sc, xc, grow, xn, s1, s2, save, row_coord, i0,
                                           kSumLanes, f, gsq, xm);
  lane_block<T, kUpdate, kSave, kStates>(obj, opt, sc, xc, grow, xn, s1, s2, save, row_coord, full,
                                         n - full, f, gsq, xm);
  IterationSums acc;
  for (std::int64_t j = 0; j < kSumLanes; ++j) acc.add(IterationSums{f[j], gsq[j], xm[j]});
  return acc;
}

template <class T, int kStates>
SS_HD IterationSums row_variant(const LocalObjective<T>& obj, const OptimizerParams& opt,
                                const StepScalars& sc, bool update, const T* xc, const T* grow,
                                T* xn, T* s1, T* s2, T* save, std::uint64_t row_coord,
                                std::int64_t n) {
  if (!update)
    return lane_row<T, false, false, kStates>(obj, opt, sc, xc, grow, xn, s1, s2, save, row_coord,
                                              n);
  if (save)
    return lane_row<T, true, true, kStates>(obj, opt, sc, xc, grow, xn, s1, s2, save, row_coord, n);
  return lane_row<T, true, false, kStates>(obj, opt, sc, xc, grow, xn, s1, s2, save, row_coord, n);
}

// The optimizer state arrays a pass uses, fixed at compile time.
template <class T>
SS_HD IterationSums row_states(const LocalObjective<T>& obj, const OptimizerParams& opt,
                               const StepScalars& sc, bool update, const T* xc, const T* grow,
                               T* xn, T* s1, T* s2, T* save, std::uint64_t row_coord,
                               std::int64_t n) {
  switch (opt.state_count()) {  // folds to one case for most optimizers
    case 0:
      return row_variant<T, 0>(obj, opt, sc, update, xc, grow, xn, s1, s2, save, row_coord, n);
    case 1:
      return row_variant<T, 1>(obj, opt, sc, update, xc, grow, xn, s1, s2, save, row_coord, n);
    default:
      return row_variant<T, 2>(obj, opt, sc, update, xc, grow, xn, s1, s2, save, row_coord, n);
  }
}

// One trajectory's fused pass with the objective and optimizer kinds fixed at
// compile time: the switches of the shared math fold away and the loop is
// specialized, without a second copy of the math. `flatten` inlines the whole
// per-element call tree (without it GCC keeps the optimizer rule out of line:
// adam's step measured 1.6x slower). On x86-64 with GCC each pass is also
// compiled for AVX-512 and AVX2 and picked at load time (target_clones); with
// -ffp-contract=off (CMakeLists.txt) every version gives the same numbers.
template <class T, ObjectiveKind OK, OptimizerKind PK>
SS_CPU_CLONES SS_FLATTEN IterationSums row_pass(LocalObjective<T> obj, OptimizerParams opt,
                                                const StepScalars& sc, bool update, const T* xc,
                                                const T* grow, T* xn, T* s1, T* s2, T* save,
                                                std::uint64_t row_coord, std::int64_t n) {
  obj.kind = OK;
  opt.kind = PK;
  if (PK == OptimizerKind::momentum) {
    // GCC does not if-convert momentum's two flags (nesterov, first step)
    // inside the loop: each combination gets its own loop with them constant.
    const auto fixed = [&](bool nesterov, bool first) {
      OptimizerParams o = opt;
      StepScalars s = sc;
      o.nesterov = nesterov;
      s.first = first;
      return row_states(obj, o, s, update, xc, grow, xn, s1, s2, save, row_coord, n);
    };
    if (opt.nesterov) return sc.first ? fixed(true, true) : fixed(true, false);
    return sc.first ? fixed(false, true) : fixed(false, false);
  }
  return row_states(obj, opt, sc, update, xc, grow, xn, s1, s2, save, row_coord, n);
}

template <class T>
using RowPass = IterationSums (*)(LocalObjective<T>, OptimizerParams, const StepScalars&, bool,
                                  const T*, const T*, T*, T*, T*, T*, std::uint64_t, std::int64_t);

// The pass of every registered optimizer (kernels/optimizers/registry.hpp);
// host-driven ones have none (src/core/host_optimizers.cpp steps them).
template <class T, ObjectiveKind OK>
RowPass<T> row_pass_for(OptimizerKind p) {
  switch (p) {
#define SS_ROW_PASS_CASE(name, Rule) \
  case OptimizerKind::name:          \
    if constexpr (Rule::host_driven) \
      return nullptr;                \
    else                             \
      return row_pass<T, OK, OptimizerKind::name>;
    SS_OPTIMIZERS(SS_ROW_PASS_CASE)
#undef SS_ROW_PASS_CASE
  }
  return nullptr;
}

template <class T>
RowPass<T> row_pass_for(ObjectiveKind o, OptimizerKind p) {
  switch (o) {
    case ObjectiveKind::quadratic:
      return row_pass_for<T, ObjectiveKind::quadratic>(p);
    case ObjectiveKind::double_well:
      return row_pass_for<T, ObjectiveKind::double_well>(p);
    case ObjectiveKind::styblinski_tang:
      return row_pass_for<T, ObjectiveKind::styblinski_tang>(p);
    case ObjectiveKind::rastrigin:
      return row_pass_for<T, ObjectiveKind::rastrigin>(p);
    case ObjectiveKind::rosenbrock:
      return row_pass_for<T, ObjectiveKind::rosenbrock>(p);
    case ObjectiveKind::gaussian_field:
      return row_pass_for<T, ObjectiveKind::gaussian_field>(p);
    case ObjectiveKind::mlp:
      return row_pass_for<T, ObjectiveKind::mlp>(p);
    case ObjectiveKind::deep_linear:
      return row_pass_for<T, ObjectiveKind::deep_linear>(p);
    case ObjectiveKind::p_spin:
      return row_pass_for<T, ObjectiveKind::p_spin>(p);
  }
  return nullptr;
}

template <class T>
class CpuEnsemble final : public Ensemble {
 public:
  explicit CpuEnsemble(const EnsembleSpec& s)
      : spec_(s),
        obj_(*s.objective),
        n_(s.objective->dim),
        count_(s.count),
        track_(s, s.count, s.objective->dim) {
    const std::size_t len = static_cast<std::size_t>(count_ * n_);
    x_[0].assign(len, T(0));
    x_[1].assign(len, T(0));
    const int states = s.optimizer.state_count();
    if (states >= 1) s1_.assign(len, static_cast<T>(s.optimizer.initial_s1()));
    if (states >= 2) s2_.assign(len, T(0));
    if (obj_.view.coupled) g_.assign(len, T(0));
    if (obj_.row_values()) f_rows_.assign(count_, 0.0);
    if (s.optimizer.kind == OptimizerKind::perturbed_gd) {
      last_perturb_.assign(static_cast<std::size_t>(count_), -1);
      perturb_now_.assign(static_cast<std::size_t>(count_), 0);
    }
  }

  void set_starts(const std::vector<double>& x0) override {
    for (std::size_t i = 0; i < x0.size(); ++i) x_[0][i] = static_cast<T>(x0[i]);
  }

  void iterate(std::int64_t t) override {
    const bool update = t < spec_.stop.max_steps;
    const StepScalars sc = scalars_.at(t + 1);
    if (!perturb_now_.empty()) {  // perturbed-gd: marked at the end of iteration t - 1
#pragma omp parallel for schedule(static) if (count_ * n_ > 16384)
      for (std::int64_t b = 0; b < count_; ++b)
        if (perturb_now_[b] && track_.outcome[b] == kRunning)
          perturb_row(spec_.optimizer, n_, x_[t % 2].data() + b * n_,
                      static_cast<std::uint64_t>(spec_.first + b), t);
    }
    if (obj_.pspin()) obj_.retract_rows(count_, x_[t % 2].data(), track_.outcome.data());
    const T* xc = x_[t % 2].data();
    T* xn = x_[(t + 1) % 2].data();
    coupled_value_grad_running(xc);
    const TrajectoryRecords<T> rec = track_.view(spec_);
    const std::int64_t n = n_;
    const RowPass<T> pass = row_pass_for<T>(obj_.view.kind, spec_.optimizer.kind);
#pragma omp parallel for schedule(dynamic, 4) if (count_ * n > 16384)
    for (std::int64_t b = 0; b < count_; ++b) {
      if (track_.outcome[b] != kRunning) continue;
      const std::size_t off = static_cast<std::size_t>(b * n);
      T* s1 = s1_.empty() ? nullptr : s1_.data() + off;
      T* s2 = s2_.empty() ? nullptr : s2_.data() + off;
      const T* grow = g_.empty() ? nullptr : g_.data() + off;
      T* save = track_.plateau_save(b);
      IterationSums acc = pass(obj_.view, spec_.optimizer, sc, update, xc + off, grow, xn + off, s1,
                               s2, save, static_cast<std::uint64_t>((spec_.first + b) * n), n);
      if (!f_rows_.empty()) acc.f += f_rows_[b];  // per-trajectory value of the field
      end_iteration(spec_.stop, rec, n, b, t, acc, xc + off, track_.plateau.data(), spec_.plateau);
      if (!perturb_now_.empty())
        perturb_now_[b] = perturb_due(spec_.optimizer, t, std::sqrt(acc.gsq), last_perturb_[b]);
    }
  }

  std::int64_t running() override { return track_.running(); }

  // The coupled evaluation (GEMMs, network passes) of the running rows:
  // once a trajectory has stopped, they are packed in order and evaluated
  // alone (active-set compaction, docs/design.md section II.4), so stopped
  // rows cost nothing. A row's results are the same bits whichever other
  // rows are evaluated with it (the property that makes chunking invisible;
  // tests/regression/example_digests.py and the chunking tests hold it).
  void coupled_value_grad_running(const T* xc) {
    if (!obj_.view.coupled) return;
    active_.clear();
    for (std::int64_t b = 0; b < count_; ++b)
      if (track_.outcome[b] == kRunning) active_.push_back(b);
    const auto rows = static_cast<std::int64_t>(active_.size());
    double* f = f_rows_.empty() ? nullptr : f_rows_.data();
    if (rows == count_) return obj_.coupled_value_grad(count_, xc, g_.data(), f);
    if (rows == 0) return;
    const std::int64_t n = n_;
    x_active_.resize(static_cast<std::size_t>(rows * n));
    g_active_.resize(static_cast<std::size_t>(rows * n));
    f_active_.resize(static_cast<std::size_t>(rows));
#pragma omp parallel for schedule(static) if (rows * n > 16384)
    for (std::int64_t k = 0; k < rows; ++k)
      std::copy_n(xc + active_[k] * n, n, x_active_.data() + k * n);
    obj_.coupled_value_grad(rows, x_active_.data(), g_active_.data(),
                            f == nullptr ? nullptr : f_active_.data());
#pragma omp parallel for schedule(static) if (rows * n > 16384)
    for (std::int64_t k = 0; k < rows; ++k) {
      std::copy_n(g_active_.data() + k * n, n, g_.data() + active_[k] * n);
      if (f != nullptr) f[active_[k]] = f_active_[k];
    }
  }

  std::vector<std::uint8_t> save_state() override {
    ckpt::Writer w;
    for (const auto* v : {&x_[0], &x_[1], &s1_, &s2_}) w.vec(*v);
    track_.write(w);
    w.vec(last_perturb_);
    w.vec(perturb_now_);
    return w.bytes();
  }

  void load_state(const std::vector<std::uint8_t>& state) override {
    ckpt::Reader rd(state, "checkpoint (cpu ensemble)");
    for (auto* v : {&x_[0], &x_[1], &s1_, &s2_}) *v = rd.vec<T>();
    track_.read(rd);
    last_perturb_ = rd.vec<std::int64_t>();
    perturb_now_ = rd.vec<std::int8_t>();
    if (!rd.done() || x_[0].size() != static_cast<std::size_t>(count_ * n_))
      throw InputError("checkpoint: the ensemble state does not match this run");
  }

  EnsembleResult result(bool want_finals) override {
    EnsembleResult r;
    track_.fill(r);
    if (want_finals) {
      r.finals.resize(static_cast<std::size_t>(count_ * n_));
      for (std::int64_t b = 0; b < count_; ++b) {
        const auto& buf = x_[track_.steps[b] % 2];
        for (std::int64_t i = 0; i < n_; ++i) r.finals[b * n_ + i] = buf[b * n_ + i];
      }
    }
    return r;
  }

 private:
  EnsembleSpec spec_;
  StepScalarSequence scalars_{spec_.optimizer};  // each step's scalars from the last (nadam)
  HostObjective<T> obj_;
  std::int64_t n_, count_;
  HostTrack<T> track_;  // records, plateau states and points
  std::vector<T> x_[2], s1_, s2_, g_;
  std::vector<double> f_rows_;          // values per trajectory from the GEMM pass
  std::vector<std::int64_t> active_;    // the running rows, in order (compaction)
  std::vector<T> x_active_, g_active_;  // their x and gradients, packed
  std::vector<double> f_active_;
  std::vector<std::int64_t> last_perturb_;  // perturbed-gd: iteration of the last perturbation
  std::vector<std::int8_t> perturb_now_;    // perturbed-gd: perturb x_{t+1} at iteration t + 1
};

template <class T>
ObjectiveEval value_grad_t(const ObjectiveData& d, std::int64_t batch,
                           const std::vector<double>& x64) {
  const HostObjective<T> obj(d);
  const std::int64_t n = d.dim;
  const std::vector<T> x = convert<T>(x64);
  std::vector<T> grow(obj.view.coupled ? x.size() : 0);
  std::vector<double> f_rows(static_cast<std::size_t>(batch), 0.0);
  obj.coupled_value_grad(batch, x.data(), grow.data(), f_rows.data());
  ObjectiveEval r;
  r.f.assign(batch, 0.0);
  r.g.assign(x.size(), 0.0);
  for (std::int64_t b = 0; b < batch; ++b) {
    double fs = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      T f, g;
      obj.view.eval(x.data() + b * n, grow.empty() ? nullptr : grow.data() + b * n, i, f, g);
      fs += f;
      r.g[b * n + i] = g;
    }
    r.f[b] = fs + f_rows[b];
  }
  return r;
}

template <class T>
std::vector<double> hvp_t(const ObjectiveData& d, std::int64_t batch,
                          const std::vector<double>& x64, const std::vector<double>& v64) {
  const HostObjective<T> obj(d);
  const std::int64_t n = d.dim;
  const std::vector<T> x = convert<T>(x64), v = convert<T>(v64);
  std::vector<T> hv(x.size());
  if (obj.view.coupled) {
    obj.coupled_hvp(batch, x.data(), v.data(), hv.data());
  } else {
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t i = 0; i < n; ++i)
        hv[b * n + i] = obj.view.hvp(x.data() + b * n, v.data() + b * n, i);
  }
  return {hv.begin(), hv.end()};
}

template <class T>
std::vector<double> hessian_t(const ObjectiveData& d, std::int64_t batch,
                              const std::vector<double>& x64) {
  const HostObjective<T> obj(d);
  const std::int64_t n = d.dim;
  const std::vector<T> x = convert<T>(x64);
  std::vector<double> h(static_cast<std::size_t>(batch * n * n), 0.0);
  for (std::int64_t b = 0; b < batch; ++b) {
    double* hb = h.data() + b * n * n;
    if (obj.view.coupled) {
      std::vector<T> ht(static_cast<std::size_t>(n * n));
      obj.coupled_hessian(x.data() + b * n, ht.data());
      std::copy(ht.begin(), ht.end(), hb);
      continue;
    }
    for (std::int64_t i = 0; i < n; ++i) {
      T diag, upper;
      obj.view.hessian_band(x.data() + b * n, i, diag, upper);
      hb[i * n + i] = diag;
      if (i + 1 < n) hb[i * n + i + 1] = hb[(i + 1) * n + i] = upper;
    }
  }
  return h;
}

// Runs body(i) for i < count over the OpenMP threads, each item one call of
// single-threaded LAPACK (OpenBLAS is kept at one thread: CpuBackend()), so
// a matrix's result does not depend on how many share the call (OpenBLAS's
// threaded level-2 kernels sum in an order that depends on its threads).
template <class F>
void lapack_items(std::int64_t count, F&& body) {
#pragma omp parallel for schedule(dynamic, 1) if (count > 1)
  for (std::int64_t i = 0; i < count; ++i) body(i);
}

// LAPACK's divide-and-conquer symmetric eigensolver (dsyevd / ssyevd).
template <class T>
EighResult eigh_t(std::int64_t batch, std::int64_t n, const std::vector<double>& h, bool vectors) {
  EighResult r;
  r.values.assign(static_cast<std::size_t>(batch * n), 0.0);
  if (vectors) r.vectors.assign(static_cast<std::size_t>(batch * n * n), 0.0);
  r.info.assign(static_cast<std::size_t>(batch), 0);
  const int ln = static_cast<int>(n);
  lapack_items(batch, [&](std::int64_t b) {
    std::vector<T> a(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
    std::vector<T> w(static_cast<std::size_t>(n));
    const char jobz = vectors ? 'V' : 'N';
    int info;
    if constexpr (std::is_same_v<T, double>)
      info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, jobz, 'L', ln, a.data(), ln, w.data());
    else
      info = LAPACKE_ssyevd(LAPACK_ROW_MAJOR, jobz, 'L', ln, a.data(), ln, w.data());
    r.info[b] = info;
    std::copy(w.begin(), w.end(), r.values.begin() + b * n);
    if (vectors) std::copy(a.begin(), a.end(), r.vectors.begin() + b * n * n);
  });
  return r;
}

// Sylvester counts from LAPACK's Bunch-Kaufman factorization (dsytrf / ssytrf).
template <class T>
std::vector<std::int64_t> count_below_t(std::int64_t batch, std::int64_t n,
                                        const std::vector<double>& h,
                                        const std::vector<double>& shifts, std::int64_t k) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(batch * k), -1);
  if (n == 0) return std::vector<std::int64_t>(out.size(), 0);  // nothing below any shift
  const int ln = static_cast<int>(n);
  lapack_items(batch * k, [&](std::int64_t item) {
    const std::int64_t b = item / k, j = item % k;
    const double s = shifts[b * k + j];
    std::vector<T> a(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
    std::vector<lapack_int> ipiv(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      a[i * n + i] = static_cast<T>(h[b * n * n + i * n + i] - s);
    int info;
    if constexpr (std::is_same_v<T, double>)
      info = LAPACKE_dsytrf(LAPACK_ROW_MAJOR, 'L', ln, a.data(), ln, ipiv.data());
    else
      info = LAPACKE_ssytrf(LAPACK_ROW_MAJOR, 'L', ln, a.data(), ln, ipiv.data());
    // info > 0: an exactly zero pivot; D is still valid and that eigenvalue is not negative.
    if (info >= 0) out[b * k + j] = negative_count_ldlt(a.data(), ipiv.data(), n, n, 1);
  });
  return out;
}

std::uint64_t available_host_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 4ull << 30;
}

class CpuBackend final : public Backend {
 public:
  // Parallelism comes from OpenMP (loops and row-split GEMMs), not from OpenBLAS.
  CpuBackend() { openblas_set_num_threads(1); }
  std::string name() const override { return "cpu"; }
  std::string device() const override {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    std::string model = "CPU";
    while (std::getline(in, line))
      if (line.rfind("model name", 0) == 0) {
        model = line.substr(line.find(':') + 2);
        break;
      }
    std::ostringstream s;
    s << model << " (" << omp_get_max_threads() << " threads)";
    return s.str();
  }
  std::uint64_t memory_budget() const override { return available_host_memory() / 10 * 7; }
  // The roof: the faster of two copies of the same bytes, memcpy (glibc
  // picks streaming stores for large sizes) and a plain vectorized loop
  // (regular stores, as the fused pass does); on the development machine the
  // loop measured 1.5x memcpy's bandwidth. Bytes read plus bytes written.
  double copy_bandwidth(std::uint64_t bytes, int repeats) override {
    const std::size_t words = std::max<std::size_t>(1, bytes / sizeof(std::uint64_t));
    std::vector<std::uint64_t> a(words, 1), b(words, 0);
    double best = 1e300;
    for (int r = 0; r < repeats + 1; ++r) {  // the first round warms the pages
      for (int way = 0; way < 2; ++way) {
        const auto t0 = std::chrono::steady_clock::now();
        if (way == 0) {
#pragma omp parallel
          {
            const std::size_t nt = static_cast<std::size_t>(omp_get_num_threads());
            const std::size_t id = static_cast<std::size_t>(omp_get_thread_num());
            const std::size_t lo = words * id / nt, hi = words * (id + 1) / nt;
            std::memcpy(b.data() + lo, a.data() + lo, (hi - lo) * sizeof(std::uint64_t));
          }
        } else {
          const std::uint64_t* src = a.data();
          std::uint64_t* dst = b.data();
#pragma omp parallel for simd schedule(static)
          for (std::size_t i = 0; i < words; ++i) dst[i] = src[i] + static_cast<std::uint64_t>(r);
        }
        const double t =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0) best = std::min(best, t);
      }
    }
    if (b[words / 2] != 1 + static_cast<std::uint64_t>(repeats))
      throw Error("copy benchmark: copy did not happen", 1);
    return 2.0 * static_cast<double>(words * sizeof(std::uint64_t)) / best;
  }
  std::unique_ptr<Ensemble> make_ensemble(const EnsembleSpec& s) override {
    if (host_driven(s.optimizer.kind))
      throw BackendError(fmt::format(
          "optimizer {} is host-driven: run it with make_host_ensemble, not a device ensemble",
          static_cast<int>(s.optimizer.kind)));
    if (s.precision == Precision::f32) return std::make_unique<CpuEnsemble<float>>(s);
    return std::make_unique<CpuEnsemble<double>>(s);
  }
  ObjectiveEval value_grad(const ObjectiveData& d, Precision p, std::int64_t batch,
                           const std::vector<double>& x) override {
    return p == Precision::f32 ? value_grad_t<float>(d, batch, x)
                               : value_grad_t<double>(d, batch, x);
  }
  std::vector<double> hvp(const ObjectiveData& d, Precision p, std::int64_t batch,
                          const std::vector<double>& x, const std::vector<double>& v) override {
    return p == Precision::f32 ? hvp_t<float>(d, batch, x, v) : hvp_t<double>(d, batch, x, v);
  }
  std::vector<double> hessian(const ObjectiveData& d, Precision p, std::int64_t batch,
                              const std::vector<double>& x) override {
    return p == Precision::f32 ? hessian_t<float>(d, batch, x) : hessian_t<double>(d, batch, x);
  }
  std::vector<std::int64_t> count_below(Precision p, std::int64_t batch, std::int64_t n,
                                        const std::vector<double>& h,
                                        const std::vector<double>& shifts,
                                        std::int64_t k) override {
    return p == Precision::f32 ? count_below_t<float>(batch, n, h, shifts, k)
                               : count_below_t<double>(batch, n, h, shifts, k);
  }
  EighResult eigh(Precision p, std::int64_t batch, std::int64_t n, const std::vector<double>& h,
                  bool vectors) override {
    return p == Precision::f32 ? eigh_t<float>(batch, n, h, vectors)
                               : eigh_t<double>(batch, n, h, vectors);
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace saddlescope
