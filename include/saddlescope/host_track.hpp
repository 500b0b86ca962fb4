// The per-trajectory bookkeeping of an ensemble that keeps it in host
// memory (the CPU ensemble, src/cpu/ensemble.cpp, and the host-driven
// optimizers, src/core/host_optimizers.cpp): the record arrays
// end_iteration writes, the plateau states and plateau point buffers, their
// checkpoint serialization and their copy into an EnsembleResult.
#pragma once

#include <limits>
#include <type_traits>
#include <vector>

#include "backend.hpp"
#include "checkpoint_bytes.hpp"
#include "errors.hpp"

namespace saddlescope {

template <class T>
struct HostTrack {
  std::int64_t count, n;
  std::vector<std::int8_t> outcome;
  std::vector<std::int64_t> steps;
  std::vector<double> f_init, f_final, gnorm_final;
  std::vector<double> accuracy_final;  // a classifier's accuracy at the final point (else empty)
  std::vector<float> curves;           // [record_count, records, 2]
  std::vector<T> paths;                // [record_count, records, n] when record_paths
  std::vector<PlateauState> plateau;
  std::vector<T> pbuf[3];  // plateau point buffers (kernels/plateau.hpp roles), when kept

  // Empty arrays, to be read from a checkpoint (EnsembleState::read).
  HostTrack(std::int64_t trajectories, std::int64_t dim) : count(trajectories), n(dim) {}
  HostTrack(const EnsembleSpec& s, std::int64_t trajectories, std::int64_t dim)
      : count(trajectories), n(dim) {
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    const auto c = static_cast<std::size_t>(count);
    outcome.assign(c, kRunning);
    steps.assign(c, 0);
    f_init.assign(c, nan);
    f_final.assign(c, nan);
    gnorm_final.assign(c, nan);
    if (s.objective->classifies()) accuracy_final.assign(c, nan);
    curves.assign(static_cast<std::size_t>(s.record_count * s.records * 2),
                  std::numeric_limits<float>::quiet_NaN());
    if (s.record_paths)
      paths.assign(static_cast<std::size_t>(s.record_count * s.records * n),
                   std::numeric_limits<T>::quiet_NaN());
    plateau.assign(c, PlateauState{});
    if (s.keep_plateau_points)
      for (auto& b : pbuf)
        b.assign(c * static_cast<std::size_t>(n), std::numeric_limits<T>::quiet_NaN());
  }

  TrajectoryRecords<T> view(const EnsembleSpec& s) {
    return {outcome.data(),
            steps.data(),
            f_init.data(),
            f_final.data(),
            gnorm_final.data(),
            curves.data(),
            paths.empty() ? nullptr : paths.data(),
            s.record_count,
            s.records,
            s.record_every,
            accuracy_final.empty() ? nullptr : accuracy_final.data()};
  }

  std::int64_t running() const {
    std::int64_t r = 0;
    for (const auto o : outcome) r += o == kRunning;
    return r;
  }

  // Where x_t of trajectory b goes when end_iteration marked it the new best
  // of its low-gradient run (null when points are not kept or it is not).
  T* plateau_save(std::int64_t b) {
    const PlateauState& ps = plateau[static_cast<std::size_t>(b)];
    return pbuf[0].empty() || !ps.save ? nullptr : pbuf[ps.role[0]].data() + b * n;
  }

  // The record arrays in checkpoint order (ensemble_state.hpp holds the
  // whole schema): f(array) for each.
  template <class F>
  void each(F&& f) {
    f(outcome);
    f(steps);
    f(f_init);
    f(f_final);
    f(gnorm_final);
    f(accuracy_final);
    f(curves);
    f(paths);
    f(plateau);
    for (auto& b : pbuf) f(b);
  }
  template <class F>
  void each(F&& f) const {
    const_cast<HostTrack*>(this)->each([&f](const auto& v) { f(v); });
  }

  void write(ckpt::Writer& w) const {
    each([&w](const auto& v) { w.vec(v); });
  }

  void read(ckpt::Reader& r) {
    each([&r](auto& v) { v = r.vec<typename std::decay_t<decltype(v)>::value_type>(); });
    if (outcome.size() != static_cast<std::size_t>(count) || plateau.size() != outcome.size())
      throw InputError("checkpoint: the ensemble state does not match this run");
  }

  // Records, plateau statistics and the kept plateau points into r.
  void fill(EnsembleResult& r) const {
    r.outcome = outcome;
    r.steps = steps;
    r.f_init = f_init;
    r.f_final = f_final;
    r.gnorm_final = gnorm_final;
    r.accuracy_final = accuracy_final;
    r.curves = curves;
    r.paths.assign(paths.begin(), paths.end());
    plateau_results(plateau, r);
    if (pbuf[0].empty()) return;
    r.plateau_points.resize(static_cast<std::size_t>(count * n));
    for (std::int64_t b = 0; b < count; ++b) {
      const auto& buf = pbuf[plateau[static_cast<std::size_t>(b)].role[2]];
      for (std::int64_t i = 0; i < n; ++i) r.plateau_points[b * n + i] = buf[b * n + i];
    }
  }
};

}  // namespace saddlescope
