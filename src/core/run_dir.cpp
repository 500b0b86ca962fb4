// The run directory (docs/design.md section 4): config.toml first, results after,
// every file written atomically (tmp + rename), summary.json last so that
// its presence means the run finished.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "npy.hpp"
#include "saddlescope/comm.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/objective_registry.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace fs = std::filesystem;
namespace {

const char* outcome_name(std::int8_t o) {
  switch (o) {
    case kConverged:
      return "converged";
    case kDiverged:
      return "diverged";
    case kMaxSteps:
      return "max_steps";
    default:
      return "running";
  }
}

double quantile_of_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::nan("");
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json to_json(const Quantiles& q) {
  return {{"count", q.count},           {"min", number(q.min)}, {"q25", number(q.q25)},
          {"median", number(q.median)}, {"q75", number(q.q75)}, {"max", number(q.max)}};
}

std::string g17(double v) { return fmt::format("{:.17g}", v); }

// Plateau statistics of one optimizer's trajectories (kernels/plateau.hpp).
nlohmann::json plateau_stats(const EnsembleResult& t) {
  std::int64_t with = 0, episodes = 0;
  std::vector<double> total, longest, escape;
  for (std::size_t i = 0; i < t.plateau_count.size(); ++i) {
    episodes += t.plateau_count[i];
    total.push_back(static_cast<double>(t.plateau_steps[i]));
    if (t.plateau_count[i] == 0) continue;
    ++with;
    longest.push_back(static_cast<double>(t.longest_plateau[i]));
    escape.push_back(static_cast<double>(t.first_escape_step[i]));
  }
  return {{"trajectories_with_plateaus", with},
          {"episodes", episodes},
          {"plateau_steps", to_json(quantiles(total))},
          {"longest_plateau", to_json(quantiles(longest))},
          {"first_escape_step", to_json(quantiles(escape))}};
}

// Where one optimizer's trajectories ended, from the census of stopping
// points: fractions of all its trajectories at a minimum, at a saddle (index
// >= 1 and n_pos >= 1, degenerate ones included), elsewhere (maxima,
// degenerate points without negative directions, failed solves), or not
// analysed (no census, not sampled, diverged).
struct Ending {
  std::int64_t minimum = 0, saddle = 0, other = 0, unanalysed = 0;
};
Ending ending_of(const RunResult& r, const std::string& label, std::int64_t trajectories) {
  Ending e;
  if (r.has_census)
    for (const auto& p : r.census.points) {
      if (p.source != "stop" || p.group != label) continue;
      if (p.inertia.cls == PointClass::minimum)
        ++e.minimum;
      else if (p.inertia.cls != PointClass::failed && p.inertia.index >= 1 && p.inertia.n_pos >= 1)
        ++e.saddle;
      else
        ++e.other;
    }
  e.unanalysed = trajectories - e.minimum - e.saddle - e.other;
  return e;
}

// The optimizer comparison (summary.json "comparison", comparison.csv).
nlohmann::json comparison(const Experiment& e, const RunResult& r, const OptimizerResult& o) {
  const auto b = static_cast<double>(o.traj.outcome.size());
  std::vector<double> steps, secs, f_ok;
  for (std::size_t i = 0; i < o.traj.target_step.size(); ++i)
    if (o.traj.target_step[i] >= 0) {
      steps.push_back(static_cast<double>(o.traj.target_step[i]));
      secs.push_back(o.target_seconds[i]);
    }
  const Ending en = ending_of(r, o.label, static_cast<std::int64_t>(o.traj.outcome.size()));
  nlohmann::json c = {
      {"reached_target", steps.size()},
      {"fraction_reached", std::isnan(e.run.target_loss) && std::isnan(e.run.target_accuracy)
                               ? nlohmann::json()
                               : nlohmann::json(static_cast<double>(steps.size()) / b)},
      {"steps_to_target", to_json(quantiles(steps))},
      {"seconds_to_target", to_json(quantiles(secs))},
      {"ending",
       {{"minimum", static_cast<double>(en.minimum) / b},
        {"saddle", static_cast<double>(en.saddle) / b},
        {"other", static_cast<double>(en.other) / b},
        {"unanalysed", static_cast<double>(en.unanalysed) / b}}}};
  return c;
}

// Census statistics over distinct points (docs/run-directory.md, census):
// the distinct points with weight(d) > 0, each once, and beside them the
// same counted weight(d) times; `points` counts the analysed rows row_keep accepts.
nlohmann::json census_stats(const CensusResult& c, std::int64_t n,
                            const std::function<bool(const AnalyzedPoint&)>& row_keep,
                            const std::function<std::int64_t(const DistinctPoint&)>& weight) {
  std::int64_t rows = 0;
  for (const auto& p : c.points) rows += row_keep(p);
  auto classes0 = [] {
    return std::map<std::string, std::int64_t>{
        {"minimum", 0}, {"maximum", 0}, {"saddle", 0}, {"degenerate", 0}, {"failed", 0}};
  };
  std::int64_t count = 0, critical = 0, saddles = 0, w_points = 0, w_critical = 0, w_saddles = 0;
  auto classes = classes0(), w_classes = classes0();
  std::map<std::int64_t, std::int64_t> hist, w_hist;
  std::vector<double> alpha;
  for (const DistinctPoint& d : c.distinct) {
    const std::int64_t w = weight(d);
    if (w <= 0) continue;
    const AnalyzedPoint& p = c.points[d.representative];
    const bool ok = p.inertia.cls != PointClass::failed;
    ++count;
    w_points += w;
    classes[class_name(p.inertia.cls)]++;
    w_classes[class_name(p.inertia.cls)] += w;
    if (ok) {
      hist[p.inertia.index]++;
      w_hist[p.inertia.index] += w;
      alpha.push_back(static_cast<double>(p.inertia.index) / static_cast<double>(n));
    }
    if (p.critical && ok) {
      ++critical;
      w_critical += w;
      saddles += p.inertia.cls == PointClass::saddle;
      w_saddles += p.inertia.cls == PointClass::saddle ? w : 0;
    }
  }
  auto to_hist = [](const std::map<std::int64_t, std::int64_t>& h) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : h) j[std::to_string(k)] = v;
    return j;
  };
  auto fraction = [](std::int64_t a, std::int64_t b) {
    return b > 0 ? nlohmann::json(static_cast<double>(a) / static_cast<double>(b))
                 : nlohmann::json();
  };
  return {{"points", rows},
          {"distinct_points", count},
          {"classes", classes},
          {"index_histogram", to_hist(hist)},
          {"index_fraction", to_json(quantiles(alpha))},
          {"critical_points", critical},
          {"saddle_fraction_among_critical", fraction(saddles, critical)},
          {"multiplicity_weighted",
           {{"points", w_points},
            {"classes", w_classes},
            {"index_histogram", to_hist(w_hist)},
            {"critical_points", w_critical},
            {"saddle_fraction_among_critical", fraction(w_saddles, w_critical)}}}};
}

