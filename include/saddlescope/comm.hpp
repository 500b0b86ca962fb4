// Processes sharing one run (docs/design.md II.6, many processes):
// under `mpirun -np R` every rank computes a contiguous share of each
// optimizer's trajectories, of the finder's starts and of the census's
// points; the shares are gathered in rank order, so the results are those of
// one process, and rank 0 alone writes the run directory. Core sees the ranks
// only through Comm; the MPI implementation is src/mpi/ (built when CMake
// finds MPI), the single-process one is the default.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "saddlescope/errors.hpp"

namespace saddlescope {

// Items [first, first + count) of a list of `total`: the shares of ranks
// 0 .. size-1 are contiguous and in rank order; the first total % size ranks
// take one more.
struct Share {
  std::int64_t first = 0, count = 0;
  std::int64_t end() const { return first + count; }
};
Share share_of(std::int64_t total, int rank, int size);

using Bytes = std::vector<std::uint8_t>;

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  bool root() const { return rank() == 0; }
  // Whether this process prints progress lines: rank 0 of the whole job
  // (a group's rank 0 in a sweep's groups only when it is that one too).
  virtual bool speaks() const { return rank() == 0; }
  // Ranks on this node and this rank's place among them (devices, threads).
  virtual int local_rank() const { return 0; }
  virtual int local_size() const { return 1; }
  Share share(std::int64_t total) const { return share_of(total, rank(), size()); }

  // Collectives (every rank calls them, in the same order). While one waits
  // for the others it watches for a stop (stop_requested) and throws
  // Interrupted when another rank failed.
  // Every rank's bytes, in rank order, on every rank.
  virtual std::vector<Bytes> allgather(const Bytes& mine) { return {mine}; }
  // Every rank's bytes, in rank order, on rank 0; an empty list elsewhere.
  virtual std::vector<Bytes> gather(const Bytes& mine) { return {mine}; }
  // Rank 0's parts[r] on rank r (parts is read on rank 0 only).
  virtual Bytes scatter(const std::vector<Bytes>& parts) { return parts.at(0); }
  // Rank 0's value on every rank.
  virtual std::int64_t broadcast(std::int64_t v) { return v; }
  std::string broadcast_text(const std::string& text) {
    const std::vector<Bytes> all = allgather(Bytes(text.begin(), text.end()));
    return {all[0].begin(), all[0].end()};
  }
  // The largest of the ranks' values, on every rank.
  virtual std::int64_t max(std::int64_t v) { return v; }
  // Collective: the ranks of equal `color` as a Comm of their own (ranks in
  // this Comm's order); a stop anywhere in this Comm reaches it too. A
  // sweep's groups run their points this way.
  virtual std::unique_ptr<Comm> split(int color) {
    (void)color;
    return std::make_unique<Comm>();
  }
  // The end of a command: every rank's exit code and error message meet;
  // rank 0 prints the failures, naming the ranks; every rank returns the
  // largest code. A failing rank first asks the others to stop (they
  // checkpoint at their next look and arrive here too).
  virtual int finish(int code, const std::string& message, bool from_peer);

  // What the gathers cost this rank so far: waiting for the other ranks to
  // arrive (load imbalance), moving the bytes, and the bytes it received
  // (summary.json timings.mpi; bench/mpi_gather.py).
  struct Traffic {
    double wait_s = 0, transfer_s = 0;
    std::uint64_t bytes = 0;
  };
  virtual Traffic traffic() const { return {}; }

  // Not collective: `f` is called every quarter second while this rank waits
  // for the others before a collective (rank 0 keeps its progress line
  // moving); an empty function ends that. WaitHook sets and clears it.
  virtual void on_wait(std::function<void()> f) { (void)f; }

  // Not collective. True once another rank asked every rank to stop (it
  // failed or was interrupted); why() says which rank and why.
  virtual bool stop_requested() { return false; }
  virtual std::string why() const { return {}; }
  // Not collective: this rank's fraction done of progress phase `phase` (a
  // counter every rank advances alike); returns the mean over the ranks on
  // rank 0 (ranks in a later phase count as done), this rank's own elsewhere.
  virtual double progress(std::int64_t phase, double fraction) {
    (void)phase;
    return fraction;
  }
};

// The processes of this command: one, unless main installed an MPI Comm;
// inside a UseComm scope, that scope's Comm (a sweep's group).
Comm& world();
void set_world(std::unique_ptr<Comm> c);
class UseComm {
 public:
  explicit UseComm(Comm& c);
  ~UseComm();
  UseComm(const UseComm&) = delete;
  UseComm& operator=(const UseComm&) = delete;

 private:
  Comm* previous_;
};
// A fresh progress phase number (PhaseProgress and the engine's progress take one each).
std::int64_t next_progress_phase();

// Calls `f` while `comm` waits for the other ranks, for this scope's life.
class WaitHook {
 public:
  WaitHook(Comm& comm, std::function<void()> f) : comm_(comm) { comm_.on_wait(std::move(f)); }
  ~WaitHook() { comm_.on_wait({}); }
  WaitHook(const WaitHook&) = delete;
  WaitHook& operator=(const WaitHook&) = delete;

 private:
  Comm& comm_;
};

// Pieces of per-point arrays as bytes: rows [first, first + count) of `v`,
// each `width` values wide, appended to / read back from a byte record.
template <class W, class T>
void put_rows(W& w, const std::vector<T>& v, std::int64_t width, Share s) {
  w.vec(std::vector<T>(v.begin() + s.first * width, v.begin() + s.end() * width));
}
template <class R, class T>
void get_rows(R& r, std::vector<T>& v, std::int64_t width, Share s) {
  const std::vector<T> part = r.template vec<T>();
  if (static_cast<std::int64_t>(part.size()) != s.count * width ||
      static_cast<std::int64_t>(v.size()) < s.end() * width)
    throw Error("a share gathered from another rank has the wrong size", 1);
  std::copy(part.begin(), part.end(), v.begin() + s.first * width);
}

}  // namespace saddlescope
