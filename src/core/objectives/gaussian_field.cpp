// gaussian-field: random features of an isotropic Gaussian field plus a
// confining bowl (kernels/gaussian_field.hpp; coupled, GEMMs).
#include "common.hpp"
#include "kernels/rng.hpp"

namespace saddlescope::objectives {

ObjectiveInfo gaussian_field() {
  ObjectiveInfo o{
      "gaussian-field",
      "f = mu/2 |x|^2 + sqrt(2/M) sum_j a_j cos(w_j.x + b_j), a ~ N(0,1), w ~ N(0, I/l^2), "
      "b ~ U[0, 2 pi): M random features of an isotropic Gaussian field (covariance "
      "exp(-|x-y|^2 / 2 l^2)) with a confining term; GEMM-based",
      "f = mu/2 \\|x\\|^2 + sqrt(2/M) sum_j a_j cos(w_j . x + b_j), a_j ~ N(0, 1), w_j ~ N(0, "
      "I / l^2), b_j ~ U[0, 2 pi) drawn from `seed`: M random features of an isotropic Gaussian "
      "field with covariance exp(-\\|x - y\\|^2 / (2 l^2)), plus a confining bowl. Gradient = "
      "mu x + W^T s with s_j = -sqrt(2/M) a_j sin z_j (two GEMMs over all trajectories); "
      "Hessian = mu I + W^T diag(h) W, h_j = -sqrt(2/M) a_j cos z_j. Holds W (M x N).",
      {dim_key("required", "1 to 100000000"), tf32_key(),
       integer_key("features", &ObjectiveSpec::features, 1024, 1, 100'000'000,
                   "M, the number of random features"),
       real_key("length_scale", &ObjectiveSpec::length_scale, 1.0, 0.0, 1e30, true,
                "l, the covariance length"),
       real_key("mu", &ObjectiveSpec::mu, 0.1, 0.0, 1e30, false, "the confining curvature")},
      ObjectiveKind::gaussian_field};
  o.field_value = true;
  o.read = [](const config::Section& s, ObjectiveSpec& spec) { read_required_dim(s, spec, 1); };
  o.build = [](const ObjectiveSpec& spec, std::uint64_t seed, const HostLinalg&, ObjectiveData& d) {
    const std::int64_t n = spec.dim, m = spec.features;
    d.field_mu = spec.mu;
    d.field_w.resize(static_cast<std::size_t>(m * n));
    d.field_a.resize(static_cast<std::size_t>(m));
    d.field_b.resize(static_cast<std::size_t>(m));
#pragma omp parallel for schedule(static)
    for (std::int64_t k = 0; k < m * n; ++k)
      d.field_w[k] = rng::normal(seed, rng::kFieldFrequency, static_cast<std::uint64_t>(k)) /
                     spec.length_scale;
    for (std::int64_t j = 0; j < m; ++j) {
      d.field_a[j] = rng::normal(seed, rng::kFieldAmplitude, static_cast<std::uint64_t>(j));
      d.field_b[j] =
          6.283185307179586 * rng::uniform(seed, rng::kFieldPhase, static_cast<std::uint64_t>(j));
    }
  };
  o.coupled = always;
  // W [M, N], a and b [M].
  o.data_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    return static_cast<std::uint64_t>(spec.features) * (static_cast<std::uint64_t>(spec.dim) + 2) *
           t;
  };
  o.work_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    return static_cast<std::uint64_t>(field_work_per_row(spec.features)) * t;
  };
  return o;
}

}  // namespace saddlescope::objectives
