// The CUDA backend's batched evaluation (src/cuda/backend.cuh): value_grad,
// hvp and hessian of every objective over DeviceObjective, with the kernels
// of the separable objectives' per-coordinate math.
#include <algorithm>
#include <cstdint>
#include <vector>

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

// Separable H v and Hessian bands: blockIdx.y a row, the x blocks and
// threads its coordinates (row_grid).
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

template <class T>
__global__ void hessian_band_kernel(LocalObjective<T> obj, const T* x, T* diag, T* upper,
                                    std::int64_t batch, std::int64_t n) {
  for (std::int64_t b = blockIdx.y; b < batch; b += gridDim.y) {
    const std::int64_t off = b * n;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
      obj.hessian_band(x + off, i, diag[off + i], upper[off + i]);
  }
}

// Rows j < rows of v [rows, n]: the unit vectors e_(k0 + j) for j < cols,
// zero rows after them (the padding of a row tile).
template <class T>
__global__ void unit_rows_kernel(T* v, std::int64_t k0, std::int64_t cols, std::int64_t rows,
                                 std::int64_t n) {
  for (std::int64_t j = blockIdx.y; j < rows; j += gridDim.y)
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
      v[j * n + i] = j < cols && i == k0 + j ? T(1) : T(0);
}

}  // namespace

