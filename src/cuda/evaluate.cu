// The CUDA backend's prepared objectives (src/cuda/backend.cuh): a
// DeviceObjective uploaded once per precision, rows and work spaces kept in
// device memory between calls, and value_grad, hvp and the dense Hessians of
// every objective, the Hessians assembled on the device either for the host
// (hessian) or straight into the eigensolver's arrays (hessian_eigh).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/pipelines/networks.hpp"
#include "src/cuda/backend.cuh"
#include "src/cuda/objectives.cuh"

namespace saddlescope::cuda_detail {
namespace {

// Batched evaluation kernels. value_grad: block = batch row, f accumulated in
// double and reduced in a fixed order, plus the row's value from the GEMM
// pass (f_rows: gaussian-field, networks, p-spin; else null).
template <class T>
__global__ void value_grad_kernel(LocalObjective<T> obj, const T* x, const T* grow,
                                  const double* f_rows, T* g, double* f, std::int64_t batch,
                                  std::int64_t n) {
  __shared__ double sh[96];
  for (std::int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    const std::int64_t off = b * n;
    IterationSums acc;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      T fi, gi;
      obj.eval(x + off, grow ? grow + off : nullptr, i, fi, gi);
      acc.f += static_cast<double>(fi);
      g[off + i] = gi;
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) f[b] = f_rows ? acc.f + f_rows[b] : acc.f;
  }
}

// Separable H v: blockIdx.y a row, the x blocks and threads its coordinates
// (row_grid).
template <class T>
__global__ void hvp_kernel(LocalObjective<T> obj, const T* x, const T* v, T* hv, std::int64_t batch,
                           std::int64_t n) {
  for (std::int64_t b = blockIdx.y; b < batch; b += gridDim.y) {
    const std::int64_t off = b * n;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
      hv[off + i] = obj.hvp(x + off, v + off, i);
  }
}

// Separable Hessians, dense: the band of row i (diagonal, and the coupling to
// i + 1 mirrored below) into out [batch, n, n], which is zero elsewhere.
template <class T>
__global__ void hessian_band_kernel(LocalObjective<T> obj, const T* x, T* out, std::int64_t batch,
                                    std::int64_t n) {
  for (std::int64_t b = blockIdx.y; b < batch; b += gridDim.y) {
    T* h = out + b * n * n;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x) {
      T diag, upper;
      obj.hessian_band(x + b * n, i, diag, upper);
      h[i * n + i] = diag;
      if (i + 1 < n) h[i * n + i + 1] = h[(i + 1) * n + i] = upper;
    }
  }
}

// Row algebra of the Krylov methods (PreparedObjective::dots, combine,
// project_out): sums in double in block_sums' fixed order, one block per
// row (and per basis vector), so that a row's result depends on it alone.
template <class T>
__global__ void dots_kernel(const T* const* a, const T* w, double* out, std::int64_t count,
                            std::int64_t n, std::int64_t l_count, const std::uint8_t* mask) {
  __shared__ double sh[32];
  for (std::int64_t l = blockIdx.y; l < l_count; l += gridDim.y)
    for (std::int64_t r = blockIdx.x; r < count; r += gridDim.x) {
      if (mask && mask[r] == 0) {  // the whole block skips the row together
        if (threadIdx.x == 0) out[l * count + r] = 0.0;
        continue;
      }
      const T *as = a[l] + r * n, *ws = w + r * n;
      double v[1] = {0.0};
      for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x)
        v[0] += static_cast<double>(as[i]) * static_cast<double>(ws[i]);
      block_sums<1>(v, sh);
      if (threadIdx.x == 0) out[l * count + r] = v[0];
    }
}

template <class T>
__global__ void combine_kernel(const double* a, const T* x, const double* b, T* y,
                               std::int64_t count, std::int64_t n) {
  for (std::int64_t r = blockIdx.y; r < count; r += gridDim.y) {
    const T ar = static_cast<T>(a[r]), br = static_cast<T>(b[r]);
    const bool read = b[r] != 0;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
      y[r * n + i] = read ? ar * x[r * n + i] + br * y[r * n + i] : ar * x[r * n + i];
  }
}

