// The CUDA backend's objectives (src/cuda/objectives.cuh): row-major GEMMs
// on cuBLAS, DeviceObjective's uploads and size checks, and its calls of the
// shared pipelines (kernels/pipelines/: gaussian field, rotated quadratic,
// networks, p-spin) with CudaOps and the p = 3 contraction.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/gaussian_field.hpp"
#include "kernels/network.hpp"
#include "kernels/pipelines/gaussian_field.hpp"
#include "kernels/pipelines/networks.hpp"
#include "kernels/pipelines/pspin.hpp"
#include "kernels/pspin.hpp"
#include "src/cuda/objectives.cuh"

namespace saddlescope::cuda_detail {

// ---------------------------------------------------------------------------
// GEMMs on row-major arrays, with the CPU backend's conventions: C [m, n] =
// op(A) op(B) + beta C, op(A) [m, k], op(B) [k, n]; ta / tb mean that A is
// stored [k, m] / B is stored [n, k]. cuBLAS is column-major: a row-major
// [r, c] array is the column-major [c, r] array of its transpose, so the
// row-major C is computed as the column-major C^T = op(B)^T op(A)^T, i.e.
// cuBLAS gemm(tb, ta, n, m, k, B, A) with the leading dimensions of the
// row-major arrays. (The rotated quadratic's G = X A is gemm(N, N, n, rows,
// n, A, X).)

void gemm_cm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
             const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  const float one = 1.0f;
  SS_CUBLAS(cublasSgemm(h, ta, tb, m, n, k, &one, a, lda, b, ldb, &beta, c, ldc));
}
void gemm_cm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
             const double* a, int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  const double one = 1.0;
  SS_CUBLAS(cublasDgemm(h, ta, tb, m, n, k, &one, a, lda, b, ldb, &beta, c, ldc));
}

template <class T>
void gemm_rm(cublasHandle_t h, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k,
             const T* a, const T* b, T* c, T beta) {
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  require(m >= 0 && n >= 0 && k >= 0, "negative GEMM size");
  require(m <= kIntMax && n <= kIntMax && k <= kIntMax, "GEMM too large for cuBLAS");
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta C (cuBLAS rejects a zero leading dimension)
    require(beta == T(0) || beta == T(1), "GEMM with k = 0 and beta other than 0 or 1");
    if (beta == T(0)) SS_CUDA(cudaMemset(c, 0, checked_size(m, n) * sizeof(T)));
    return;
  }
  gemm_cm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
          static_cast<int>(m), static_cast<int>(k), b, static_cast<int>(tb ? k : n), a,
          static_cast<int>(ta ? m : k), beta, c, static_cast<int>(n));
}

// Strided-batched row-major GEMMs: for e < batch, C_e = op(A_e) op(B_e) +
// beta C_e with A_e = a + e * sa (and so on), the same conventions and the
// same column-major mapping as gemm_rm. A stride of 0 shares an operand
// between the batch entries (the MLP's inputs X). k > 0; the batch goes in
// pieces of at most kMaxGemmBatch entries.
constexpr std::int64_t kMaxGemmBatch = 65535;

void gemm_cm_strided(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                     int k, const float* a, int lda, long long sa, const float* b, int ldb,
                     long long sb, float beta, float* c, int ldc, long long sc, int batch) {
  const float one = 1.0f;
  SS_CUBLAS(cublasSgemmStridedBatched(h, ta, tb, m, n, k, &one, a, lda, sa, b, ldb, sb, &beta, c,
                                      ldc, sc, batch));
}
void gemm_cm_strided(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                     int k, const double* a, int lda, long long sa, const double* b, int ldb,
                     long long sb, double beta, double* c, int ldc, long long sc, int batch) {
  const double one = 1.0;
  SS_CUBLAS(cublasDgemmStridedBatched(h, ta, tb, m, n, k, &one, a, lda, sa, b, ldb, sb, &beta, c,
                                      ldc, sc, batch));
}

template <class T>
void gemm_rm_strided(cublasHandle_t h, bool ta, bool tb, std::int64_t m, std::int64_t n,
                     std::int64_t k, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* c,
                     std::int64_t sc, std::int64_t batch, T beta = T(0)) {
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  require(m >= 0 && n >= 0 && k > 0 && batch >= 0, "bad batched GEMM size");
  require(m <= kIntMax && n <= kIntMax && k <= kIntMax, "GEMM too large for cuBLAS");
  if (m == 0 || n == 0 || batch == 0) return;
  for (std::int64_t e0 = 0; e0 < batch; e0 += kMaxGemmBatch) {
    const std::int64_t cnt = std::min(kMaxGemmBatch, batch - e0);
    gemm_cm_strided(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                    static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), b + e0 * sb,
                    static_cast<int>(tb ? k : n), static_cast<long long>(sb), a + e0 * sa,
                    static_cast<int>(ta ? m : k), static_cast<long long>(sa), beta, c + e0 * sc,
                    static_cast<int>(n), static_cast<long long>(sc), static_cast<int>(cnt));
  }
}

