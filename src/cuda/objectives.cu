// The CUDA backend's objectives (src/cuda/objectives.cuh): row-major GEMMs
// on cuBLAS, the kernels of the coupled objectives (gaussian field, mlp,
// deep linear network, p-spin) and DeviceObjective's uploads and passes.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/gaussian_field.hpp"
#include "kernels/mlp.hpp"
#include "kernels/pipelines/gaussian_field.hpp"
#include "kernels/pspin.hpp"
#include "src/cuda/objectives.cuh"

namespace saddlescope::cuda_detail {
namespace {

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
             const T* a, const T* b, T* c, T beta = T(0)) {
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
               const T* a, const T* b, T* c, T beta = T(0)) {
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
                const T* b, std::int64_t sb, T* c, std::int64_t sc, T beta = T(0)) {
  for (std::int64_t r0 = 0; r0 < rows; r0 += tile)
    gemm_rm_strided(h, ta, tb, m, n, k, a + r0 * sa, sa, b + r0 * sb, sb, c + r0 * sc, sc, tile,
                    beta);
}

// Device-to-device copy of `len` elements on the default stream (ordered
// with the kernels and GEMMs around it).
template <class T>
void copy_async(T* dst, const T* src, std::int64_t len) {
  if (len > 0)
    SS_CUDA(cudaMemcpyAsync(dst, src, checked_size(len) * sizeof(T), cudaMemcpyDeviceToDevice, 0));
}

// ---------------------------------------------------------------------------
// Kernels. Elementwise kernels over rows run on row_grid (blockIdx.y a row,
// a 32-bit index within the row: the constructor checks that every
// per-row width fits), so that no element divides a 64-bit index.

// The index within a row of a row_grid kernel, and its stride.
__device__ inline unsigned row_index() { return blockIdx.x * blockDim.x + threadIdx.x; }
__device__ inline unsigned row_stride() { return gridDim.x * blockDim.x; }

// The CUDA primitives of the shared pipelines (kernels/pipelines/ops.hpp):
// cuBLAS on row tiles, a 2-D map kernel (blockIdx.y a row, the x blocks and
// threads its entries; a functor's per-row index arithmetic is hoisted out
// of the entry loop once inlined) and a block-per-row sum in block_sums'
// fixed order.
template <class F>
__global__ void map_kernel(F f, std::int64_t rows, std::int64_t width) {
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < width;
         k += std::int64_t(gridDim.x) * blockDim.x)
      f(r, k);
}

template <class F>
__global__ void row_sums_kernel(F f, std::int64_t rows, std::int64_t width, double* out) {
  __shared__ double sh[32];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    double v[1] = {0.0};
    for (std::int64_t k = threadIdx.x; k < width; k += blockDim.x) v[0] += f(r, k);
    block_sums(v, sh);
    if (threadIdx.x == 0) out[r] = v[0];
  }
}

template <class T>
struct CudaOps {
  cublasHandle_t h;
  std::int64_t padded(std::int64_t rows) const { return tiled_rows(rows); }
  void gemm_rows(std::int64_t rows, bool tb, std::int64_t cols, std::int64_t k, const T* a,
                 const T* b, T* c, T beta = T(0)) const {
    cuda_detail::gemm_rows(h, rows, tb, cols, k, a, b, c, beta);
  }
  void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
            const T* b, T* c, T beta = T(0)) const {
    gemm_rm(h, ta, tb, m, n, k, a, b, c, beta);
  }
  template <class F>
  void map(std::int64_t rows, std::int64_t width, F f) const {
    if (rows <= 0 || width <= 0) return;
    map_kernel<F><<<row_grid(rows, width), row_threads(width)>>>(f, rows, width);
    SS_LAUNCHED("map_kernel");
  }
  template <class F>
  void row_sums(std::int64_t rows, std::int64_t width, F f, double* out) const {
    if (rows <= 0) return;
    row_sums_kernel<F><<<row_blocks(rows), kFlatThreads>>>(f, rows, width, out);
    SS_LAUNCHED("row_sums_kernel");
  }
};

// MLP kernels (kernels/mlp.hpp), over `rows` batch entries of the passes in
// DeviceObjective. Per entry r: its parameter row p + r * ps (ps = dim, or 0
// when every entry shares one point), hidden arrays [n, h] (nh elements) and
// output arrays [n, o] (no elements); hs / os are the strides of the forward
// arrays (nh / no, or 0 when shared). nh, no < 2^31 (the constructor's
// check), so the unit of an element is a 32-bit remainder.

// H = tanh(A + b1) in place, a: [rows, n, h].
template <class T>
__global__ void mlp_hidden_kernel(T* a, const T* p, std::int64_t ps, std::int64_t b1,
                                  std::int64_t rows, unsigned nh, unsigned hh) {
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    T* ar = a + r * nh;
    const T* bias = p + r * ps + b1;
    for (unsigned q = row_index(); q < nh; q += row_stride()) ar[q] = mlp_act(ar[q] + bias[q % hh]);
  }
}