// The index-energy law (docs/run-directory.md, census index_energy): the
// index fraction of distinct critical points in equal-count bins of their
// value, for the distinct points with weight(d) > 0.
nlohmann::json index_energy_bins(const Experiment& e, const CensusResult& c, std::int64_t n,
                                 bool field,
                                 const std::function<std::int64_t(const DistinctPoint&)>& weight) {
  std::vector<std::pair<double, double>> va;  // (value, alpha)
  for (const DistinctPoint& d : c.distinct) {
    const AnalyzedPoint& p = c.points[d.representative];
    const double v = field ? p.f_field : p.f;
    if (weight(d) <= 0 || !p.critical || p.inertia.cls == PointClass::failed || !std::isfinite(v))
      continue;
    va.emplace_back(v, static_cast<double>(p.inertia.index) / static_cast<double>(n));
  }
  std::sort(va.begin(), va.end());
  const auto total = static_cast<std::int64_t>(va.size());
  nlohmann::json bins = nlohmann::json::array();
  if (total == 0) return bins;
  std::int64_t nb = std::min<std::int64_t>(
      20, static_cast<std::int64_t>(std::ceil(std::sqrt(static_cast<double>(total)))));
  nb = std::max<std::int64_t>(1, std::min(nb, total / 5));
  const bool pspin = objective_info(e.objective).sphere;
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::int64_t lo = b * total / nb, hi = (b + 1) * total / nb;
    double fs = 0, as = 0;
    for (std::int64_t k = lo; k < hi; ++k) {
      fs += va[k].first;
      as += va[k].second;
    }
    const auto cnt = static_cast<double>(hi - lo);
    const double f_mean = fs / cnt, a_mean = as / cnt;
    double ss = 0;
    for (std::int64_t k = lo; k < hi; ++k) ss += (va[k].second - a_mean) * (va[k].second - a_mean);
    nlohmann::json bin = {
        {"f_lo", va[lo].first},
        {"f_hi", va[hi - 1].first},
        {"f_mean", f_mean},
        {"count", hi - lo},
        {"alpha_mean", a_mean},
        {"alpha_stderr", hi - lo >= 2 ? nlohmann::json(std::sqrt(ss / (cnt - 1)) / std::sqrt(cnt))
                                      : nlohmann::json()}};
    if (pspin) {
      // Fraction below 0 of the semicircle of radius 2 sqrt(p(p-1)) centred at -p E.
      const auto p = static_cast<double>(e.objective.p);
      const double radius = 2 * std::sqrt(p * (p - 1));
      const double t = std::clamp((p * f_mean) / radius, -1.0, 1.0);
      bin["alpha_theory"] = 0.5 + (t * std::sqrt(1 - t * t) + std::asin(t)) / M_PI;
    }
    bins.push_back(bin);
  }
  return bins;
}