// w_r -= sum_l c_lr q_l,r, l ascending, per element.
template <class T>
__global__ void subtract_basis_kernel(const T* const* q, const double* c, T* w, std::int64_t count,
                                      std::int64_t n, std::int64_t l_count,
                                      const std::uint8_t* mask) {
  for (std::int64_t r = blockIdx.y; r < count; r += gridDim.y) {
    if (mask && mask[r] == 0) continue;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x) {
      T v = w[r * n + i];
      for (std::int64_t l = 0; l < l_count; ++l)
        v -= static_cast<T>(c[l * count + r]) * q[l][r * n + i];
      w[r * n + i] = v;
    }
  }
}

// Rows in precision T in device memory: tiled_rows(count) rows (the coupled
// passes' row tiles, src/cuda/objectives.cuh), the padding rows zero.
template <class T>
struct CudaRows final : ResidentRows {
  DeviceArray<T> a;
  // count rows of n; the storage grows when needed, its contents are then undefined.
  void resize(std::int64_t count, std::int64_t n) {
    const std::size_t need = checked_size(tiled_rows(count), n);
    if (a.size() < need) {
      a = DeviceArray<T>();  // release before allocating
      a = DeviceArray<T>(need);
    }
    count_ = count;
  }
  // Zeroes the padding rows (what a pass wrote there is garbage).
  void clear_padding(std::int64_t n) {
    const std::size_t from = checked_size(count_, n), to = checked_size(tiled_rows(count_), n);
    if (to > from) SS_CUDA(cudaMemsetAsync(a.get() + from, 0, (to - from) * sizeof(T)));
  }
};

template <class T>
const CudaRows<T>& rows_of(const ResidentRows& r) {
  return static_cast<const CudaRows<T>&>(r);
}
template <class T>
CudaRows<T>& rows_of(ResidentRows& r) {
  return static_cast<CudaRows<T>&>(r);
}

// Work spaces of a prepared objective, kept between calls (grown on demand).
enum Work : int {
  kGrow,   // coupled gradient rows; the network passes' gradient rows
  kZ,      // field features Z; the coupled value_grad's work space; network forward rows
  kU,      // field U = V W^T; p-spin u = P v; network R-operator rows
  kGe,     // p-spin Euclidean gradients
  kY,      // p = 3 p-spin contraction tile
  kV,      // unit directions (dense Hessians of the networks)
  kHv,     // their Hessian-vector products
  kPoint,  // networks: one point; p-spin: a tile of points; field: a group of Hessians
  kHz,     // field curvatures of every point of a Hessian call
  kDw,     // field diag(h) W per point
  kHess,   // a group of Hessians (hessian(): the group copied to the host)
  kTile,   // p-spin: one contraction tile of Hessians
  kWorkCount
};
enum WorkD : int { kF, kFRows, kAcc, kQ, kW, kAlpha, kCoef, kComb, kWorkDCount };

template <class T>
class CudaPrepared final : public PreparedObjective {
 public:
  CudaPrepared(CudaBackend& be, const ObjectiveData& d) : be_(be), d_(d), obj_(d) {
    bytes_ = sizeof(T) * (d.lambda.size() + d.matrix.size() + d.field_w.size() + d.field_a.size() +
                          d.field_b.size() + d.net_x.size() + d.net_y.size() + d.couplings.size()) +
             sizeof(std::int32_t) * d.net_labels.size();
  }
  const ObjectiveData& data() const override { return d_; }
  Precision precision() const override { return sizeof(T) == 4 ? Precision::f32 : Precision::f64; }
  std::unique_ptr<ResidentRows> rows() override { return std::make_unique<CudaRows<T>>(); }

