// Trajectory starts. Random kinds use Philox keyed on (seed, trajectory *
// dim + coordinate), so a start depends only on its global trajectory index.
#include <fmt/format.h>

#include <cmath>

#include "kernels/rng.hpp"
#include "npy.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

npy::Array read_start_file(const Experiment& e) {
  const std::string& path = e.init.file_resolved;
  npy::Array a = npy::read(path);
  const std::int64_t b = e.run.trajectories, n = e.objective.dim;
  const bool ok2 = a.shape.size() == 2 && a.shape[0] == b && a.shape[1] == n;
  const bool ok1 = a.shape.size() == 1 && n == 1 && a.shape[0] == b;
  if (!ok2 && !ok1) {
    std::string got;
    for (auto s : a.shape) got += (got.empty() ? "" : ", ") + std::to_string(s);
    throw InputError(fmt::format(
        "{}: init.file has shape ({}); it must be [run.trajectories, objective.dim] = ({}, {})",
        path, got, b, n));
  }
  for (std::size_t i = 0; i < a.data.size(); ++i)
    if (!std::isfinite(a.data[i]))
      throw InputError(
          fmt::format("{}: init.file holds a non-finite value at trajectory {}, "
                      "coordinate {}",
                      path, i / static_cast<std::size_t>(n), i % static_cast<std::size_t>(n)));
  return a;
}

}  // namespace

void check_start_file(const Experiment& e) {
  if (e.init.kind == "file") read_start_file(e);
}

std::vector<double> make_starts(const Experiment& e, std::int64_t first, std::int64_t count) {
  const std::int64_t n = e.objective.dim;
  std::vector<double> x(static_cast<std::size_t>(count * n));
  const InitSpec& in = e.init;
  if (in.kind == "file") {
    const npy::Array a = read_start_file(e);
    std::copy(a.data.begin() + first * n, a.data.begin() + (first + count) * n, x.begin());
    return x;
  }
  if (in.kind == "point") {
    for (std::int64_t b = 0; b < count; ++b)
      for (std::int64_t i = 0; i < n; ++i)
        x[b * n + i] = in.point.size() == 1 ? in.point[0] : in.point[i];
    return x;
  }
  const bool uniform = in.kind == "uniform";
  const bool gaussian = in.kind == "gaussian";
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < count; ++b) {
    const std::uint64_t base = static_cast<std::uint64_t>((first + b) * n);
    double* row = x.data() + b * n;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::uint64_t idx = base + static_cast<std::uint64_t>(i);
      row[i] = uniform ? in.scale * (2.0 * rng::uniform(e.seed, rng::kInitStart, idx) - 1.0)
                       : rng::normal(e.seed, rng::kInitStart, idx);
    }
    if (gaussian) {
      for (std::int64_t i = 0; i < n; ++i) row[i] *= in.scale;
    } else if (!uniform) {  // sphere
      double norm = 0;
      for (std::int64_t i = 0; i < n; ++i) norm += row[i] * row[i];
      const double r = in.scale * std::sqrt(static_cast<double>(n)) / std::sqrt(norm);
      for (std::int64_t i = 0; i < n; ++i) row[i] *= r;
    }
  }
  return x;
}

}  // namespace saddlescope