// density.csv: eigenvalue histograms per optimizer x class on common bins
// spanning the data (Freedman-Diaconis width, 10 to 200 bins), edges on
// multiples of the width so that 0 is an edge; each group's density
// integrates to 1.
std::string density_csv(const Experiment& e, const RunResult& r) {
  const auto& c = r.census;
  const std::int64_t n = e.objective.hessian_dim();
  std::vector<double> all;
  for (std::size_t p = 0; p < c.points.size(); ++p)
    if (c.points[p].inertia.cls != PointClass::failed)
      all.insert(all.end(), c.spectra.begin() + static_cast<std::int64_t>(p) * n,
                 c.spectra.begin() + static_cast<std::int64_t>(p + 1) * n);
  std::string csv = "group,bin_lo,bin_hi,density\n";
  if (all.empty()) return csv;
  std::sort(all.begin(), all.end());
  double lo = all.front();
  const double hi = all.back();
  const Quantiles q = quantiles(all);
  const double iqr = q.q75 - q.q25;
  const double span = hi > lo ? hi - lo : 1.0;
  int target = 10;
  if (hi > lo && iqr > 0) {
    const double fd = 2 * iqr / std::cbrt(static_cast<double>(all.size()));
    target = static_cast<int>(std::clamp(std::ceil(span / fd), 10.0, 200.0));
  }
  const double w = span / target;
  lo = std::floor(lo / w) * w;  // edges at multiples of w: 0 is one of them
  const int bins = std::max(1, static_cast<int>(std::ceil((hi - lo) / w - 1e-9)) + (hi == lo));
  std::map<std::string, std::vector<double>> groups;
  for (std::size_t p = 0; p < c.points.size(); ++p) {
    const auto& pt = c.points[p];
    if (pt.inertia.cls == PointClass::failed) continue;
    const std::string g = pt.group + "/" + class_name(pt.inertia.cls);
    auto& counts = groups[g];
    counts.resize(static_cast<std::size_t>(bins), 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
      const double v = c.spectra[static_cast<std::int64_t>(p) * n + i];
      const int k = std::clamp(static_cast<int>(std::floor((v - lo) / w)), 0, bins - 1);
      counts[static_cast<std::size_t>(k)] += 1;
    }
  }
  for (const auto& [g, counts] : groups) {
    double total = 0;
    for (double v : counts) total += v;
    for (int k = 0; k < bins; ++k)
      csv += fmt::format("{},{},{},{}\n", g, g17(lo + k * w), g17(lo + (k + 1) * w),
                         g17(counts[static_cast<std::size_t>(k)] / (total * w)));
  }
  return csv;
}

std::string opt_num(double v) { return std::isfinite(v) ? g17(v) : ""; }

