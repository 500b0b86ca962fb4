// The CUDA backend's objectives (docs/design.md, Part II), private to
// src/cuda/: the objective's arrays on the device, the CUDA primitives of
// the coupled objectives' shared pipelines (CudaOps; kernels/pipelines/) and
// their calls (src/cuda/objectives.cu), float and double.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/pipelines/gaussian_field.hpp"
#include "kernels/pipelines/networks.hpp"
#include "src/cuda/common.cuh"

namespace saddlescope::cuda_detail {

// Row tile of the row-batched GEMMs (docs/design.md II.4). cuBLAS picks its
// kernel (and so a row's summation order) by the call's shape, so a row's
// bits would depend on how many rows share the call: the chunk, which
// follows free device memory, or the running rows after compaction. Every
// call that mixes rows is therefore made on whole tiles of kRowTile rows,
// the last one padded: a plain GEMM has kRowTile rows, a strided-batched one
// (the networks, one entry per row) kRowTile entries. Same shape, same
// leading dimensions, same pointer alignment (a tile starts kRowTile * n
// elements, a multiple of 512 bytes, from a cudaMalloc'd base) => the same
// kernel, whatever the number of rows. 128 rows: a tile of a plain GEMM
// still spans several thread-block tiles of the output, and the launches
// per GEMM are rows / 128. A power of two, so that the p = 3 p-spin's
// smaller contraction tiles (pspin_tile) divide it.
constexpr std::int64_t kRowTile = 128;

// Rows of the arrays of a pass over `rows` rows: whole tiles of `tile` rows.
inline std::int64_t tiled_rows(std::int64_t rows, std::int64_t tile = kRowTile) {
  return (rows + tile - 1) / tile * tile;
}

// Objective arrays on the device, the view the shared math reads, and the
// coupled objectives' passes (rotated quadratic, gaussian-field, the
// networks, p-spin): the shared pipelines of kernels/pipelines/ with
// CudaOps, the code the CPU backend's HostObjective runs with CpuOps. Work spaces are the caller's:
// z holds work_elements(rows) elements of T ([tiled_rows(rows), work_per_row()], plus the p = 3
// p-spin's contraction tile).
//
// Tiles: a pass over `rows` rows runs its row-mixing GEMMs on whole tiles
// (kRowTile; see tiled_rows), so every row array it is given (x, v, g, hv,
// f, work spaces) holds tiled_rows(rows) rows, and the input rows from
// `rows` on (the padding) must be zero (or at least finite); what a pass
// writes into padding rows is garbage, never read. The kernels between two
// GEMMs run over the padding rows too, so that a GEMM never reads memory
// nothing wrote. A row's results are then the same bits whatever the number
// of rows and its position among them.
// GEMMs on row-major arrays (src/cuda/objectives.cu; float and double):
// C [m, n] = op(A) op(B) + beta C; gemm_rows: C [rows, n] = A [rows, k]
// op(B) + beta C on whole tiles of kRowTile rows; gemm_tiles: strided-batched
// over `rows` entries in calls of exactly `tile` entries (a stride of 0
// shares an operand).
template <class T>
void gemm_rm(cublasHandle_t h, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k,
             const T* a, const T* b, T* c, T beta = T(0));
template <class T>
void gemm_rows(cublasHandle_t h, std::int64_t rows, bool tb, std::int64_t n, std::int64_t k,
               const T* a, const T* b, T* c, T beta = T(0));
template <class T>
void gemm_tiles(cublasHandle_t h, std::int64_t rows, std::int64_t tile, bool ta, bool tb,
                std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t sa,
                const T* b, std::int64_t sb, T* c, std::int64_t sc, T beta = T(0));

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
__global__ void reduce_apply_kernel(F f, std::int64_t rows, std::int64_t width) {
  __shared__ double sh[F::K * 32];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    double s[F::K] = {};
    for (std::int64_t k = threadIdx.x; k < width; k += blockDim.x) f.sum(r, k, s);
    block_sums(s, sh);
    if (threadIdx.x == 0) f.row(r, s);
    for (std::int64_t k = threadIdx.x; k < width; k += blockDim.x) f.apply(r, k, s);
  }
}

// tanh (or exp) in place on rows of len elements, stride apart (the
// networks' tanh and softmax).
template <class T, bool Exp = false>
struct Activate {
  T* x;
  std::int64_t stride;
  __device__ void operator()(std::int64_t r, std::int64_t k) const {
    x[r * stride + k] = Exp ? exp(x[r * stride + k]) : tanh(x[r * stride + k]);
  }
};

