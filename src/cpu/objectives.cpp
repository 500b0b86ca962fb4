// The CPU backend's objectives (src/cpu/objectives.hpp): OpenBLAS GEMMs on
// fixed row tiles, CpuOps (the primitives of the shared pipelines,
// kernels/pipelines/), HostObjective's calls of the pipelines, and the
// prepared objective.
#include "src/cpu/objectives.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/gaussian_field.hpp"
#include "kernels/network.hpp"
#include "kernels/pipelines/gaussian_field.hpp"
#include "kernels/pipelines/networks.hpp"
#include "kernels/pipelines/pspin.hpp"
#include "kernels/pspin.hpp"
#include "saddlescope/errors.hpp"
#include "src/cpu/linalg.hpp"
#include "src/cpu/vector_math.hpp"

namespace saddlescope::cpu_detail {
namespace {

// Row-major C[m, n] = op(A) op(B) (+ beta C), op(A) [m, k], op(B) [k, n];
// ta / tb transpose A [k, m] / B [n, k]. The rows of C are split over the
// OpenMP threads, each calling single-threaded OpenBLAS: OpenBLAS's own
// pthreads and idle OpenMP threads otherwise compete for the cores (measured
// 2.3x slower on the gaussian-field step with 2 cores).
void gemm_call(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b,
               int ldb, float* c, int ldc, float beta) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
void gemm_call(bool ta, bool tb, int m, int n, int k, const double* a, int lda, const double* b,
               int ldb, double* c, int ldc, double beta) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.0, a, lda, b, ldb, beta, c, ldc);
}
// The same with packed operands (ldb and ldc from the shape).
template <class T>
void gemm_call(bool ta, bool tb, int m, int n, int k, const T* a, int lda, const T* b, T* c,
               T beta) {
  gemm_call(ta, tb, m, n, k, a, lda, b, tb ? k : n, c, n, beta);
}
// Row tiles of the row-batched GEMMs. A trajectory's bits must not depend
// on how many rows share a call or where its row lies in it (the chunk, the
// thread split, the running rows after compaction), but OpenBLAS computes
// rows in remainder blocks with other kernels, and some kernel families
// (0.3.21's Haswell sgemm, also used on AVX2 CPUs without AVX-512) sum a row
// in an order that follows its place in the call. Calls are therefore made
// on whole tiles of `tile` rows, the last one padded with zero rows, and
// row_tiling() finds once, by probing the loaded BLAS, the largest tiling
// under which a row's place changes nothing: tiles of 32 rows, several per
// call (SkylakeX, Prescott), else one tile of 8 rows per call (Haswell
// sgemm), else one row per call (docs/design.md, II.4; tested with each
// family by tests/CMakeLists.txt's engine_chunking_haswell).
struct RowTiling {
  std::int64_t tile;
  bool many;  // a call may hold several tiles
};

// Whether row p of every call of `rows` rows gives the bits of row 0, for
// small shapes of both transpositions (the failing families fail them all).
template <class T>
bool rows_placeless(std::int64_t rows) {
  const struct {
    bool tb;
    int n, k;
  } shapes[] = {{false, 9, 9}, {true, 9, 9}, {false, 64, 64}};
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  const auto next = [&] {  // deterministic fill in [-1, 1)
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<T>(static_cast<double>(state >> 11) * 0x1.0p-52 - 1.0);
  };
  for (const auto& sh : shapes) {
    const std::int64_t n = sh.n, k = sh.k;
    std::vector<T> row(static_cast<std::size_t>(k)), b(static_cast<std::size_t>(n * k)),
        a(static_cast<std::size_t>(rows * k)), c(static_cast<std::size_t>(rows * n)),
        first(static_cast<std::size_t>(n));
    for (T& v : row) v = next();
    for (T& v : b) v = next();
    for (std::int64_t p = 0; p < rows; ++p) {
      for (T& v : a) v = next();
      std::copy(row.begin(), row.end(), a.begin() + p * k);
      gemm_call(false, sh.tb, static_cast<int>(rows), static_cast<int>(n), static_cast<int>(k),
                a.data(), static_cast<int>(k), b.data(), c.data(), T(0));
      if (p == 0)
        std::copy_n(c.begin(), n, first.begin());
      else if (!std::equal(first.begin(), first.end(), c.begin() + p * n))
        return false;
    }
  }
  return true;
}