// density.csv under slq: each group's (optimizer/source/class) quadratures
// averaged over its points and probes, every node a Gaussian of standard
// deviation sigma = one bin width, integrated over each bin exactly (erf);
// 160 bins spanning the nodes +- 4 sigma, edges on multiples of the width so
// that 0 is an edge; each group's density integrates to 1 (up to the tails
// cut at the ends).
std::string slq_density_csv(const CensusResult& c) {
  const auto& k = c.krylov;
  const std::int64_t per = k.probes, steps = k.steps;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::size_t p = 0; p < c.points.size(); ++p) {
    if (c.points[p].inertia.cls == PointClass::failed) continue;
    for (std::int64_t j = 0; j < per * steps; ++j) {
      const double v = k.quadrature[(p * per * steps + j) * 2];
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  std::string csv = "group,bin_lo,bin_hi,density\n";
  if (!(lo <= hi)) return csv;
  constexpr int kBins = 160;
  const double span = hi > lo ? hi - lo : std::max(1.0, std::fabs(hi));
  const double w = span / (kBins - 8), sigma = w;
  const double first = std::floor((lo - 4 * sigma) / w) * w;
  const int bins = static_cast<int>(std::ceil((hi + 4 * sigma - first) / w - 1e-9));
  std::map<std::string, std::vector<double>> groups;
  std::map<std::string, double> mass;
  for (std::size_t p = 0; p < c.points.size(); ++p) {
    const auto& pt = c.points[p];
    if (pt.inertia.cls == PointClass::failed) continue;
    const std::string g = pt.group + "/" + pt.source + "/" + class_name(pt.inertia.cls);
    auto& dens = groups[g];
    dens.resize(static_cast<std::size_t>(bins), 0.0);
    for (std::int64_t j = 0; j < per * steps; ++j) {
      const double node = k.quadrature[(p * per * steps + j) * 2];
      const double weight = k.quadrature[(p * per * steps + j) * 2 + 1];
      if (!std::isfinite(node)) continue;
      mass[g] += weight;
      for (int b = 0; b < bins; ++b) {
        const double a = (first + b * w - node) / (sigma * M_SQRT2),
                     z = (first + (b + 1) * w - node) / (sigma * M_SQRT2);
        if (z < -6 || a > 6) continue;
        dens[static_cast<std::size_t>(b)] += weight * 0.5 * (std::erf(z) - std::erf(a));
      }
    }
  }
  for (const auto& [g, dens] : groups)
    for (int b = 0; b < bins; ++b)
      csv +=
          fmt::format("{},{},{},{}\n", g, g17(first + b * w), g17(first + (b + 1) * w),
                      g17(mass[g] > 0 ? dens[static_cast<std::size_t>(b)] / (mass[g] * w) : 0.0));
  return csv;
}

void write_census(const fs::path& d, const Experiment& e, const RunResult& r,
                  std::vector<std::string>& files, nlohmann::json& summary) {
  const auto& c = r.census;
  const std::int64_t n = e.objective.dim, nh = e.objective.hessian_dim();
  const auto np = static_cast<std::int64_t>(c.points.size());
  // The Krylov methods add their columns (docs/run-directory.md, points.csv);
  // uncertified points have lower bounds for index and n_pos and no n_zero.
  const bool krylov = e.analysis.krylov(), slq = e.analysis.method == "slq";
  std::string csv =
      "point,source,optimizer,trajectory,step,f,grad_norm,index,n_zero,n_pos,lambda_min,"
      "lambda_max,class,distinct_id,critical,crit_threshold,lambda_tol,tol_rule,rho,f_field";
  csv += krylov ? ",index_certified,lanczos_steps,converged,index_estimate,index_stderr,"
                  "trace_estimate,trace_stderr\n"
                : "\n";
  for (std::int64_t p = 0; p < np; ++p) {
    const auto& pt = c.points[p];
    const bool ok = pt.inertia.cls != PointClass::failed;
    const bool exact = !krylov || c.krylov.certified[p];
    csv += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}", p, pt.source, pt.group,
        pt.trajectory, pt.step, g17(pt.f), g17(pt.grad_norm),
        ok ? std::to_string(pt.inertia.index) : "",
        ok && exact ? std::to_string(pt.inertia.n_zero) : "",
        ok ? std::to_string(pt.inertia.n_pos) : "", ok ? g17(pt.inertia.lambda_min) : "",
        ok ? g17(pt.inertia.lambda_max) : "", class_name(pt.inertia.cls), pt.distinct_id,
        pt.critical ? 1 : 0, g17(pt.crit_threshold), ok ? g17(pt.inertia.tol) : "",
        ok ? tol_rule_name(pt.inertia.rule) : "", opt_num(pt.rho), opt_num(pt.f_field));
    if (krylov)
      csv += fmt::format(",{},{},{},{},{},{},{}", ok ? (exact ? 1 : 0) : 0,
                         c.krylov.lanczos_steps[p], ok ? c.krylov.converged[p] : 0,
                         slq && ok ? opt_num(c.krylov.index_estimate[p]) : "",
                         slq && ok ? opt_num(c.krylov.index_stderr[p]) : "",
                         slq && ok ? opt_num(c.krylov.trace_estimate[p]) : "",
                         slq && ok ? opt_num(c.krylov.trace_stderr[p]) : "");
    csv += "\n";
  }
  npy::write_text((d / "points.csv").string(), csv);
  files.push_back("points.csv");

  // distinct.csv
  std::string dcsv =
      "distinct_id,representative,source,optimizer,trajectory,f,f_field,grad_norm,critical,"
      "index,n_zero,n_pos,lambda_min,lambda_max,lambda_tol,class,members_agree,multiplicity,"
      "mult_stop,mult_plateau,mult_critical";
  for (const auto& g : c.groups) dcsv += ",mult:" + g;
  dcsv += "\n";
  for (std::size_t k = 0; k < c.distinct.size(); ++k) {
    const DistinctPoint& q = c.distinct[k];
    const AnalyzedPoint& pt = c.points[q.representative];
    const bool ok = pt.inertia.cls != PointClass::failed;
    dcsv += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}", k, q.representative,
        pt.source, pt.group, pt.trajectory, g17(pt.f), opt_num(pt.f_field), g17(pt.grad_norm),
        pt.critical ? 1 : 0, ok ? std::to_string(pt.inertia.index) : "",
        ok ? std::to_string(pt.inertia.n_zero) : "", ok ? std::to_string(pt.inertia.n_pos) : "",
        ok ? g17(pt.inertia.lambda_min) : "", ok ? g17(pt.inertia.lambda_max) : "",
        ok ? g17(pt.inertia.tol) : "", class_name(pt.inertia.cls), q.members_agree ? 1 : 0,
        q.multiplicity(), q.mult_stop, q.mult_plateau, q.mult_critical);
    for (const std::int64_t m : q.mult_group) dcsv += fmt::format(",{}", m);
    dcsv += "\n";
  }
  npy::write_text((d / "distinct.csv").string(), dcsv);
  files.push_back("distinct.csv");

  if (c.has_finder) {  // finder.csv: one row per start
    std::string fcsv = "start,outcome,steps,f,grad_norm,point,distinct_id\n";
    const auto analysed = static_cast<std::int64_t>(
        std::count_if(c.points.begin(), c.points.end(),
                      [](const AnalyzedPoint& p) { return p.source == "critical"; }));
    for (std::int64_t i = 0; i < c.finder.starts; ++i) {
      const std::int64_t q = c.finder.point[i];
      const bool in = q >= 0 && q < analysed;
      const std::int64_t row = c.finder_first_row + q;
      fcsv += fmt::format("{},{},{},{},{},{},{}\n", i, finder_outcome_name(c.finder.outcome[i]),
                          c.finder.steps[i], g17(c.finder.f[i]), g17(c.finder.grad_norm[i]),
                          in ? std::to_string(row) : "",
                          in ? std::to_string(c.points[row].distinct_id) : "");
    }
    npy::write_text((d / "finder.csv").string(), fcsv);
    files.push_back("finder.csv");
  }
  if (e.analysis.method == "eigh") {  // inertia gives counts, not spectra
    npy::write_f64((d / "spectra.npy").string(), {np, nh}, c.spectra);
    files.push_back("spectra.npy");
    npy::write_text((d / "density.csv").string(), density_csv(e, r));
    files.push_back("density.csv");
  }
  if (e.analysis.method == "lanczos") {
    npy::write_f64((d / "ritz.npy").string(), {np, 2 * c.krylov.k, 2}, c.krylov.ritz);
    files.push_back("ritz.npy");
  }
  if (slq) {
    npy::write_f64((d / "quadrature.npy").string(), {np, c.krylov.probes, c.krylov.steps, 2},
                   c.krylov.quadrature);
    files.push_back("quadrature.npy");
    npy::write_text((d / "density.csv").string(), slq_density_csv(c));
    files.push_back("density.csv");
  }
  if (e.analysis.save_point_coords) {
    npy::write_f64((d / "point_coords.npy").string(), {np, n}, c.coords);
    files.push_back("point_coords.npy");
  }
  auto all_rows = [](const AnalyzedPoint&) { return true; };
  auto all_mult = [](const DistinctPoint& q) { return q.multiplicity(); };
  nlohmann::json census = census_stats(c, nh, all_rows, all_mult);
  census["method"] = e.analysis.method;
  census["precision"] = e.analysis.precision == Precision::f64 ? "f64" : "f32";
  census["crit_tol"] = e.analysis.crit_tol;
  census["seconds"] = c.seconds;
  std::int64_t failed = 0;
  for (const auto& pt : c.points) failed += pt.info != 0;
  census["failed_solves"] = failed;
  if (krylov) {  // how many points' counts are exact (the others': lower bounds)
    std::int64_t certified = 0;
    for (std::int64_t p = 0; p < np; ++p)
      certified += c.points[p].info == 0 && c.krylov.certified[p];
    census["certified_points"] = certified;
    census["index_is_lower_bound"] = certified < np - failed;
    census["lanczos_steps"] = e.analysis.lanczos_steps;
    if (slq) census["probes"] = e.analysis.probes;
    if (e.analysis.method == "lanczos") census["k"] = e.analysis.k;
  }
  for (std::size_t g = 0; g < c.groups.size(); ++g)
    census["per_optimizer"][c.groups[g]] = census_stats(
        c, nh, [&](const AnalyzedPoint& p) { return p.group == c.groups[g]; },
        [g](const DistinctPoint& q) { return q.mult_group[g]; });
  const std::pair<const char*, std::int64_t DistinctPoint::*> sources[] = {
      {"stop", &DistinctPoint::mult_stop},
      {"plateau", &DistinctPoint::mult_plateau},
      {"critical", &DistinctPoint::mult_critical}};
  const bool sphere = objective_info(e.objective).sphere;
  nlohmann::json energy = {{"value", sphere ? "E" : "f"},
                           {"theory", sphere ? nlohmann::json("p-spin: fraction below 0 of the "
                                                              "semicircle of radius 2 sqrt(p(p-1)) "
                                                              "centred at -p E")
                                             : nlohmann::json()}};
  nlohmann::json field = {{"value", "f_field"}, {"theory", nlohmann::json()}};
  const bool gf = objective_info(e.objective).field_value;
  for (const auto& [src, member] : sources) {
    const std::string name = src;
    auto weight = [member = member](const DistinctPoint& q) { return q.*member; };
    census["per_source"][src] = census_stats(
        c, nh, [&](const AnalyzedPoint& p) { return p.source == name; }, weight);
    energy["per_source"][src] = index_energy_bins(e, c, nh, false, weight);
    if (gf) field["per_source"][src] = index_energy_bins(e, c, nh, true, weight);
  }
  energy["per_source"]["all"] = index_energy_bins(e, c, nh, false, all_mult);
  census["index_energy"] = energy;
  if (gf) {
    field["per_source"]["all"] = index_energy_bins(e, c, nh, true, all_mult);
    census["index_energy_field"] = field;
  }
  // The rules in force (docs/experiment.md, census rules).
  std::vector<double> rhos, tols;
  std::map<std::string, std::int64_t> rules;
  for (const auto& pt : c.points) {
    if (std::isfinite(pt.rho)) rhos.push_back(pt.rho);
    if (pt.inertia.cls == PointClass::failed) continue;
    tols.push_back(pt.inertia.tol);
    rules[tol_rule_name(pt.inertia.rule)]++;
  }
  census["tolerances"] = {
      {"zero_tol_relative", e.analysis.zero_tol},
      {"backward_error_factor", kBackwardErrorFactor},
      {"second_order", true},
      {"merge_factor", kMergeFactor},
      {"dedup_tol",
       e.analysis.dedup_tol > 0 ? nlohmann::json(e.analysis.dedup_tol) : nlohmann::json()},
      {"crit_tol", e.analysis.crit_tol},
      {"rho", to_json(quantiles(rhos))},
      {"lambda_tol", to_json(quantiles(tols))},
      {"tol_rule", rules}};
  // Premature stops: converged by the gradient test at a point of index >= 1.
  nlohmann::json premature = nlohmann::json::array();
  std::map<std::string, std::int64_t> premature_per;
  std::vector<std::int64_t> premature_ids;
  for (std::size_t p = 0; p < c.points.size(); ++p) {
    const auto& pt = c.points[p];
    if (pt.source != "stop" || pt.outcome != kConverged || pt.inertia.cls == PointClass::failed ||
        pt.inertia.index < 1)
      continue;
    premature_per[pt.group]++;
    premature_ids.push_back(pt.distinct_id);
    premature.push_back({{"point", p},
                         {"distinct_id", pt.distinct_id},
                         {"optimizer", pt.group},
                         {"trajectory", pt.trajectory},
                         {"index", pt.inertia.index},
                         {"class", class_name(pt.inertia.cls)},
                         {"grad_norm", number(pt.grad_norm)}});
  }
  std::sort(premature_ids.begin(), premature_ids.end());
  premature_ids.erase(std::unique(premature_ids.begin(), premature_ids.end()), premature_ids.end());
  census["stopped_at_saddle"] = {{"count", premature.size()},
                                 {"distinct_points", premature_ids.size()},
                                 {"per_optimizer", premature_per},
                                 {"points", premature}};
  if (c.has_finder) {
    std::int64_t analysed = 0;
    for (const auto& pt : c.points) analysed += pt.source == "critical";
    std::vector<double> polish;
    for (std::size_t i = 0; i < c.finder.outcome.size(); ++i)
      if (c.finder.outcome[i] == kFinderConverged)
        polish.push_back(static_cast<double>(c.finder.polish_steps[i]));
    census["finder"] = {{"kind", e.finder.kind},
                        {"starts", c.finder.starts},
                        {"outcomes",
                         {{"converged", c.finder.count(kFinderConverged)},
                          {"stalled", c.finder.count(kFinderStalled)},
                          {"max_steps", c.finder.count(kFinderMaxSteps)},
                          {"diverged", c.finder.count(kFinderDiverged)}}},
                        {"distinct_points", c.finder.points.size()},
                        {"analysed_points", analysed},
                        {"polish_steps", to_json(quantiles(polish))},
                        {"seconds", c.finder.seconds}};
  }
  summary["census"] = census;
}

}  // namespace