  void put(ResidentRows& r, const std::vector<double>& x) override {
    const std::int64_t n = d_.dim;
    CudaRows<T>& c = rows_of<T>(r);
    c.resize(static_cast<std::int64_t>(x.size()) / n, n);
    const std::vector<T> t = convert<T>(x);
    if (!t.empty())
      SS_CUDA(cudaMemcpy(c.a.get(), t.data(), t.size() * sizeof(T), cudaMemcpyHostToDevice));
    c.clear_padding(n);
    bytes_ += t.size() * sizeof(T);
  }

  std::vector<double> get(const ResidentRows& r) override {
    const CudaRows<T>& c = rows_of<T>(r);
    std::vector<T> t(checked_size(c.count(), d_.dim));
    if (!t.empty())
      SS_CUDA(cudaMemcpy(t.data(), c.a.get(), t.size() * sizeof(T), cudaMemcpyDeviceToHost));
    bytes_ += t.size() * sizeof(T);
    return to_double(t);
  }

  std::vector<double> value_grad(const ResidentRows& xr, ResidentRows& gr) override {
    const CudaRows<T>& x = rows_of<T>(xr);
    const std::int64_t batch = x.count(), n = d_.dim, rt = tiled_rows(batch);
    CudaRows<T>& g = rows_of<T>(gr);
    g.resize(batch, n);
    if (batch == 0) return {};
    T* grow = obj_.view.coupled ? work(kGrow, checked_size(rt, n)) : nullptr;
    double* f = work_d(kF, checked_size(batch));
    double* f_rows = obj_.row_values() ? work_d(kFRows, checked_size(rt)) : nullptr;
    if (obj_.view.coupled)
      obj_.coupled_value_grad(handle(), batch, x.a.get(), grow, f_rows,
                              work(kZ, obj_.work_elements(batch)));
    value_grad_kernel<T><<<row_blocks(batch), kFlatThreads>>>(obj_.view, x.a.get(), grow, f_rows,
                                                              g.a.get(), f, batch, n);
    SS_LAUNCHED("value_grad_kernel");
    g.clear_padding(n);
    std::vector<double> out(checked_size(batch));
    SS_CUDA(cudaMemcpy(out.data(), f, out.size() * sizeof(double), cudaMemcpyDeviceToHost));
    bytes_ += out.size() * sizeof(double);
    return out;
  }

  std::vector<double> accuracy(const ResidentRows& xr) override {
    if (!d_.classifies()) return {};
    const CudaRows<T>& x = rows_of<T>(xr);
    const std::int64_t batch = x.count(), rt = tiled_rows(batch);
    if (batch == 0) return {};
    double* acc = work_d(kAcc, checked_size(rt));
    obj_.coupled_value_grad(handle(), batch, x.a.get(), work(kGrow, checked_size(rt, d_.dim)),
                            work_d(kFRows, checked_size(rt)), work(kZ, obj_.work_elements(batch)),
                            acc);
    std::vector<double> out(checked_size(batch));
    SS_CUDA(cudaMemcpy(out.data(), acc, out.size() * sizeof(double), cudaMemcpyDeviceToHost));
    bytes_ += out.size() * sizeof(double);
    return out;
  }

