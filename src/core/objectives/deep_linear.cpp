// deep-linear: 1/(2n) ||W_L ... W_1 X - Y||^2 (coupled: its forward,
// backward and R-operator passes are GEMMs in each backend).
#include <cmath>

#include "common.hpp"
#include "kernels/rng.hpp"

namespace saddlescope::objectives {

ObjectiveInfo deep_linear() {
  ObjectiveInfo o{
      "deep-linear",
      "L = 1/(2n) ||W_L ... W_1 X - Y||_F^2, X (d_0 x n) Gaussian, Y = T X for a Gaussian "
      "teacher T (d_L x d_0, variance 1/d_0); small starts give the classic plateaus",
      "L = 1/(2n) \\|W_L ... W_1 X - Y\\|_F^2 with parameters x = [W_1 (d_1 x d_0), ..., W_L "
      "(d_L x d_(L-1))] row-major (dim = sum d_l d_(l-1), inferred; if given it must match), "
      "inputs X (d_0 x n) ~ N(0, 1) and targets Y = T X for a teacher T (d_L x d_0) ~ N(0, "
      "1/d_0), drawn from `seed`. Small starts give the classic plateaus. Gradient by "
      "backpropagation, Hessian-vector products by the R-operator, Hessian from N of them. Both "
      "backends.",
      {dim_key("inferred: sum_l d_l d_(l-1)", "if given, equal to the inferred value"), tf32_key(),
       custom_key("widths", ObjectiveKey::integers, "`[10, 10, 10]`", ">= 2 entries, each 1 to 1e6",
                  "d_0 .. d_L: input, hidden and output widths",
                  [](const ObjectiveSpec& s) { return toml_integers(s.widths); }),
       integer_key("samples", &ObjectiveSpec::samples, 100, 1, 100'000'000, "n, the data points")},
      ObjectiveKind::deep_linear};
  o.read = [](const config::Section& s, ObjectiveSpec& spec) {
    if (s.has("widths")) {
      const auto w = s.numbers("widths");
      if (w.size() < 2) s.fail("widths", "needs at least 2 widths [d_0, ..., d_L] (one layer)");
      spec.widths.clear();
      for (double v : w) {
        if (v < 1 || v > 1e6 || v != std::floor(v))
          s.fail("widths", fmt::format("holds {}; widths must be integers from 1 to 1e6", v));
        spec.widths.push_back(static_cast<std::int64_t>(v));
      }
    }
    std::int64_t p = 0;
    for (std::size_t l = 1; l < spec.widths.size(); ++l) p += spec.widths[l] * spec.widths[l - 1];
    spec.dim = s.integer("dim", p, 1, kMaxDim);
    if (spec.dim != p)
      s.fail("dim", fmt::format("= {} does not match sum_l widths[l] * widths[l-1] = {}; omit dim",
                                spec.dim, p));
  };
  o.build = [](const ObjectiveSpec& spec, std::uint64_t seed, const HostLinalg&, ObjectiveData& d) {
    d.dl_widths = spec.widths;
    d.dl_samples = spec.samples;
    const std::int64_t d0 = spec.widths.front(), dl = spec.widths.back(), n = spec.samples;
    d.dl_x.resize(static_cast<std::size_t>(d0 * n));
    std::uint64_t idx = 0;
    for (auto& v : d.dl_x) v = rng::normal(seed, rng::kDeepLinearData, idx++);
    std::vector<double> t(static_cast<std::size_t>(dl * d0));
    for (auto& v : t)
      v = rng::normal(seed, rng::kDeepLinearData, idx++) / std::sqrt(static_cast<double>(d0));
    d.dl_y.assign(static_cast<std::size_t>(dl * n), 0.0);
    for (std::int64_t i = 0; i < dl; ++i)
      for (std::int64_t k = 0; k < d0; ++k)
        for (std::int64_t s_ = 0; s_ < n; ++s_)
          d.dl_y[i * n + s_] += t[i * d0 + k] * d.dl_x[k * n + s_];
  };
  o.coupled = always;
  // The inputs X [d_0, n] and targets Y [d_L, n].
  o.data_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    return static_cast<std::uint64_t>(spec.samples * (spec.widths.front() + spec.widths.back())) *
           t;
  };
  o.work_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    return static_cast<std::uint64_t>(deep_linear_work_per_row(spec.widths, spec.samples)) * t;
  };
  return o;
}

}  // namespace saddlescope::objectives