template <class T>
const RowTiling& row_tiling() {
  static const RowTiling tiling = [] {
    if (rows_placeless<T>(64)) return RowTiling{32, true};  // two tiles per probe call
    if (rows_placeless<T>(8)) return RowTiling{8, false};
    return RowTiling{1, false};
  }();
  return tiling;
}
// Column block of the column-split GEMMs below: a multiple of every
// OpenBLAS unroll along N, so that each thread's share of the columns
// starts where a block of the whole call would, and every column is
// computed by the kernel of the whole call (the remainder block, if any,
// stays at the end of the last share): the bits do not depend on the
// thread count (tests/test_engine.cpp, `CoupledObjectivesDoNotDependOn...`
// with one and two threads).
constexpr std::int64_t kColumnBlock = 64;

// C (m x n) = A (m x k, or k x m when ta) B + beta C, in whole row tiles
// when !ta (rows of A are trajectories). The threads split the rows by
// tiles when C has more rows than columns; otherwise (few trajectories
// against a large shared B: the gaussian field's W, the rotated quadratic's
// A) they split the columns, so that B is packed once in all instead of
// once per thread (the gaussian field at 64 trajectories spent as long in
// OpenBLAS's packing as in its kernel).
template <class T>
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, const T* b,
          T* c, T beta = T(0)) {
  const int lda = static_cast<int>(ta ? m : k);
  if (ta) {  // one call: the rows of A are not trajectories
    gemm_call(ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), a, lda, b, c,
              beta);
    return;
  }
  const RowTiling& tiling = row_tiling<T>();
  const std::int64_t tile = tiling.tile;
  const std::int64_t tiles = m / tile, rest = m % tile;
  const std::int64_t max_threads = omp_get_max_threads();
  const bool big = m * n * k > (1 << 18);
  // The calling thread's buffers for zero-padded rows, kept between calls:
  // no allocation per step.
  thread_local std::vector<T> ap, cp;
  if (big && tiling.many && max_threads > 1 && n > m && n >= 2 * kColumnBlock) {
    // All rows in whole tiles (a zero-padded copy when m is not a multiple
    // of the tile), the columns in blocks over the threads.
    const std::int64_t mp = (tiles + (rest > 0)) * tile;
    const T* a_use = a;
    T* c_use = c;
    if (rest > 0) {
      ap.assign(static_cast<std::size_t>(mp * k), T(0));
      std::copy_n(a, m * k, ap.data());
      cp.assign(static_cast<std::size_t>(mp * n), T(0));
      if (beta != T(0)) std::copy_n(c, m * n, cp.data());
      a_use = ap.data();
      c_use = cp.data();
    }
    const std::int64_t blocks = (n + kColumnBlock - 1) / kColumnBlock;
    const std::int64_t threads = std::min(max_threads, blocks);
    const std::int64_t per = (blocks + threads - 1) / threads * kColumnBlock;
#pragma omp parallel for schedule(static) num_threads(static_cast <int>(threads))
    for (std::int64_t t = 0; t < threads; ++t) {
      const std::int64_t c0 = t * per, c1 = std::min(n, c0 + per);
      if (c0 >= c1) continue;
      gemm_call(false, tb, static_cast<int>(mp), static_cast<int>(c1 - c0), static_cast<int>(k),
                a_use, static_cast<int>(k), tb ? b + c0 * k : b + c0, static_cast<int>(tb ? k : n),
                c_use + c0, static_cast<int>(n), beta);
    }
    if (rest > 0) std::copy_n(cp.data(), m * n, c);
    return;
  }
  const std::int64_t threads = big ? std::min<std::int64_t>(max_threads, tiles) : 1;
  if (tiles > 0) {
    const std::int64_t per = (tiles + std::max<std::int64_t>(threads, 1) - 1) /
                             std::max<std::int64_t>(threads, 1) * tile;
#pragma omp parallel for schedule(static) if (threads > 1)
    for (std::int64_t t = 0; t < std::max<std::int64_t>(threads, 1); ++t) {
      const std::int64_t r0 = t * per, r1 = std::min(tiles * tile, r0 + per);
      // One call for the thread's tiles, or one per tile (tiling.many false).
      for (std::int64_t q = r0; q < r1; q += tiling.many ? r1 - r0 : tile)
        gemm_call(false, tb, static_cast<int>(tiling.many ? r1 - r0 : tile), static_cast<int>(n),
                  static_cast<int>(k), a + q * k, lda, b, c + q * n, beta);
    }
  }
  if (rest == 0) return;
  // The last rows in a zero-padded tile.
  const std::int64_t r0 = tiles * tile;
  ap.assign(static_cast<std::size_t>(tile * k), T(0));
  cp.assign(static_cast<std::size_t>(tile * n), T(0));
  std::copy_n(a + r0 * k, rest * k, ap.data());
  if (beta != T(0)) std::copy_n(c + r0 * n, rest * n, cp.data());
  gemm_call(false, tb, static_cast<int>(tile), static_cast<int>(n), static_cast<int>(k), ap.data(),
            static_cast<int>(k), b, cp.data(), beta);
  std::copy_n(cp.data(), rest * n, c + r0 * n);
}