  void hvp(const ResidentRows& xr, const ResidentRows& vr, ResidentRows& hr) override {
    const CudaRows<T>&x = rows_of<T>(xr), &v = rows_of<T>(vr);
    const std::int64_t batch = x.count(), n = d_.dim, rt = tiled_rows(batch);
    require(v.count() == batch, "hvp: directions and points differ in number");
    CudaRows<T>& hv = rows_of<T>(hr);
    hv.resize(batch, n);
    if (batch == 0) return;
    const cublasHandle_t h = handle();
    if (obj_.is_network()) {  // forward and backward at every row, then the R-operator
      const std::size_t ws = checked_size(rt, obj_.work_per_row());
      T* fw = work(kZ, ws);
      obj_.network_value_grad(h, batch, x.a.get(), work(kGrow, checked_size(rt, n)),
                              work_d(kFRows, checked_size(rt)), nullptr, fw);
      obj_.network_hvp(h, batch, false, x.a.get(), fw, v.a.get(), hv.a.get(), work(kU, ws));
    } else if (obj_.pspin()) {  // at x as given (not retracted)
      obj_.pspin_hvp(h, batch, x.a.get(), v.a.get(), hv.a.get(), work(kGe, checked_size(rt, n)),
                     work(kU, checked_size(rt, n)),
                     obj_.p == 3 ? work(kY, obj_.pspin_work_elements()) : nullptr);
    } else if (obj_.view.coupled) {  // the field's Z and U: its work rows (work_per_row)
      T* z = work(kZ, checked_size(rt, obj_.work_per_row()));
      obj_.coupled_hvp(h, batch, x.a.get(), v.a.get(), hv.a.get(), z,
                       obj_.field() ? z + rt * obj_.m : nullptr);
    } else {
      hvp_kernel<T><<<row_grid(batch, n), row_threads(n)>>>(obj_.view, x.a.get(), v.a.get(),
                                                            hv.a.get(), batch, n);
      SS_LAUNCHED("hvp_kernel");
    }
    hv.clear_padding(n);
  }

  std::vector<double> hessian(const ResidentRows& xr) override {
    const CudaRows<T>& x = rows_of<T>(xr);
    const std::int64_t batch = x.count(), n = d_.dim;
    const std::size_t nn = checked_size(n, n);
    std::vector<double> h(checked_size(batch) * nn, 0.0);
    if (h.empty()) return h;
    begin_hessians(x);
    // Groups of Hessians in half the memory budget (the assembly's work
    // spaces take the rest), each copied to the host by one synchronous copy.
    const double per = static_cast<double>(nn * sizeof(T));
    const std::int64_t group = static_cast<std::int64_t>(
        std::min(static_cast<double>(batch),
                 std::max(1.0, 0.5 * static_cast<double>(be_.memory_budget()) / per)));
    T* out = work(kHess, checked_size(group) * nn);
    std::vector<T> hh;
    for (std::int64_t b0 = 0; b0 < batch; b0 += group) {
      const std::int64_t m = std::min(group, batch - b0);
      assemble(x, b0, m, out);
      hh.resize(checked_size(m) * nn);
      SS_CUDA(cudaMemcpy(hh.data(), out, hh.size() * sizeof(T), cudaMemcpyDeviceToHost));
      std::copy(hh.begin(), hh.end(), h.begin() + b0 * n * n);
    }
    bytes_ += checked_size(batch) * nn * sizeof(T);
    return h;
  }

  EighResult hessian_eigh(const ResidentRows& xr, bool vectors) override {
    const CudaRows<T>& x = rows_of<T>(xr);
    const std::int64_t batch = x.count(), n = d_.dim;
    if (batch > 0 && n > 0) begin_hessians(x);
    EighResult r = be_.eigh_filled<T>(
        batch, n, [&](std::int64_t b0, std::int64_t m, T* a) { assemble(x, b0, m, a); }, vectors,
        0.5);
    bytes_ += (r.values.size() + r.vectors.size()) * sizeof(T) + r.info.size() * sizeof(int);
    return r;
  }

  std::vector<double> dots(const ResidentRows& ar, const ResidentRows& br) override {
    const std::int64_t count = ar.count();
    require(br.count() == count, "dots: the rows differ in number");
    return basis_dots({&ar}, rows_of<T>(br).a.get(), count, nullptr);
  }