// Block = entry: residuals r = out + b2 - Y, the loss 1/(2n) sum r^2 (double,
// block_sum's fixed order) into f, and out overwritten by dout = r / n.
template <class T>
__global__ void mlp_residual_kernel(T* out, const T* p, std::int64_t ps, std::int64_t b2,
                                    const T* y, double* f, std::int64_t rows, unsigned no,
                                    unsigned o, T inv_n, double samples) {
  __shared__ double sh[96];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    T* outr = out + r * no;
    const T* b2r = p + r * ps + b2;
    IterationSums acc;
    for (unsigned q = threadIdx.x; q < no; q += blockDim.x) {
      const T res = outr[q] + b2r[q % o] - y[q];
      acc.f += 0.5 * static_cast<double>(res) * static_cast<double>(res);
      outr[q] = res * inv_n;
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) f[r] = acc.f / samples;
  }
}

// Column sums in sample order (the CPU's order): dst[r * ds + j] =
// sum_q src[r * ss + q * w + j], q = 0 .. n - 1, for j < w.
template <class T>
__global__ void mlp_colsum_kernel(const T* src, std::int64_t ss, T* dst, std::int64_t ds,
                                  std::int64_t rows, std::int64_t n, unsigned w) {
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (unsigned j = row_index(); j < w; j += row_stride()) {
      const T* s = src + r * ss + j;
      T acc = T(0);
      for (std::int64_t q = 0; q < n; ++q) acc += s[q * w];
      dst[r * ds + j] = acc;
    }
}

// dA = dH tanh'(A), written through H = tanh(A) (da may alias dh).
template <class T>
__global__ void mlp_dact_kernel(const T* dh, const T* h, T* da, std::int64_t len) {
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x)
    da[k] = dh[k] * mlp_act_d(h[k]);
}

// R{A} = X V1^T + c1 (ra holds X V1^T), R{H} = tanh'(A) R{A}.
template <class T>
__global__ void mlp_r_hidden_kernel(T* ra, T* rh, const T* h, std::int64_t hs, const T* v,
                                    std::int64_t vs, std::int64_t b1, std::int64_t rows,
                                    unsigned nh, unsigned hh) {
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    T* rar = ra + r * nh;
    T* rhr = rh + r * nh;
    const T* hr = h + r * hs;
    const T* c1 = v + r * vs + b1;
    for (unsigned q = row_index(); q < nh; q += row_stride()) {
      rar[q] += c1[q % hh];
      rhr[q] = mlp_act_d(hr[q]) * rar[q];
    }
  }
}

// R{dout} = (R{out} + c2) / n in place.
template <class T>
__global__ void mlp_r_out_kernel(T* rout, const T* v, std::int64_t vs, std::int64_t b2,
                                 std::int64_t rows, unsigned no, unsigned o, T inv_n) {
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    T* rr = rout + r * no;
    const T* c2 = v + r * vs + b2;
    for (unsigned q = row_index(); q < no; q += row_stride()) rr[q] = (rr[q] + c2[q % o]) * inv_n;
  }
}

// R{dA} = R{dH} tanh'(A) + dH tanh''(A) R{A} in place of R{dH}.
template <class T>
__global__ void mlp_r_dact_kernel(T* rdh, const T* h, const T* dh, std::int64_t hs, const T* ra,
                                  std::int64_t rows, unsigned nh) {
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    T* rd = rdh + r * nh;
    const T* rar = ra + r * nh;
    const T* hr = h + r * hs;
    const T* dhr = dh + r * hs;
    for (unsigned q = row_index(); q < nh; q += row_stride())
      rd[q] = rd[q] * mlp_act_d(hr[q]) + dhr[q] * mlp_act_dd(hr[q]) * rar[q];
  }
}

// Deep-linear kernels, over `rows` entries of the passes in DeviceObjective
// whose work rows lie `ws` elements apart.

// Block = entry: residuals R = Z_L - Y (Z_L [d_L, n] at z + r * ws), the loss
// 1/(2n) ||R||^2 (double, block_sum's fixed order) into f, and dZ_L = R / n
// into dz + r * ws. len = d_L n.
template <class T>
__global__ void dl_residual_kernel(const T* z, T* dz, std::int64_t ws, const T* y, double* f,
                                   std::int64_t rows, std::int64_t len, T samples_t,
                                   double samples) {
  __shared__ double sh[96];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* zr = z + r * ws;
    T* dzr = dz + r * ws;
    IterationSums acc;
    for (std::int64_t q = threadIdx.x; q < len; q += blockDim.x) {
      const T res = zr[q] - y[q];
      acc.f += 0.5 * static_cast<double>(res) * static_cast<double>(res);
      dzr[q] = res / samples_t;
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) f[r] = acc.f / samples;
  }
}

