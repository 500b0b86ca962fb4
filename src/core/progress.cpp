// Progress on stderr for long runs (docs/design.md section 2): steps, running
// trajectories and an ETA; in place on a terminal, every 5 s otherwise.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "saddlescope/comm.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

// One progress line: rewritten in place on a terminal (ended by a newline
// when `final`), a line of its own otherwise.
void print_progress(const std::string& line, bool tty, bool final) {
  if (tty) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    if (final) std::fprintf(stderr, "\n");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace

ProgressFn stderr_progress(const Experiment& e) {
  struct State {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last = start;
    bool tty = isatty(fileno(stderr)) != 0;
    bool drew = false;
  };
  auto st = std::make_shared<State>();
  const std::int64_t phase = next_progress_phase();
  const std::size_t opts = e.optimizers.size();
  const std::int64_t steps = e.run.max_steps;
  std::vector<std::string> labels;
  for (const auto& o : e.optimizers) labels.push_back(o.label);
  return [st, opts, steps, labels, phase](std::size_t oi, std::int64_t t, std::int64_t running,
                                          std::int64_t chunk, std::int64_t chunks) {
    const auto now = std::chrono::steady_clock::now();
    const double since_last = std::chrono::duration<double>(now - st->last).count();
    const bool finished = oi + 1 == opts && chunk + 1 == chunks && (running == 0 || t == steps);
    Comm& comm = world();
    const bool due = since_last >= (st->tty ? 0.25 : 5.0) || finished;
    if ((!due && comm.size() == 1) || (comm.size() == 1 && !comm.speaks())) return;
    const double elapsed = std::chrono::duration<double>(now - st->start).count();
    // Fraction of the worst-case work done (every trajectory running to max_steps).
    const double total = static_cast<double>(opts * static_cast<std::size_t>(chunks)) *
                         static_cast<double>(steps + 1);
    const double done = static_cast<double>(oi * static_cast<std::size_t>(chunks) +
                                            static_cast<std::size_t>(chunk)) *
                            static_cast<double>(steps + 1) +
                        static_cast<double>(t + 1);
    if (comm.size() > 1) {           // rank 0 shows the mean over the ranks; the others stay quiet
      if (oi == kProgressAllDone) {  // after the gather: the line ends
        if (comm.speaks() && st->drew)
          print_progress(fmt::format("{} ranks: 100% | every rank finished its trajectories | "
                                     "{:.0f}s elapsed",
                                     comm.size(), elapsed),
                         st->tty, true);
        return;
      }
      const bool waiting = oi == kProgressWaiting;
      const double all = comm.progress(phase, waiting || total <= 0 ? 1.0 : done / total);
      if (!comm.speaks() || since_last < (st->tty ? 0.25 : 5.0)) return;
      st->last = now;
      st->drew = true;
      const double eta = all > 0 ? elapsed * (1 - all) / all : 0.0;
      const std::string where =
          waiting
              ? std::string("rank 0 finished its share, waiting for the others")
              : fmt::format("rank 0: optimizer {}/{} {} | chunk {}/{} | step {}/{} | running {}",
                            oi + 1, opts, labels[oi], chunk + 1, chunks, t, steps, running);
      print_progress(fmt::format("{} ranks: {:.0f}% | {} | {:.0f}s elapsed, at most {:.0f}s left",
                                 comm.size(), 100 * all, where, elapsed, eta),
                     st->tty, false);
      return;
    }
    st->last = now;
    const double eta = done > 0 ? elapsed * (total - done) / done : 0.0;
    const std::string line = fmt::format(
        "optimizer {}/{} {} | chunk {}/{} | step {}/{} | running {} | {:.0f}s elapsed, at most "
        "{:.0f}s left",
        oi + 1, opts, labels[oi], chunk + 1, chunks, t, steps, running, elapsed, eta);
    print_progress(line, st->tty, finished);
  };
}

}  // namespace saddlescope

namespace saddlescope {
namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

PhaseProgress::PhaseProgress(std::string what, bool upper_bound)
    : what_(std::move(what)),
      upper_bound_(upper_bound),
      tty_(isatty(fileno(stderr)) != 0),
      start_(now_seconds()),
      phase_(next_progress_phase()) {}

void PhaseProgress::update(double fraction, const std::string& detail, bool final) {
  Comm& comm = world();
  if (comm.size() > 1)  // rank 0 shows the mean over the ranks (all of them once final)
    fraction = final ? 1.0 : comm.progress(phase_, fraction);
  if (!comm.speaks()) return;
  const double now = now_seconds();
  const bool drew = last_ > -1e299;
  if (!drew && now - start_ < 1.0) return;  // quiet for phases shorter than a second
  if (!final && now - last_ < (tty_ ? 0.25 : 5.0)) return;
  last_ = now;
  const double elapsed = now - start_;
  const double left = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0.0;
  const std::string line =
      fmt::format("{} | {:.0f}% | {} | {:.0f}s elapsed, {}{:.0f}s left", what_, 100 * fraction,
                  detail, elapsed, upper_bound_ ? "at most " : "about ", left);
  print_progress(line, tty_, final);
}

}  // namespace saddlescope