// The CUDA backend's Ops: row-batched GEMMs on row tiles of kRowTile rows
// (gemm_rows), strided-batched GEMMs in calls of exactly `tile` entries
// (gemm_tiles; tile 1 for the one point of a dense Hessian), padded(rows)
// = tiled_rows(rows, tile).
template <class T>
struct CudaOps {
  cublasHandle_t h;
  std::int64_t tile = kRowTile;
  std::int64_t padded(std::int64_t rows) const { return tiled_rows(rows, tile); }
  void gemm_rows(std::int64_t rows, bool tb, std::int64_t cols, std::int64_t k, const T* a,
                 const T* b, T* c, T beta = T(0)) const {
    require(tile == kRowTile, "row-tiled GEMMs need the row tile");
    cuda_detail::gemm_rows(h, rows, tb, cols, k, a, b, c, beta);
  }
  void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
            const T* b, T* c, T beta = T(0)) const {
    gemm_rm(h, ta, tb, m, n, k, a, b, c, beta);
  }
  void gemm_batched(std::int64_t rows, bool ta, bool tb, std::int64_t m, std::int64_t n,
                    std::int64_t k, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* c,
                    std::int64_t sc, T beta = T(0)) const {
    gemm_tiles(h, rows, tile, ta, tb, m, n, k, a, sa, b, sb, c, sc, beta);
  }
  void activate(T* x, std::int64_t rows, std::int64_t stride, std::int64_t len) const {
    map(rows, len, Activate<T>{x, stride});
  }
  void exp(T* x, std::int64_t rows, std::int64_t stride, std::int64_t len) const {
    map(rows, len, Activate<T, true>{x, stride});
  }
  template <class F>
  void reduce_apply(std::int64_t rows, std::int64_t width, F f) const {
    if (rows <= 0) return;
    reduce_apply_kernel<F><<<row_blocks(rows), kFlatThreads>>>(f, rows, width);
    SS_LAUNCHED("reduce_apply_kernel");
  }
  template <class F>
  void map(std::int64_t rows, std::int64_t width, F f) const {
    if (rows <= 0 || width <= 0) return;
    map_kernel<F><<<row_grid(rows, width), row_threads(width)>>>(f, rows, width);
    SS_LAUNCHED("map_kernel");
  }
};

template <class T>
struct DeviceObjective {
  DeviceArray<T> lambda, matrix, w, a, b;
  // The networks (kernels/network.hpp): inputs X [n, d_0], mse targets Y
  // [n, d_L], class labels [n] (or none), the shape and its layout.
  DeviceArray<T> net_x, net_y;
  DeviceArray<std::int32_t> net_labels;
  NetworkShape net;
  NetworkLayout net_layout;
  // p-spin: the Euclidean Hessian's tensor, A [n, n] (p = 2) or T [n, n, n]
  // (p = 3, grad^2 H(x) = T . x), and the order p.
  DeviceArray<T> couplings;
  int p = 0;
  T mu = 0, c = 0;
  std::int64_t m = 0;  // gaussian-field features
  LocalObjective<T> view{};

  // Uploads the objective's arrays in precision T, after checking their
  // sizes, cuBLAS's int limits and the 32-bit indices of the kernels
  // (BackendError otherwise).
  explicit DeviceObjective(const ObjectiveData& d);