// R{dZ_L} = R{Z_L} / n: dst[r * ws + q] = src[r * ws + q] / n, q < len.
template <class T>
__global__ void dl_r_out_kernel(const T* src, T* dst, std::int64_t ws, std::int64_t rows,
                                unsigned len, T samples_t) {
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (unsigned q = row_index(); q < len; q += row_stride())
      dst[r * ws + q] = src[r * ws + q] / samples_t;
}

// p-spin kernels (kernels/pspin.hpp), block = row: each thread takes the
// coordinates i = threadIdx.x + k blockDim.x, and the row's dot products
// (in double) are combined by block_sums in a fixed order, so the kernels
// are deterministic; their order differs from the CPU's sequential
// row_dot, which the CPU comparisons' tolerances cover. The elementwise
// formulas are kernels/pspin.hpp's.

// Gradient epilogue per row: g holds Y x on entry (p = 2: g_E = x A; p = 3:
// Y x = 2 g_E, halved here), the Riemannian gradient g_R on exit; the energy
// per spin E into f (pspin_grad_epilogue).
template <class T>
__global__ void pspin_grad_kernel(int p, const T* x, T* g, double* f, std::int64_t rows,
                                  std::int64_t n) {
  __shared__ double sh[64];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* gr = g + r * n;
    double s[2] = {0, 0};  // x . g_E, x . x
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      if (p == 3) gr[i] /= T(2);
      s[0] += static_cast<double>(xr[i]) * static_cast<double>(gr[i]);
      s[1] += static_cast<double>(xr[i]) * static_cast<double>(xr[i]);
    }
    block_sums(s, sh);
    if (threadIdx.x == 0) f[r] = pspin_energy(p, n, s[0]);
    const T cw = sphere_project_coefficient<T>(s[0], s[1]);
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) gr[i] -= cw * xr[i];
  }
}

// u = P v per row (u must not alias v), x, v, u [rows, n] (sphere_project).
template <class T>
__global__ void sphere_project_kernel(const T* x, const T* v, T* u, std::int64_t rows,
                                      std::int64_t n) {
  __shared__ double sh[64];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    const T* vr = v + r * n;
    T* ur = u + r * n;
    double s[2] = {0, 0};  // x . v, x . x
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      ur[i] = vr[i];
      s[0] += static_cast<double>(xr[i]) * static_cast<double>(vr[i]);
      s[1] += static_cast<double>(xr[i]) * static_cast<double>(xr[i]);
    }
    block_sums(s, sh);
    const T cp = sphere_project_coefficient<T>(s[0], s[1]);
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) ur[i] -= cp * xr[i];
  }
}

// Hessian-vector epilogue per row: ge holds Y x (p = 3: 2 g_E, halved in
// place), hv holds Y u with u = P v; on exit hv = P (Y u - c u), c the
// Weingarten coefficient x . g_E / |x|^2 (sphere_weingarten,
// pspin_hvp_epilogue).
template <class T>
__global__ void pspin_hvp_kernel(int p, const T* x, T* ge, const T* u, T* hv, std::int64_t rows,
                                 std::int64_t n) {
  __shared__ double sh[64];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const std::int64_t off = r * n;
    const T* xr = x + off;
    T* ger = ge + off;
    T* hr = hv + off;
    double s[2] = {0, 0};  // x . g_E, x . x
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      if (p == 3) ger[i] /= T(2);
      s[0] += static_cast<double>(xr[i]) * static_cast<double>(ger[i]);
      s[1] += static_cast<double>(xr[i]) * static_cast<double>(xr[i]);
    }
    block_sums(s, sh);
    const double cw = s[0] / s[1];
    double t[1] = {0};  // x . y after y = Y u - c u
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      hr[i] = static_cast<T>(hr[i] - cw * u[off + i]);
      t[0] += static_cast<double>(xr[i]) * static_cast<double>(hr[i]);
    }
    block_sums(t, sh);
    const T cp = sphere_project_coefficient<T>(t[0], s[1]);
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) hr[i] -= cp * xr[i];
  }
}

// `points` copies of the n x n matrix a: h [points, nn], nn = n^2.
template <class T>
__global__ void broadcast_matrix_kernel(const T* a, T* h, std::int64_t points, std::int64_t nn) {
  for (std::int64_t pt = blockIdx.y; pt < points; pt += gridDim.y)
    for (std::int64_t e = row_index(); e < nn; e += row_stride()) h[pt * nn + e] = a[e];
}

// Dense p-spin Hessians, step 1, block per point: the unit normal q = x / |x|
// (double), x [points, n], q [points, n].
template <class T>
__global__ void pspin_normal_kernel(const T* x, double* q, std::int64_t points, std::int64_t n) {
  __shared__ double sh[32];
  for (std::int64_t pt = blockIdx.x; pt < points; pt += gridDim.x) {
    const T* xp = x + pt * n;
    double s[1] = {0};
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x)
      s[0] += static_cast<double>(xp[i]) * static_cast<double>(xp[i]);
    block_sums(s, sh);
    const double norm = sqrt(s[0]);
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) q[pt * n + i] = xp[i] / norm;
  }
}

