// The ensemble engine: for each optimizer, every chunk of trajectories runs
// from the same starts on the chosen backend; the host looks at the device
// only every kHostLook iterations (running count, progress, early exit).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

constexpr std::int64_t kHostLook = 32;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class V>
void append(V& to, const V& from) {
  to.insert(to.end(), from.begin(), from.end());
}

}  // namespace

void plateau_results(const std::vector<PlateauState>& states, EnsembleResult& r) {
  for (const PlateauState& s : states) {
    r.plateau_count.push_back(s.count);
    r.plateau_steps.push_back(s.steps);
    r.longest_plateau.push_back(s.longest);
    r.first_escape_step.push_back(s.first_escape);
    r.plateau_step.push_back(s.kept_step);
    r.target_step.push_back(s.target_step);
    r.plateau_f.push_back(s.kept_step >= 0 ? s.kept_f : std::nan(""));
    r.plateau_g.push_back(s.kept_step >= 0 ? s.kept_g : std::nan(""));
  }
}

std::unique_ptr<Backend> select_backend(const std::string& requested, std::string& note) {
  if (requested == "cpu") {
    note = "backend: cpu (requested)";
    return make_cpu_backend();
  }
  if (requested == "cuda") {
    auto b = make_cuda_backend();  // throws BackendError with the reason
    note = "backend: cuda (requested), " + b->device();
    return b;
  }
  if (requested != "auto")
    throw InputError(fmt::format("--backend {}: allowed auto, cpu, cuda", requested));
  if (cuda_available()) {
    auto b = make_cuda_backend();
    note = "backend: cuda (auto), " + b->device();
    return b;
  }
  note = "backend: cpu (auto: " + cuda_unavailable_reason() + ")";
  return make_cpu_backend();
}

RunResult run_experiment(const Experiment& e, Backend& backend, const ProgressFn& progress) {
  const auto t_all = std::chrono::steady_clock::now();
  RunResult out;
  out.backend = backend.name();
  out.device = backend.device();
  check_start_file(e);
  out.plan = plan_memory(e, backend);

  const auto t_obj = std::chrono::steady_clock::now();
  const ObjectiveData obj = build_objective(e);
  out.seconds_objective = seconds_since(t_obj);

  const std::int64_t b_total = e.run.trajectories;
  const std::int64_t chunk = out.plan.chunk, chunks = out.plan.chunks;
  const bool census = e.analysis.method != "none";
  const bool want_finals =
      e.run.save_final_points || (census && analysis_wants(e.analysis, "stops"));
  for (std::size_t oi = 0; oi < e.optimizers.size(); ++oi) {
    const auto t0 = std::chrono::steady_clock::now();
    OptimizerResult res;
    res.label = e.optimizers[oi].label;
    for (std::int64_t c = 0; c < chunks; ++c) {
      const std::int64_t first = c * chunk;
      const std::int64_t count = std::min(chunk, b_total - first);
      EnsembleSpec spec;
      spec.objective = &obj;
      spec.optimizer = e.optimizers[oi].params;
      spec.precision = e.run.precision;
      spec.count = count;
      spec.first = first;
      spec.stop = StopRule{e.run.grad_tol, e.run.diverge_above, e.run.max_steps, e.run.target_loss};
      spec.record_count = std::clamp<std::int64_t>(e.run.record_trajectories - first, 0, count);
      spec.record_every = e.run.record_every;
      spec.records = e.records();
      spec.record_paths = e.run.record_paths;
      spec.plateau = e.plateau;
      spec.keep_plateau_points = census && analysis_wants(e.analysis, "plateaus");
      const auto t_chunk = std::chrono::steady_clock::now();
      auto ens = host_driven(spec.optimizer.kind) ? make_host_ensemble(spec, backend)
                                                  : backend.make_ensemble(spec);
      ens->set_starts(make_starts(e, first, count));
      std::int64_t iterations = 0;
      for (std::int64_t t = 0; t <= e.run.max_steps; ++t) {
        ens->iterate(t);
        iterations = t + 1;
        if ((t + 1) % kHostLook == 0 || t == e.run.max_steps) {
          const std::int64_t running = ens->running();
          if (progress) progress(oi, t, running, c, chunks);
          if (running == 0) break;
        }
      }
      EnsembleResult r = ens->result(want_finals);
      const double per_iteration = seconds_since(t_chunk) / static_cast<double>(iterations);
      for (const std::int64_t s : r.target_step)
        res.target_seconds.push_back(s >= 0 ? static_cast<double>(s) * per_iteration
                                            : std::nan(""));
      append(res.traj.outcome, r.outcome);
      append(res.traj.steps, r.steps);
      append(res.traj.f_init, r.f_init);
      append(res.traj.f_final, r.f_final);
      append(res.traj.gnorm_final, r.gnorm_final);
      append(res.traj.curves, r.curves);
      append(res.traj.paths, r.paths);
      append(res.traj.finals, r.finals);
      append(res.traj.plateau_count, r.plateau_count);
      append(res.traj.plateau_steps, r.plateau_steps);
      append(res.traj.longest_plateau, r.longest_plateau);
      append(res.traj.first_escape_step, r.first_escape_step);
      append(res.traj.plateau_step, r.plateau_step);
      append(res.traj.target_step, r.target_step);
      append(res.traj.plateau_f, r.plateau_f);
      append(res.traj.plateau_g, r.plateau_g);
      append(res.traj.plateau_points, r.plateau_points);
    }
    res.seconds = seconds_since(t0);
    for (auto s : res.traj.steps) res.trajectory_steps += s;
    out.optimizers.push_back(std::move(res));
  }
  if (census) {
    const auto t_census = std::chrono::steady_clock::now();
    out.has_census = true;
    out.census = run_census(e, obj, out, backend);
    out.census.seconds = seconds_since(t_census);
  }
  out.seconds_total = seconds_since(t_all);
  return out;
}

}  // namespace saddlescope