  void combine(const std::vector<double>& a, const ResidentRows& xr, const std::vector<double>& b,
               ResidentRows& yr) override {
    const std::int64_t count = xr.count(), n = d_.dim;
    require(static_cast<std::int64_t>(a.size()) == count &&
                static_cast<std::int64_t>(b.size()) == count,
            "combine: one coefficient per row is needed");
    CudaRows<T>& y = rows_of<T>(yr);
    if (y.count() != count) y.resize(count, n);
    if (count == 0) return;
    std::vector<double> ab(a);
    ab.insert(ab.end(), b.begin(), b.end());
    double* dev = work_d(kComb, ab.size());
    SS_CUDA(cudaMemcpy(dev, ab.data(), ab.size() * sizeof(double), cudaMemcpyHostToDevice));
    combine_kernel<T><<<row_grid(count, n), row_threads(n)>>>(dev, rows_of<T>(xr).a.get(),
                                                              dev + count, y.a.get(), count, n);
    SS_LAUNCHED("combine_kernel");
    y.clear_padding(n);
    bytes_ += ab.size() * sizeof(double);
  }

  std::vector<double> project_out(const std::vector<const ResidentRows*>& basis, ResidentRows& wr,
                                  const std::vector<std::uint8_t>& rows) override {
    const std::int64_t count = wr.count(), n = d_.dim,
                       l_count = static_cast<std::int64_t>(basis.size());
    for (const ResidentRows* q : basis) require(q->count() == count, "project_out: row counts");
    require(rows.empty() || static_cast<std::int64_t>(rows.size()) == count,
            "project_out: one mask entry per row is needed");
    if (count == 0 || l_count == 0) return std::vector<double>(checked_size(l_count, count), 0.0);
    CudaRows<T>& w = rows_of<T>(wr);
    const std::uint8_t* mask = nullptr;
    if (!rows.empty()) {
      if (mask_.size() < rows.size()) mask_ = DeviceArray<std::uint8_t>(rows.size());
      SS_CUDA(cudaMemcpy(mask_.get(), rows.data(), rows.size(), cudaMemcpyHostToDevice));
      mask = mask_.get();
    }
    std::vector<double> c = basis_dots(basis, w.a.get(), count, mask);
    // The coefficients are still on the device (basis_dots' kCoef): subtract.
    subtract_basis_kernel<T><<<row_grid(count, n), row_threads(n)>>>(
        ptrs_.get(), wd_[kCoef].get(), w.a.get(), count, n, l_count, mask);
    SS_LAUNCHED("subtract_basis_kernel");
    return c;
  }

  std::uint64_t host_bytes() const override { return bytes_; }

 private:
  // c_lr = <basis_l,r, w_r> into kCoef on the device and returned, [l, count];
  // the basis pointers are left in ptrs_.
  std::vector<double> basis_dots(const std::vector<const ResidentRows*>& basis, const T* w,
                                 std::int64_t count, const std::uint8_t* mask) {
    const std::int64_t l_count = static_cast<std::int64_t>(basis.size()), n = d_.dim;
    std::vector<const T*> p;
    for (const ResidentRows* q : basis) p.push_back(rows_of<T>(*q).a.get());
    if (ptrs_.size() < p.size()) ptrs_ = DeviceArray<const T*>(p.size());
    if (!p.empty())
      SS_CUDA(
          cudaMemcpy(ptrs_.get(), p.data(), p.size() * sizeof(const T*), cudaMemcpyHostToDevice));
    std::vector<double> c(checked_size(l_count, count));
    if (c.empty()) return c;
    double* dev = work_d(kCoef, c.size());
    const dim3 grid(row_blocks(count),
                    static_cast<unsigned>(std::clamp<std::int64_t>(l_count, 1, 65535)));
    dots_kernel<T><<<grid, kFlatThreads>>>(ptrs_.get(), w, dev, count, n, l_count, mask);
    SS_LAUNCHED("dots_kernel");
    SS_CUDA(cudaMemcpy(c.data(), dev, c.size() * sizeof(double), cudaMemcpyDeviceToHost));
    bytes_ += c.size() * sizeof(double);
    return c;
  }