// Step 2, warp per (point, i): w_i = (Y q)_i in double, the lanes taking j =
// lane + 32 k and warp_sum combining them, Y [points, n, n]. Threads per
// block: kFlatThreads (8 warps, one row each).
template <class T>
__global__ void pspin_yq_kernel(const T* y, const double* q, double* w, std::int64_t points,
                                std::int64_t n) {
  const unsigned lane = threadIdx.x & 31u, warps = blockDim.x / 32;
  for (std::int64_t row = blockIdx.x * std::int64_t(warps) + threadIdx.x / 32; row < points * n;
       row += std::int64_t(gridDim.x) * warps) {
    const std::int64_t pt = row / n;  // once per (point, i), not per element
    const T* yi = y + row * n;
    const double* qp = q + pt * n;
    double s = 0;
    for (std::int64_t j = lane; j < n; j += 32) s += yi[j] * qp[j];
    s = warp_sum(s);
    if (lane == 0) w[row] = s;
  }
}

// Step 3, block per point: alpha = q . w.
__global__ void pspin_alpha_kernel(const double* q, const double* w, double* alpha,
                                   std::int64_t points, std::int64_t n) {
  __shared__ double sh[32];
  for (std::int64_t pt = blockIdx.x; pt < points; pt += gridDim.x) {
    double s[1] = {0};
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x)
      s[0] += q[pt * n + i] * w[pt * n + i];
    block_sums(s, sh);
    if (threadIdx.x == 0) alpha[pt] = s[0];
  }
}

// Step 4, grid row per Hessian row (point, i): Y overwritten by the embedded
// Riemannian Hessian P (Y - c I) P with c = alpha / (p - 1), h [points, n, n].
template <class T>
__global__ void pspin_hessian_kernel(int p, T* h, const double* q, const double* w,
                                     const double* alpha, std::int64_t points, std::int64_t n) {
  for (std::int64_t row = blockIdx.y; row < points * n; row += gridDim.y) {
    const std::int64_t pt = row / n, i = row - pt * n;  // once per row
    const double* qp = q + pt * n;
    const double* wp = w + pt * n;
    const double a = alpha[pt];
    T* hr = h + row * n;
    for (std::int64_t j = row_index(); j < n; j += row_stride())
      hr[j] = sphere_hessian_entry(hr[j], i == j, qp[i], qp[j], wp[i], wp[j], a, a / (p - 1));
  }
}

}  // namespace

template <class T>
DeviceObjective<T>::DeviceObjective(const ObjectiveData& d)
    : lambda(d.lambda.size()),
      matrix(d.matrix.size()),
      w(d.field_w.size()),
      a(d.field_a.size()),
      b(d.field_b.size()),
      mlp_x(d.kind == ObjectiveKind::mlp ? d.mlp_x.size() : 0),
      mlp_y(d.kind == ObjectiveKind::mlp ? d.mlp_y.size() : 0),
      mlp(d.mlp),
      dl_x(d.kind == ObjectiveKind::deep_linear ? d.dl_x.size() : 0),
      dl_y(d.kind == ObjectiveKind::deep_linear ? d.dl_y.size() : 0),
      dl_widths(d.kind == ObjectiveKind::deep_linear ? d.dl_widths : std::vector<std::int64_t>{}),
      dl_samples(d.dl_samples),
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
  if (d.kind == ObjectiveKind::deep_linear) {
    constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
    require(dl_widths.size() >= 2, "deep-linear needs at least one layer");
    require(dl_samples > 0 && dl_samples <= kIntMax,
            "deep-linear sample count must be positive and fit cuBLAS");
    for (const std::int64_t w_l : dl_widths)
      require(w_l > 0 && w_l <= kIntMax, "deep-linear widths must be positive and fit cuBLAS");
    dl_off.assign(dl_widths.size(), 0);
    dl_zoff.assign(dl_widths.size(), 0);
    std::int64_t params = 0;
    for (std::size_t l = 1; l < dl_widths.size(); ++l) {
      dl_off[l] = params;
      params += dl_widths[l] * dl_widths[l - 1];
      dl_zoff[l] = dl_span;
      dl_span += dl_widths[l] * dl_samples;
    }
    require(d.dim == params, "deep-linear dimension is not the parameter count");
    // The R-operator's output kernel indexes d_L x n in 32 bits.
    require(dl_widths.back() * dl_samples <= kIntMax,
            "deep-linear d_L x samples must be below 2^31 on the cuda backend");
    require(d.dl_x.size() == checked_size(dl_widths.front(), dl_samples),
            "deep-linear inputs are not d_0 x n");
    require(d.dl_y.size() == checked_size(dl_widths.back(), dl_samples),
            "deep-linear targets are not d_L x n");
    dl_x.upload(convert<T>(d.dl_x));
    dl_y.upload(convert<T>(d.dl_y));
  }
  if (d.kind == ObjectiveKind::mlp) {
    constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
    require(mlp.d > 0 && mlp.h > 0 && mlp.o > 0 && mlp.n > 0, "mlp sizes must be positive");
    require(mlp.d <= kIntMax && mlp.h <= kIntMax && mlp.o <= kIntMax && mlp.n <= kIntMax,
            "mlp sizes too large for cuBLAS");
    // The kernels index a trajectory's hidden and output arrays in 32 bits.
    require(mlp.n * mlp.h <= kIntMax && mlp.n * mlp.o <= kIntMax,
            "mlp samples x hidden (or x outputs) must be below 2^31 on the cuda backend");
    require(d.dim == mlp.params(), "mlp dimension is not the parameter count");
    require(d.mlp_x.size() == checked_size(mlp.n, mlp.d), "mlp inputs are not n x d");
    require(d.mlp_y.size() == checked_size(mlp.n, mlp.o), "mlp labels are not n x o");
    mlp_x.upload(convert<T>(d.mlp_x));
    mlp_y.upload(convert<T>(d.mlp_y));
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
                                            double* f_rows, T* z) const {
  if (!view.coupled || rows == 0) return;
  const std::int64_t n = view.n;
  if (pspin()) {
    pspin_value_grad(h, rows, x, g, f_rows, z);
    return;
  }
  if (is_deep_linear()) {
    dl_value_grad(h, rows, x, g, f_rows, z);
    return;
  }
  if (is_mlp()) {
    const std::int64_t span = tiled_rows(rows) * mlp.n * mlp.h;
    T* hid = z;
    T* dh = z + span;
    mlp_value_grad(h, rows, x, g, f_rows, hid, dh, dh, dh + span);
    return;
  }
  const CudaOps<T> ops{h};
  if (!field()) {
    pipelines::dense_quadratic_rows(ops, matrix.get(), n, rows, x, g);  // G = X A
    return;
  }
  pipelines::field_value_grad(ops, field_arrays(), rows, x, g, f_rows, z);
}