// Row-batched GEMM C [rows, n] = A [rows, k] op(B) + beta C on whole tiles
// of kRowTile rows (the last one padded: A and C hold tiled_rows(rows)
// rows), one call per tile, each of the same shape (objectives.cuh,
// kRowTile).
template <class T>
void gemm_rows(cublasHandle_t h, std::int64_t rows, bool tb, std::int64_t n, std::int64_t k,
               const T* a, const T* b, T* c, T beta) {
  for (std::int64_t r0 = 0; r0 < rows; r0 += kRowTile)
    gemm_rm(h, false, tb, kRowTile, n, k, a + r0 * k, b, c + r0 * n, beta);
}

// Strided-batched GEMMs over `rows` batch entries (one per row) in calls of
// exactly `tile` entries (the arrays hold tiled_rows(rows, tile) entries),
// entry e of a call at a + (r0 + e) * sa (and so on); a stride of 0 shares
// an operand. cuBLAS's choice of kernel may depend on the batch count, which
// is therefore the same in every call.
template <class T>
void gemm_tiles(cublasHandle_t h, std::int64_t rows, std::int64_t tile, bool ta, bool tb,
                std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t sa,
                const T* b, std::int64_t sb, T* c, std::int64_t sc, T beta) {
  for (std::int64_t r0 = 0; r0 < rows; r0 += tile)
    gemm_rm_strided(h, ta, tb, m, n, k, a + r0 * sa, sa, b + r0 * sb, sb, c + r0 * sc, sc, tile,
                    beta);
}

namespace {

// Device-to-device copy of `len` elements on the default stream (ordered
// with the kernels and GEMMs around it).
template <class T>
void copy_async(T* dst, const T* src, std::int64_t len) {
  if (len > 0)
    SS_CUDA(cudaMemcpyAsync(dst, src, checked_size(len) * sizeof(T), cudaMemcpyDeviceToDevice, 0));
}

}  // namespace

template <class T>
DeviceObjective<T>::DeviceObjective(const ObjectiveData& d)
    : lambda(d.lambda.size()),
      matrix(d.matrix.size()),
      w(d.field_w.size()),
      a(d.field_a.size()),
      b(d.field_b.size()),
      net_x(d.kind == ObjectiveKind::network ? d.net_x.size() : 0),
      net_y(d.kind == ObjectiveKind::network ? d.net_y.size() : 0),
      net_labels(d.kind == ObjectiveKind::network ? d.net_labels.size() : 0),
      net(d.net),
      net_layout(d.net),
      couplings(d.kind == ObjectiveKind::p_spin ? d.couplings.size() : 0),
      p(d.kind == ObjectiveKind::p_spin ? d.pspin_p : 0),
      mu(static_cast<T>(d.field_mu)),
      m(d.features()) {
  work_row = d.work_per_row();
  require(d.dim >= 0, "negative objective dimension");
  if (d.kind == ObjectiveKind::p_spin) {
    require(p == 2 || p == 3, "p-spin order must be 2 or 3");
    require(d.dim > 0, "p-spin dimension must be positive");
    const std::size_t nn = checked_size(d.dim, d.dim);
    // p = 3: the contraction Y = X T^T is a GEMM with n^2 columns.
    require(p == 2 || nn <= static_cast<std::size_t>(std::numeric_limits<int>::max()),
            "p-spin dimension too large for cuBLAS (p = 3 needs dim^2 to fit an int)");
    require(d.couplings.size() == (p == 2 ? nn : nn * static_cast<std::size_t>(d.dim)),
            "p-spin couplings are not dim^p");
    couplings.upload(convert<T>(d.couplings));
  }
  if (d.kind == ObjectiveKind::network) {
    constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
    const std::int64_t L = net.layers(), n = net.samples;
    require(L >= 1, "a network needs at least one layer");
    require(n > 0 && n <= kIntMax, "network sample count must be positive and fit cuBLAS");
    for (const std::int64_t w_l : net.widths)
      require(w_l > 0 && w_l <= kIntMax && n * w_l <= kIntMax,
              "network widths (and samples x width) must be positive and fit cuBLAS");
    require(d.dim == net.params(), "network dimension is not the parameter count");
    require(d.net_x.size() == checked_size(n, net.widths.front()),
            "network inputs are not n x d_0");
    const bool ce = net.loss == NetworkLoss::cross_entropy;
    require(ce || d.net_y.size() == checked_size(n, net.widths.back()),
            "network targets are not n x d_L");
    require(!ce || d.net_labels.size() == checked_size(n), "network labels are not n");
    require(d.net_labels.empty() || d.net_labels.size() == checked_size(n),
            "network labels are not n");
    net_x.upload(convert<T>(d.net_x));
    net_y.upload(convert<T>(d.net_y));
    net_labels.upload(d.net_labels);
  }
  require(d.matrix.empty() || d.matrix.size() == checked_size(d.dim, d.dim),
          "objective matrix is not dim x dim");
  require(d.coupled() || d.kind != ObjectiveKind::quadratic ||
              d.lambda.size() == static_cast<std::size_t>(d.dim),
          "quadratic objective needs dim eigenvalues");
  if (d.kind == ObjectiveKind::gaussian_field) {
    require(d.field_w.size() == checked_size(m, d.dim),
            "gaussian-field frequencies are not features x dim");
    require(d.field_b.size() == d.field_a.size(), "gaussian-field needs one phase per amplitude");
  }
  // Row tiles: every GEMM over rows has kRowTile rows of the dimension or
  // the features (and the kernels index a row in 32 bits).
  require(!d.coupled() ||
              kRowTile * std::max<std::int64_t>(d.dim, m) <= std::numeric_limits<int>::max(),
          "objective dimension (or features) too large for the cuda backend's row tiles");
  lambda.upload(convert<T>(d.lambda));
  matrix.upload(convert<T>(d.matrix));
  w.upload(convert<T>(d.field_w));
  a.upload(convert<T>(d.field_a));
  b.upload(convert<T>(d.field_b));
  c = m > 0 ? static_cast<T>(std::sqrt(2.0 / static_cast<double>(m))) : T(0);
  view.kind = d.kind;
  view.n = d.dim;
  view.lambda = lambda.get();
  view.coupled = d.coupled();
  view.rastrigin_a = static_cast<T>(d.rastrigin_a);
}

