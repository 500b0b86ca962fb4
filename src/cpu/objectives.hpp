// The CPU backend's objectives (docs/design.md, Part II): the objective's
// arrays in the ensemble's precision and the coupled evaluation (the shared
// pipelines of kernels/pipelines/ with CpuOps; src/cpu/objectives.cpp), and
// the objective prepared for Backend::prepare. Private to src/cpu/.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/pipelines/gaussian_field.hpp"
#include "kernels/pipelines/networks.hpp"
#include "saddlescope/backend.hpp"

namespace saddlescope::cpu_detail {

template <class T>
std::vector<T> convert(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// Objective arrays in precision T and the view the shared math reads; the
// GEMM parts of coupled objectives (rotated quadratic, gaussian-field, the
// networks, the p-spin).
template <class T>
struct HostObjective {
  std::vector<T> lambda, matrix, w, a, b, net_x, net_y, couplings;
  // The networks (kernels/network.hpp): shape, layout and labels.
  NetworkShape net;
  NetworkLayout net_layout;
  std::vector<std::int32_t> net_labels;
  T mu = 0, c = 0;
  std::int64_t m = 0;  // gaussian-field features
  int p = 0;           // p-spin order
  LocalObjective<T> view{};
  // Work spaces: gaussian-field Z, U [rows, m] (one Hessian: z [m], u = diag(h) W
  // [m, n]); p-spin [rows, n^2].
  mutable std::vector<T> z, u;

  explicit HostObjective(const ObjectiveData& d)
      : lambda(convert<T>(d.lambda)),
        matrix(convert<T>(d.matrix)),
        w(convert<T>(d.field_w)),
        a(convert<T>(d.field_a)),
        b(convert<T>(d.field_b)),
        net_x(convert<T>(d.net_x)),
        net_y(convert<T>(d.net_y)),
        couplings(convert<T>(d.couplings)),
        net(d.net),
        net_layout(d.net),
        net_labels(d.net_labels),
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
  bool is_network() const { return view.kind == ObjectiveKind::network; }
  bool pspin() const { return view.kind == ObjectiveKind::p_spin; }
  // The field's arrays for the shared pipeline (kernels/pipelines/).
  pipelines::FieldArrays<T> field_arrays() const {
    return {w.data(), a.data(), b.data(), mu, c, view.n, m};
  }
  // Objectives whose per-trajectory value comes from the GEMM pass.
  bool row_values() const { return field() || is_network() || pspin(); }

  // The retraction onto the sphere |x|^2 = n of the running rows.
  void retract_rows(std::int64_t rows, T* x, const std::int8_t* outcome) const;

  // p = 3: calls fn(r, Y_r) for every row r of x with Y_r = T . x_r =
  // grad^2 H(x_r) [n, n], from GEMMs X T^T over blocks of rows ([block, n^2]
  // work space of at most 8M elements); rows of a block run in parallel.
  template <class Fn>
  void for_each_pspin_hessian(std::int64_t rows, const T* x, Fn&& fn) const;

  // The p-spin's products with Y(x) for the shared pipeline
  // (kernels/pipelines/pspin.hpp: its `apply`): U A for p = 2, per row Y_r
  // u_r from one contraction for p = 3.
  auto pspin_products() const;

  // y = Y v for one row (single-threaded: callers run rows in parallel).
  void pspin_apply(const T* y_mat, const T* v, T* out) const;

  // The networks' shared pipeline (kernels/pipelines/networks.hpp) on
  // `rows` rows: the forward and backward pass (work: network_work(rows)
  // elements; the training accuracy into acc when not null and the network
  // classifies), and Hessian-vector products at the rows of x (shared: every
  // direction at the one point x) from the forward work of a pass over
  // `frows` rows (rwork: network_work(rows) elements).
  // parallel: the primitives over the OpenMP threads, else on the caller's.
  void network_value_grad(std::int64_t rows, const T* x, T* g, double* f, double* acc, T* work,
                          bool parallel) const;
  void network_hvp(std::int64_t rows, bool shared, const T* x, const T* v, T* hv, const T* fwork,
                   T* rwork, bool parallel) const;
  std::int64_t network_work(std::int64_t rows) const { return rows * net_layout.work; }
  pipelines::NetworkArrays<T> net_arrays() const {
    return {&net_layout,      net.widths.data(),
            net.activation,   net.loss,
            net.weight_decay, net_x.data(),
            net_y.data(),     net_labels.empty() ? nullptr : net_labels.data()};
  }

  // Coupled gradient rows G for `rows` rows of x and, for the field, the
  // networks and the p-spin, the values F (per row), with a classifying
  // network's training accuracy per row into acc when not null; no-op when
  // not coupled.
  void coupled_value_grad(std::int64_t rows, const T* x, T* g, double* f,
                          double* acc = nullptr) const;

  // Hessian-vector products of the coupled objectives: H v per row.
  void coupled_hvp(std::int64_t rows, const T* x, const T* v, T* hv) const;

  // Dense Hessian of a coupled objective at one point x: h [n, n].
  void coupled_hessian(const T* x, T* h) const;
};

extern template struct HostObjective<float>;
extern template struct HostObjective<double>;

// The objective prepared in precision p (Backend::prepare): HostObjective
// once, work spaces kept, rows in T.
std::unique_ptr<PreparedObjective> prepare_objective(const ObjectiveData& d, Precision p);

}  // namespace saddlescope::cpu_detail
