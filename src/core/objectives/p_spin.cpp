// p-spin: the spherical pure p-spin glass, p = 2 or 3 (kernels/pspin.hpp;
// coupled, GEMMs; optimizers move on the sphere).
#include <cmath>

#include "common.hpp"
#include "kernels/rng.hpp"

namespace saddlescope::objectives {
namespace {

std::uint64_t couplings(const ObjectiveSpec& o) {
  std::uint64_t np = 1;
  for (std::int64_t k = 0; k < o.p; ++k) np *= static_cast<std::uint64_t>(o.dim);
  return np;
}

}  // namespace

ObjectiveInfo p_spin() {
  ObjectiveInfo o{
      "p-spin",
      "spherical pure p-spin H(s) = N^{-(p-1)/2} sum J_{i1..ip} s_i1 .. s_ip on |s|^2 = N, "
      "J ~ N(0,1) over ordered index tuples; the value reported is E = H/N; optimizers take "
      "Riemannian steps and retract; p = 3 stores N^3 couplings",
      "Spherical pure p-spin glass, p = 2 or 3: H(s) = N^{-(p-1)/2} sum J_{i1..ip} s_i1 ... "
      "s_ip over all ordered index tuples, J iid N(0, 1) drawn from `seed`, on the sphere "
      "\\|s\\|^2 = N. The value (curves, tables, census column `f`) is the energy per spin "
      "E = H/N; see \"p-spin on the sphere\" below.",
      {dim_key("required", "2 to 100000000"),
       integer_key("p", &ObjectiveSpec::p, 3, 2, 3, "the interaction order"), tf32_key()},
      ObjectiveKind::p_spin};
  o.sphere = true;
  o.read = [](const config::Section& s, ObjectiveSpec& spec) { read_required_dim(s, spec, 2); };
  o.build = [](const ObjectiveSpec& spec, std::uint64_t seed, const HostLinalg&, ObjectiveData& d) {
    // J iid N(0,1) over ordered tuples; stored is the Euclidean Hessian's
    // tensor (kernels/pspin.hpp): the sum of J over the index permutations,
    // scaled: p = 2, A_ab = N^{-1/2} (J_ab + J_ba); p = 3,
    // T_abc = N^{-1} sum_{perm} J_perm(abc). Each unordered tuple is drawn once
    // and written to all its permutations, so T is exactly symmetric.
    d.pspin_p = static_cast<int>(spec.p);
    const std::int64_t n = spec.dim;
    const auto j = [&](std::int64_t idx) {
      return rng::normal(seed, rng::kPspinCouplings, static_cast<std::uint64_t>(idx));
    };
    if (spec.p == 2) {
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
  };
  o.coupled = always;
  // The couplings (N^p numbers) on the device, their double master copy on
  // the host, and for p = 3 the [rows, N^2] work space of the contraction
  // (at most kPspinWorkElements elements, shared by all rows).
  o.data_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    return couplings(spec) * (t + 8) +
           (spec.p == 3 ? static_cast<std::uint64_t>(kPspinWorkElements) * t : 0);
  };
  o.work_bytes = no_bytes;
  o.too_big = [](const ObjectiveSpec& spec, std::uint64_t t) {
    const double at500 =
        static_cast<double>(500ull * 500 * 500 * (t + 8) + kPspinWorkElements * t) / 1e9;
    return fmt::format(
        "the p = {} couplings are N^{} = {} numbers; lower objective.dim (p = 3 at N = 500 "
        "needs {:.2f} GB){}",
        spec.p, spec.p, couplings(spec), at500, spec.p == 3 ? " or use p = 2 (N^2 couplings)" : "");
  };
  return o;
}

}  // namespace saddlescope::objectives
