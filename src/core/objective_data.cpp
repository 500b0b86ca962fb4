// The objective instance drawn from the experiment (random parts from the
// seed through Philox, so every backend sees the same objective).
#include <fmt/format.h>

#include <cmath>

#include "kernels/rng.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

// Haar-distributed rotation: QR of a Gaussian matrix with R's diagonal made
// positive (Mezzadri 2007). Row-major n x n.
std::vector<double> haar_rotation(std::int64_t n, std::uint64_t seed, const HostLinalg& la) {
  std::vector<double> q(static_cast<std::size_t>(n * n));
  for (std::int64_t k = 0; k < n * n; ++k)
    q[k] = rng::normal(seed, rng::kObjectiveRotation, static_cast<std::uint64_t>(k));
  std::vector<double> tau(static_cast<std::size_t>(n));
  const int ln = static_cast<int>(n);
  int info = la.geqrf(ln, ln, q.data(), ln, tau.data());
  if (info != 0) throw Error(fmt::format("LAPACKE_dgeqrf failed (info = {})", info), 1);
  std::vector<double> sign(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) sign[j] = q[j * n + j] < 0 ? -1.0 : 1.0;
  info = la.orgqr(ln, ln, ln, q.data(), ln, tau.data());
  if (info != 0) throw Error(fmt::format("LAPACKE_dorgqr failed (info = {})", info), 1);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) q[i * n + j] *= sign[j];
  return q;
}

}  // namespace