// The CPU's primitives for the shared pipelines (kernels/pipelines/ops.hpp):
// OpenBLAS on row tiles, OpenMP loops, sums with k ascending.
template <class T>
struct CpuOps {
  // false: every primitive runs on the calling thread (the networks run one
  // trajectory per thread, their work spaces staying in that core's cache).
  bool parallel = true;
  std::int64_t padded(std::int64_t rows) const { return rows; }
  void gemm_rows(std::int64_t rows, bool tb, std::int64_t cols, std::int64_t k, const T* a,
                 const T* b, T* c, T beta = T(0)) const {
    cpu_detail::gemm(false, tb, rows, cols, k, a, b, c, beta);
  }
  void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
            const T* b, T* c, T beta = T(0)) const {
    cpu_detail::gemm(ta, tb, m, n, k, a, b, c, beta);
  }
  // Entry e: C_e = op(A_e) op(B_e) + beta C_e, one single-threaded OpenBLAS
  // call per entry (the entries over the OpenMP threads).
  void gemm_batched(std::int64_t rows, bool ta, bool tb, std::int64_t m, std::int64_t n,
                    std::int64_t k, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* c,
                    std::int64_t sc, T beta = T(0)) const {
    const int lda = static_cast<int>(ta ? m : k);
#pragma omp parallel for schedule(dynamic, 1) if (parallel && rows > 1 && m * n * k > 4096)
    for (std::int64_t e = 0; e < rows; ++e)
      gemm_call(ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), a + e * sa,
                lda, b + e * sb, c + e * sc, beta);
  }
  template <class F>
  void reduce_apply(std::int64_t rows, std::int64_t width, F f) const {
#pragma omp parallel for schedule(static) if (parallel && rows * width > 16384)
    for (std::int64_t r = 0; r < rows; ++r) {
      double s[F::K] = {};
      for (std::int64_t k = 0; k < width; ++k) f.sum(r, k, s);
      f.row(r, s);
      for (std::int64_t k = 0; k < width; ++k) f.apply(r, k, s);
    }
  }
  // The activation through SLEEF's deterministic vectorized tanh
  // (src/cpu/vector_math.hpp; an element's bits do not depend on its place).
  void activate(T* x, std::int64_t rows, std::int64_t stride, std::int64_t len) const {
    each_row(tanh_inplace, x, rows, stride, len);
  }
  // The softmax's exp through SLEEF likewise.
  void exp(T* x, std::int64_t rows, std::int64_t stride, std::int64_t len) const {
    each_row(exp_inplace, x, rows, stride, len);
  }
  // fn on rows r < rows of len elements, stride apart (src/cpu/vector_math.hpp).
  void each_row(void (*fn)(T*, std::int64_t, VectorIsa), T* x, std::int64_t rows,
                std::int64_t stride, std::int64_t len) const {
    const VectorIsa isa = best_vector_isa();
#pragma omp parallel for schedule(static) if (parallel && rows > 1 && rows * len > 16384)
    for (std::int64_t r = 0; r < rows; ++r) fn(x + r * stride, len, isa);
  }
  template <class F>
  void map(std::int64_t rows, std::int64_t width, F f) const {
#pragma omp parallel for schedule(static) if (parallel && rows * width > 16384)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t k = 0; k < width; ++k) f(r, k);
  }
  // Column sums sweep the rows instead of walking each column (a stride of
  // `width` per addition held the mlp's step on cache latency): every column
  // still adds its samples from 0 in ascending order, so the bits are the
  // functor's.
  void map(std::int64_t rows, std::int64_t width, pipelines::ColumnSums<T> f) const {
#pragma omp parallel for schedule(static) if (parallel && rows * width * f.samples > 65536)
    for (std::int64_t e = 0; e < rows; ++e) {
      const T* s = f.src + e * f.ss;
      T* d = f.dst + e * f.ds;
      for (std::int64_t j = 0; j < width; ++j) d[j] = T(0);
      for (std::int64_t q = 0; q < f.samples; ++q)
        for (std::int64_t j = 0; j < width; ++j) d[j] += s[q * f.width + j];
    }
  }
};

