// goe-quadratic: 1/2 x^T A x with A from the Gaussian orthogonal ensemble
// (a dense matrix, coupled; kernels/objectives.hpp).
#include <cmath>

#include "common.hpp"
#include "kernels/rng.hpp"

namespace saddlescope::objectives {

ObjectiveInfo goe_quadratic() {
  ObjectiveInfo o{
      "goe-quadratic",
      "f = 1/2 x^T A x, A from the Gaussian orthogonal ensemble drawn from the seed; its "
      "spectrum tends to the semicircle on [-2 sigma, 2 sigma]",
      "f = 1/2 x^T A x, A from the Gaussian orthogonal ensemble drawn from `seed`: A_ij = A_ji ~ "
      "N(0, sigma^2/N) for i < j, A_ii ~ N(0, 2 sigma^2/N). Its spectrum tends to the "
      "semicircle on [-2 sigma, 2 sigma], so the origin is a saddle of index about N/2. Dense "
      "N x N matrix, as the rotated quadratic.",
      {dim_key("required", "1 to 100000000"),
       real_key("sigma", &ObjectiveSpec::sigma, 1.0, 0.0, 1e30, true,
                "the semicircle's radius is 2 sigma")},
      ObjectiveKind::quadratic};
  o.read = [](const config::Section& s, ObjectiveSpec& spec) { read_required_dim(s, spec, 1); };
  o.build = [](const ObjectiveSpec& spec, std::uint64_t seed, const HostLinalg&, ObjectiveData& d) {
    // GOE: A_ij = A_ji ~ N(0, sigma^2 / N) for i < j, A_ii ~ N(0, 2 sigma^2 / N).
    const std::int64_t n = spec.dim;
    const double sd = spec.sigma / std::sqrt(static_cast<double>(n));
    d.matrix.assign(static_cast<std::size_t>(n * n), 0.0);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = i; j < n; ++j) {
        const double z =
            rng::normal(seed, rng::kObjectiveGoe, static_cast<std::uint64_t>(i * n + j));
        d.matrix[i * n + j] = d.matrix[j * n + i] = (i == j ? std::sqrt(2.0) : 1.0) * sd * z;
      }
  };
  o.coupled = always;
  o.data_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    const auto n = static_cast<std::uint64_t>(spec.dim);
    return n * n * t;
  };
  o.work_bytes = no_bytes;
  return o;
}

}  // namespace saddlescope::objectives
