// Inputs and comparisons shared by the tests over backends (backend_*_test.cpp):
// objectives built by hand (so that the tests do not depend on config
// parsing, except the p-spin, built from an experiment as the engine builds
// it), deterministic starts, ensembles driven as the engine drives them, and
// array comparisons that print a few mismatches.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/rng.hpp"
#include "saddlescope/backend.hpp"
#include "saddlescope/experiment.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope::testing {

// ---------------------------------------------------------------------------
// Objectives and points.

// Quadratic eigenvalues spread over [lo, lo + 4]; other kinds ignore them.
// `rotated` adds a small symmetric coupling (entries depend on i + j and
// |i - j| only), which makes the objective coupled.
inline ObjectiveData make_objective(ObjectiveKind kind, std::int64_t n, bool rotated = false,
                                    double lo = -1.0) {
  ObjectiveData d;
  d.kind = kind;
  d.dim = n;
  d.rastrigin_a = 10.0;
  if (kind == ObjectiveKind::quadratic) {
    d.lambda.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      d.lambda[i] =
          lo + 4.0 * static_cast<double>(i) / static_cast<double>(std::max<std::int64_t>(n - 1, 1));
    if (rotated) {
      d.matrix.assign(static_cast<std::size_t>(n * n), 0.0);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j)
          d.matrix[i * n + j] =
              (i == j ? d.lambda[i] : 0.0) + 0.02 * std::cos(0.7 * static_cast<double>(i + j)) /
                                                 (1.0 + static_cast<double>(std::abs(i - j)));
    }
  }
  return d;
}

// `len` standard normals times `scale`, from the start stream of `seed`.
inline std::vector<double> normals(std::uint64_t seed, std::int64_t len, double scale) {
  std::vector<double> v(static_cast<std::size_t>(len));
  for (std::int64_t k = 0; k < len; ++k)
    v[k] = scale * rng::normal(seed, rng::kInitStart, static_cast<std::uint64_t>(k));
  return v;
}

// The gaussian field: frequencies N(0, 1) / length_scale [m, n], amplitudes
// N(0, 1) and phases uniform in [0, 2 pi) [m], from the counter-based
// generator (deterministic).
inline ObjectiveData make_field(std::int64_t n, std::int64_t m, double length_scale, double mu,
                                std::uint64_t seed) {
  ObjectiveData d;
  d.kind = ObjectiveKind::gaussian_field;
  d.dim = n;
  d.field_mu = mu;
  d.field_w.resize(static_cast<std::size_t>(m * n));
  d.field_a.resize(static_cast<std::size_t>(m));
  d.field_b.resize(static_cast<std::size_t>(m));
  for (std::int64_t k = 0; k < m * n; ++k)
    d.field_w[k] =
        rng::normal(seed, rng::kFieldFrequency, static_cast<std::uint64_t>(k)) / length_scale;
  for (std::int64_t j = 0; j < m; ++j) {
    d.field_a[j] = rng::normal(seed, rng::kFieldAmplitude, static_cast<std::uint64_t>(j));
    d.field_b[j] =
        6.283185307179586 * rng::uniform(seed, rng::kFieldPhase, static_cast<std::uint64_t>(j));
  }
  return d;
}

constexpr std::int64_t kFieldDim = 40;
constexpr std::int64_t kFieldFeatures = 64;

inline ObjectiveData field_objective() {
  return make_field(kFieldDim, kFieldFeatures, 2.0, 0.1, 77);
}

// A network objective from its shape and data (kernels/network.hpp).
inline ObjectiveData network_objective(const NetworkShape& shape, std::vector<double> x,
                                       std::vector<double> y,
                                       std::vector<std::int32_t> labels = {}) {
  ObjectiveData d;
  d.kind = ObjectiveKind::network;
  d.net = shape;
  d.dim = shape.params();
  d.net_x = std::move(x);
  d.net_y = std::move(y);
  d.net_labels = std::move(labels);
  return d;
}

// The teacher-student MLP: a small student (d = 5 inputs, h = 7 hidden,
// o = 2 outputs, n = 9 samples, dim = 70 parameters) with deterministic
// random inputs X [n, d] and labels Y [n, o].
inline ObjectiveData mlp_objective() {
  NetworkShape s;
  s.widths = {5, 7, 2};
  s.samples = 9;
  return network_objective(s, normals(41, 9 * 5, 1.0), normals(42, 9 * 2, 0.5));
}

// The deep linear network: widths {3, 4, 2, 3} (three layers, dim = 4*3 +
// 2*4 + 3*2 = 26), n = 6 samples, deterministic random inputs X [n, d_0] and
// targets Y [n, d_L].
inline ObjectiveData deep_linear_objective() {
  NetworkShape s;
  s.widths = {3, 4, 2, 3};
  s.samples = 6;
  s.activation = Activation::linear;
  s.bias = false;
  return network_objective(s, normals(51, 6 * 3, 1.0), normals(52, 6 * 3, 0.5));
}