Quantiles quantiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Quantiles q;
  q.count = v.size();
  q.min = quantile_of_sorted(v, 0);
  q.q25 = quantile_of_sorted(v, 0.25);
  q.median = quantile_of_sorted(v, 0.5);
  q.q75 = quantile_of_sorted(v, 0.75);
  q.max = quantile_of_sorted(v, 1);
  return q;
}

OptimizerStats summarize(const OptimizerResult& r) {
  OptimizerStats s;
  std::vector<double> f_ok, acc_ok, steps;
  for (std::size_t i = 0; i < r.traj.outcome.size(); ++i) {
    const std::int8_t o = r.traj.outcome[i];
    s.converged += o == kConverged;
    s.diverged += o == kDiverged;
    s.max_steps += o == kMaxSteps;
    if (o != kDiverged) f_ok.push_back(r.traj.f_final[i]);
    if (o != kDiverged && !r.traj.accuracy_final.empty())
      acc_ok.push_back(r.traj.accuracy_final[i]);
    steps.push_back(static_cast<double>(r.traj.steps[i]));
  }
  s.final_loss = quantiles(std::move(f_ok));
  s.final_accuracy = quantiles(std::move(acc_ok));
  s.steps = quantiles(std::move(steps));
  s.trajectory_steps_per_second =
      r.seconds > 0 ? static_cast<double>(r.trajectory_steps) / r.seconds : 0.0;
  return s;
}

