// deep-linear: 1/(2n) ||W_L ... W_1 X - Y||^2, the network with the linear
// activation, no bias and mse (kernels/network.hpp; coupled, GEMMs).
#include <cmath>

#include "common.hpp"
#include "kernels/rng.hpp"

namespace saddlescope::objectives {
namespace {

NetworkShape deep_linear_shape(const ObjectiveSpec& spec) {
  NetworkShape s;
  s.widths = spec.widths;
  s.samples = spec.samples;
  s.activation = Activation::linear;
  s.bias = false;
  return s;  // mse, no weight decay
}

}  // namespace

std::vector<std::int64_t> read_widths(const config::Section& s, const char* key) {
  const auto w = s.numbers(key);
  if (w.size() < 2) s.fail(key, "needs at least 2 widths [d_0, ..., d_L] (one layer)");
  std::vector<std::int64_t> out;
  for (double v : w) {
    if (v < 1 || v > 1e6 || v != std::floor(v))
      s.fail(key, fmt::format("holds {}; widths must be integers from 1 to 1e6", v));
    out.push_back(static_cast<std::int64_t>(v));
  }
  return out;
}

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
      "backends. It is the `network` kind with layers = widths, the linear activation, no bias "
      "and mse on this data.",
      {dim_key("inferred: sum_l d_l d_(l-1)", "if given, equal to the inferred value"), tf32_key(),
       custom_key("widths", ObjectiveKey::integers, "`[10, 10, 10]`", ">= 2 entries, each 1 to 1e6",
                  "d_0 .. d_L: input, hidden and output widths",
                  [](const ObjectiveSpec& s) { return toml_integers(s.widths); }),
       integer_key("samples", &ObjectiveSpec::samples, 100, 1, 100'000'000, "n, the data points")},
      ObjectiveKind::network};
  o.read = [](const config::Section& s, ObjectiveSpec& spec) {
    if (s.has("widths")) spec.widths = read_widths(s, "widths");
    std::int64_t p = 0;
    for (std::size_t l = 1; l < spec.widths.size(); ++l) p += spec.widths[l] * spec.widths[l - 1];
    spec.dim = s.integer("dim", p, 1, kMaxDim);
    if (spec.dim != p)
      s.fail("dim", fmt::format("= {} does not match sum_l widths[l] * widths[l-1] = {}; omit dim",
                                spec.dim, p));
  };
  o.build = [](const ObjectiveSpec& spec, std::uint64_t seed, const HostLinalg&, ObjectiveData& d) {
    d.net = deep_linear_shape(spec);
    // X (d_0 x n) drawn column after column of X^T's rows: entry (k, s) at
    // index k n + s, then the teacher T (d_L x d_0); stored as the network's
    // X^T [n, d_0] and Y^T = (T X)^T [n, d_L].
    const std::int64_t d0 = spec.widths.front(), dl = spec.widths.back(), n = spec.samples;
    d.net_x.resize(static_cast<std::size_t>(d0 * n));
    std::uint64_t idx = 0;
    for (std::int64_t k = 0; k < d0; ++k)
      for (std::int64_t s_ = 0; s_ < n; ++s_)
        d.net_x[s_ * d0 + k] = rng::normal(seed, rng::kDeepLinearData, idx++);
    std::vector<double> t(static_cast<std::size_t>(dl * d0));
    for (auto& v : t)
      v = rng::normal(seed, rng::kDeepLinearData, idx++) / std::sqrt(static_cast<double>(d0));
    d.net_y.assign(static_cast<std::size_t>(dl * n), 0.0);
    for (std::int64_t i = 0; i < dl; ++i)
      for (std::int64_t k = 0; k < d0; ++k)
        for (std::int64_t s_ = 0; s_ < n; ++s_)
          d.net_y[s_ * dl + i] += t[i * d0 + k] * d.net_x[s_ * d0 + k];
  };
  o.coupled = always;
  // The inputs X [d_0, n] and targets Y [d_L, n].
  o.data_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    return static_cast<std::uint64_t>(spec.samples * (spec.widths.front() + spec.widths.back())) *
           t;
  };
  o.work_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    return static_cast<std::uint64_t>(network_work_per_row(deep_linear_shape(spec))) * t;
  };
  return o;
}

}  // namespace saddlescope::objectives
