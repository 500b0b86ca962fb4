// network: a fully connected network of any depth on the user's data (.npy)
// or on teacher-student data (kernels/network.hpp; coupled, GEMMs).
#include <cmath>
#include <stdexcept>

#include "../network_data.hpp"
#include "common.hpp"

namespace saddlescope::objectives {
namespace {

const std::vector<std::string> kActivations = {"tanh", "relu",    "softplus",
                                               "gelu", "sigmoid", "linear"};

Activation activation_of(const std::string& s) {
  for (std::size_t k = 0; k < kActivations.size(); ++k)
    if (s == kActivations[k]) return static_cast<Activation>(k);
  throw std::logic_error("activation outside the list: " + s);
}

bool cross_entropy(const ObjectiveSpec& s) { return s.loss == "cross-entropy"; }

NetworkShape network_shape(const ObjectiveSpec& spec) {
  NetworkShape s;
  s.widths = spec.layers;
  s.samples = spec.samples;
  s.activation = activation_of(spec.activation);
  s.bias = spec.bias;
  s.loss = cross_entropy(spec) ? NetworkLoss::cross_entropy : NetworkLoss::mse;
  s.weight_decay = spec.weight_decay;
  return s;
}
bool has_data(const ObjectiveSpec& s) { return !s.data_x.empty(); }
bool generated_data(const ObjectiveSpec& s) { return s.data_x.empty(); }

NetworkDataSpec data_spec(const ObjectiveSpec& s) {
  NetworkDataSpec d;
  d.x_path = s.data_x_resolved;
  d.y_path = s.data_y_resolved;
  d.samples = s.data_samples;
  d.inputs = s.layers.front();
  d.outputs = s.layers.back();
  d.labels = cross_entropy(s);
  return d;
}

}  // namespace

std::vector<std::int32_t> one_hot_classes(const std::vector<double>& y, std::int64_t n,
                                          std::int64_t o) {
  if (o < 2) return {};
  std::vector<std::int32_t> c(static_cast<std::size_t>(n));
  for (std::int64_t q = 0; q < n; ++q) {
    std::int64_t ones = 0;
    for (std::int64_t j = 0; j < o; ++j) {
      const double v = y[static_cast<std::size_t>(q * o + j)];
      if (v == 1.0) {
        ++ones;
        c[q] = static_cast<std::int32_t>(j);
      } else if (v != 0.0) {
        return {};
      }
    }
    if (ones != 1) return {};
  }
  return c;
}

ObjectiveInfo network() {
  ObjectiveInfo o{
      "network",
      "a fully connected network of any depth, layers = [d_0, ..., d_L], on .npy data (data.x, "
      "data.y) or teacher-student data: mse 1/(2n) sum |z_L - y|^2 or softmax cross-entropy, "
      "plus weight_decay/2 |x|^2",
      "A fully connected network, `layers = [d_0, d_1, ..., d_L]`, full-batch over n samples. "
      "Parameters x, layer by layer: W_l (d_l x d_(l-1), row-major), then b_l (d_l) when `bias` "
      "is on, so dim = sum_l d_l d_(l-1) (+ d_l) (inferred; if given it must match). Per sample, "
      "a_l = W_l h_(l-1) + b_l with h_0 the inputs, h_l = act(a_l) on the hidden layers l < L "
      "and a linear output z = a_L. `loss = \"mse\"`: L = 1/(2n) sum_q \\|z_q - y_q\\|^2 with "
      "targets y [n, d_L]; `loss = \"cross-entropy\"`: L = 1/n sum_q (logsumexp(z_q) - "
      "z_q[c_q]) with integer class labels c_q in [0, d_L). `weight_decay` lambda adds lambda/2 "
      "\\|x\\|^2 (every parameter, biases too), so the gradient and the Hessian include it. "
      "Activations: tanh, relu (its second derivative taken as 0, also at 0, as autograd's), "
      "softplus log(1 + e^a), gelu (exact, a Phi(a)), sigmoid, linear. Data: `data.x` (a .npy "
      "file [samples, d_0], float32 or float64), `data.y` ([samples, d_L] floats for mse, or "
      "[samples] integers for cross-entropy), paths relative to the experiment file, and "
      "`data.samples` to take the first n rows (absent: all); bad data (shape, dtype, NaN or "
      "Inf, labels out of range, too few samples) is refused with exit 2. Without `data.x`, "
      "teacher-student data as the mlp's: Gaussian inputs (`samples` of them) labelled by a "
      "random tanh teacher of width `teacher_hidden` plus `noise`, the class for cross-entropy "
      "being the largest teacher output. Cross-entropy, and mse whose every target row is "
      "one-hot, report the training accuracy: the fraction of samples whose label is the "
      "first largest output. Gradient by backpropagation, Hessian-vector products by the "
      "R-operator, Hessian from N of them; both backends.",
      {dim_key("inferred: sum_l d_l d_(l-1) (+ d_l with bias)",
               "if given, equal to the inferred value"),
       tf32_key(),
       custom_key("layers", ObjectiveKey::integers, "required", ">= 2 entries, each 1 to 1e6",
                  "d_0 .. d_L: input, hidden and output widths",
                  [](const ObjectiveSpec& s) { return toml_integers(s.layers); }),
       custom_key("activation", ObjectiveKey::text, "`\"tanh\"`",
                  "tanh, relu, softplus, gelu, sigmoid, linear", "the hidden layers' activation",
                  [](const ObjectiveSpec& s) { return config::toml_string(s.activation); }),
       flag_key("bias", &ObjectiveSpec::bias, true, "a bias vector per layer"),
       custom_key("loss", ObjectiveKey::text, "`\"mse\"`", "mse, cross-entropy",
                  "mse on data.y [samples, d_L], or softmax cross-entropy on class labels",
                  [](const ObjectiveSpec& s) { return config::toml_string(s.loss); }),
       real_key("weight_decay", &ObjectiveSpec::weight_decay, 0.0, 0.0, 1e30, false,
                "lambda of the term lambda/2 |x|^2 in the objective"),
       custom_key(
           "data.x", ObjectiveKey::text, "none: teacher-student data", "a .npy file",
           "inputs [samples, d_0], float32 or float64",
           [](const ObjectiveSpec& s) { return config::toml_string(s.data_x_resolved); }, has_data),
       custom_key(
           "data.y", ObjectiveKey::text, "required with data.x", "a .npy file",
           "targets [samples, d_L] (mse) or integer labels [samples] (cross-entropy)",
           [](const ObjectiveSpec& s) { return config::toml_string(s.data_y_resolved); }, has_data),
       custom_key(
           "data.samples", ObjectiveKey::integer, "all rows", "1 to the rows of data.x",
           "n: the first n samples of the data",
           [](const ObjectiveSpec& s) { return fmt::format("{}", s.data_samples); }, has_data),
       [] {
         ObjectiveKey k = integer_key("samples", &ObjectiveSpec::samples, 256, 1, 100'000'000,
                                      "n, the teacher-student data points (without data.x)");
         k.written = generated_data;
         return k;
       }(),
       [] {
         ObjectiveKey k = integer_key("teacher_hidden", &ObjectiveSpec::teacher_hidden, 8, 1,
                                      1'000'000, "the teacher's hidden width (without data.x)");
         k.written = generated_data;
         return k;
       }(),
       [] {
         ObjectiveKey k = real_key("noise", &ObjectiveSpec::noise, 0.0, 0.0, 1e30, false,
                                   "std of Gaussian noise on the teacher's outputs (without "
                                   "data.x)");
         k.written = generated_data;
         return k;
       }()},
      ObjectiveKind::network};
  o.read = [](const config::Section& s, ObjectiveSpec& spec) {
    if (!s.has("layers"))
      s.fail_section(
          "needs layers = [d_0, ..., d_L] (input width, hidden widths, output width) for kind = "
          "\"network\"");
    spec.layers = read_widths(s, "layers");
    spec.activation = s.choice("activation", "tanh", kActivations);
    spec.loss = s.choice("loss", "mse", {"mse", "cross-entropy"});
    if (cross_entropy(spec) && spec.layers.back() < 2)
      s.fail("loss", fmt::format("= \"cross-entropy\" needs at least 2 classes; layers[L] = {}",
                                 spec.layers.back()));
    if (const auto data = s.table("data")) {
      data->allow_only({"x", "y", "samples"});
      spec.data_x = data->string("x", "");
      spec.data_y = data->string("y", "");
      if (spec.data_x.empty())
        data->fail("x", "is required in [objective.data]: the inputs, a .npy file [samples, d_0]");
      if (spec.data_y.empty())
        data->fail("y", cross_entropy(spec)
                            ? "is required with data.x: the class labels, a .npy file [samples] "
                              "of integers"
                            : "is required with data.x: the targets, a .npy file [samples, d_L]");
      spec.data_samples = data->integer("samples", 0, 1, 100'000'000);
      for (const char* key : {"samples", "teacher_hidden", "noise"})
        if (s.has(key))
          s.fail(key,
                 "belongs to the teacher-student data; with data.x, take the first rows "
                 "with data.samples");
    }
    std::int64_t p = 0;
    for (std::size_t l = 1; l < spec.layers.size(); ++l)
      p += spec.layers[l] * spec.layers[l - 1] + (spec.bias ? spec.layers[l] : 0);
    spec.dim = s.integer("dim", p, 1, kMaxDim);
    if (spec.dim != p)
      s.fail("dim", fmt::format("= {} does not match the parameter count sum_l d_l d_(l-1){} = "
                                "{}; omit dim",
                                spec.dim, spec.bias ? " + d_l" : "", p));
  };
  // The data files, resolved against the experiment file's folder and read
  // once here, so that every problem with them is an input error of the
  // experiment (validate finds it) and the memory plan knows n.
  o.resolve = [](ObjectiveSpec& spec, const std::string& base_dir) {
    if (!has_data(spec)) return;
    spec.data_x_resolved = config::resolve_path(base_dir, spec.data_x);
    spec.data_y_resolved = config::resolve_path(base_dir, spec.data_y);
    const NetworkData d = load_network_data(data_spec(spec));
    spec.data_samples = d.samples;
    spec.samples = d.samples;
    spec.one_hot = !cross_entropy(spec) && !one_hot_classes(d.y, d.samples, d.outputs).empty();
  };
  o.build = [](const ObjectiveSpec& spec, std::uint64_t seed, const HostLinalg&, ObjectiveData& d) {
    d.net = network_shape(spec);
    NetworkShape& s = d.net;
    const std::int64_t outs = spec.layers.back();
    std::vector<double> y;
    if (has_data(spec)) {
      NetworkData nd = load_network_data(data_spec(spec));
      s.samples = nd.samples;
      d.net_x = std::move(nd.x);
      y = std::move(nd.y);
    } else {
      s.samples = spec.samples;
      teacher_student(seed, spec.layers.front(), outs, spec.samples, spec.teacher_hidden,
                      spec.noise, d.net_x, y);
    }
    const std::int64_t n = s.samples;
    if (s.loss == NetworkLoss::cross_entropy) {
      d.net_labels.resize(static_cast<std::size_t>(n));
      for (std::int64_t q = 0; q < n; ++q) {
        if (has_data(spec)) {  // the labels themselves
          d.net_labels[q] = static_cast<std::int32_t>(y[q]);
          continue;
        }
        std::int64_t c = 0;  // the largest teacher output
        for (std::int64_t j = 1; j < outs; ++j)
          if (y[q * outs + j] > y[q * outs + c]) c = j;
        d.net_labels[q] = static_cast<std::int32_t>(c);
      }
      return;
    }
    d.net_labels = one_hot_classes(y, n, outs);
    d.net_y = std::move(y);
  };
  o.coupled = always;
  // X [n, d_0], Y [n, d_L] (mse) and the labels (4 bytes each).
  o.data_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    const std::uint64_t n = static_cast<std::uint64_t>(spec.samples);
    return n * static_cast<std::uint64_t>(spec.layers.front()) * t +
           (cross_entropy(spec) ? 0 : n * static_cast<std::uint64_t>(spec.layers.back()) * t) +
           (cross_entropy(spec) || spec.one_hot ? 4 * n : 0);
  };
  o.work_bytes = [](const ObjectiveSpec& spec, std::uint64_t t) {
    return static_cast<std::uint64_t>(network_work_per_row(network_shape(spec))) * t;
  };
  return o;
}

}  // namespace saddlescope::objectives