ObjectiveData build_objective(const Experiment& e, const HostLinalg& la) {
  const ObjectiveSpec& o = e.objective;
  ObjectiveData d;
  d.dim = o.dim;
  if (o.kind == "quadratic") {
    d.kind = ObjectiveKind::quadratic;
    d.lambda = o.eigenvalues;
    if (o.rotate) {
      const std::int64_t n = o.dim;
      const std::vector<double> q = haar_rotation(n, e.seed, la);
      std::vector<double> ql(q);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j) ql[i * n + j] *= o.eigenvalues[j];
      d.matrix.assign(static_cast<std::size_t>(n * n), 0.0);
      const int ln = static_cast<int>(n);
      // A = (Q diag(lambda)) Q^T
      la.gemm(false, true, ln, ln, ln, 1.0, ql.data(), ln, q.data(), ln, 0.0, d.matrix.data(), ln);
      // Symmetrize exactly so that the matrix is symmetric to the last bit.
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = i + 1; j < n; ++j) {
          const double m = 0.5 * (d.matrix[i * n + j] + d.matrix[j * n + i]);
          d.matrix[i * n + j] = d.matrix[j * n + i] = m;
        }
    }
  } else if (o.kind == "goe-quadratic") {
    // GOE: A_ij = A_ji ~ N(0, sigma^2 / N) for i < j, A_ii ~ N(0, 2 sigma^2 / N).
    d.kind = ObjectiveKind::quadratic;
    const std::int64_t n = o.dim;
    const double sd = o.sigma / std::sqrt(static_cast<double>(n));
    d.matrix.assign(static_cast<std::size_t>(n * n), 0.0);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = i; j < n; ++j) {
        const double z =
            rng::normal(e.seed, rng::kObjectiveGoe, static_cast<std::uint64_t>(i * n + j));
        d.matrix[i * n + j] = d.matrix[j * n + i] = (i == j ? std::sqrt(2.0) : 1.0) * sd * z;
      }
  } else if (o.kind == "p-spin") {
    // J iid N(0,1) over ordered tuples; stored is the Euclidean Hessian's
    // tensor (kernels/pspin.hpp): the sum of J over the index permutations,
    // scaled: p = 2, A_ab = N^{-1/2} (J_ab + J_ba); p = 3,
    // T_abc = N^{-1} sum_{perm} J_perm(abc). Each unordered tuple is drawn once
    // and written to all its permutations, so T is exactly symmetric.
    d.kind = ObjectiveKind::p_spin;
    d.pspin_p = o.p;
    const std::int64_t n = o.dim;
    const auto j = [&](std::int64_t idx) {
      return rng::normal(e.seed, rng::kPspinCouplings, static_cast<std::uint64_t>(idx));
    };
    if (o.p == 2) {
      const double c = 1.0 / std::sqrt(static_cast<double>(n));
      d.couplings.assign(static_cast<std::size_t>(n * n), 0.0);
#pragma omp parallel for schedule(static)
      for (std::int64_t a = 0; a < n; ++a)
        for (std::int64_t b = a; b < n; ++b)
          d.couplings[a * n + b] = d.couplings[b * n + a] = c * (j(a * n + b) + j(b * n + a));
    } else {
      const double c = 1.0 / static_cast<double>(n);
      d.couplings.assign(static_cast<std::size_t>(n * n * n), 0.0);
#pragma omp parallel for schedule(dynamic, 1)
      for (std::int64_t a = 0; a < n; ++a)
        for (std::int64_t b = a; b < n; ++b)
          for (std::int64_t k = b; k < n; ++k) {
            const std::int64_t perm[6][3] = {{a, b, k}, {a, k, b}, {b, a, k},
                                             {b, k, a}, {k, a, b}, {k, b, a}};
            double sum = 0;
            for (const auto& q : perm) sum += j((q[0] * n + q[1]) * n + q[2]);
            for (const auto& q : perm) d.couplings[(q[0] * n + q[1]) * n + q[2]] = c * sum;
          }
    }
  } else if (o.kind == "gaussian-field") {
    d.kind = ObjectiveKind::gaussian_field;
    const std::int64_t n = o.dim, m = o.features;
    d.field_mu = o.mu;
    d.field_w.resize(static_cast<std::size_t>(m * n));
    d.field_a.resize(static_cast<std::size_t>(m));
    d.field_b.resize(static_cast<std::size_t>(m));
#pragma omp parallel for schedule(static)
    for (std::int64_t k = 0; k < m * n; ++k)
      d.field_w[k] =
          rng::normal(e.seed, rng::kFieldFrequency, static_cast<std::uint64_t>(k)) / o.length_scale;
    for (std::int64_t j = 0; j < m; ++j) {
      d.field_a[j] = rng::normal(e.seed, rng::kFieldAmplitude, static_cast<std::uint64_t>(j));
      d.field_b[j] =
          6.283185307179586 * rng::uniform(e.seed, rng::kFieldPhase, static_cast<std::uint64_t>(j));
    }
  } else if (o.kind == "deep-linear") {
    d.kind = ObjectiveKind::deep_linear;
    d.dl_widths = o.widths;
    d.dl_samples = o.samples;
    const std::int64_t d0 = o.widths.front(), dl = o.widths.back(), n = o.samples;
    d.dl_x.resize(static_cast<std::size_t>(d0 * n));
    std::uint64_t idx = 0;
    for (auto& v : d.dl_x) v = rng::normal(e.seed, rng::kDeepLinearData, idx++);
    std::vector<double> t(static_cast<std::size_t>(dl * d0));
    for (auto& v : t)
      v = rng::normal(e.seed, rng::kDeepLinearData, idx++) / std::sqrt(static_cast<double>(d0));
    d.dl_y.assign(static_cast<std::size_t>(dl * n), 0.0);
    for (std::int64_t i = 0; i < dl; ++i)
      for (std::int64_t k = 0; k < d0; ++k)
        for (std::int64_t s_ = 0; s_ < n; ++s_)
          d.dl_y[i * n + s_] += t[i * d0 + k] * d.dl_x[k * n + s_];
  } else if (o.kind == "mlp") {
    // Data: Gaussian inputs; labels from a random tanh teacher (weights with
    // variance 1/fan-in) plus optional Gaussian noise.
    d.kind = ObjectiveKind::mlp;
    MlpShape& m = d.mlp;
    m.d = o.inputs;
    m.h = o.hidden;
    m.o = o.outputs;
    m.n = o.samples;
    const std::int64_t th = o.teacher_hidden;
    d.mlp_x.resize(static_cast<std::size_t>(m.n * m.d));
    for (std::int64_t k = 0; k < m.n * m.d; ++k)
      d.mlp_x[k] = rng::normal(e.seed, rng::kMlpInputs, static_cast<std::uint64_t>(k));
    std::vector<double> t1(static_cast<std::size_t>(th * m.d)),
        t2(static_cast<std::size_t>(m.o * th));
    std::uint64_t idx = 0;
    for (auto& v : t1)
      v = rng::normal(e.seed, rng::kMlpTeacher, idx++) / std::sqrt(static_cast<double>(m.d));
    for (auto& v : t2)
      v = rng::normal(e.seed, rng::kMlpTeacher, idx++) / std::sqrt(static_cast<double>(th));
    d.mlp_y.assign(static_cast<std::size_t>(m.n * m.o), 0.0);
    for (std::int64_t s_ = 0; s_ < m.n; ++s_)
      for (std::int64_t j = 0; j < th; ++j) {
        double a = 0;
        for (std::int64_t k = 0; k < m.d; ++k) a += t1[j * m.d + k] * d.mlp_x[s_ * m.d + k];
        const double hj = std::tanh(a);
        for (std::int64_t q = 0; q < m.o; ++q) d.mlp_y[s_ * m.o + q] += t2[q * th + j] * hj;
      }
    for (std::int64_t k = 0; k < m.n * m.o; ++k)
      d.mlp_y[k] += o.noise * rng::normal(e.seed, rng::kMlpNoise, static_cast<std::uint64_t>(k));
  } else if (o.kind == "double-well") {
    d.kind = ObjectiveKind::double_well;
  } else if (o.kind == "styblinski-tang") {
    d.kind = ObjectiveKind::styblinski_tang;
  } else if (o.kind == "rastrigin") {
    d.kind = ObjectiveKind::rastrigin;
    d.rastrigin_a = o.a;
  } else if (o.kind == "rosenbrock") {
    d.kind = ObjectiveKind::rosenbrock;
  } else {
    throw InputError(fmt::format("objective.kind = \"{}\" is not supported", o.kind));
  }
  d.tf32 = o.tf32;
  return d;
}

}  // namespace saddlescope
