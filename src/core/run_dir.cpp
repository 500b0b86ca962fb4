// The run directory (docs/design.md section 4): config.toml first, results after,
// every file written atomically (tmp + rename), summary.json last so that
// its presence means the run finished.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "npy.hpp"
#include "saddlescope/errors.hpp"
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
      {"fraction_reached", std::isnan(e.run.target_loss)
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

// Class counts, index histogram and the saddle fraction among critical points
// of the census points accepted by `keep`.
template <class Keep>
nlohmann::json census_stats(const std::vector<AnalyzedPoint>& pts, std::int64_t n, Keep keep) {
  std::int64_t count = 0, critical = 0, critical_saddles = 0;
  std::map<std::string, std::int64_t> classes = {
      {"minimum", 0}, {"maximum", 0}, {"saddle", 0}, {"degenerate", 0}, {"failed", 0}};
  std::map<std::int64_t, std::int64_t> index_hist;
  std::vector<double> alpha;
  for (const auto& p : pts) {
    if (!keep(p)) continue;
    ++count;
    classes[class_name(p.inertia.cls)]++;
    if (p.inertia.cls != PointClass::failed) {
      index_hist[p.inertia.index]++;
      alpha.push_back(static_cast<double>(p.inertia.index) / static_cast<double>(n));
    }
    if (p.critical && p.inertia.cls != PointClass::failed) {
      ++critical;
      critical_saddles += p.inertia.cls == PointClass::saddle;
    }
  }
  nlohmann::json hist = nlohmann::json::object();
  for (const auto& [k, v] : index_hist) hist[std::to_string(k)] = v;
  return {{"points", count},
          {"classes", classes},
          {"index_histogram", hist},
          {"index_fraction", to_json(quantiles(alpha))},
          {"critical_points", critical},
          {"saddle_fraction_among_critical",
           critical > 0 ? nlohmann::json(static_cast<double>(critical_saddles) /
                                         static_cast<double>(critical))
                        : nlohmann::json()}};
}

// density.csv: eigenvalue histograms per optimizer x class on common bins
// spanning the data (Freedman-Diaconis width, 10 to 200 bins); each group's
// density integrates to 1.
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
  const double lo = all.front(), hi = all.back();
  const Quantiles q = quantiles(all);
  const double iqr = q.q75 - q.q25;
  int bins = 10;
  if (hi > lo && iqr > 0) {
    const double width = 2 * iqr / std::cbrt(static_cast<double>(all.size()));
    bins = static_cast<int>(std::clamp(std::ceil((hi - lo) / width), 10.0, 200.0));
  }
  const double span = hi > lo ? hi - lo : 1.0;
  const double w = span / bins;
  std::map<std::string, std::vector<double>> groups;
  for (std::size_t p = 0; p < c.points.size(); ++p) {
    const auto& pt = c.points[p];
    if (pt.inertia.cls == PointClass::failed) continue;
    const std::string g = pt.group + "/" + class_name(pt.inertia.cls);
    auto& counts = groups[g];
    counts.resize(static_cast<std::size_t>(bins), 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
      const double v = c.spectra[static_cast<std::int64_t>(p) * n + i];
      const int k = std::clamp(static_cast<int>((v - lo) / w), 0, bins - 1);
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

void write_census(const fs::path& d, const Experiment& e, const RunResult& r,
                  std::vector<std::string>& files, nlohmann::json& summary) {
  const auto& c = r.census;
  const std::int64_t n = e.objective.dim;
  const auto np = static_cast<std::int64_t>(c.points.size());
  std::string csv =
      "point,source,optimizer,trajectory,step,f,grad_norm,index,n_zero,n_pos,lambda_min,"
      "lambda_max,class\n";
  for (std::int64_t p = 0; p < np; ++p) {
    const auto& pt = c.points[p];
    const bool ok = pt.inertia.cls != PointClass::failed;
    csv += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{}\n", p, pt.source, pt.group, pt.trajectory, pt.step,
        g17(pt.f), g17(pt.grad_norm), ok ? std::to_string(pt.inertia.index) : "",
        ok ? std::to_string(pt.inertia.n_zero) : "", ok ? std::to_string(pt.inertia.n_pos) : "",
        ok ? g17(pt.inertia.lambda_min) : "", ok ? g17(pt.inertia.lambda_max) : "",
        class_name(pt.inertia.cls));
  }
  npy::write_text((d / "points.csv").string(), csv);
  files.push_back("points.csv");
  if (e.analysis.method == "eigh") {  // inertia gives counts, not spectra
    npy::write_f64((d / "spectra.npy").string(), {np, e.objective.hessian_dim()}, c.spectra);
    files.push_back("spectra.npy");
    npy::write_text((d / "density.csv").string(), density_csv(e, r));
    files.push_back("density.csv");
  }
  if (e.analysis.save_point_coords) {
    npy::write_f64((d / "point_coords.npy").string(), {np, n}, c.coords);
    files.push_back("point_coords.npy");
  }
  nlohmann::json census =
      census_stats(c.points, e.objective.hessian_dim(), [](const AnalyzedPoint&) { return true; });
  census["method"] = e.analysis.method;
  census["precision"] = e.analysis.precision == Precision::f64 ? "f64" : "f32";
  census["zero_tol_relative"] = e.analysis.zero_tol;
  census["crit_tol"] = e.analysis.crit_tol;
  census["seconds"] = c.seconds;
  std::int64_t failed = 0;
  for (const auto& pt : c.points) failed += pt.info != 0;
  census["failed_solves"] = failed;
  std::vector<std::string> groups;
  for (const auto& pt : c.points)
    if (std::find(groups.begin(), groups.end(), pt.group) == groups.end())
      groups.push_back(pt.group);
  for (const auto& g : groups)
    census["per_optimizer"][g] = census_stats(
        c.points, e.objective.hessian_dim(), [&g](const AnalyzedPoint& p) { return p.group == g; });
  for (const char* src : {"stop", "plateau", "critical"})
    census["per_source"][src] =
        census_stats(c.points, n, [src](const AnalyzedPoint& p) { return p.source == src; });
  // Premature stops: converged by the gradient test at a point of index >= 1.
  nlohmann::json premature = nlohmann::json::array();
  std::map<std::string, std::int64_t> premature_per;
  for (std::size_t p = 0; p < c.points.size(); ++p) {
    const auto& pt = c.points[p];
    if (pt.source != "stop" || pt.outcome != kConverged || pt.inertia.cls == PointClass::failed ||
        pt.inertia.index < 1)
      continue;
    premature_per[pt.group]++;
    premature.push_back({{"point", p},
                         {"optimizer", pt.group},
                         {"trajectory", pt.trajectory},
                         {"index", pt.inertia.index},
                         {"class", class_name(pt.inertia.cls)},
                         {"grad_norm", number(pt.grad_norm)}});
  }
  census["stopped_at_saddle"] = {
      {"count", premature.size()}, {"per_optimizer", premature_per}, {"points", premature}};
  if (c.has_finder) {
    std::int64_t analysed = 0;
    for (const auto& pt : c.points) analysed += pt.source == "critical";
    census["finder"] = {{"kind", e.finder.kind},       {"starts", c.finder.starts},
                        {"reached", c.finder.reached}, {"distinct_points", c.finder.points.size()},
                        {"analysed_points", analysed}, {"dedup_tol", e.finder.dedup_tol},
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
  std::vector<double> f_ok, steps;
  for (std::size_t i = 0; i < r.traj.outcome.size(); ++i) {
    const std::int8_t o = r.traj.outcome[i];
    s.converged += o == kConverged;
    s.diverged += o == kDiverged;
    s.max_steps += o == kMaxSteps;
    if (o != kDiverged) f_ok.push_back(r.traj.f_final[i]);
    steps.push_back(static_cast<double>(r.traj.steps[i]));
  }
  s.final_loss = quantiles(std::move(f_ok));
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

void prepare_run_dir(const std::string& dir, const Experiment& e) {
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
    npy::write_text((fs::path(dir) / "config.toml").string(), to_toml(e));
  } catch (const Error&) {
    throw InputError(fmt::format("-o {}: the directory is not writable", dir));
  }
}

void write_results(const std::string& dir, const Experiment& e, const RunResult& r) {
  const fs::path d(dir);
  const std::int64_t b = e.run.trajectories, n = e.objective.dim;
  const std::int64_t opts = static_cast<std::int64_t>(r.optimizers.size());
  std::vector<std::string> files = {"config.toml"};

  // trajectories.csv
  std::string csv =
      "optimizer,trajectory,outcome,steps,f_init,f_final,grad_norm_final,plateau_count,"
      "plateau_steps,longest_plateau,first_escape_step,steps_to_target\n";
  for (const auto& o : r.optimizers)
    for (std::int64_t i = 0; i < b; ++i) {
      const auto& t = o.traj;
      csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", o.label, i,
                         outcome_name(t.outcome[i]), t.steps[i], g17(t.f_init[i]),
                         g17(t.f_final[i]), g17(t.gnorm_final[i]), t.plateau_count[i],
                         t.plateau_steps[i], t.longest_plateau[i],
                         t.first_escape_step[i] >= 0 ? std::to_string(t.first_escape_step[i]) : "",
                         t.target_step[i] >= 0 ? std::to_string(t.target_step[i]) : "");
    }
  npy::write_text((d / "trajectories.csv").string(), csv);
  files.push_back("trajectories.csv");

  // curves.npy [optimizers, record_trajectories, records, 2]
  const std::int64_t rt = e.run.record_trajectories, rec = e.records();
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
  if (e.run.save_final_points) {
    std::vector<double> finals;
    for (const auto& o : r.optimizers)
      finals.insert(finals.end(), o.traj.finals.begin(), o.traj.finals.end());
    write_real("finals.npy", {opts, b, n}, finals);
  }

  nlohmann::json s;
  s["schema_version"] = 1;
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
  }
  s["optimizers"] = list;
  s["timings"] = timings;
  if (r.has_census) write_census(d, e, r, files, s);
  // comparison.csv: one row per optimizer, the headline numbers side by side.
  std::string cmp =
      "optimizer,trajectories,converged,diverged,max_steps,reached_target,fraction_reached,"
      "steps_to_target_median,steps_to_target_q25,steps_to_target_q75,"
      "seconds_to_target_median,plateau_steps_median,first_escape_step_median,"
      "final_loss_median,final_loss_q25,final_loss_q75,ending_minimum,ending_saddle,"
      "ending_other,ending_unanalysed,trajectory_steps_per_second\n";
  auto num = [](const nlohmann::json& v) {
    return v.is_null() ? std::string() : g17(v.get<double>());
  };
  for (const auto& o : s["optimizers"]) {
    const auto& c = o["comparison"];
    cmp += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
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
  }
  npy::write_text((d / "comparison.csv").string(), cmp);
  files.push_back("comparison.csv");
  s["target_loss"] = number(e.run.target_loss);
  s["notes"] = {"final_loss quantiles are over trajectories that did not diverge",
                "steps counts optimizer updates applied before the final point",
                "curves.npy holds NaN after a trajectory stopped"};
  files.push_back("summary.json");
  s["files"] = files;
  npy::write_text((d / "summary.json").string(), s.dump(2) + "\n");
  // The results are complete: the checkpoint (if any) has done its job.
  std::error_code ec;
  fs::remove(d / "checkpoint.bin", ec);
}

}  // namespace saddlescope
