// The Hessian census: classification of spectra, point selection, and the
// chunked Hessian -> eigensolver pipeline on a backend.
#include "saddlescope/census.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace saddlescope {

const char* class_name(PointClass c) {
  switch (c) {
    case PointClass::minimum:
      return "minimum";
    case PointClass::maximum:
      return "maximum";
    case PointClass::saddle:
      return "saddle";
    case PointClass::degenerate:
      return "degenerate";
    case PointClass::failed:
      return "failed";
  }
  return "?";
}

Inertia classify(const double* lambda, std::int64_t n, double zero_tol) {
  Inertia r;
  double amax = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(lambda[i])) return r;  // failed
    amax = std::max(amax, std::fabs(lambda[i]));
  }
  r.tol = zero_tol * std::max(1.0, amax);
  for (std::int64_t i = 0; i < n; ++i) {
    if (lambda[i] < -r.tol)
      ++r.index;
    else if (lambda[i] <= r.tol)
      ++r.n_zero;
    else
      ++r.n_pos;
  }
  r.lambda_min = n ? *std::min_element(lambda, lambda + n) : 0.0;
  r.lambda_max = n ? *std::max_element(lambda, lambda + n) : 0.0;
  if (r.n_zero > 0)
    r.cls = PointClass::degenerate;
  else if (r.index == 0)
    r.cls = PointClass::minimum;
  else if (r.n_pos == 0)
    r.cls = PointClass::maximum;
  else
    r.cls = PointClass::saddle;
  return r;
}

Spectra analyze_points(const ObjectiveData& obj, Backend& backend, const AnalysisSpec& spec,
                       const std::vector<double>& x, std::int64_t count, std::int64_t chunk) {
  const std::int64_t n = obj.dim;
  Spectra s;
  s.values.assign(static_cast<std::size_t>(count * n), std::numeric_limits<double>::quiet_NaN());
  s.inertia.resize(static_cast<std::size_t>(count));
  s.info.assign(static_cast<std::size_t>(count), 0);
  chunk = std::max<std::int64_t>(1, chunk);
  for (std::int64_t first = 0; first < count; first += chunk) {
    const std::int64_t m = std::min(chunk, count - first);
    const std::vector<double> xs(x.begin() + first * n, x.begin() + (first + m) * n);
    const std::vector<double> h = backend.hessian(obj, spec.precision, m, xs);
    const EighResult e = backend.eigh(spec.precision, m, n, h, false);
    for (std::int64_t k = 0; k < m; ++k) {
      const std::int64_t p = first + k;
      s.info[p] = e.info[k];
      if (e.info[k] != 0) continue;  // spectrum stays NaN, class failed
      std::copy(e.values.begin() + k * n, e.values.begin() + (k + 1) * n, s.values.begin() + p * n);
      s.inertia[p] = classify(e.values.data() + k * n, n, spec.zero_tol);
    }
  }
  return s;
}

std::vector<std::pair<std::size_t, std::int64_t>> select_stops(
    const std::vector<std::vector<std::int8_t>>& outcomes, std::int64_t max_points) {
  std::vector<std::vector<std::int64_t>> cand(outcomes.size());
  for (std::size_t o = 0; o < outcomes.size(); ++o)
    for (std::size_t b = 0; b < outcomes[o].size(); ++b)
      if (outcomes[o][b] != kDiverged) cand[o].push_back(static_cast<std::int64_t>(b));
  // Quotas: an even share per optimizer; shares an optimizer cannot use go to the others.
  std::vector<std::int64_t> quota(outcomes.size(), 0);
  std::int64_t left = max_points;
  bool progress = true;
  while (left > 0 && progress) {
    progress = false;
    std::int64_t open = 0;
    for (std::size_t o = 0; o < cand.size(); ++o)
      open += quota[o] < static_cast<std::int64_t>(cand[o].size());
    if (open == 0) break;
    const std::int64_t share = std::max<std::int64_t>(1, left / open);
    for (std::size_t o = 0; o < cand.size() && left > 0; ++o) {
      const std::int64_t room = static_cast<std::int64_t>(cand[o].size()) - quota[o];
      const std::int64_t take = std::min({share, room, left});
      if (take > 0) {
        quota[o] += take;
        left -= take;
        progress = true;
      }
    }
  }
  std::vector<std::pair<std::size_t, std::int64_t>> out;
  for (std::size_t o = 0; o < cand.size(); ++o) {
    const std::int64_t size = static_cast<std::int64_t>(cand[o].size());
    for (std::int64_t k = 0; k < quota[o]; ++k)  // evenly spaced over the candidates
      out.emplace_back(o, cand[o][static_cast<std::size_t>(k * size / quota[o])]);
  }
  return out;
}

}  // namespace saddlescope
