// The memory plan: bytes per trajectory and for the objective, computed
// before anything is allocated; trajectories are processed in chunks that
// fit, or the run is refused with exit 3 and advice.
#include <fmt/format.h>

#include <algorithm>

#include "saddlescope/census.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/objective_registry.hpp"
#include "saddlescope/run.hpp"
#include "saddlescope/structured.hpp"

namespace saddlescope {

namespace {
std::string human(std::uint64_t b) {
  const double v = static_cast<double>(b);
  if (v >= 1e9) return fmt::format("{:.2f} GB", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.1f} MB", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f} kB", v / 1e3);
  return fmt::format("{} B", b);
}
}  // namespace

std::uint64_t ensemble_bytes(const EnsembleSpec& s, std::int64_t dim) {
  const std::uint64_t t = precision_bytes(s.precision);
  const std::uint64_t n = static_cast<std::uint64_t>(dim);
  const std::uint64_t arrays = 2 + static_cast<std::uint64_t>(s.optimizer.state_count()) +
                               (s.objective && s.objective->coupled() ? 1 : 0) +
                               (s.keep_plateau_points ? 3 : 0);
  // + host staging of the starts (double) + per-trajectory records and the
  // CUDA backend's reduction partials (24 bytes per slice of <= 1024 coordinates).
  const std::uint64_t per =
      n * t * arrays + 8 * n + 64 + sizeof(PlateauState) + 24 * (n / 1024 + 1);
  std::uint64_t rec = static_cast<std::uint64_t>(s.record_count * s.records) * 8;
  if (s.record_paths) rec += static_cast<std::uint64_t>(s.record_count * s.records) * n * t;
  return per * static_cast<std::uint64_t>(s.count) + rec;
}