  bool field() const { return view.kind == ObjectiveKind::gaussian_field; }
  // The network's arrays for the shared pipeline (kernels/pipelines/).
  pipelines::NetworkArrays<T> net_arrays() const {
    return {&net_layout,      net.widths.data(),
            net.activation,   net.loss,
            net.weight_decay, net_x.get(),
            net_y.get(),      net_labels.size() > 0 ? net_labels.get() : nullptr};
  }
  // The field's arrays for the shared pipeline (kernels/pipelines/).
  pipelines::FieldArrays<T> field_arrays() const {
    return {w.get(), a.get(), b.get(), mu, c, view.n, m};
  }
  bool is_network() const { return view.kind == ObjectiveKind::network; }
  bool pspin() const { return view.kind == ObjectiveKind::p_spin; }
  // Objectives whose coupled pass also gives the value per row (f_rows).
  bool row_values() const { return field() || is_network() || pspin(); }
  // p = 3 p-spin: rows per tile of the contraction Y = X T^T, a fixed
  // function of n (never of the row count): the largest power of two up to
  // kRowTile whose [tile, n^2] block holds at most kPspinWorkElements
  // elements (at least one row), as the CPU backend bounds its block; so
  // tile * n^2 also fits cuBLAS's int sizes, and the tile divides kRowTile.
  std::int64_t pspin_tile() const {
    const std::int64_t nn = std::max<std::int64_t>(view.n * view.n, 1);
    const std::int64_t fit = std::max<std::int64_t>(1, kPspinWorkElements / nn);
    std::int64_t t = 1;
    while (t * 2 <= std::min(fit, kRowTile)) t *= 2;
    return t;
  }
  // p = 3 p-spin: the contraction's work space y: the block [pspin_tile(),
  // n^2], then four staging blocks [pspin_tile(), n] (x, u, Y x and Y u of
  // one tile, so that every contraction call reads and writes memory aligned
  // alike whichever tile it is), each starting at a multiple of 64 elements:
  // pspin_stage(k) is the offset of staging block k.
  std::int64_t pspin_stage(int k) const {
    const auto up = [](std::int64_t e) { return (e + 63) / 64 * 64; };
    return up(pspin_tile() * view.n * view.n) + k * up(pspin_tile() * view.n);
  }
  std::size_t pspin_work_elements() const { return checked_size(pspin_stage(4)); }
  // Elements of T of the work space z of coupled_value_grad for `rows` rows:
  // [tiled_rows(rows), work_per_row()], plus for the p = 3 p-spin one
  // contraction work space (pspin_work_elements) shared by all rows (a fixed
  // size, at most kPspinWorkElements elements and the staging rows unless
  // one row alone is larger: the memory plan counts it with the objective
  // data).
  std::size_t work_elements(std::int64_t rows) const {
    std::size_t e = checked_size(tiled_rows(rows), work_per_row());
    if (pspin() && p == 3 && rows > 0) e += pspin_work_elements();
    return e;
  }
  // Elements of T per row of the work space z of coupled_value_grad:
  // ObjectiveData::work_per_row() (include/saddlescope/backend.hpp, the
  // memory plan's count too): the field's Z and U (value_grad uses the
  // first [rows, m] of z, hvp both); the network's work row
  // (kernels/network.hpp); none for the p-spin (see work_elements).
  std::int64_t work_per_row() const { return work_row; }
  std::int64_t work_row = 0;