template <class T>
void DeviceObjective<T>::coupled_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g,
                                            double* f_rows, T* z, double* acc) const {
  if (!view.coupled || rows == 0) return;
  const std::int64_t n = view.n;
  if (pspin()) {
    pspin_value_grad(h, rows, x, g, f_rows, z);
    return;
  }
  if (is_network()) {
    network_value_grad(h, rows, x, g, f_rows, acc, z);
    return;
  }
  CudaOps<T> ops{h};
  if (!field()) {
    pipelines::dense_quadratic_rows(ops, matrix.get(), n, rows, x, g);  // G = X A
    return;
  }
  pipelines::field_value_grad(ops, field_arrays(), rows, x, g, f_rows, z);
}

template <class T>
void DeviceObjective<T>::network_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g,
                                            double* f, double* acc, T* work,
                                            std::int64_t tile) const {
  CudaOps<T> ops{h, tile};
  pipelines::network_value_grad(ops, net_arrays(), rows, x, g, f, acc, work);
}

template <class T>
void DeviceObjective<T>::network_hvp(cublasHandle_t h, std::int64_t rows, bool shared, const T* x,
                                     const T* work, const T* v, T* hv, T* rwork) const {
  CudaOps<T> ops{h};
  pipelines::network_hvp(ops, net_arrays(), rows, shared, x, work, v, hv, rwork);
}

template <class T>
template <class F>
void DeviceObjective<T>::pspin_contract(cublasHandle_t h, std::int64_t rows, const T* x, T* y,
                                        F&& body) const {
  const std::int64_t n = view.n, nn = n * n, tile = pspin_tile();
  T* xs = y + pspin_stage(0);
  for (std::int64_t r0 = 0; r0 < rows; r0 += tile) {
    copy_async(xs, x + r0 * n, tile * n);
    gemm_rm(h, false, true, tile, nn, n, xs, couplings.get(), y);  // [tile, n^2]
    body(r0);
  }
}

template <class T>
auto DeviceObjective<T>::pspin_products(cublasHandle_t h, T* y) const {
  return [this, h, y](std::int64_t rows, const T* x, const T* u1, T* out1, const T* u2, T* out2) {
    const std::int64_t n = view.n, nn = n * n, tile = pspin_tile();
    if (p == 2) {  // U A (A symmetric), on row tiles
      gemm_rows(h, rows, false, n, n, u1, couplings.get(), out1);
      if (u2) gemm_rows(h, rows, false, n, n, u2, couplings.get(), out2);
      return;
    }
    // Per contraction tile: Y = X T^T, then Y_r u_r by strided-batched
    // GEMMs (n x n times n x 1) on staged, aligned copies of the tile's rows.
    const T* xs = y + pspin_stage(0);
    T* us = y + pspin_stage(1);
    T* o1 = y + pspin_stage(2);
    T* o2 = y + pspin_stage(3);
    pspin_contract(h, rows, x, y, [&](std::int64_t r0) {
      const T* in1 = xs;
      if (u1 != x) {
        copy_async(us, u1 + r0 * n, tile * n);
        in1 = us;
      }
      gemm_rm_strided(h, false, false, n, 1, n, y, nn, in1, n, o1, n, tile);
      copy_async(out1 + r0 * n, o1, tile * n);
      if (!u2) return;
      require(u1 == x, "p-spin products: the second direction needs the first to be x");
      copy_async(us, u2 + r0 * n, tile * n);
      gemm_rm_strided(h, false, false, n, 1, n, y, nn, us, n, o2, n, tile);
      copy_async(out2 + r0 * n, o2, tile * n);
    });
  };
}

