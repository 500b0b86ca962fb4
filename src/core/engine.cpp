// The ensemble engine: for each optimizer, every chunk of trajectories runs
// from the same starts on the chosen backend; the host looks at the device
// only every kHostLook iterations (running count, progress, early exit).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "checkpoint.hpp"
#include "saddlescope/comm.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/krylov.hpp"
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

namespace {

void append_result(EnsembleResult& to, const EnsembleResult& r) {
  append(to.outcome, r.outcome);
  append(to.steps, r.steps);
  append(to.f_init, r.f_init);
  append(to.f_final, r.f_final);
  append(to.gnorm_final, r.gnorm_final);
  append(to.accuracy_final, r.accuracy_final);
  append(to.curves, r.curves);
  append(to.paths, r.paths);
  append(to.finals, r.finals);
  append(to.plateau_count, r.plateau_count);
  append(to.plateau_steps, r.plateau_steps);
  append(to.longest_plateau, r.longest_plateau);
  append(to.first_escape_step, r.first_escape_step);
  append(to.plateau_step, r.plateau_step);
  append(to.target_step, r.target_step);
  append(to.plateau_f, r.plateau_f);
  append(to.plateau_g, r.plateau_g);
  append(to.plateau_points, r.plateau_points);
}

// Every rank's results of one optimizer, in rank order (contiguous shares of
// the trajectories), as one process would have them (docs/design.md II.6):
// the per-trajectory records on every rank (each lists the census's
// points), the coordinates (final points, plateau points, recorded paths:
// N values per trajectory) on rank 0 only, which writes them and hands each
// rank its census points.
OptimizerResult gather_optimizer(Comm& comm, OptimizerResult mine) {
  if (comm.size() == 1) return mine;
  ckpt::Writer coords;
  coords.vec(mine.traj.finals);
  coords.vec(mine.traj.plateau_points);
  coords.vec(mine.traj.paths);
  mine.traj.finals = {};
  mine.traj.plateau_points = {};
  mine.traj.paths = {};
  ckpt::Writer w;
  ckpt::write_optimizer(w, mine);
  OptimizerResult all;
  all.label = mine.label;
  for (const Bytes& b : comm.allgather(w.bytes())) {
    ckpt::Reader r(b, "a share gathered from another rank");
    const OptimizerResult o = ckpt::read_optimizer(r);
    append_result(all.traj, o.traj);
    append(all.target_seconds, o.target_seconds);
    all.seconds = std::max(all.seconds, o.seconds);  // the ranks ran side by side
  }
  for (const Bytes& b : comm.gather(coords.bytes())) {  // rank 0: every rank's, in order
    ckpt::Reader r(b, "the coordinates of another rank's share");
    append(all.traj.finals, r.vec<double>());
    append(all.traj.plateau_points, r.vec<double>());
    append(all.traj.paths, r.vec<double>());
  }
  return all;
}

}  // namespace

Experiment rank_experiment(const Experiment& e, int rank, int ranks) {
  Experiment r = e;
  r.run.trajectories = share_of(e.run.trajectories, rank, ranks).count;
  r.run.record_trajectories = std::min(r.run.record_trajectories, r.run.trajectories);
  r.finder.starts = share_of(e.finder.starts, rank, ranks).count;
  return r;
}

Experiment rank_experiment(const Experiment& e, const Comm& comm) {
  return rank_experiment(e, comm.rank(), comm.size());
}

void check_ranks(const Experiment& e, int ranks) {
  if (ranks > 1 && !e.optimizers.empty() && e.run.trajectories < ranks)
    throw InputError(fmt::format(
        "{} ranks share {} trajectories: every rank needs at least one; run with mpirun -np {} "
        "or fewer, or raise run.trajectories",
        ranks, e.run.trajectories, e.run.trajectories));
}

void check_ranks(const Experiment& e, const Comm& comm) { check_ranks(e, comm.size()); }

std::string checkpoint_file(const std::string& dir) {
  const Comm& comm = world();
  return (std::filesystem::path(dir) /
          (comm.size() == 1
               ? std::string("checkpoint.bin")
               : fmt::format("checkpoint.rank-{}-of-{}.bin", comm.rank(), comm.size())))
      .string();
}

int checkpoint_ranks(const std::string& filename) {
  if (filename == "checkpoint.bin") return 1;
  int k = -1, r = 0, end = 0;
  if (std::sscanf(filename.c_str(), "checkpoint.rank-%d-of-%d.bin%n", &k, &r, &end) == 2 &&
      end == static_cast<int>(filename.size()) && k >= 0 && k < r)
    return r;
  return 0;
}

std::vector<std::string> checkpoint_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec))
    if (checkpoint_ranks(f.path().filename().string()) > 0) out.push_back(f.path().string());
  return out;
}

