#include "src/core/network_data.hpp"

#include <fmt/format.h>

#include <cmath>

#include "saddlescope/errors.hpp"
#include "src/core/npy.hpp"

namespace saddlescope {

namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The first non-finite value of rows [0, rows) of a [*, width] array.
void check_finite(const npy::Array& a, std::int64_t rows, std::int64_t width,
                  const std::string& path, const char* key) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < width; ++c) {
      const double v = a.data[static_cast<std::size_t>(r * width + c)];
      if (!std::isfinite(v))
        throw InputError(fmt::format("{} ({}): {} at row {}, column {}; the data must be finite",
                                     path, key, v, r, c));
    }
}

}  // namespace

NetworkData load_network_data(const NetworkDataSpec& spec) {
  const npy::Array x = npy::read(spec.x_path, "data.x");
  const npy::Array y = npy::read(spec.y_path, "data.y", true);
  if (!spec.labels && y.integer())
    throw InputError(fmt::format(
        "{} (data.y): dtype '{}' holds integers; mse expects float32 or float64 targets "
        "[samples, {}] (for class labels use loss = \"cross-entropy\")",
        spec.y_path, y.dtype, spec.outputs));
  if (x.shape.size() != 2 || x.shape[1] != spec.inputs)
    throw InputError(fmt::format(
        "{} (data.x): shape {}; expected [samples, {}] (samples by layers[0] = {} inputs)",
        spec.x_path, shape_text(x.shape), spec.inputs, spec.inputs));
  const std::int64_t rows = x.shape[0];
  if (spec.labels) {
    if (y.shape.size() != 1)
      throw InputError(fmt::format(
          "{} (data.y): shape {}; cross-entropy expects one class label per sample: [{}]",
          spec.y_path, shape_text(y.shape), rows));
    if (!y.integer())
      throw InputError(fmt::format(
          "{} (data.y): dtype '{}'; cross-entropy labels must be integers (int32, int64, ...) "
          "in [0, {})",
          spec.y_path, y.dtype, spec.outputs));
  } else if (y.shape.size() != 2 || y.shape[1] != spec.outputs) {
    throw InputError(fmt::format(
        "{} (data.y): shape {}; mse expects [samples, {}] (samples by layers[L] = {} outputs; "
        "for class labels use loss = \"cross-entropy\")",
        spec.y_path, shape_text(y.shape), spec.outputs, spec.outputs));
  }
  if (y.shape[0] != rows)
    throw InputError(fmt::format("{} (data.y) has {} samples but {} (data.x) has {}", spec.y_path,
                                 y.shape[0], spec.x_path, rows));
  if (spec.samples < 0)
    throw InputError(fmt::format("data.samples = {}: must be at least 1 (0 or absent: all {})",
                                 spec.samples, rows));
  const std::int64_t n = spec.samples > 0 ? spec.samples : rows;
  if (n > rows)
    throw InputError(fmt::format("data.samples = {} but {} (data.x) has {} samples", spec.samples,
                                 spec.x_path, rows));
  if (n < 1)
    throw InputError(
        fmt::format("{} (data.x) has no samples; the objective needs at least 1", spec.x_path));
  check_finite(x, n, spec.inputs, spec.x_path, "data.x");
  NetworkData d;
  d.samples = n;
  d.inputs = spec.inputs;
  d.outputs = spec.outputs;
  d.x.assign(x.data.begin(), x.data.begin() + n * spec.inputs);
  if (spec.labels) {
    for (std::int64_t q = 0; q < n; ++q) {
      const double c = y.data[static_cast<std::size_t>(q)];
      if (c < 0 || c >= static_cast<double>(spec.outputs))
        throw InputError(fmt::format(
            "{} (data.y): label {} at sample {} is out of range; classes are 0 to {} "
            "(layers[L] = {})",
            spec.y_path, static_cast<std::int64_t>(c), q, spec.outputs - 1, spec.outputs));
    }
    d.y.assign(y.data.begin(), y.data.begin() + n);
  } else {
    check_finite(y, n, spec.outputs, spec.y_path, "data.y");
    d.y.assign(y.data.begin(), y.data.begin() + n * spec.outputs);
  }
  return d;
}

}  // namespace saddlescope