// A classifier: widths {4, 6, 5, 3} with gelu, bias, cross-entropy and
// weight decay 0.01 (dim = 30 + 35 + 18 = 83), n = 8 samples, labels 0, 2
// (the class boundaries) and the rest in between.
inline ObjectiveData classifier_objective() {
  NetworkShape s;
  s.widths = {4, 6, 5, 3};
  s.samples = 8;
  s.activation = Activation::gelu;
  s.loss = NetworkLoss::cross_entropy;
  s.weight_decay = 0.01;
  return network_objective(s, normals(61, 8 * 4, 1.0), {}, {0, 2, 1, 1, 2, 0, 1, 2});
}

// An experiment with a p-spin objective of order p and dimension n (seed 3);
// objective_extra goes into [objective], rest after it (by default one gd
// optimizer).
inline std::string pspin_toml(int p, std::int64_t n, const std::string& objective_extra = "",
                              const std::string& rest = "[[optimizer]]\nkind = \"gd\"\n") {
  return "seed = 3\n[objective]\nkind = \"p-spin\"\ndim = " + std::to_string(n) +
         "\np = " + std::to_string(p) + "\n" + objective_extra + rest;
}

// The spherical p-spin as the engine builds it; `tf32`: objective.tf32 with
// an f32 run.
inline ObjectiveData pspin_objective(int p, std::int64_t n, bool tf32 = false) {
  const std::string extra = tf32 ? "tf32 = true\n" : "";
  const std::string run = tf32 ? "[run]\nprecision = \"f32\"\n" : "";
  return build_objective(
      parse_experiment(pspin_toml(p, n, extra, run + "[[optimizer]]\nkind = \"gd\"\n"), "test"));
}

// `batch` points of dimension n from the start stream of `seed`: of every five
// rows, three scaled onto the sphere |x|^2 = N, one inside it (N / 2) and one
// outside (2 N).
inline std::vector<double> pspin_points(std::uint64_t seed, std::int64_t batch, std::int64_t n) {
  auto x = normals(seed, batch * n, 1.0);
  for (std::int64_t b = 0; b < batch; ++b) {
    const double want = b % 5 == 4 ? 2.0 : b % 5 == 3 ? 0.5 : 1.0;  // |x|^2 / N
    double r = 0;
    for (std::int64_t i = 0; i < n; ++i) r += x[b * n + i] * x[b * n + i];
    const double scale = std::sqrt(want * static_cast<double>(n) / r);
    for (std::int64_t i = 0; i < n; ++i) x[b * n + i] *= scale;
  }
  return x;
}

// ---------------------------------------------------------------------------
// Comparisons. NaN must meet NaN; at most a few mismatches are printed
// ("got": the backend under test, "want": the reference).

// |got_i - want_i| <= rel * max(|want_i|, floor) for every i.
inline void expect_close(const std::vector<double>& got, const std::vector<double>& want,
                         double rel, double floor, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < want.size() && reported < 5; ++i) {
    const bool both_nan = std::isnan(got[i]) && std::isnan(want[i]);
    const double tol = rel * std::max(std::fabs(want[i]), floor);
    if (both_nan || std::fabs(got[i] - want[i]) <= tol) continue;
    ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", want " << want[i]
                  << ", tolerance " << tol;
    ++reported;
  }
}

inline double magnitude(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}

// Relative to the magnitude of the whole reference array: single components
// may cancel (a gradient near a critical point), the array as a whole not.
inline void expect_close_to_magnitude(const std::vector<double>& got,
                                      const std::vector<double>& want, double rel,
                                      const std::string& what) {
  expect_close(got, want, rel, magnitude(want), what);
}

template <class E>
bool same_bits(const std::vector<E>& a, const std::vector<E>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(E)) == 0);
}

// ---------------------------------------------------------------------------
// Ensembles.

inline EnsembleSpec ensemble_spec(const ObjectiveData& obj, const OptimizerParams& opt, Precision p,
                                  std::int64_t count) {
  EnsembleSpec s;
  s.objective = &obj;
  s.optimizer = opt;
  s.precision = p;
  s.count = count;
  s.stop = StopRule{1e-6, 1e10, 200};
  s.record_count = 5;
  s.record_every = 10;
  s.records = s.stop.max_steps / s.record_every + 1;
  s.record_paths = true;
  return s;
}

// Drives an ensemble as the engine does: iterations 0..max_steps, stopping
// early once no trajectory runs (checked every 16 iterations).
inline EnsembleResult run(Backend& backend, const EnsembleSpec& spec,
                          const std::vector<double>& x0) {
  auto e = backend.make_ensemble(spec);
  e->set_starts(x0);
  for (std::int64_t t = 0; t <= spec.stop.max_steps; ++t) {
    e->iterate(t);
    if ((t + 1) % 16 == 0 && e->running() == 0) break;
  }
  return e->result(true);
}