// The networks run one trajectory per OpenMP thread through the shared
// pipeline on the calling thread (CpuOps{false}), each thread with its own
// work space of network_work(1) elements, so that a trajectory's arrays
// stay in its core's cache between the pipeline's steps, as the
// per-trajectory passes before the shared pipeline did (examples/mlp-20k.toml
// without its census: 20.5 s against 20.8 s before, 2 threads).
int network_threads(std::int64_t rows) {
  return static_cast<int>(
      std::max<std::int64_t>(1, std::min<std::int64_t>(rows, omp_get_max_threads())));
}

}  // namespace

template <class T>
void HostObjective<T>::retract_rows(std::int64_t rows, T* x, const std::int8_t* outcome) const {
  const std::int64_t n = view.n;
#pragma omp parallel for schedule(static) if (rows * n > 16384)
  for (std::int64_t r = 0; r < rows; ++r)
    if (outcome[r] == kRunning) sphere_retract(n, x + r * n);
}

template <class T>
template <class Fn>
void HostObjective<T>::for_each_pspin_hessian(std::int64_t rows, const T* x, Fn&& fn) const {
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

template <class T>
void HostObjective<T>::pspin_apply(const T* y_mat, const T* v, T* out) const {
  const int n = static_cast<int>(view.n);
  gemm_call(false, false, n, 1, n, y_mat, n, v, out, T(0));
}

template <class T>
void HostObjective<T>::network_value_grad(std::int64_t rows, const T* x, T* g, double* f,
                                          double* acc, T* work, bool parallel) const {
  CpuOps<T> ops{parallel};
  pipelines::network_value_grad(ops, net_arrays(), rows, x, g, f, acc, work);
}

template <class T>
void HostObjective<T>::network_hvp(std::int64_t rows, bool shared, const T* x, const T* v, T* hv,
                                   const T* fwork, T* rwork, bool parallel) const {
  CpuOps<T> ops{parallel};
  pipelines::network_hvp(ops, net_arrays(), rows, shared, x, fwork, v, hv, rwork);
}

template <class T>
auto HostObjective<T>::pspin_products() const {
  const std::int64_t n = view.n;
  return [this, n](std::int64_t rows, const T* x, const T* u1, T* out1, const T* u2, T* out2) {
    if (p == 2) {  // U A (A symmetric)
      gemm(false, false, rows, n, n, u1, couplings.data(), out1);
      if (u2) gemm(false, false, rows, n, n, u2, couplings.data(), out2);
      return;
    }
    for_each_pspin_hessian(rows, x, [&](std::int64_t r, const T* y_mat) {
      pspin_apply(y_mat, u1 + r * n, out1 + r * n);
      if (u2) pspin_apply(y_mat, u2 + r * n, out2 + r * n);
    });
  };
}

template <class T>
void HostObjective<T>::coupled_value_grad(std::int64_t rows, const T* x, T* g, double* f,
                                          double* acc) const {
  if (!view.coupled) return;
  const std::int64_t n = view.n;
  if (pspin()) {  // the shared pipeline (kernels/pipelines/pspin.hpp)
    CpuOps<T> ops;
    pipelines::pspin_value_grad(ops, p, n, rows, x, g, f, pspin_products());
    return;
  }
  if (is_network()) {  // blocks of rows through the shared pipeline
    const int threads = network_threads(rows);
    const std::int64_t w1 = network_work(1);
    z.resize(static_cast<std::size_t>(threads * w1));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (std::int64_t r = 0; r < rows; ++r)
      network_value_grad(1, x + r * n, g + r * n, f + r, acc ? acc + r : nullptr,
                         z.data() + omp_get_thread_num() * w1, false);
    return;
  }
  CpuOps<T> ops;
  if (!field()) {
    pipelines::dense_quadratic_rows(ops, matrix.data(), n, rows, x, g);  // G = X A
    return;
  }
  z.resize(static_cast<std::size_t>(rows * m));
  pipelines::field_value_grad(ops, field_arrays(), rows, x, g, f, z.data());
}

template <class T>
void HostObjective<T>::coupled_hvp(std::int64_t rows, const T* x, const T* v, T* hv) const {
  const std::int64_t n = view.n;
  if (pspin()) {                                       // P (Y - c I) P v with c = x . g_E / |x|^2
    z.resize(static_cast<std::size_t>(2 * rows * n));  // g_E, P v
    CpuOps<T> ops;
    pipelines::pspin_hvp(ops, p, n, rows, x, v, hv, z.data(), z.data() + rows * n,
                         pspin_products());
    return;
  }
  if (is_network()) {  // forward and backward at every row, then the R-operator
    const int threads = network_threads(rows);
    const std::int64_t w1 = network_work(1), per = 2 * w1 + n;  // forward, R-operator, gradient
    z.resize(static_cast<std::size_t>(threads * per));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (std::int64_t r = 0; r < rows; ++r) {
      T* work = z.data() + omp_get_thread_num() * per;
      double f = 0;
      network_value_grad(1, x + r * n, work + 2 * w1, &f, nullptr, work, false);
      network_hvp(1, false, x + r * n, v + r * n, hv + r * n, work, work + w1, false);
    }
    return;
  }
  CpuOps<T> ops;
  if (!field()) {
    pipelines::dense_quadratic_rows(ops, matrix.data(), n, rows, v, hv);  // V A (A symmetric)
    return;
  }
  z.resize(static_cast<std::size_t>(rows * m));
  u.resize(static_cast<std::size_t>(rows * m));
  pipelines::field_hvp(ops, field_arrays(), rows, x, v, hv, z.data(), u.data());
}

template <class T>
void HostObjective<T>::coupled_hessian(const T* x, T* h) const {
  const std::int64_t n = view.n;
  if (pspin()) {  // the embedded Riemannian Hessian P (Y - c I) P
    std::vector<double> q(static_cast<std::size_t>(n)), yq(static_cast<std::size_t>(n));
    double alpha = 0;
    CpuOps<T> ops;
    pipelines::pspin_hessians(ops, p, n, 1, x, h, q.data(), yq.data(), &alpha,
                              [&](std::int64_t, const T* xp, T* y) {
                                if (p == 2)
                                  std::copy(couplings.begin(), couplings.begin() + n * n, y);
                                else  // T . x
                                  gemm(false, false, n * n, 1, n, couplings.data(), xp, y);
                              });
    return;
  }
  if (is_network()) {  // columns H e_k at the one point, then (H + H^T) / 2
    const std::int64_t group = std::min<std::int64_t>(n, omp_get_max_threads()),
                       fw = network_work(1);
    z.resize(static_cast<std::size_t>(fw + n));  // the point's forward work, its gradient
    u.resize(static_cast<std::size_t>(2 * group * n + network_work(group)));
    T *v = u.data(), *hv = u.data() + group * n, *rwork = u.data() + 2 * group * n;
    double f = 0;
    network_value_grad(1, x, z.data() + fw, &f, nullptr, z.data(), true);
    CpuOps<T> ops;
    pipelines::hessian_from_hvps(ops, n, group, v, hv, h, [&](std::int64_t cols) {
      network_hvp(cols, true, x, v, hv, z.data(), rwork, true);
    });
    return;
  }
  if (!field()) {
    std::copy(matrix.begin(), matrix.end(), h);
    return;
  }
  CpuOps<T> ops;
  z.resize(static_cast<std::size_t>(m));
  u.resize(static_cast<std::size_t>(m * n));  // diag(h) W
  pipelines::field_curvatures(ops, field_arrays(), 1, x, z.data());
  pipelines::field_hessians(ops, field_arrays(), 1, z.data(), u.data(), m * n, h, n * n);
}

template struct HostObjective<float>;
template struct HostObjective<double>;

namespace {

// Rows in precision T: the host's own memory.
template <class T>
struct CpuRows final : ResidentRows {
  std::vector<T> v;
  void resize(std::int64_t count, std::int64_t n) {
    count_ = count;
    v.resize(static_cast<std::size_t>(count * n));
  }
};

template <class T>
const CpuRows<T>& rows_of(const ResidentRows& r) {
  return static_cast<const CpuRows<T>&>(r);
}
template <class T>
CpuRows<T>& rows_of(ResidentRows& r) {
  return static_cast<CpuRows<T>&>(r);
}

// The objective's arrays converted to T once (HostObjective) and its work
// spaces kept; rows are std::vector<T>.
template <class T>
class CpuPrepared final : public PreparedObjective {
 public:
  explicit CpuPrepared(const ObjectiveData& d) : d_(d), obj_(d) {
    bytes_ = sizeof(T) * (d.lambda.size() + d.matrix.size() + d.field_w.size() + d.field_a.size() +
                          d.field_b.size() + d.net_x.size() + d.net_y.size() + d.couplings.size()) +
             sizeof(std::int32_t) * d.net_labels.size();
  }
  const ObjectiveData& data() const override { return d_; }
  Precision precision() const override { return sizeof(T) == 4 ? Precision::f32 : Precision::f64; }
  std::unique_ptr<ResidentRows> rows() override { return std::make_unique<CpuRows<T>>(); }
  void put(ResidentRows& r, const std::vector<double>& x) override {
    written(r);
    CpuRows<T>& c = rows_of<T>(r);
    c.resize(static_cast<std::int64_t>(x.size()) / d_.dim, d_.dim);
    std::copy(x.begin(), x.end(), c.v.begin());  // rounded to T
    bytes_ += x.size() * sizeof(T);
  }
  std::vector<double> get(const ResidentRows& r) override {
    const CpuRows<T>& c = rows_of<T>(r);
    bytes_ += c.v.size() * sizeof(T);
    return {c.v.begin(), c.v.end()};
  }

  std::vector<double> value_grad(const ResidentRows& xr, ResidentRows& gr) override {
    const std::vector<T>& x = rows_of<T>(xr).v;
    const std::int64_t batch = xr.count(), n = d_.dim;
    written(gr);
    CpuRows<T>& g = rows_of<T>(gr);
    g.resize(batch, n);
    grow_.resize(obj_.view.coupled ? x.size() : 0);
    std::vector<double> f(static_cast<std::size_t>(batch), 0.0);
    obj_.coupled_value_grad(batch, x.data(), grow_.data(), f.data());
    for (std::int64_t b = 0; b < batch; ++b) {
      double fs = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        T fi, gi;
        obj_.view.eval(x.data() + b * n, grow_.empty() ? nullptr : grow_.data() + b * n, i, fi, gi);
        fs += fi;
        g.v[b * n + i] = gi;
      }
      f[b] = fs + f[b];
    }
    return f;
  }

  std::vector<double> accuracy(const ResidentRows& xr) override {
    if (!d_.classifies()) return {};
    const std::vector<T>& x = rows_of<T>(xr).v;
    const std::int64_t batch = xr.count();
    grow_.resize(x.size());
    std::vector<double> f(static_cast<std::size_t>(batch)), acc(static_cast<std::size_t>(batch));
    obj_.coupled_value_grad(batch, x.data(), grow_.data(), f.data(), acc.data());
    return acc;
  }

  void hvp(const ResidentRows& xr, const ResidentRows& vr, ResidentRows& hr) override {
    const std::vector<T>&x = rows_of<T>(xr).v, &v = rows_of<T>(vr).v;
    const std::int64_t batch = xr.count(), n = d_.dim;
    written(hr);
    CpuRows<T>& hv = rows_of<T>(hr);
    hv.resize(batch, n);
    if (obj_.is_network()) {
      // Krylov methods ask many products at the same rows: each row's
      // forward and backward pass is kept until the rows change (the same
      // calls as coupled_hvp's, so the same bits).
      const std::int64_t w1 = obj_.network_work(1), per = w1 + n;
      const int threads = network_threads(batch);
      scratch_.resize(static_cast<std::size_t>(threads * per));
      if (kept_x_ != &xr || kept_count_ != batch) {
        kept_.resize(static_cast<std::size_t>(batch * w1));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (std::int64_t r = 0; r < batch; ++r) {
          double f = 0;
          obj_.network_value_grad(1, x.data() + r * n,
                                  scratch_.data() + omp_get_thread_num() * per + w1, &f, nullptr,
                                  kept_.data() + r * w1, false);
        }
        kept_x_ = &xr;
        kept_count_ = batch;
      }
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (std::int64_t r = 0; r < batch; ++r)
        obj_.network_hvp(1, false, x.data() + r * n, v.data() + r * n, hv.v.data() + r * n,
                         kept_.data() + r * w1, scratch_.data() + omp_get_thread_num() * per,
                         false);
      return;
    }
    if (obj_.view.coupled) {
      obj_.coupled_hvp(batch, x.data(), v.data(), hv.v.data());
      return;
    }
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t i = 0; i < n; ++i)
        hv.v[b * n + i] = obj_.view.hvp(x.data() + b * n, v.data() + b * n, i);
  }

  std::vector<double> hessian(const ResidentRows& xr) override {
    const std::vector<T>& x = rows_of<T>(xr).v;
    const std::int64_t batch = xr.count(), n = d_.dim;
    std::vector<double> h(static_cast<std::size_t>(batch * n * n), 0.0);
    for (std::int64_t b = 0; b < batch; ++b) {
      double* hb = h.data() + b * n * n;
      if (obj_.view.coupled) {
        ht_.resize(static_cast<std::size_t>(n * n));
        obj_.coupled_hessian(x.data() + b * n, ht_.data());
        std::copy(ht_.begin(), ht_.end(), hb);
        continue;
      }
      for (std::int64_t i = 0; i < n; ++i) {
        T diag, upper;
        obj_.view.hessian_band(x.data() + b * n, i, diag, upper);
        hb[i * n + i] = diag;
        if (i + 1 < n) hb[i * n + i + 1] = hb[(i + 1) * n + i] = upper;
      }
    }
    bytes_ += h.size() * sizeof(double);
    return h;
  }

  // The host is the device: the Hessians in double are the solver's input.
  EighResult hessian_eigh(const ResidentRows& xr, bool vectors) override {
    return eigh_t<T>(xr.count(), d_.dim, hessian(xr), vectors);
  }

  std::vector<double> dots(const ResidentRows& ar, const ResidentRows& br) override {
    const std::vector<T>&a = rows_of<T>(ar).v, &b = rows_of<T>(br).v;
    const std::int64_t count = ar.count(), n = d_.dim;
    require_count("dots", br.count(), count);
    std::vector<double> out(static_cast<std::size_t>(count));
#pragma omp parallel for schedule(static) if (count * n > (1 << 16))
    for (std::int64_t r = 0; r < count; ++r)
      out[r] = row_dot_t(n, a.data() + r * n, b.data() + r * n);
    return out;
  }

  void combine(const std::vector<double>& a, const ResidentRows& xr, const std::vector<double>& b,
               ResidentRows& yr) override {
    const std::int64_t count = xr.count(), n = d_.dim;
    require_count("combine", static_cast<std::int64_t>(a.size()), count);
    require_count("combine", static_cast<std::int64_t>(b.size()), count);
    written(yr);
    CpuRows<T>& y = rows_of<T>(yr);
    const std::vector<T>& x = rows_of<T>(xr).v;
    if (y.count() != count) y.resize(count, n);
#pragma omp parallel for schedule(static) if (count * n > (1 << 16))
    for (std::int64_t r = 0; r < count; ++r) {
      const T ar = static_cast<T>(a[r]), br = static_cast<T>(b[r]);
      const T* xs = x.data() + r * n;
      T* ys = y.v.data() + r * n;
      if (b[r] == 0)
        for (std::int64_t i = 0; i < n; ++i) ys[i] = ar * xs[i];
      else
        for (std::int64_t i = 0; i < n; ++i) ys[i] = ar * xs[i] + br * ys[i];
    }
  }

  std::vector<double> project_out(const std::vector<const ResidentRows*>& basis, ResidentRows& wr,
                                  const std::vector<std::uint8_t>& rows) override {
    const std::int64_t count = wr.count(), n = d_.dim,
                       l_count = static_cast<std::int64_t>(basis.size());
    for (const ResidentRows* q : basis) require_count("project_out", q->count(), count);
    if (!rows.empty()) require_count("project_out", static_cast<std::int64_t>(rows.size()), count);
    written(wr);
    std::vector<T>& w = rows_of<T>(wr).v;
    std::vector<double> c(static_cast<std::size_t>(l_count * count), 0.0);
#pragma omp parallel for schedule(static) if (count > 1)
    for (std::int64_t r = 0; r < count; ++r) {
      if (!rows.empty() && rows[r] == 0) continue;
      T* ws = w.data() + r * n;
      for (std::int64_t l = 0; l < l_count; ++l)
        c[l * count + r] = row_dot_t(n, rows_of<T>(*basis[l]).v.data() + r * n, ws);
      // w -= c_l q_l for l ascending, four basis rows per sweep over w (each
      // element sees the same operations in the same order as one l at a time).
      std::int64_t l = 0;
      for (; l + 4 <= l_count; l += 4) {
        const T c0 = static_cast<T>(c[l * count + r]), c1 = static_cast<T>(c[(l + 1) * count + r]),
                c2 = static_cast<T>(c[(l + 2) * count + r]),
                c3 = static_cast<T>(c[(l + 3) * count + r]);
        const T *q0 = rows_of<T>(*basis[l]).v.data() + r * n,
                *q1 = rows_of<T>(*basis[l + 1]).v.data() + r * n,
                *q2 = rows_of<T>(*basis[l + 2]).v.data() + r * n,
                *q3 = rows_of<T>(*basis[l + 3]).v.data() + r * n;
        for (std::int64_t i = 0; i < n; ++i)
          ws[i] = (((ws[i] - c0 * q0[i]) - c1 * q1[i]) - c2 * q2[i]) - c3 * q3[i];
      }
      for (; l < l_count; ++l) {
        const T cl = static_cast<T>(c[l * count + r]);
        const T* qs = rows_of<T>(*basis[l]).v.data() + r * n;
        for (std::int64_t i = 0; i < n; ++i) ws[i] -= cl * qs[i];
      }
    }
    return c;
  }

  std::uint64_t host_bytes() const override { return bytes_; }

 private:
  // <a, b> of one row in double, in index order.
  // <a, b> of one row in double: eight partial sums (coordinates i mod 8,
  // so the loop vectorizes), added in a fixed order at the end.
  static double row_dot_t(std::int64_t n, const T* a, const T* b) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k)
        s[k] += static_cast<double>(a[i + k]) * static_cast<double>(b[i + k]);
    for (int k = 0; i < n; ++i, ++k) s[k] += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
  static void require_count(const char* what, std::int64_t got, std::int64_t want) {
    if (got != want)
      throw Error(std::string(what) + ": " + std::to_string(got) + " rows or coefficients, not " +
                      std::to_string(want),
                  1);
  }

  const ObjectiveData& d_;
  const HostObjective<T> obj_;
  std::vector<T> grow_, ht_;  // coupled gradient rows; one coupled Hessian
  // The networks' forward and backward passes at the rows of kept_x_ (hvp),
  // network_work(1) per row, and per thread a gradient and an R-operator space.
  const ResidentRows* kept_x_ = nullptr;
  std::int64_t kept_count_ = 0;
  std::vector<T> kept_, scratch_;
  // Rows about to change: passes kept for them are stale.
  void written(const ResidentRows& r) {
    if (&r == kept_x_) kept_x_ = nullptr;
  }
  std::uint64_t bytes_ = 0;
};

}  // namespace

std::unique_ptr<PreparedObjective> prepare_objective(const ObjectiveData& d, Precision p) {
  if (p == Precision::f32) return std::make_unique<CpuPrepared<float>>(d);
  return std::make_unique<CpuPrepared<double>>(d);
}

}  // namespace saddlescope::cpu_detail