  // Coupled gradient rows G for `rows` rows of x and, for the field, the
  // networks and the p-spin, the values f_rows (per row, double; z: work
  // space of work_elements(rows) elements), with a classifying network's
  // training accuracy per row into acc when not null; no-op when not
  // coupled. Rotated quadratic: G = X A. Gaussian field: Z = X W^T, the
  // epilogue (F, S in Z, G = mu X), G += S W. Networks: network_value_grad.
  // P-spin: pspin_value_grad (at x as given: the ensemble retracts first).
  // x, g, f_rows, acc: tiled_rows(rows) rows.
  void coupled_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g, double* f_rows,
                          T* z, double* acc = nullptr) const;

  // The network's forward and backward pass (pipelines::network_value_grad)
  // of `rows` parameter rows x [rows, dim] at once, each layer
  // strided-batched GEMMs over the rows in calls of exactly `tile` entries
  // (X shared) or a map of the pipeline's functors: the loss into f (and
  // the accuracy into acc when not null), the gradient rows into g when not
  // null. Work space: work [rows, work_per_row()] (the layout of
  // kernels/network.hpp). Every array holds tiled_rows(rows, tile) rows;
  // tile: kRowTile, or 1 for the one point of a dense Hessian (a fixed
  // shape as well).
  void network_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g, double* f,
                          double* acc, T* work, std::int64_t tile = kRowTile) const;

  // The network's Hessian-vector products by the R-operator
  // (pipelines::network_hvp) for `rows` directions v [rows, dim] into hv
  // [rows, dim], at parameters x with the forward work rows of
  // network_value_grad (run with g). shared: every direction at the one
  // point x and its one work row (the columns of a dense Hessian); else
  // direction r at row r of x and of work. Work space: rwork [rows,
  // work_per_row()]. In tiles of kRowTile entries (tiled_rows(rows) rows in
  // every array).
  void network_hvp(cublasHandle_t h, std::int64_t rows, bool shared, const T* x, const T* work,
                   const T* v, T* hv, T* rwork) const;

  // p = 3 p-spin: for each tile of pspin_tile() rows r0 .. r0 + tile - 1 of
  // x [rows, n], the tile's rows staged into staging block 0 of y, the
  // contraction Y = X_tile T^T into y [tile, n^2] (row k of y is Y_(r0 + k)
  // = grad^2 H(x_(r0 + k)) [n, n], as the CPU backend's GEMM), then
  // body(r0). The tiles run in order on the default stream, so y is reused
  // without synchronization. y: pspin_work_elements() elements.
  template <class F>
  void pspin_contract(cublasHandle_t h, std::int64_t rows, const T* x, T* y, F&& body) const;

  // The p-spin's products with Y(x) for the shared pipeline
  // (kernels/pipelines/pspin.hpp: its `apply`): U A on row tiles for p = 2;
  // for p = 3 per contraction tile (pspin_contract, work space y of
  // pspin_work_elements()) Y_r u_r by strided-batched GEMMs on staged rows.
  auto pspin_products(cublasHandle_t h, T* y) const;

  // p-spin values and Riemannian gradients of `rows` rows of x (at x as
  // given), as the CPU backend forms them (kernels/pspin.hpp): p = 2,
  // G_E = X A by row-tile GEMMs; p = 3, per contraction tile Y = X T^T (work
  // space y of pspin_work_elements()) and the products Y_r x_r = 2 g_E by
  // one strided-batched GEMM over the tile's rows (n x n times n x 1); then
  // the epilogue kernel (block = row): E into f, g_R into g.
  void pspin_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g, double* f,
                        T* y) const;

  // p-spin Hessian-vector products P (Y - c I) P v of `rows` rows (at x as
  // given), as the CPU backend: u = P v; p = 2, G_E = X A and Y u = U A by
  // row-tile GEMMs; p = 3, per contraction tile Y = X T^T, then Y_r x_r and
  // Y_r u_r by strided-batched GEMMs; then the epilogue kernel per row. Work
  // spaces: ge, u [rows, n]; y of pspin_work_elements() (p = 3 only).
  void pspin_hvp(cublasHandle_t h, std::int64_t rows, const T* x, const T* v, T* hv, T* ge, T* u,
                 T* y) const;

  // p-spin: the embedded Riemannian Hessians P (Y - c I) P of `points` <=
  // pspin_tile() points x [pspin_tile(), n] (at x as given; padding rows
  // zero) into hess [pspin_tile(), n, n], as the CPU backend forms them: Y =
  // A (p = 2) or the rows of X T^T (p = 3, one GEMM of a whole contraction
  // tile); per point q = x / |x|, w = Y q, alpha = q . w (double, work
  // spaces q, w [points, n] and alpha [points]) and c = alpha / (p - 1);
  // then the entries in place of Y.
  void pspin_hessians(cublasHandle_t h, std::int64_t points, const T* x, T* hess, double* q,
                      double* w, double* alpha) const;

  // Hessian-vector products H v per row. Rotated quadratic: rows of V A (A
  // symmetric). Gaussian field: mu V + (h o (V W^T)) W, h_j the curvature at
  // Z = X W^T (z, u: work spaces [rows, m]). Row tiles: every array holds
  // tiled_rows(rows) rows.
  void coupled_hvp(cublasHandle_t h, std::int64_t rows, const T* x, const T* v, T* hv, T* z,
                   T* u) const;

  // Gaussian field: the curvatures h [rows, m] at `rows` points x (Z = X W^T
  // on row tiles, then h_j = field_curvature(z_j) in place); x and hz hold
  // tiled_rows(rows) rows.
  void field_curvatures(cublasHandle_t h, std::int64_t rows, const T* x, T* hz) const;

  // Gaussian field: dense Hessians mu I + W^T diag(h_p) W of `points` points
  // with curvatures hz [points, m], into hess [points, n, n] (row-major and
  // column-major alike up to rounding; the row-major reading is the CPU's
  // product order), point p at hess + p * hess_stride(). dw: work space
  // [points, m, n], point p at dw + p * dw_stride(). The strides are rounded
  // up to 64 elements, so that every point's GEMM reads and writes memory
  // aligned alike (one shape and alignment: one kernel, whatever the point's
  // place in its group).
  void field_hessians(cublasHandle_t h, std::int64_t points, const T* hz, T* dw, T* hess) const;
  std::int64_t hess_stride() const { return (view.n * view.n + 63) / 64 * 64; }
  std::int64_t dw_stride() const { return (m * view.n + 63) / 64 * 64; }
};

extern template struct DeviceObjective<float>;
extern template struct DeviceObjective<double>;

}  // namespace saddlescope::cuda_detail
