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

// The start file of `in`, checked: shape [rows, dim] with rows == `rows`
// (exact) or rows >= `rows` (a finder reading the first rows of [init]'s file).
npy::Array read_start_file(const InitSpec& in, std::int64_t dim, std::int64_t rows, bool exact,
                           const char* what, const char* rows_name) {
  const std::string& path = in.file_resolved;
  npy::Array a = npy::read(path);
  const std::int64_t n = dim;
  const std::int64_t got_rows = a.shape.empty() ? -1 : a.shape[0];
  const bool rows_ok = exact ? got_rows == rows : got_rows >= rows;
  const bool ok2 = a.shape.size() == 2 && rows_ok && a.shape[1] == n;
  const bool ok1 = a.shape.size() == 1 && n == 1 && rows_ok;
  if (!ok2 && !ok1) {
    std::string got;
    for (auto s : a.shape) got += (got.empty() ? "" : ", ") + std::to_string(s);
    throw InputError(fmt::format(
        "{}: {} has shape ({}); it must be [{}{}, objective.dim] = "
        "({}{}, {})",
        path, what, got, exact ? "" : "at least ", rows_name, exact ? "" : ">= ", rows, n));
  }
  for (std::size_t i = 0; i < a.data.size(); ++i)
    if (!std::isfinite(a.data[i]))
      throw InputError(fmt::format("{}: {} holds a non-finite value at row {}, coordinate {}", path,
                                   what, i / static_cast<std::size_t>(n),
                                   i % static_cast<std::size_t>(n)));
  return a;
}

// Rows [first, first + count) of the starts `in` describes; random kinds use
// Philox keyed on (seed, row * dim + coordinate).
std::vector<double> starts_from(const InitSpec& in, std::uint64_t seed, std::int64_t n,
                                const npy::Array* file, std::int64_t first, std::int64_t count) {
  std::vector<double> x(static_cast<std::size_t>(count * n));
  if (in.kind == "file") {
    std::copy(file->data.begin() + first * n, file->data.begin() + (first + count) * n, x.begin());
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
      row[i] = uniform ? in.scale * (2.0 * rng::uniform(seed, rng::kInitStart, idx) - 1.0)
                       : rng::normal(seed, rng::kInitStart, idx);
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

npy::Array trajectory_file(const Experiment& e) {
  return read_start_file(e.init, e.objective.dim, e.run.trajectories, true, "init.file",
                         "run.trajectories");
}

npy::Array finder_file(const Experiment& e) {
  return e.finder.own_init ? read_start_file(e.finder.init, e.objective.dim, e.finder.starts, true,
                                             "finder.init.file", "finder.starts")
                           : read_start_file(e.finder.init, e.objective.dim, e.finder.starts, false,
                                             "init.file (read by the finder)", "finder.starts");
}

}  // namespace

void check_start_file(const Experiment& e) {
  if (e.init.kind == "file" && !e.optimizers.empty()) trajectory_file(e);
  if (e.finder.kind != "none" && e.finder.init.kind == "file") finder_file(e);
}

std::vector<double> make_starts(const Experiment& e, std::int64_t first, std::int64_t count) {
  const npy::Array file = e.init.kind == "file" ? trajectory_file(e) : npy::Array{};
  return starts_from(e.init, e.seed, e.objective.dim, &file, first, count);
}

std::vector<double> make_finder_starts(const Experiment& e, std::int64_t first,
                                       std::int64_t count) {
  const npy::Array file = e.finder.init.kind == "file" ? finder_file(e) : npy::Array{};
  return starts_from(e.finder.init, e.seed, e.objective.dim, &file, first, count);
}

}  // namespace saddlescope