std::string default_run_dir(const Experiment& e) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return (fs::path("runs") / (e.name + "-" + stamp)).string();
}

void prepare_output_dir(const std::string& dir, const std::string& file, const std::string& text) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec))
      throw InputError(fmt::format("-o {}: exists and is not a directory", dir));
    if (!fs::is_empty(dir, ec))
      throw InputError(fmt::format(
          "-o {}: the directory exists and is not empty; saddlescope never overwrites results: "
          "name a new or empty directory",
          dir));
  }
  fs::create_directories(dir, ec);
  if (ec)
    throw InputError(fmt::format("-o {}: cannot create the directory: {}", dir, ec.message()));
  try {
    npy::write_text((fs::path(dir) / file).string(), text);
  } catch (const Error&) {
    throw InputError(fmt::format("-o {}: the directory is not writable", dir));
  }
}

void prepare_run_dir(const std::string& dir, const Experiment& e) {
  prepare_output_dir(dir, "config.toml", to_toml(e));
}

void write_results(const std::string& dir, const Experiment& e, const RunResult& r) {
  const fs::path d(dir);
  const std::int64_t b = e.trajectories(), n = e.objective.dim;
  const std::int64_t opts = static_cast<std::int64_t>(r.optimizers.size());
  std::vector<std::string> files = {"config.toml"};

  // trajectories.csv
  std::string csv =
      "optimizer,trajectory,outcome,steps,f_init,f_final,grad_norm_final,plateau_count,"
      "plateau_steps,longest_plateau,first_escape_step,steps_to_target";
  const bool classifies = e.objective.classifies();  // the training accuracy's column
  csv += classifies ? ",final_accuracy\n" : "\n";
  for (const auto& o : r.optimizers)
    for (std::int64_t i = 0; i < b; ++i) {
      const auto& t = o.traj;
      csv +=
          fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}", o.label, i, outcome_name(t.outcome[i]),
                      t.steps[i], g17(t.f_init[i]), g17(t.f_final[i]), g17(t.gnorm_final[i]),
                      t.plateau_count[i], t.plateau_steps[i], t.longest_plateau[i],
                      t.first_escape_step[i] >= 0 ? std::to_string(t.first_escape_step[i]) : "",
                      t.target_step[i] >= 0 ? std::to_string(t.target_step[i]) : "");
      csv += classifies ? "," + g17(t.accuracy_final[i]) + "\n" : "\n";
    }
  npy::write_text((d / "trajectories.csv").string(), csv);
  files.push_back("trajectories.csv");

  // curves.npy [optimizers, record_trajectories, records, 2]
  const std::int64_t rt = opts > 0 ? e.run.record_trajectories : 0, rec = e.records();
  std::vector<float> curves;
  for (const auto& o : r.optimizers)
    curves.insert(curves.end(), o.traj.curves.begin(), o.traj.curves.end());
  npy::write_f32((d / "curves.npy").string(), {opts, rt, rec, 2}, curves);
  files.push_back("curves.npy");

  const bool f64 = e.run.precision == Precision::f64;
  auto write_real = [&](const std::string& name, const std::vector<std::int64_t>& shape,
                        const std::vector<double>& v) {
    if (f64)
      npy::write_f64((d / name).string(), shape, v);
    else
      npy::write_f32((d / name).string(), shape, std::vector<float>(v.begin(), v.end()));
    files.push_back(name);
  };
  if (e.run.record_paths) {
    std::vector<double> paths;
    for (const auto& o : r.optimizers)
      paths.insert(paths.end(), o.traj.paths.begin(), o.traj.paths.end());
    write_real("paths.npy", {opts, rt, rec, n}, paths);
  }
  if (e.run.sharpness_every > 0) {  // [optimizers, record_trajectories, measurements, 2]
    std::vector<double> sharp;
    for (const auto& o : r.optimizers)
      sharp.insert(sharp.end(), o.sharpness.begin(), o.sharpness.end());
    npy::write_f64((d / "sharpness.npy").string(),
                   {opts, rt, e.run.max_steps / e.run.sharpness_every + 1, 2}, sharp);
    files.push_back("sharpness.npy");
  }
  if (e.run.save_final_points) {
    std::vector<double> finals;
    for (const auto& o : r.optimizers)
      finals.insert(finals.end(), o.traj.finals.begin(), o.traj.finals.end());
    write_real("finals.npy", {opts, b, n}, finals);
  }

  nlohmann::json s;
  s["schema_version"] = 2;
  s["version"] = SADDLESCOPE_VERSION;
  s["name"] = e.name;
  s["seed"] = e.seed;
  s["backend"] = r.backend;
  s["device"] = r.device;
  s["objective"] = {{"kind", e.objective.preset.empty() ? e.objective.kind : e.objective.preset},
                    {"dim", n}};
  s["trajectories"] = b;
  s["max_steps"] = e.run.max_steps;
  s["plateau_rule"] = {{"grad_threshold", e.plateau.grad_threshold},
                       {"min_steps", e.plateau.min_steps},
                       {"min_drop", e.plateau.min_drop}};
  s["precision"] = f64 ? "f64" : "f32";
  s["memory_plan"] = {{"chunk", r.plan.chunk},
                      {"chunks", r.plan.chunks},
                      {"per_trajectory_bytes", r.plan.per_trajectory_bytes},
                      {"objective_bytes", r.plan.objective_bytes},
                      {"peak_bytes", r.plan.peak_bytes},
                      {"budget_bytes", r.plan.budget}};
  // Under MPI the plan is rank 0's, for its share (docs/run-directory.md).
  if (world().size() > 1) s["memory_plan"]["ranks"] = world().size();
  nlohmann::json timings = {{"total_s", r.seconds_total}, {"objective_s", r.seconds_objective}};
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t oi = 0; oi < r.optimizers.size(); ++oi) {
    const auto& o = r.optimizers[oi];
    const OptimizerStats st = summarize(o);
    timings["optimizers"][o.label] = o.seconds;
    list.push_back(
        {{"label", o.label},
         {"kind", optimizer_kind_name(e.optimizers[oi].params.kind)},
         {"lr", e.optimizers[oi].params.lr},
         {"outcomes",
          {{"converged", st.converged}, {"diverged", st.diverged}, {"max_steps", st.max_steps}}},
         {"final_loss", to_json(st.final_loss)},
         {"steps", to_json(st.steps)},
         {"plateaus", plateau_stats(o.traj)},
         {"comparison", comparison(e, r, o)},
         {"trajectory_steps", o.trajectory_steps},
         {"seconds", o.seconds},
         {"trajectory_steps_per_second", st.trajectory_steps_per_second}});
    if (classifies) list.back()["final_accuracy"] = to_json(st.final_accuracy);
  }
  s["optimizers"] = list;
  if (world().size() > 1) {  // rank 0's gathers (docs/design.md II.6)
    const Comm::Traffic t = world().traffic();
    timings["mpi"] = {{"ranks", world().size()},
                      {"gather_wait_s", t.wait_s},
                      {"gather_transfer_s", t.transfer_s},
                      {"gathered_bytes", t.bytes}};
  }
  s["timings"] = timings;
  if (r.has_census) write_census(d, e, r, files, s);
  // comparison.csv: one row per optimizer, the headline numbers side by side.
  std::string cmp =
      "optimizer,trajectories,converged,diverged,max_steps,reached_target,fraction_reached,"
      "steps_to_target_median,steps_to_target_q25,steps_to_target_q75,"
      "seconds_to_target_median,plateau_steps_median,first_escape_step_median,"
      "final_loss_median,final_loss_q25,final_loss_q75,ending_minimum,ending_saddle,"
      "ending_other,ending_unanalysed,trajectory_steps_per_second";
  cmp += classifies ? ",final_accuracy_median,final_accuracy_q25,final_accuracy_q75\n" : "\n";
  auto num = [](const nlohmann::json& v) {
    return v.is_null() ? std::string() : g17(v.get<double>());
  };
  for (const auto& o : s["optimizers"]) {
    const auto& c = o["comparison"];
    cmp += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        o["label"].get<std::string>(), b, o["outcomes"]["converged"].get<std::int64_t>(),
        o["outcomes"]["diverged"].get<std::int64_t>(),
        o["outcomes"]["max_steps"].get<std::int64_t>(), c["reached_target"].get<std::int64_t>(),
        num(c["fraction_reached"]), num(c["steps_to_target"]["median"]),
        num(c["steps_to_target"]["q25"]), num(c["steps_to_target"]["q75"]),
        num(c["seconds_to_target"]["median"]), num(o["plateaus"]["plateau_steps"]["median"]),
        num(o["plateaus"]["first_escape_step"]["median"]), num(o["final_loss"]["median"]),
        num(o["final_loss"]["q25"]), num(o["final_loss"]["q75"]), num(c["ending"]["minimum"]),
        num(c["ending"]["saddle"]), num(c["ending"]["other"]), num(c["ending"]["unanalysed"]),
        num(o["trajectory_steps_per_second"]));
    cmp += classifies
               ? fmt::format(",{},{},{}\n", num(o["final_accuracy"]["median"]),
                             num(o["final_accuracy"]["q25"]), num(o["final_accuracy"]["q75"]))
               : "\n";
  }
  npy::write_text((d / "comparison.csv").string(), cmp);
  files.push_back("comparison.csv");
  s["target_loss"] = number(e.run.target_loss);
  if (classifies) s["target_accuracy"] = number(e.run.target_accuracy);
  s["notes"] = {"final_loss quantiles are over trajectories that did not diverge",
                "steps counts optimizer updates applied before the final point",
                "curves.npy holds NaN after a trajectory stopped"};
  if (classifies)
    s["notes"].push_back(
        "final_accuracy quantiles too; the accuracy is the fraction of training samples whose "
        "label is the first largest output");
  files.push_back("summary.json");
  s["files"] = files;
  npy::write_text((d / "summary.json").string(), s.dump(2) + "\n");
  // The results are complete: the checkpoints (one per rank under MPI) have done their job.
  std::error_code ec;
  for (const std::string& f : checkpoint_files(d.string())) fs::remove(f, ec);
}

}  // namespace saddlescope