// A backend against the CPU in f64. The per-element math is the same code on
// both sides, so trajectories agree to rounding (different summation orders,
// and the device compiler may fuse multiply-adds); outcomes and steps must
// agree exactly.
inline void expect_match(const EnsembleResult& got, const EnsembleResult& cpu) {
  EXPECT_EQ(got.outcome, cpu.outcome);
  EXPECT_EQ(got.steps, cpu.steps);
  expect_close(got.f_init, cpu.f_init, 1e-9, 1e-300, "f_init");
  expect_close(got.f_final, cpu.f_final, 1e-9, 1e-300, "f_final");
  // A converged gradient norm (~1e-6) is the remainder of O(10)-sized terms
  // that cancel, so its absolute rounding (~1e-13 with fused multiply-adds)
  // is far above 1e-9 of it: the floor is relative to that term size.
  expect_close(got.gnorm_final, cpu.gnorm_final, 1e-9, 1e-2, "gnorm_final");
  EXPECT_EQ(got.accuracy_final, cpu.accuracy_final);  // counts of samples: exact
  expect_close(got.finals, cpu.finals, 1e-9, 1.0, "finals");
  expect_close(got.paths, cpu.paths, 1e-9, 1.0, "paths");
  const std::vector<double> got_curves(got.curves.begin(), got.curves.end());
  const std::vector<double> cpu_curves(cpu.curves.begin(), cpu.curves.end());
  expect_close(got_curves, cpu_curves, 1e-5, 1e-30, "curves");
}

struct OptimizerCase {
  const char* name;
  OptimizerParams params;
};
inline void PrintTo(const OptimizerCase& c, std::ostream* os) { *os << c.name; }

// Every device optimizer, with hyperparameters that descend on
// styblinski-tang within 200 steps.
inline std::vector<OptimizerCase> optimizer_cases() {
  OptimizerParams gd;
  gd.kind = OptimizerKind::gd;
  gd.lr = 0.01;

  OptimizerParams momentum;
  momentum.kind = OptimizerKind::momentum;
  momentum.lr = 0.005;
  momentum.momentum = 0.9;
  momentum.nesterov = true;

  OptimizerParams adagrad;
  adagrad.kind = OptimizerKind::adagrad;
  adagrad.lr = 0.5;
  adagrad.eps = 1e-10;

  OptimizerParams rmsprop;
  rmsprop.kind = OptimizerKind::rmsprop;
  rmsprop.lr = 0.01;
  rmsprop.momentum = 0.5;

  OptimizerParams adam;
  adam.kind = OptimizerKind::adam;
  adam.lr = 0.05;

  OptimizerParams adamw = adam;
  adamw.kind = OptimizerKind::adamw;
  adamw.weight_decay = 0.1;

  OptimizerParams nadam = adam;
  nadam.kind = OptimizerKind::nadam;
  nadam.momentum_decay = 0.01;

  OptimizerParams radam = adam;
  radam.kind = OptimizerKind::radam;  // the un-adapted steps (rho_k <= 5) and the rectified ones

  return {{"gd", gd},     {"momentum", momentum}, {"adagrad", adagrad}, {"rmsprop", rmsprop},
          {"adam", adam}, {"adamw", adamw},       {"nadam", nadam},     {"radam", radam}};
}

// The p-spin on the sphere (p = 3 unless said, N = 30): six trajectories,
// a loose gradient tolerance, 300 steps.
constexpr std::int64_t kPspinEnsembleDim = 30;

inline EnsembleSpec pspin_spec(const ObjectiveData& obj, const OptimizerParams& opt, Precision p) {
  auto spec = ensemble_spec(obj, opt, p, 6);
  spec.stop.grad_tol = 1e-3;
  spec.stop.max_steps = 300;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  return spec;
}

// Every final point of a trajectory that did not diverge lies on |x|^2 = N.
inline void expect_on_sphere(const EnsembleResult& r, std::int64_t n, double rel) {
  ASSERT_EQ(r.finals.size(), r.outcome.size() * static_cast<std::size_t>(n));
  for (std::size_t b = 0; b < r.outcome.size(); ++b) {
    if (r.outcome[b] == kDiverged) continue;
    double r2 = 0;
    for (std::int64_t i = 0; i < n; ++i) r2 += r.finals[b * n + i] * r.finals[b * n + i];
    EXPECT_NEAR(r2, static_cast<double>(n), rel * static_cast<double>(n))
        << "trajectory " << b << " off the sphere";
  }
}

}  // namespace saddlescope::testing