RunResult run_experiment(const Experiment& e, Backend& backend, const ProgressFn& progress,
                         const Checkpointing* cp) {
  const auto t_all = std::chrono::steady_clock::now();
  RunResult out;
  out.backend = backend.name();
  out.device = backend.device();
  check_start_file(e);
  Comm& comm = world();
  check_ranks(e, comm);
  // This rank's trajectories (all of them in one process), planned as a run of its own.
  const Share sh = comm.share(e.run.trajectories);
  out.plan = plan_memory(rank_experiment(e, comm), backend);

  const auto t_obj = std::chrono::steady_clock::now();
  const ObjectiveData obj = build_objective(e, backend.host_linalg());
  out.seconds_objective = seconds_since(t_obj);

  const std::int64_t b_total = sh.count;
  std::int64_t chunk = out.plan.chunk, chunks = out.plan.chunks;
  const bool census = e.analysis.method != "none";
  const bool want_finals =
      e.run.save_final_points || (census && analysis_wants(e.analysis, "stops"));

  // Checkpointing: where to start, and what was finished before.
  const bool checkpoints = cp && !cp->path.empty();
  const std::string config = to_toml(e);
  ckpt::State resume_from;
  // Under MPI a rank killed before its first checkpoint starts its share again.
  if (checkpoints && cp->resume && (comm.size() == 1 || std::filesystem::exists(cp->path))) {
    resume_from = ckpt::load(cp->path);
    if (resume_from.ranks != comm.size())
      throw InputError(fmt::format(
          "{}: the run was checkpointed by {} process{}; resume it with the same number "
          "({}): each rank's checkpoint holds its own share of the work",
          cp->path, resume_from.ranks, resume_from.ranks == 1 ? "" : "es",
          resume_from.ranks == 1 ? "saddlescope run --resume, without mpirun"
                                 : fmt::format("mpirun -np {}", resume_from.ranks)));
    if (resume_from.config != config)
      throw InputError(fmt::format(
          "{}: the checkpoint belongs to a different experiment than config.toml", cp->path));
    if (resume_from.backend != backend.name())
      throw InputError(fmt::format(
          "{}: the run was checkpointed on the {} backend; resume it there (--backend {}): "
          "results are only reproducible on the same backend",
          cp->path, resume_from.backend, resume_from.backend));
    // The chunking of the interrupted run (the memory budget may differ now;
    // results do not depend on the chunking, the checkpoint's positions do).
    if (resume_from.chunk_size >= 1 && resume_from.chunk_size <= b_total) {
      chunk = resume_from.chunk_size;
      chunks = (b_total + chunk - 1) / chunk;
    }
    if ((chunks > 0 && resume_from.chunk >= chunks) ||
        resume_from.optimizer > e.optimizers.size() ||
        resume_from.done.size() < resume_from.optimizer)
      throw InputError(
          fmt::format("{}: the checkpoint does not match this run's chunks "
                      "(a different memory budget?)",
                      cp->path));
  }
  auto last_save = std::chrono::steady_clock::now();
  auto save = [&](std::size_t oi, std::int64_t c, std::int64_t t,
                  std::vector<std::uint8_t> ens_state, const OptimizerResult* partial,
                  std::vector<std::uint8_t> census_state = {}) {
    ckpt::State st;
    st.config = config;
    st.ranks = comm.size();
    st.backend = backend.name();
    st.optimizer = oi;
    st.chunk = c;
    st.chunk_size = chunk;
    st.iteration = t;
    st.ensemble = std::move(ens_state);
    st.done = out.optimizers;
    if (partial) st.done.push_back(*partial);
    st.census = std::move(census_state);
    ckpt::save(cp->path, st);
    last_save = std::chrono::steady_clock::now();
  };
  // A signal, or another rank that failed (it asked every rank to stop).
  auto stop_requested = [&] {
    return (checkpoints && cp->stop && *cp->stop) || comm.stop_requested();
  };
  auto interrupted = [&] {
    const std::string dir = std::filesystem::path(cp->path).parent_path().string();
    return Interrupted(
        fmt::format("{}: finished work saved in {}; continue with: {}saddlescope run --resume {}",
                    comm.stop_requested() ? comm.why() : "interrupted", cp->path,
                    comm.size() > 1 ? fmt::format("mpirun -np {} ", comm.size()) : "", dir));
  };

  const std::size_t first_opt = checkpoints && cp->resume ? resume_from.optimizer : 0;
  for (std::size_t oi = 0; oi < first_opt; ++oi) out.optimizers.push_back(resume_from.done[oi]);
  for (std::size_t oi = first_opt; oi < e.optimizers.size(); ++oi) {
    const bool resuming = checkpoints && cp->resume && oi == first_opt;
    const auto t0 = std::chrono::steady_clock::now();
    OptimizerResult res;
    res.label = e.optimizers[oi].label;
    if (resuming && resume_from.done.size() > oi) res = resume_from.done[oi];
    const double seconds_before = res.seconds;
    for (std::int64_t c = resuming ? resume_from.chunk : 0; c < chunks; ++c) {
      const std::int64_t first = sh.first + c * chunk;  // global trajectory index
      const std::int64_t count = std::min(chunk, sh.end() - first);
      EnsembleSpec spec;
      spec.objective = &obj;
      spec.optimizer = e.optimizers[oi].params;
      spec.precision = e.run.precision;
      spec.count = count;
      spec.first = first;
      spec.stop = StopRule{e.run.grad_tol, e.run.diverge_above, e.run.max_steps, e.run.target_loss,
                           e.run.target_accuracy};
      spec.record_count = std::clamp<std::int64_t>(e.run.record_trajectories - first, 0, count);
      spec.record_every = e.run.record_every;
      spec.records = e.records();
      // Sharpness is measured along the recorded paths once the optimizer is done.
      spec.record_paths = e.run.record_paths || e.run.sharpness_every > 0;
      spec.plateau = e.plateau;
      spec.keep_plateau_points = census && analysis_wants(e.analysis, "plateaus");
      const auto t_chunk = std::chrono::steady_clock::now();
      auto ens = host_driven(spec.optimizer.kind) ? make_host_ensemble(spec, backend)
                                                  : backend.make_ensemble(spec);
      ens->set_starts(make_starts(e, first, count));
      std::int64_t t_begin = 0;
      if (resuming && c == resume_from.chunk && !resume_from.ensemble.empty()) {
        ens->load_state(resume_from.ensemble);
        t_begin = resume_from.iteration + 1;
      }
      std::int64_t iterations = 0;
      for (std::int64_t t = t_begin; t <= e.run.max_steps; ++t) {
        ens->iterate(t);
        ++iterations;
        if ((t + 1) % kHostLook == 0 || t == e.run.max_steps) {
          const std::int64_t running = ens->running();
          if (progress) progress(oi, t, running, c, chunks);
          if (running == 0) break;
          if (checkpoints && t < e.run.max_steps &&
              (stop_requested() || seconds_since(last_save) >= cp->every_seconds)) {
            res.seconds = seconds_before + seconds_since(t0);
            save(oi, c, t, ens->save_state(), &res);
            if (stop_requested()) throw interrupted();
          }
        }
      }
      EnsembleResult r = ens->result(want_finals);
      const double per_iteration = seconds_since(t_chunk) / static_cast<double>(iterations);
      for (const std::int64_t s : r.target_step)
        res.target_seconds.push_back(s >= 0 ? static_cast<double>(s) * per_iteration
                                            : std::nan(""));
      append_result(res.traj, r);
      if (checkpoints && c + 1 < chunks &&
          (stop_requested() || seconds_since(last_save) >= cp->every_seconds)) {
        res.seconds = seconds_before + seconds_since(t0);
        save(oi, c + 1, -1, {}, &res);
        if (stop_requested()) throw interrupted();
      }
    }
    res.seconds = seconds_before + seconds_since(t0);
    out.optimizers.push_back(std::move(res));
    // Always after an optimizer (and so before the census): what is finished stays finished.
    if (checkpoints) {
      save(oi + 1, 0, -1, {}, nullptr);
      if (stop_requested()) throw interrupted();
    }
  }
  // The ranks' shares, gathered (each rank's checkpoint keeps its own share);
  // rank 0's progress line moves on while it waits for the others.
  if (comm.size() > 1) {
    std::optional<WaitHook> waiting;
    if (progress) waiting.emplace(comm, [&] { progress(kProgressWaiting, 0, 0, 0, 1); });
    for (OptimizerResult& res : out.optimizers) res = gather_optimizer(comm, std::move(res));
    waiting.reset();
    if (progress) progress(kProgressAllDone, 0, 0, 0, 1);
  }
  for (OptimizerResult& res : out.optimizers) {
    if (e.run.sharpness_every > 0 && comm.root()) {  // from the recorded paths (rank 0's)
      res.sharpness = path_sharpness(e, obj, backend, res.traj.paths);
      if (!e.run.record_paths) res.traj.paths = {};
    }
    res.trajectory_steps = 0;
    for (auto s : res.traj.steps) res.trajectory_steps += s;
  }
  if (census) {
    const auto t_census = std::chrono::steady_clock::now();
    out.has_census = true;
    // The finder and the census checkpoint their own state (after every
    // finder step and Hessian group, when due), so a stop there is quick.
    CensusCheckpoint ccp;
    ccp.stopping = stop_requested;
    ccp.due = [&] { return stop_requested() || seconds_since(last_save) >= cp->every_seconds; };
    ccp.save = [&](const std::vector<std::uint8_t>& state, bool stopping) {
      save(e.optimizers.size(), 0, -1, {}, nullptr, state);
      if (stopping) throw interrupted();
    };
    const bool census_resume = checkpoints && cp->resume && first_opt == e.optimizers.size();
    out.census =
        run_census(e, obj, out, backend, checkpoints ? &ccp : nullptr,
                   census_resume ? &resume_from.census : nullptr, static_cast<bool>(progress));
    out.census.seconds = seconds_since(t_census);
  }
  out.seconds_total = seconds_since(t_all);
  return out;
}

}  // namespace saddlescope