template <class T>
void DeviceObjective<T>::mlp_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g,
                                        double* f, T* hid, T* dh, T* da, T* out,
                                        std::int64_t tile) const {
  if (rows == 0) return;
  const std::int64_t dim = view.n, n = mlp.n, d = mlp.d, hh = mlp.h, o = mlp.o;
  const std::int64_t nh = n * hh, no = n * o, rt = tiled_rows(rows, tile);
  const auto unh = static_cast<unsigned>(nh), uno = static_cast<unsigned>(no);
  const T* xs = mlp_x.get();
  gemm_tiles(h, rows, tile, false, true, n, hh, d, xs, 0, x + mlp.w1(), dim, hid, nh);  // X W1^T
  mlp_hidden_kernel<T><<<row_grid(rt, nh), row_threads(nh)>>>(hid, x, dim, mlp.b1(), rt, unh,
                                                              static_cast<unsigned>(hh));
  SS_LAUNCHED("mlp_hidden_kernel");
  gemm_tiles(h, rows, tile, false, true, n, o, hh, hid, nh, x + mlp.w2(), dim, out, no);  // H W2^T
  mlp_residual_kernel<T><<<row_blocks(rt), kFlatThreads>>>(
      out, x, dim, mlp.b2(), mlp_y.get(), f, rt, uno, static_cast<unsigned>(o),
      T(1) / static_cast<T>(n), static_cast<double>(n));
  SS_LAUNCHED("mlp_residual_kernel");
  if (!g) return;
  gemm_tiles(h, rows, tile, true, false, o, hh, n, out, no, hid, nh, g + mlp.w2(), dim);
  mlp_colsum_kernel<T><<<row_grid(rt, o), row_threads(o)>>>(out, no, g + mlp.b2(), dim, rt, n,
                                                            static_cast<unsigned>(o));
  SS_LAUNCHED("mlp_colsum_kernel");
  gemm_tiles(h, rows, tile, false, false, n, hh, o, out, no, x + mlp.w2(), dim, dh, nh);  // dout W2
  mlp_dact_kernel<T><<<flat_blocks(rt * nh), kFlatThreads>>>(dh, hid, da, rt * nh);
  SS_LAUNCHED("mlp_dact_kernel");
  gemm_tiles(h, rows, tile, true, false, hh, d, n, da, nh, xs, 0, g + mlp.w1(), dim);  // dA^T X
  mlp_colsum_kernel<T><<<row_grid(rt, hh), row_threads(hh)>>>(da, nh, g + mlp.b1(), dim, rt, n,
                                                              static_cast<unsigned>(hh));
  SS_LAUNCHED("mlp_colsum_kernel");
}