template <class T>
DeviceArray<T> CudaBackend::upload_rows(const std::vector<double>& h, std::int64_t batch,
                                        std::int64_t n) {
  require(h.size() == checked_size(batch, n), "upload of " + std::to_string(h.size()) +
                                                  " elements as " + std::to_string(batch) +
                                                  " rows of " + std::to_string(n));
  DeviceArray<T> d(checked_size(tiled_rows(batch), n));
  if (d.empty()) return d;
  const std::vector<T> t = convert<T>(h);
  SS_CUDA(cudaMemset(d.get(), 0, d.size() * sizeof(T)));
  if (!t.empty())
    SS_CUDA(cudaMemcpy(d.get(), t.data(), t.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

template <class T>
ObjectiveEval CudaBackend::value_grad_t(const ObjectiveData& d, std::int64_t batch,
                                        const std::vector<double>& x64) {
  const DeviceObjective<T> obj(d);
  const std::int64_t n = d.dim;
  const DeviceArray<T> x = upload_rows<T>(x64, batch, n);  // tiled_rows(batch) rows
  DeviceArray<T> grow(obj.view.coupled ? x.size() : 0), g(checked_size(batch, n));
  DeviceArray<T> z(obj.work_elements(batch));
  DeviceArray<double> f(checked_size(batch)),
      f_rows(obj.row_values() ? checked_size(tiled_rows(batch)) : 0);
  ObjectiveEval r;
  if (batch == 0) return r;
  if (obj.view.coupled)
    obj.coupled_value_grad(cublas(use_tf32<T>(d)), batch, x.get(), grow.get(), f_rows.get(),
                           z.get());
  value_grad_kernel<T><<<row_blocks(batch), kFlatThreads>>>(
      obj.view, x.get(), grow.get(), f_rows.get(), g.get(), f.get(), batch, n);
  SS_LAUNCHED("value_grad_kernel");
  r.f = f.download();
  r.g = to_double(g.download());
  return r;
}

template <class T>
std::vector<double> CudaBackend::hvp_t(const ObjectiveData& d, std::int64_t batch,
                                       const std::vector<double>& x64,
                                       const std::vector<double>& v64) {
  const DeviceObjective<T> obj(d);
  const std::int64_t n = d.dim;
  // Every row array of tiled_rows(batch) rows (the coupled passes' row
  // tiles), the padding rows of x and v zero.
  const std::int64_t rt = tiled_rows(batch);
  const DeviceArray<T> x = upload_rows<T>(x64, batch, n), v = upload_rows<T>(v64, batch, n);
  DeviceArray<T> hv(x.size());
  if (hv.empty()) return {};
  if (obj.is_mlp()) {  // forward and backward at every row, then the R-operator
    const MlpShape& s = obj.mlp;
    const std::size_t hid = checked_size(rt, s.n * s.h), out = checked_size(rt, s.n * s.o);
    DeviceArray<T> g(x.size()), h(hid), dh(hid), rdh(hid), ra(hid), rh(hid), dout(out), rout(out);
    DeviceArray<double> f(checked_size(rt));
    cublasHandle_t handle = cublas(use_tf32<T>(d));
    obj.mlp_value_grad(handle, batch, x.get(), g.get(), f.get(), h.get(), dh.get(), rdh.get(),
                       dout.get());
    obj.mlp_hvp(handle, batch, false, x.get(), h.get(), dh.get(), dout.get(), v.get(), hv.get(),
                ra.get(), rh.get(), rdh.get(), rout.get());
  } else if (obj.is_deep_linear()) {  // the same for the deep linear network
    const std::size_t work = checked_size(rt, obj.work_per_row());
    DeviceArray<T> g(x.size()), fw(work), rw(work);
    DeviceArray<double> f(checked_size(rt));
    cublasHandle_t handle = cublas(use_tf32<T>(d));
    obj.dl_value_grad(handle, batch, x.get(), g.get(), f.get(), fw.get());
    obj.dl_hvp(handle, batch, false, x.get(), fw.get(), v.get(), hv.get(), rw.get());
  } else if (obj.pspin()) {  // at x as given (not retracted)
    DeviceArray<T> ge(x.size()), u(x.size());
    DeviceArray<T> y(obj.p == 3 ? obj.pspin_work_elements() : 0);
    obj.pspin_hvp(cublas(use_tf32<T>(d)), batch, x.get(), v.get(), hv.get(), ge.get(), u.get(),
                  y.get());
  } else if (obj.view.coupled) {
    const std::size_t features = obj.field() ? checked_size(rt, obj.m) : 0;
    DeviceArray<T> z(features), u(features);
    obj.coupled_hvp(cublas(use_tf32<T>(d)), batch, x.get(), v.get(), hv.get(), z.get(), u.get());
  } else {
    hvp_kernel<T>
        <<<row_grid(batch, n), row_threads(n)>>>(obj.view, x.get(), v.get(), hv.get(), batch, n);
    SS_LAUNCHED("hvp_kernel");
  }
  std::vector<T> out(checked_size(batch, n));  // the rows without the padding
  SS_CUDA(cudaMemcpy(out.data(), hv.get(), out.size() * sizeof(T), cudaMemcpyDeviceToHost));
  return to_double(out);
}

template <class T>
std::vector<double> CudaBackend::hessian_t(const ObjectiveData& d, std::int64_t batch,
                                           const std::vector<double>& x64) {
  const std::int64_t n = d.dim;
  std::vector<double> h(checked_size(batch, n) * static_cast<std::size_t>(n), 0.0);
  if (h.empty()) return h;
  if (d.kind == ObjectiveKind::gaussian_field) {
    field_hessian_t<T>(d, batch, x64, h);
    return h;
  }
  if (d.kind == ObjectiveKind::mlp) {
    mlp_hessian_t<T>(d, batch, x64, h);
    return h;
  }
  if (d.kind == ObjectiveKind::deep_linear) {
    dl_hessian_t<T>(d, batch, x64, h);
    return h;
  }
  if (d.kind == ObjectiveKind::p_spin) {
    pspin_hessian_t<T>(d, batch, x64, h);
    return h;
  }
  if (d.coupled()) {
    const std::vector<T> a = convert<T>(d.matrix);  // rounded as the CPU backend does
    for (std::int64_t b = 0; b < batch; ++b) std::copy(a.begin(), a.end(), h.begin() + b * n * n);
    return h;
  }
  const DeviceObjective<T> obj(d);
  const DeviceArray<T> x = upload_rows<T>(x64, batch, n);
  DeviceArray<T> diag(checked_size(batch, n)), upper(checked_size(batch, n));
  hessian_band_kernel<T><<<row_grid(batch, n), row_threads(n)>>>(obj.view, x.get(), diag.get(),
                                                                 upper.get(), batch, n);
  SS_LAUNCHED("hessian_band_kernel");
  const std::vector<T> dg = diag.download(), up = upper.download();
  for (std::int64_t b = 0; b < batch; ++b) {
    double* hb = h.data() + b * n * n;
    for (std::int64_t i = 0; i < n; ++i) {
      hb[i * n + i] = dg[b * n + i];
      if (i + 1 < n) hb[i * n + i + 1] = hb[(i + 1) * n + i] = up[b * n + i];
    }
  }
  return h;
}

template <class T>
void CudaBackend::field_hessian_t(const ObjectiveData& d, std::int64_t batch,
                                  const std::vector<double>& x64, std::vector<double>& h) {
  const DeviceObjective<T> obj(d);
  const std::int64_t n = d.dim, m = obj.m;
  const std::size_t nn = checked_size(n, n), mn = checked_size(m, n);
  cublasHandle_t handle = cublas(use_tf32<T>(d));
  DeviceArray<T> hz(checked_size(tiled_rows(batch), m));
  {
    const DeviceArray<T> x = upload_rows<T>(x64, batch, n);
    obj.field_curvatures(handle, batch, x.get(), hz.get());
  }
  // Each point's diag(h) W and Hessian at strides rounded up to 64 elements
  // (field_hessians), copied to the host by one strided copy per group.
  const std::size_t hs = checked_size(obj.hess_stride()), ds = checked_size(obj.dw_stride());
  const double budget = static_cast<double>(memory_budget());
  const double per_point = static_cast<double>((hs + ds) * sizeof(T));
  const std::int64_t group = static_cast<std::int64_t>(
      std::min(static_cast<double>(batch), std::max(1.0, budget / per_point)));
  DeviceArray<T> dw(checked_size(group) * ds), hess(checked_size(group) * hs);
  std::vector<T> hh;
  for (std::int64_t b0 = 0; b0 < batch; b0 += group) {
    const std::int64_t g = std::min(group, batch - b0);
    obj.field_hessians(handle, g, hz.get() + b0 * m, dw.get(), hess.get());
    // A synchronous copy on the default stream: it waits for the GEMMs.
    hh.resize(checked_size(g) * nn);
    SS_CUDA(cudaMemcpy2D(hh.data(), nn * sizeof(T), hess.get(), hs * sizeof(T), nn * sizeof(T),
                         static_cast<std::size_t>(g), cudaMemcpyDeviceToHost));
    std::copy(hh.begin(), hh.end(), h.begin() + b0 * n * n);
  }
}

template <class T, class Prepare, class Hvp>
void CudaBackend::hessians_from_hvps(std::int64_t batch, std::int64_t n, const T* x,
                                     std::int64_t group, DeviceArray<T>& v, DeviceArray<T>& hv,
                                     std::vector<double>& h, Prepare&& prepare, Hvp&& hvp) {
  std::vector<T> cols, hp(checked_size(n, n));
  DeviceArray<T> xb(checked_size(n));  // the point, at an aligned address
  for (std::int64_t b = 0; b < batch; ++b) {
    SS_CUDA(cudaMemcpy(xb.get(), x + b * n, checked_size(n) * sizeof(T), cudaMemcpyDeviceToDevice));
    prepare(xb.get());
    for (std::int64_t k0 = 0; k0 < n; k0 += group) {
      const std::int64_t c = std::min(group, n - k0), ct = tiled_rows(c);
      unit_rows_kernel<T><<<row_grid(ct, n), row_threads(n)>>>(v.get(), k0, c, ct, n);
      SS_LAUNCHED("unit_rows_kernel");
      hvp(c, xb.get());
      // A synchronous copy on the default stream: it waits for the GEMMs.
      cols.resize(checked_size(c, n));
      SS_CUDA(cudaMemcpy(cols.data(), hv.get(), cols.size() * sizeof(T), cudaMemcpyDeviceToHost));
      for (std::int64_t j = 0; j < c; ++j)  // column k0 + j
        for (std::int64_t i = 0; i < n; ++i) hp[i * n + k0 + j] = cols[j * n + i];
    }
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = i + 1; k < n; ++k)
        hp[i * n + k] = hp[k * n + i] = (hp[i * n + k] + hp[k * n + i]) / T(2);
    std::copy(hp.begin(), hp.end(), h.begin() + b * n * n);
  }
}

template <class T>
void CudaBackend::mlp_hessian_t(const ObjectiveData& d, std::int64_t batch,
                                const std::vector<double>& x64, std::vector<double>& h) {
  const DeviceObjective<T> obj(d);
  const MlpShape& s = obj.mlp;
  const std::int64_t n = d.dim, nh = s.n * s.h, no = s.n * s.o;
  cublasHandle_t handle = cublas(use_tf32<T>(d));
  const DeviceArray<T> x = upload_rows<T>(x64, batch, n);
  DeviceArray<T> g(checked_size(n)), hid(checked_size(nh)), dh(checked_size(nh)),
      da(checked_size(nh)), dout(checked_size(no));
  DeviceArray<double> f(1);
  const double budget = static_cast<double>(memory_budget());
  const double per_column = static_cast<double>(checked_size(3 * nh + no + 2 * n) * sizeof(T));
  const std::int64_t group = static_cast<std::int64_t>(
      std::min(static_cast<double>(n), std::max(1.0, budget / per_column)));
  const std::int64_t gt = tiled_rows(group);  // the columns' row tiles
  DeviceArray<T> ra(checked_size(gt, nh)), rh(checked_size(gt, nh)), rdh(checked_size(gt, nh)),
      rout(checked_size(gt, no));
  DeviceArray<T> v(checked_size(gt, n)), hv(checked_size(gt, n));
  hessians_from_hvps<T>(
      batch, n, x.get(), group, v, hv, h,
      [&](const T* xb) {  // the one point: a pass of one entry (tile 1)
        obj.mlp_value_grad(handle, 1, xb, g.get(), f.get(), hid.get(), dh.get(), da.get(),
                           dout.get(), 1);
      },
      [&](std::int64_t c, const T* xb) {
        obj.mlp_hvp(handle, c, true, xb, hid.get(), dh.get(), dout.get(), v.get(), hv.get(),
                    ra.get(), rh.get(), rdh.get(), rout.get());
      });
}

template <class T>
void CudaBackend::dl_hessian_t(const ObjectiveData& d, std::int64_t batch,
                               const std::vector<double>& x64, std::vector<double>& h) {
  const DeviceObjective<T> obj(d);
  const std::int64_t n = d.dim, ws = obj.work_per_row();
  cublasHandle_t handle = cublas(use_tf32<T>(d));
  const DeviceArray<T> x = upload_rows<T>(x64, batch, n);
  DeviceArray<T> g(checked_size(n)), fw(checked_size(ws));
  DeviceArray<double> f(1);
  const double budget = static_cast<double>(memory_budget());
  const double per_column = static_cast<double>(checked_size(ws + 2 * n) * sizeof(T));
  const std::int64_t group = static_cast<std::int64_t>(
      std::min(static_cast<double>(n), std::max(1.0, budget / per_column)));
  const std::int64_t gt = tiled_rows(group);  // the columns' row tiles
  DeviceArray<T> v(checked_size(gt, n)), hv(checked_size(gt, n)), rw(checked_size(gt, ws));
  hessians_from_hvps<T>(
      batch, n, x.get(), group, v, hv, h,
      [&](const T* xb) {  // the one point: a pass of one entry (tile 1)
        obj.dl_value_grad(handle, 1, xb, g.get(), f.get(), fw.get(), 1);
      },
      [&](std::int64_t c, const T* xb) {
        obj.dl_hvp(handle, c, true, xb, fw.get(), v.get(), hv.get(), rw.get());
      });
}

template <class T>
void CudaBackend::pspin_hessian_t(const ObjectiveData& d, std::int64_t batch,
                                  const std::vector<double>& x64, std::vector<double>& h) {
  const DeviceObjective<T> obj(d);
  const std::int64_t n = d.dim;
  const std::size_t nn = checked_size(n, n);
  cublasHandle_t handle = cublas(use_tf32<T>(d));
  const DeviceArray<T> x = upload_rows<T>(x64, batch, n);  // tiled_rows(batch) rows
  const std::int64_t group = obj.pspin_tile();             // divides tiled_rows(batch)
  DeviceArray<T> xg(checked_size(group, n)), hess(checked_size(group) * nn);
  DeviceArray<double> q(checked_size(group, n)), w(checked_size(group, n)),
      alpha(checked_size(group));
  std::vector<T> hh;
  for (std::int64_t b0 = 0; b0 < batch; b0 += group) {
    const std::int64_t g = std::min(group, batch - b0);
    // The group's points (and padding rows) at one aligned address.
    SS_CUDA(
        cudaMemcpy(xg.get(), x.get() + b0 * n, xg.size() * sizeof(T), cudaMemcpyDeviceToDevice));
    obj.pspin_hessians(handle, g, xg.get(), hess.get(), q.get(), w.get(), alpha.get());
    // A synchronous copy on the default stream: it waits for the kernels.
    hh.resize(checked_size(g) * nn);
    SS_CUDA(cudaMemcpy(hh.data(), hess.get(), hh.size() * sizeof(T), cudaMemcpyDeviceToHost));
    std::copy(hh.begin(), hh.end(), h.begin() + b0 * n * n);
  }
}

template ObjectiveEval CudaBackend::value_grad_t<float>(const ObjectiveData&, std::int64_t,
                                                        const std::vector<double>&);
template ObjectiveEval CudaBackend::value_grad_t<double>(const ObjectiveData&, std::int64_t,
                                                         const std::vector<double>&);
template std::vector<double> CudaBackend::hvp_t<float>(const ObjectiveData&, std::int64_t,
                                                       const std::vector<double>&,
                                                       const std::vector<double>&);
template std::vector<double> CudaBackend::hvp_t<double>(const ObjectiveData&, std::int64_t,
                                                        const std::vector<double>&,
                                                        const std::vector<double>&);
template std::vector<double> CudaBackend::hessian_t<float>(const ObjectiveData&, std::int64_t,
                                                           const std::vector<double>&);
template std::vector<double> CudaBackend::hessian_t<double>(const ObjectiveData&, std::int64_t,
                                                            const std::vector<double>&);

}  // namespace saddlescope::cuda_detail