  cublasHandle_t handle() { return be_.cublas(use_tf32<T>(d_)); }
  // Work space k of at least `len` elements (kept; its contents are
  // undefined after it grows).
  T* work(int k, std::size_t len) { return grow(w_[k], len); }
  double* work_d(int k, std::size_t len) { return grow(wd_[k], len); }
  template <class E>
  static E* grow(DeviceArray<E>& a, std::size_t len) {
    if (a.size() < len) {
      a = DeviceArray<E>();
      a = DeviceArray<E>(len);
    }
    return a.get();
  }

  // What a Hessian call computes once for all its points: the gaussian
  // field's curvatures h [tiled_rows(count), m] (one GEMM over every point).
  void begin_hessians(const CudaRows<T>& x) {
    if (obj_.field())
      obj_.field_curvatures(handle(), x.count(), x.a.get(),
                            work(kHz, checked_size(tiled_rows(x.count()), obj_.m)));
  }

  // The dense Hessians of points b0 .. b0 + m - 1 of x into out [m, n, n]
  // (row-major; symmetric up to the GEMMs' rounding: readers trust the lower
  // triangle), everything on the default stream.
  void assemble(const CudaRows<T>& x, std::int64_t b0, std::int64_t m, T* out) {
    const std::int64_t n = d_.dim;
    const std::size_t nn = checked_size(n, n);
    if (obj_.field()) {
      field_hessians(b0, m, out);
    } else if (obj_.is_network()) {
      network_hessians(x, b0, m, out);
    } else if (obj_.pspin()) {
      pspin_hessians(x, b0, m, out);
    } else if (obj_.view.coupled) {  // the rotated quadratic's matrix A, rounded to T
      for (std::int64_t k = 0; k < m; ++k)
        SS_CUDA(
            cudaMemcpy(out + k * nn, obj_.matrix.get(), nn * sizeof(T), cudaMemcpyDeviceToDevice));
    } else {
      SS_CUDA(cudaMemsetAsync(out, 0, checked_size(m) * nn * sizeof(T)));
      hessian_band_kernel<T>
          <<<row_grid(m, n), row_threads(n)>>>(obj_.view, x.a.get() + b0 * n, out, m, n);
      SS_LAUNCHED("hessian_band_kernel");
    }
  }

  // Gaussian field: mu I + W^T diag(h) W per point from the curvatures of
  // begin_hessians, in groups of points that fit in the memory budget (their
  // diag(h) W and Hessians at strides rounded up to 64 elements, see
  // DeviceObjective::field_hessians), each group copied into out by one
  // strided device copy.
  void field_hessians(std::int64_t b0, std::int64_t m, T* out) {
    const std::int64_t n = d_.dim, mf = obj_.m;
    const std::size_t nn = checked_size(n, n), hs = checked_size(obj_.hess_stride()),
                      ds = checked_size(obj_.dw_stride());
    const double per_point = static_cast<double>((hs + ds) * sizeof(T));
    const std::int64_t group = static_cast<std::int64_t>(
        std::min(static_cast<double>(m),
                 std::max(1.0, static_cast<double>(be_.memory_budget()) / per_point)));
    T *dw = work(kDw, checked_size(group) * ds), *hess = work(kPoint, checked_size(group) * hs);
    const T* hz = w_[kHz].get();
    for (std::int64_t q = 0; q < m; q += group) {
      const std::int64_t g = std::min(group, m - q);
      obj_.field_hessians(handle(), g, hz + (b0 + q) * mf, dw, hess);
      SS_CUDA(cudaMemcpy2DAsync(out + q * nn, nn * sizeof(T), hess, hs * sizeof(T), nn * sizeof(T),
                                static_cast<std::size_t>(g), cudaMemcpyDeviceToDevice));
    }
  }

