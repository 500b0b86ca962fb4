// mlp: teacher-student regression with a one-hidden-layer tanh network, the
// network [inputs, hidden, outputs] with tanh, bias and mse
// (kernels/network.hpp; coupled, GEMMs).
#include <cmath>

#include "common.hpp"
#include "kernels/rng.hpp"

namespace saddlescope::objectives {
namespace {

NetworkShape mlp_shape(const ObjectiveSpec& spec) {
  NetworkShape s;
  s.widths = {spec.inputs, spec.hidden, spec.outputs};
  s.samples = spec.samples;
  return s;  // tanh, bias, mse, no weight decay
}

}  // namespace

// Data: Gaussian inputs; labels from a random tanh teacher (weights with
// variance 1/fan-in) plus optional Gaussian noise.
void teacher_student(std::uint64_t seed, std::int64_t d, std::int64_t o, std::int64_t n,
                     std::int64_t th, double noise, std::vector<double>& x,
                     std::vector<double>& y) {
  x.resize(static_cast<std::size_t>(n * d));
  for (std::int64_t k = 0; k < n * d; ++k)
    x[k] = rng::normal(seed, rng::kMlpInputs, static_cast<std::uint64_t>(k));
  std::vector<double> t1(static_cast<std::size_t>(th * d)), t2(static_cast<std::size_t>(o * th));
  std::uint64_t idx = 0;
  for (auto& v : t1)
    v = rng::normal(seed, rng::kMlpTeacher, idx++) / std::sqrt(static_cast<double>(d));
  for (auto& v : t2)
    v = rng::normal(seed, rng::kMlpTeacher, idx++) / std::sqrt(static_cast<double>(th));
  y.assign(static_cast<std::size_t>(n * o), 0.0);
  for (std::int64_t s_ = 0; s_ < n; ++s_)
    for (std::int64_t j = 0; j < th; ++j) {
      double a = 0;
      for (std::int64_t k = 0; k < d; ++k) a += t1[j * d + k] * x[s_ * d + k];
      const double hj = std::tanh(a);
      for (std::int64_t q = 0; q < o; ++q) y[s_ * o + q] += t2[q * th + j] * hj;
    }
  for (std::int64_t k = 0; k < n * o; ++k)
    y[k] += noise * rng::normal(seed, rng::kMlpNoise, static_cast<std::uint64_t>(k));
}

ObjectiveInfo mlp() {
  ObjectiveInfo o{
      "mlp",
      "teacher-student regression: a one-hidden-layer tanh student, x = [W1 (hidden x inputs), "
      "b1, W2 (outputs x hidden), b2], L = 1/(2 samples) ||tanh(X W1^T + b1) W2^T + b2 - Y||^2, "
      "Gaussian inputs X labelled by a random tanh teacher of width teacher_hidden (plus noise)",
      "Teacher-student regression. Parameters x = [W1 (h x d), b1 (h), W2 (o x h), b2 (o)], "
      "row-major, so dim = h d + h + o h + o (19,993 by default; `dim` may be omitted, and if "
      "given must match). L(x) = 1/(2n) \\|tanh(X W1^T + b1) W2^T + b2 - Y\\|_F^2 with inputs X "
      "(n x d) ~ N(0, 1) and labels Y = tanh(X T1^T) T2^T + noise, T1 (teacher_hidden x d) ~ "
      "N(0, 1/d), T2 (o x teacher_hidden) ~ N(0, 1/teacher_hidden), all drawn from `seed`. "
      "It is the `network` kind with layers = [d, h, o], tanh, bias and mse on this data. "
      "Gradient by backpropagation, Hessian-vector products by the R-operator "
      "(forward-over-reverse), dense Hessian from N Hessian-vector products. Both backends "
      "(cuBLAS strided-batched GEMMs on CUDA). Start with a small `init.scale` (0.1): large "
      "weights saturate tanh.",
      {dim_key("inferred: h d + h + o h + o", "if given, equal to the inferred value"), tf32_key(),
       integer_key("inputs", &ObjectiveSpec::inputs, 100, 1, 1'000'000, "d, the input width"),
       integer_key("hidden", &ObjectiveSpec::hidden, 196, 1, 1'000'000,
                   "h, the student's hidden width"),
       integer_key("outputs", &ObjectiveSpec::outputs, 1, 1, 1'000'000, "o, the output width"),
       integer_key("samples", &ObjectiveSpec::samples, 256, 1, 100'000'000, "n, the data points"),
       integer_key("teacher_hidden", &ObjectiveSpec::teacher_hidden, 8, 1, 1'000'000,
                   "the teacher's hidden width"),
       real_key("noise", &ObjectiveSpec::noise, 0.0, 0.0, 1e30, false,
                "std of Gaussian label noise")},
      ObjectiveKind::network};
  o.read = [](const config::Section& s, ObjectiveSpec& spec) {
    const std::int64_t p =
        spec.hidden * spec.inputs + spec.hidden + spec.outputs * spec.hidden + spec.outputs;
    spec.dim = s.integer("dim", p, 1, kMaxDim);
    if (spec.dim != p)
      s.fail("dim",
             fmt::format("= {} does not match the student's parameter count hidden * inputs "
                         "+ hidden + outputs * hidden + outputs = {}; omit dim or set it to {}",
                         spec.dim, p, p));
  };
  o.build = [](const ObjectiveSpec& spec, std::uint64_t seed, const HostLinalg&, ObjectiveData& d) {
    d.net = mlp_shape(spec);
    teacher_student(seed, spec.inputs, spec.outputs, spec.samples, spec.teacher_hidden, spec.noise,
                    d.net_x, d.net_y);
  };
  o.coupled = always;
  // The inputs X [n, d] and labels Y [n, o].
  o.data_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    return static_cast<std::uint64_t>(spec.samples * (spec.inputs + spec.outputs)) * t;
  };
  o.work_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    return static_cast<std::uint64_t>(network_work_per_row(mlp_shape(spec))) * t;
  };
  return o;
}

}  // namespace saddlescope::objectives