MemoryPlan plan_memory(const Experiment& e, const Backend& backend) {
  MemoryPlan plan;
  plan.budget = backend.memory_budget();
  const std::int64_t n = e.objective.dim;
  std::int64_t b = e.run.trajectories;
  const std::uint64_t t = precision_bytes(e.run.precision);
  // Objective data and work space without building it (the registry's
  // functions per kind, src/core/objectives/).
  const ObjectiveInfo& info = objective_info(e.objective);
  plan.objective_bytes = info.data_bytes(e.objective, t);
  if (info.too_big && plan.objective_bytes > plan.budget)
    throw ResourceError(
        fmt::format("memory plan: the objective's data needs {} but the {} "
                    "backend offers {}; {}",
                    human(plan.objective_bytes), backend.name(), human(plan.budget),
                    info.too_big(e.objective, t)));
  const std::uint64_t work = info.work_bytes(e.objective, t);
  // ensemble_bytes and banded_hessian ask only the kind and whether it is coupled.
  ObjectiveData probe;
  probe.kind = info.kernel;
  if (info.coupled(e.objective) && !probe.coupled()) probe.matrix.resize(1);
  // The census takes banded Hessians on the host, O(n) per point
  // (structured.hpp): no dense matrix, no backend solver order.
  const bool banded = banded_hessian(probe);
  // The widest optimizer decides the chunk.
  std::uint64_t per = 0, rec = 0;
  for (const auto& o : e.optimizers) {
    EnsembleSpec s;
    s.optimizer = o.params;
    s.precision = e.run.precision;
    s.count = 1;
    s.keep_plateau_points = e.analysis.method != "none" && analysis_wants(e.analysis, "plateaus");
    s.objective = &probe;
    // saddle-free-newton: the Hessian, its eigenvectors and the solver's copy, in double.
    const std::uint64_t sfn_work =
        o.params.kind == OptimizerKind::saddle_free_newton
            ? 3 * static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(n) * 8
            : 0;
    per = std::max(per, ensemble_bytes(s, n) + work + sfn_work + 8);
    s.count = 0;
    s.record_count = e.run.record_trajectories;
    s.records = e.records();
    s.record_paths = e.run.record_paths || e.run.sharpness_every > 0;
    rec = std::max(rec, ensemble_bytes(s, n));
  }
  plan.per_trajectory_bytes = per;
  const std::uint64_t fixed = plan.objective_bytes + rec;
  if (e.optimizers.empty()) {  // a finder-only census: no trajectories
    b = 0;
  } else if (plan.budget <= fixed || (plan.budget - fixed) / per < 1)
    throw ResourceError(fmt::format(
        "memory plan: one trajectory needs {} plus {} for the objective and records, but the {} "
        "backend offers {}; lower objective.dim, run.record_trajectories or run.max_steps / "
        "run.record_every, or use precision = \"f32\"",
        human(per), human(fixed), backend.name(), human(plan.budget)));
  if (b > 0) {
    const std::int64_t fit = static_cast<std::int64_t>(
        std::min<std::uint64_t>((plan.budget - fixed) / per, static_cast<std::uint64_t>(b)));
    plan.chunk = e.run.chunk_size > 0 ? std::min<std::int64_t>(e.run.chunk_size, fit) : fit;
    plan.chunk = std::min(plan.chunk, b);
    plan.chunks = (b + plan.chunk - 1) / plan.chunk;
  }
  plan.peak_bytes = fixed + per * static_cast<std::uint64_t>(plan.chunk);
  const std::uint64_t opts = e.optimizers.size();
  if (e.analysis.method == "inertia" && !banded && n > backend.max_count_order())
    throw ResourceError(fmt::format(
        "memory plan: analysis.method = \"inertia\" on the {} backend factors Hessians of order "
        "at most {} (cuSOLVER's sytrf takes 32-bit sizes), and objective.dim is {}; use the CPU "
        "backend (--backend cpu) or analysis.method = \"eigh\"",
        backend.name(), backend.max_count_order(), n));
  for (const auto& o : e.optimizers)
    if (o.params.kind == OptimizerKind::saddle_free_newton && n > backend.max_eigh_order())
      throw ResourceError(fmt::format(
          "memory plan: saddle-free-newton on the {} backend eigendecomposes Hessians of order at "
          "most {} (cuSOLVER's workspace query fails beyond), and objective.dim is {}; use the CPU "
          "backend (--backend cpu) or a smaller objective.dim",
          backend.name(), backend.max_eigh_order(), n));
  if (e.analysis.method == "eigh" && !banded && n > backend.max_eigh_order())
    throw ResourceError(fmt::format(
        "memory plan: analysis.method = \"eigh\" on the {} backend solves Hessians of order at "
        "most {} (cuSOLVER's workspace query fails beyond), and objective.dim is {}; use "
        "analysis.method = \"inertia\" (Sylvester counts, up to order {}), the CPU backend "
        "(--backend cpu), or a smaller objective.dim",
        backend.name(), backend.max_eigh_order(), n, backend.max_count_order()));
  if (e.analysis.krylov()) {
    // Krylov bases and the objective's work rows per point (krylov.hpp).
    plan.census_bytes_per_point = krylov_bytes_per_point(
        e.analysis, n, info.work_bytes(e.objective, precision_bytes(e.analysis.precision)));
    if (plan.census_bytes_per_point > plan.budget)
      throw ResourceError(fmt::format(
          "memory plan: the {} census needs {} per point (its Krylov bases: {} column(s) of {} "
          "Lanczos steps of {} coordinates) but the {} backend offers {}; lower "
          "analysis.lanczos_steps{}, or use analysis.precision = \"f32\"",
          e.analysis.method, human(plan.census_bytes_per_point),
          e.analysis.method == "slq" ? e.analysis.probes : 1, e.analysis.lanczos_steps, n,
          backend.name(), human(plan.budget),
          e.analysis.method == "slq" ? " or analysis.probes" : ""));
    plan.census_chunk = static_cast<std::int64_t>(std::min<std::uint64_t>(
        {plan.budget / plan.census_bytes_per_point,
         static_cast<std::uint64_t>(e.analysis.max_points), std::uint64_t{256}}));
  } else if (e.analysis.method != "none") {
    // The Hessian in double on the host, plus the solver's copy and work
    // space in the analysis precision (about two more n x n arrays); a band:
    // the point and its band in T and double, the solver's copies (a few n-vectors).
    const std::uint64_t nn = static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(n);
    plan.census_bytes_per_point =
        (banded ? 0 : nn * (8 + 2 * precision_bytes(e.analysis.precision))) +
        64 * static_cast<std::uint64_t>(n);
    if (plan.census_bytes_per_point > plan.budget)
      throw ResourceError(fmt::format(
          "memory plan: the census needs {} per point (a dense {} x {} Hessian and its "
          "eigensolver) but the {} backend offers {}; lower objective.dim, use "
          "analysis.precision = \"f32\", or set analysis.method = \"none\"",
          human(plan.census_bytes_per_point), n, n, backend.name(), human(plan.budget)));
    plan.census_chunk = static_cast<std::int64_t>(std::min<std::uint64_t>(
        {plan.budget / plan.census_bytes_per_point,
         static_cast<std::uint64_t>(e.analysis.max_points), std::uint64_t{64}}));
  }
  if (e.finder.kind != "none") {
    // The finder keeps every start's state on the host and steps slices of
    // starts (finder_slice); newton holds dense Hessians and their solver
    // copies for one slice, and needs room for one start at least.
    const std::uint64_t nn = static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(n);
    const std::uint64_t one =
        e.finder.kind == "newton" ? 3 * nn * 8 : 8 * static_cast<std::uint64_t>(n) * 8;
    if (one > plan.budget / 2)
      throw ResourceError(fmt::format(
          "memory plan: one newton finder start holds {} (a dense {} x {} Hessian and its "
          "solver's copies) but the {} backend offers {}; lower objective.dim or use "
          "finder.kind = \"gradient-norm\"",
          human(one), n, n, backend.name(), human(plan.budget)));
    plan.host_result_bytes +=
        static_cast<std::uint64_t>(e.finder.starts) * (static_cast<std::uint64_t>(n) * 8 * 2 + 64);
  }
  plan.host_result_bytes +=
      opts *
      (static_cast<std::uint64_t>(b) * 48 +
       static_cast<std::uint64_t>(e.run.record_trajectories * e.records()) *
           (8 + (e.run.record_paths || e.run.sharpness_every > 0 ? 8 * static_cast<std::uint64_t>(n)
                                                                 : 0)) +
       (e.run.save_final_points ? static_cast<std::uint64_t>(b * n) * 8 : 0));
  // A backend with its own memory (CUDA): what the host keeps must fit the
  // host's. The census stages each group's Hessians there in double (bands:
  // solved there).
  plan.host_budget = backend.separate_host_budget();
  if (plan.host_budget > 0) {
    const std::uint64_t point = e.analysis.method == "none" ? 0
                                : e.analysis.krylov() ? krylov_host_bytes_per_point(e.analysis, n)
                                : banded              ? plan.census_bytes_per_point
                                                      : static_cast<std::uint64_t>(n) * n * 8;
    if (plan.host_result_bytes + point > plan.host_budget)
      throw ResourceError(fmt::format(
          "memory plan: the host keeps {} of results and finder state{} but offers {}; lower "
          "run.trajectories, finder.starts or objective.dim, or set run.save_final_points and "
          "run.record_paths to false",
          human(plan.host_result_bytes),
          point > 0 ? fmt::format(" and {} per census point ({})", human(point),
                                  e.analysis.krylov() ? "its Lanczos results"
                                  : banded            ? "its Hessian's band"
                                                      : "its Hessian in double")
                    : std::string(),
          human(plan.host_budget)));
    if (point > 0)
      plan.census_chunk = std::min<std::int64_t>(
          plan.census_chunk,
          static_cast<std::int64_t>((plan.host_budget - plan.host_result_bytes) / point));
  }
  return plan;
}

std::string MemoryPlan::describe() const {
  if (chunk == 0) {
    std::string s = fmt::format(
        "memory plan: no trajectories (a finder-only census); {} objective data; {} of finder "
        "state kept on the host",
        human(objective_bytes), human(host_result_bytes));
    if (census_bytes_per_point > 0)
      s += fmt::format("; census: {} per point, {} points at a time", human(census_bytes_per_point),
                       census_chunk);
    return s;
  }
  std::string s = fmt::format(
      "memory plan: {} per trajectory, {} objective data; {} trajectories per chunk, {} chunk{} "
      "per optimizer; peak {} of {} available; {} of results kept on the host",
      human(per_trajectory_bytes), human(objective_bytes), chunk, chunks, chunks == 1 ? "" : "s",
      human(peak_bytes), human(budget), human(host_result_bytes));
  if (census_bytes_per_point > 0)
    s += fmt::format("; census: {} per point, {} points at a time", human(census_bytes_per_point),
                     census_chunk);
  if (host_budget > 0) s += fmt::format(" (host memory: {} available)", human(host_budget));
  return s;
}

}  // namespace saddlescope