  // Networks, by the CPU's shared pipeline (pipelines::hessian_from_hvps):
  // per point, copied into one aligned row (so that every point's GEMMs see
  // the same alignment), its forward and backward pass once (a pass of one
  // entry, tile 1); then groups of unit directions e_k that fit in the
  // memory budget through one batched R-operator pass at the shared point,
  // their products written as columns k of the point's Hessian, and (H +
  // H^T) / 2 in T.
  void network_hessians(const CudaRows<T>& x, std::int64_t b0, std::int64_t m, T* out) {
    const std::int64_t n = d_.dim;
    const std::size_t nn = checked_size(n, n);
    const cublasHandle_t h = handle();
    const std::int64_t ws = obj_.work_per_row();
    const double per_column = static_cast<double>(checked_size(ws + 2 * n) * sizeof(T));
    const std::int64_t group = static_cast<std::int64_t>(
        std::min(static_cast<double>(n),
                 std::max(1.0, static_cast<double>(be_.memory_budget()) / per_column)));
    const std::int64_t gt = tiled_rows(group);  // the columns' row tiles
    T *xb = work(kPoint, checked_size(n)), *g = work(kGrow, checked_size(n));
    T *v = work(kV, checked_size(gt, n)), *hv = work(kHv, checked_size(gt, n));
    double* f = work_d(kF, 1);
    for (std::int64_t k = 0; k < m; ++k) {
      T* hk = out + k * nn;
      SS_CUDA(cudaMemcpy(xb, x.a.get() + (b0 + k) * n, checked_size(n) * sizeof(T),
                         cudaMemcpyDeviceToDevice));
      obj_.network_value_grad(h, 1, xb, g, f, nullptr, work(kZ, checked_size(ws)), 1);
      CudaOps<T> ops{h};
      pipelines::hessian_from_hvps(ops, n, group, v, hv, hk, [&](std::int64_t c) {
        obj_.network_hvp(h, c, true, xb, w_[kZ].get(), v, hv, work(kU, checked_size(gt, ws)));
      });
    }
  }

  // p-spin: the embedded Riemannian Hessians P (Y - c I) P at x as given, in
  // groups of pspin_tile() points (one contraction tile: a fixed shape that
  // fits cuBLAS's int sizes), each group's points staged at one aligned
  // address (padding rows zero), then one copy into out.
  void pspin_hessians(const CudaRows<T>& x, std::int64_t b0, std::int64_t m, T* out) {
    const std::int64_t n = d_.dim, tile = obj_.pspin_tile();
    const std::size_t nn = checked_size(n, n);
    T *xg = work(kPoint, checked_size(tile, n)), *hess = work(kTile, checked_size(tile) * nn);
    double *q = work_d(kQ, checked_size(tile, n)), *w = work_d(kW, checked_size(tile, n)),
           *alpha = work_d(kAlpha, checked_size(tile));
    for (std::int64_t q0 = 0; q0 < m; q0 += tile) {
      const std::int64_t g = std::min(tile, m - q0);
      SS_CUDA(cudaMemsetAsync(xg, 0, checked_size(tile, n) * sizeof(T)));
      SS_CUDA(cudaMemcpy(xg, x.a.get() + (b0 + q0) * n, checked_size(g, n) * sizeof(T),
                         cudaMemcpyDeviceToDevice));
      obj_.pspin_hessians(handle(), g, xg, hess, q, w, alpha);
      SS_CUDA(cudaMemcpy(out + q0 * nn, hess, checked_size(g) * nn * sizeof(T),
                         cudaMemcpyDeviceToDevice));
    }
  }

  CudaBackend& be_;
  const ObjectiveData& d_;
  const DeviceObjective<T> obj_;
  DeviceArray<T> w_[kWorkCount];
  DeviceArray<double> wd_[kWorkDCount];
  DeviceArray<const T*> ptrs_;      // project_out's basis pointers
  DeviceArray<std::uint8_t> mask_;  // ... and its rows
  std::uint64_t bytes_ = 0;
};

}  // namespace

std::unique_ptr<PreparedObjective> CudaBackend::prepare(const ObjectiveData& d, Precision p) {
  if (p == Precision::f32) return std::make_unique<CudaPrepared<float>>(*this, d);
  return std::make_unique<CudaPrepared<double>>(*this, d);
}

}  // namespace saddlescope::cuda_detail