template <class T>
void DeviceObjective<T>::mlp_hvp(cublasHandle_t h, std::int64_t rows, bool shared, const T* x,
                                 const T* hid, const T* dh, const T* dout, const T* v, T* hv, T* ra,
                                 T* rh, T* rdh, T* rout) const {
  if (rows == 0) return;
  const std::int64_t dim = view.n, n = mlp.n, d = mlp.d, hh = mlp.h, o = mlp.o;
  const std::int64_t nh = n * hh, no = n * o, rt = tiled_rows(rows), tile = kRowTile;
  const auto unh = static_cast<unsigned>(nh), uno = static_cast<unsigned>(no);
  const std::int64_t ps = shared ? 0 : dim, hs = shared ? 0 : nh, os = shared ? 0 : no;
  const T* xs = mlp_x.get();
  const T* w2 = x + mlp.w2();
  const T* v2 = v + mlp.w2();
  gemm_tiles(h, rows, tile, false, true, n, hh, d, xs, 0, v + mlp.w1(), dim, ra, nh);  // X V1^T
  mlp_r_hidden_kernel<T><<<row_grid(rt, nh), row_threads(nh)>>>(ra, rh, hid, hs, v, dim, mlp.b1(),
                                                                rt, unh, static_cast<unsigned>(hh));
  SS_LAUNCHED("mlp_r_hidden_kernel");
  gemm_tiles(h, rows, tile, false, true, n, o, hh, rh, nh, w2, ps, rout, no);          // R{H} W2^T
  gemm_tiles(h, rows, tile, false, true, n, o, hh, hid, hs, v2, dim, rout, no, T(1));  // + H V2^T
  mlp_r_out_kernel<T><<<row_grid(rt, no), row_threads(no)>>>(
      rout, v, dim, mlp.b2(), rt, uno, static_cast<unsigned>(o), T(1) / static_cast<T>(n));
  SS_LAUNCHED("mlp_r_out_kernel");
  // R{grad W2} = R{dout}^T H + dout^T R{H};  R{grad b2} = colsum R{dout}
  gemm_tiles(h, rows, tile, true, false, o, hh, n, rout, no, hid, hs, hv + mlp.w2(), dim);
  gemm_tiles(h, rows, tile, true, false, o, hh, n, dout, os, rh, nh, hv + mlp.w2(), dim, T(1));
  mlp_colsum_kernel<T><<<row_grid(rt, o), row_threads(o)>>>(rout, no, hv + mlp.b2(), dim, rt, n,
                                                            static_cast<unsigned>(o));
  SS_LAUNCHED("mlp_colsum_kernel");
  // R{dH} = R{dout} W2 + dout V2;  R{dA} = R{dH} tanh'(A) + dH tanh''(A) R{A}
  gemm_tiles(h, rows, tile, false, false, n, hh, o, rout, no, w2, ps, rdh, nh);
  gemm_tiles(h, rows, tile, false, false, n, hh, o, dout, os, v2, dim, rdh, nh, T(1));
  mlp_r_dact_kernel<T><<<row_grid(rt, nh), row_threads(nh)>>>(rdh, hid, dh, hs, ra, rt, unh);
  SS_LAUNCHED("mlp_r_dact_kernel");
  gemm_tiles(h, rows, tile, true, false, hh, d, n, rdh, nh, xs, 0, hv + mlp.w1(),
             dim);  // R{dA}^T X
  mlp_colsum_kernel<T><<<row_grid(rt, hh), row_threads(hh)>>>(rdh, nh, hv + mlp.b1(), dim, rt, n,
                                                              static_cast<unsigned>(hh));
  SS_LAUNCHED("mlp_colsum_kernel");
}

template <class T>
void DeviceObjective<T>::dl_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g,
                                       double* f, T* work, std::int64_t tile) const {
  if (rows == 0) return;
  const std::int64_t dim = view.n, n = dl_samples, ws = work_per_row(), L = dl_layers();
  const std::int64_t rt = tiled_rows(rows, tile);
  const std::vector<std::int64_t>& d = dl_widths;
  T* z = work;             // Z_l at z + dl_zoff[l]
  T* dz = work + dl_span;  // dZ_l at dz + dl_zoff[l]
  const T* xs = dl_x.get();
  // Z_(l-1) of the rows and its stride: X shared for l = 1.
  const auto act = [&](std::int64_t l) -> const T* { return l == 1 ? xs : z + dl_zoff[l - 1]; };
  const auto act_stride = [&](std::int64_t l) { return l == 1 ? std::int64_t(0) : ws; };
  for (std::int64_t l = 1; l <= L; ++l)  // Z_l = W_l Z_(l-1)
    gemm_tiles(h, rows, tile, false, false, d[l], n, d[l - 1], x + dl_off[l], dim, act(l),
               act_stride(l), z + dl_zoff[l], ws);
  dl_residual_kernel<T>
      <<<row_blocks(rt), kFlatThreads>>>(z + dl_zoff[L], dz + dl_zoff[L], ws, dl_y.get(), f, rt,
                                         d[L] * n, static_cast<T>(n), static_cast<double>(n));
  SS_LAUNCHED("dl_residual_kernel");
  if (!g) return;
  for (std::int64_t l = L; l >= 1; --l) {
    gemm_tiles(h, rows, tile, false, true, d[l], d[l - 1], n, dz + dl_zoff[l], ws, act(l),
               act_stride(l), g + dl_off[l], dim);  // grad W_l = dZ_l Z_(l-1)^T
    if (l == 1) break;
    gemm_tiles(h, rows, tile, true, false, d[l - 1], n, d[l], x + dl_off[l], dim, dz + dl_zoff[l],
               ws, dz + dl_zoff[l - 1], ws);  // dZ_(l-1) = W_l^T dZ_l
  }
}