template <class T>
void DeviceObjective<T>::pspin_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g,
                                          double* f, T* y) const {
  CudaOps<T> ops{h};
  pipelines::pspin_value_grad(ops, p, view.n, rows, x, g, f, pspin_products(h, y));
}

template <class T>
void DeviceObjective<T>::pspin_hvp(cublasHandle_t h, std::int64_t rows, const T* x, const T* v,
                                   T* hv, T* ge, T* u, T* y) const {
  CudaOps<T> ops{h};
  pipelines::pspin_hvp(ops, p, view.n, rows, x, v, hv, ge, u, pspin_products(h, y));
}

template <class T>
void DeviceObjective<T>::pspin_hessians(cublasHandle_t h, std::int64_t points, const T* x, T* hess,
                                        double* q, double* w, double* alpha) const {
  const std::int64_t n = view.n, nn = n * n;
  require(points <= pspin_tile(), "p-spin Hessians: more points than one contraction tile");
  CudaOps<T> ops{h};
  pipelines::pspin_hessians(
      ops, p, n, points, x, hess, q, w, alpha, [&](std::int64_t pts, const T* xp, T* yp) {
        if (p == 2) {
          for (std::int64_t k = 0; k < pts; ++k) copy_async(yp + k * nn, couplings.get(), nn);
        } else {  // one GEMM of a whole contraction tile: [tile, n^2]
          gemm_rm(h, false, true, pspin_tile(), nn, n, xp, couplings.get(), yp);
        }
      });
}

template <class T>
void DeviceObjective<T>::coupled_hvp(cublasHandle_t h, std::int64_t rows, const T* x, const T* v,
                                     T* hv, T* z, T* u) const {
  if (rows == 0) return;
  require(!is_network(), "network Hessian-vector products go through network_hvp");
  require(!pspin(), "p-spin Hessian-vector products go through pspin_hvp");
  CudaOps<T> ops{h};
  if (!field()) {
    pipelines::dense_quadratic_rows(ops, matrix.get(), view.n, rows, v, hv);  // V A (A symmetric)
    return;
  }
  pipelines::field_hvp(ops, field_arrays(), rows, x, v, hv, z, u);
}

template <class T>
void DeviceObjective<T>::field_curvatures(cublasHandle_t h, std::int64_t rows, const T* x,
                                          T* hz) const {
  CudaOps<T> ops{h};
  pipelines::field_curvatures(ops, field_arrays(), rows, x, hz);
}

template <class T>
void DeviceObjective<T>::field_hessians(cublasHandle_t h, std::int64_t points, const T* hz, T* dw,
                                        T* hess) const {
  CudaOps<T> ops{h};
  pipelines::field_hessians(ops, field_arrays(), points, hz, dw, dw_stride(), hess, hess_stride());
}

template void gemm_rm<float>(cublasHandle_t, bool, bool, std::int64_t, std::int64_t, std::int64_t,
                             const float*, const float*, float*, float);
template void gemm_rm<double>(cublasHandle_t, bool, bool, std::int64_t, std::int64_t, std::int64_t,
                              const double*, const double*, double*, double);
template void gemm_rows<float>(cublasHandle_t, std::int64_t, bool, std::int64_t, std::int64_t,
                               const float*, const float*, float*, float);
template void gemm_rows<double>(cublasHandle_t, std::int64_t, bool, std::int64_t, std::int64_t,
                                const double*, const double*, double*, double);
template void gemm_tiles<float>(cublasHandle_t, std::int64_t, std::int64_t, bool, bool,
                                std::int64_t, std::int64_t, std::int64_t, const float*,
                                std::int64_t, const float*, std::int64_t, float*, std::int64_t,
                                float);
template void gemm_tiles<double>(cublasHandle_t, std::int64_t, std::int64_t, bool, bool,
                                 std::int64_t, std::int64_t, std::int64_t, const double*,
                                 std::int64_t, const double*, std::int64_t, double*, std::int64_t,
                                 double);
template struct DeviceObjective<float>;
template struct DeviceObjective<double>;

}  // namespace saddlescope::cuda_detail
