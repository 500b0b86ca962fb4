// The state of a descent ensemble as a checkpoint stores it, for both
// backends (docs/design.md section 4, checkpoints): the iterate buffers, the
// optimizer states, the records of host_track.hpp and perturbed-gd's
// schedule, in this order. The CPU ensemble keeps its state in one of these;
// the CUDA ensemble downloads its device arrays into one to save and reads
// one, checks it and uploads it to load. Written and read here only, so the
// two backends cannot drift apart.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "checkpoint_bytes.hpp"
#include "errors.hpp"
#include "host_track.hpp"

namespace saddlescope {

template <class T>
struct EnsembleState {
  std::vector<T> x[2];    // x_t and x_{t+1} (double-buffered; a row's current one: steps % 2)
  std::vector<T> s1, s2;  // the optimizer's states [count, n] (empty when it has fewer)
  HostTrack<T> track;     // records, plateau states and plateau point buffers
  std::vector<std::int64_t> last_perturb;  // perturbed-gd: iteration of the last perturbation
  std::vector<std::int8_t> perturb_now;    // perturbed-gd: perturb x_{t+1} at iteration t + 1

  EnsembleState(const EnsembleSpec& s, std::int64_t count, std::int64_t n) : track(s, count, n) {}
  // Empty arrays, to be read.
  EnsembleState(std::int64_t count, std::int64_t n) : track(count, n) {}

  // Every array in checkpoint order: the schema.
  template <class F>
  void each(F&& f) {
    f(x[0]);
    f(x[1]);
    f(s1);
    f(s2);
    track.each(f);
    f(last_perturb);
    f(perturb_now);
  }
  template <class F>
  void each(F&& f) const {
    const_cast<EnsembleState*>(this)->each([&f](const auto& v) { f(v); });
  }

  std::vector<std::uint8_t> bytes() const {
    ckpt::Writer w;
    each([&w](const auto& v) { w.vec(v); });
    return w.bytes();
  }

  // The arrays' sizes in checkpoint order.
  std::vector<std::size_t> sizes() const {
    std::vector<std::size_t> z;
    each([&z](const auto& v) { z.push_back(v.size()); });
    return z;
  }

  // Reads a state saved by bytes() into this one, whose arrays must then
  // have the sizes `want` (in checkpoint order; by default this state's
  // own); throws InputError, naming `what`, on any difference or damage,
  // before this state has changed.
  void read(const std::vector<std::uint8_t>& state, const std::string& what) {
    read(state, what, sizes());
  }
  void read(const std::vector<std::uint8_t>& state, const std::string& what,
            const std::vector<std::size_t>& want) {
    EnsembleState in(track.count, track.n);
    ckpt::Reader rd(state, what);
    in.each([&rd](auto& v) { v = rd.vec<typename std::decay_t<decltype(v)>::value_type>(); });
    if (!rd.done())
      throw InputError(what + ": the ensemble state does not match this run (trailing data)");
    const std::vector<std::size_t> got = in.sizes();
    for (std::size_t k = 0; k < want.size() && k < got.size(); ++k)
      if (want[k] != got[k])
        throw InputError(what + ": the ensemble state does not match this run (array " +
                         std::to_string(k) + " has " + std::to_string(got[k]) +
                         " elements where this ensemble has " + std::to_string(want[k]) + ")");
    // The roles index the three plateau point buffers: each state's must be
    // a permutation of 0, 1, 2.
    for (const PlateauState& ps : in.track.plateau) {
      const int a = ps.role[0], b = ps.role[1], c = ps.role[2];
      if (a < 0 || a > 2 || b < 0 || b > 2 || c < 0 || c > 2 || a == b || a == c || b == c)
        throw InputError(what + ": the ensemble state is damaged (plateau buffer roles)");
    }
    *this = std::move(in);
  }
};

}  // namespace saddlescope