template <class T>
void DeviceObjective<T>::dl_hvp(cublasHandle_t h, std::int64_t rows, bool shared, const T* x,
                                const T* work, const T* v, T* hv, T* rwork) const {
  if (rows == 0) return;
  const std::int64_t dim = view.n, n = dl_samples, ws = work_per_row(), L = dl_layers();
  const std::int64_t ps = shared ? 0 : dim, fs = shared ? 0 : ws;
  const std::int64_t rt = tiled_rows(rows), tile = kRowTile;
  const std::vector<std::int64_t>& d = dl_widths;
  const T* z = work;             // forward Z_l at z + dl_zoff[l], rows fs apart
  const T* dz = work + dl_span;  // forward dZ_l
  T* rz = rwork;                 // R{Z_l}, rows ws apart
  T* rdz = rwork + dl_span;      // R{dZ_l}
  const T* xs = dl_x.get();
  for (std::int64_t l = 1; l <= L; ++l) {
    const std::int64_t m_l = d[l], k_l = d[l - 1];
    if (l == 1) {  // R{Z_1} = V_1 X
      gemm_tiles(h, rows, tile, false, false, m_l, n, k_l, v + dl_off[l], dim, xs, 0,
                 rz + dl_zoff[l], ws);
      continue;
    }
    gemm_tiles(h, rows, tile, false, false, m_l, n, k_l, v + dl_off[l], dim, z + dl_zoff[l - 1], fs,
               rz + dl_zoff[l], ws);  // V_l Z_(l-1)
    gemm_tiles(h, rows, tile, false, false, m_l, n, k_l, x + dl_off[l], ps, rz + dl_zoff[l - 1], ws,
               rz + dl_zoff[l], ws, T(1));  // + W_l R{Z_(l-1)}
  }
  dl_r_out_kernel<T><<<row_grid(rt, d[L] * n), row_threads(d[L] * n)>>>(
      rz + dl_zoff[L], rdz + dl_zoff[L], ws, rt, static_cast<unsigned>(d[L] * n),
      static_cast<T>(n));
  SS_LAUNCHED("dl_r_out_kernel");
  for (std::int64_t l = L; l >= 1; --l) {
    const std::int64_t m_l = d[l], k_l = d[l - 1];
    const T* act = l == 1 ? xs : z + dl_zoff[l - 1];
    const std::int64_t as = l == 1 ? 0 : fs;
    gemm_tiles(h, rows, tile, false, true, m_l, k_l, n, rdz + dl_zoff[l], ws, act, as,
               hv + dl_off[l], dim);  // R{dZ_l} Z_(l-1)^T
    if (l == 1) break;
    gemm_tiles(h, rows, tile, false, true, m_l, k_l, n, dz + dl_zoff[l], fs, rz + dl_zoff[l - 1],
               ws, hv + dl_off[l], dim, T(1));  // + dZ_l R{Z_(l-1)}^T
    gemm_tiles(h, rows, tile, true, false, k_l, n, m_l, v + dl_off[l], dim, dz + dl_zoff[l], fs,
               rdz + dl_zoff[l - 1], ws);  // V_l^T dZ_l
    gemm_tiles(h, rows, tile, true, false, k_l, n, m_l, x + dl_off[l], ps, rdz + dl_zoff[l], ws,
               rdz + dl_zoff[l - 1], ws, T(1));  // + W_l^T R{dZ_l}
  }
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
void DeviceObjective<T>::pspin_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g,
                                          double* f, T* y) const {
  if (rows == 0) return;
  const std::int64_t n = view.n, nn = n * n, tile = pspin_tile();
  if (p == 2) {
    gemm_rows(h, rows, false, n, n, x, couplings.get(), g);  // G_E = X A
  } else {
    const T* xs = y + pspin_stage(0);
    T* out = y + pspin_stage(2);
    pspin_contract(h, rows, x, y, [&](std::int64_t r0) {
      gemm_rm_strided(h, false, false, n, 1, n, y, nn, xs, n, out, n, tile);  // Y_r x_r
      copy_async(g + r0 * n, out, tile * n);
    });
  }
  pspin_grad_kernel<T><<<row_blocks(rows), kFlatThreads>>>(p, x, g, f, rows, n);
  SS_LAUNCHED("pspin_grad_kernel");
}

template <class T>
void DeviceObjective<T>::pspin_hvp(cublasHandle_t h, std::int64_t rows, const T* x, const T* v,
                                   T* hv, T* ge, T* u, T* y) const {
  if (rows == 0) return;
  const std::int64_t n = view.n, nn = n * n, tile = pspin_tile();
  // u = P v on every row the GEMMs read (the padding too).
  sphere_project_kernel<T>
      <<<row_blocks(tiled_rows(rows)), kFlatThreads>>>(x, v, u, tiled_rows(rows), n);
  SS_LAUNCHED("sphere_project_kernel");
  if (p == 2) {
    gemm_rows(h, rows, false, n, n, x, couplings.get(), ge);  // X A
    gemm_rows(h, rows, false, n, n, u, couplings.get(), hv);  // U A
  } else {
    const T* xs = y + pspin_stage(0);
    T* us = y + pspin_stage(1);
    T* gs = y + pspin_stage(2);
    T* hs = y + pspin_stage(3);
    pspin_contract(h, rows, x, y, [&](std::int64_t r0) {
      copy_async(us, u + r0 * n, tile * n);
      gemm_rm_strided(h, false, false, n, 1, n, y, nn, xs, n, gs, n, tile);  // Y_r x_r
      gemm_rm_strided(h, false, false, n, 1, n, y, nn, us, n, hs, n, tile);  // Y_r u_r
      copy_async(ge + r0 * n, gs, tile * n);
      copy_async(hv + r0 * n, hs, tile * n);
    });
  }
  pspin_hvp_kernel<T><<<row_blocks(rows), kFlatThreads>>>(p, x, ge, u, hv, rows, n);
  SS_LAUNCHED("pspin_hvp_kernel");
}

template <class T>
void DeviceObjective<T>::pspin_hessians(cublasHandle_t h, std::int64_t points, const T* x, T* hess,
                                        double* q, double* w, double* alpha) const {
  const std::int64_t n = view.n, nn = n * n;
  if (points == 0 || n == 0) return;
  require(points <= pspin_tile(), "p-spin Hessians: more points than one contraction tile");
  if (p == 2) {
    broadcast_matrix_kernel<T>
        <<<row_grid(points, nn), row_threads(nn)>>>(couplings.get(), hess, points, nn);
    SS_LAUNCHED("broadcast_matrix_kernel");
  } else {
    gemm_rm(h, false, true, pspin_tile(), nn, n, x, couplings.get(), hess);  // [tile, n^2]
  }
  pspin_normal_kernel<T><<<row_blocks(points), kFlatThreads>>>(x, q, points, n);
  SS_LAUNCHED("pspin_normal_kernel");
  pspin_yq_kernel<T>
      <<<flat_blocks(points * n * 32), kFlatThreads>>>(hess, q, w, points, n);  // warp per row
  SS_LAUNCHED("pspin_yq_kernel");
  pspin_alpha_kernel<<<row_blocks(points), kFlatThreads>>>(q, w, alpha, points, n);
  SS_LAUNCHED("pspin_alpha_kernel");
  pspin_hessian_kernel<T>
      <<<row_grid(points * n, n), row_threads(n)>>>(p, hess, q, w, alpha, points, n);
  SS_LAUNCHED("pspin_hessian_kernel");
}

template <class T>
void DeviceObjective<T>::coupled_hvp(cublasHandle_t h, std::int64_t rows, const T* x, const T* v,
                                     T* hv, T* z, T* u) const {
  if (rows == 0) return;
  require(!is_mlp(), "mlp Hessian-vector products go through mlp_hvp");
  require(!is_deep_linear(), "deep-linear Hessian-vector products go through dl_hvp");
  require(!pspin(), "p-spin Hessian-vector products go through pspin_hvp");
  const CudaOps<T> ops{h};
  if (!field()) {
    pipelines::dense_quadratic_rows(ops, matrix.get(), view.n, rows, v, hv);  // V A (A symmetric)
    return;
  }
  pipelines::field_hvp(ops, field_arrays(), rows, x, v, hv, z, u);
}

template <class T>
void DeviceObjective<T>::field_curvatures(cublasHandle_t h, std::int64_t rows, const T* x,
                                          T* hz) const {
  const CudaOps<T> ops{h};
  pipelines::field_curvatures(ops, field_arrays(), rows, x, hz);
}

template <class T>
void DeviceObjective<T>::field_hessians(cublasHandle_t h, std::int64_t points, const T* hz, T* dw,
                                        T* hess) const {
  const CudaOps<T> ops{h};
  pipelines::field_hessians(ops, field_arrays(), points, hz, dw, dw_stride(), hess, hess_stride());
}

template struct DeviceObjective<float>;
template struct DeviceObjective<double>;

}  // namespace saddlescope::cuda_detail
