// Processes sharing one run (see comm.hpp; docs/design.md II.6).
#include "saddlescope/comm.hpp"

#include <atomic>
#include <cstdio>

namespace saddlescope {

Share share_of(std::int64_t total, int rank, int size) {
  const std::int64_t r = rank, p = size < 1 ? 1 : size;
  const std::int64_t base = total / p, extra = total % p;
  Share s;
  s.count = base + (r < extra ? 1 : 0);
  s.first = r * base + (r < extra ? r : extra);
  return s;
}

int Comm::finish(int code, const std::string& message, bool from_peer) {
  (void)from_peer;
  if (code != 0 && !message.empty())
    std::fprintf(stderr, "saddlescope: error: %s\n", message.c_str());
  return code;
}

namespace {
std::unique_ptr<Comm>& installed() {
  static std::unique_ptr<Comm> c = std::make_unique<Comm>();
  return c;
}
std::atomic<std::int64_t> g_phase{0};
Comm* g_scope = nullptr;
}  // namespace

Comm& world() { return g_scope ? *g_scope : *installed(); }
UseComm::UseComm(Comm& c) : previous_(g_scope) { g_scope = &c; }
UseComm::~UseComm() { g_scope = previous_; }
void set_world(std::unique_ptr<Comm> c) {
  installed() = c ? std::move(c) : std::make_unique<Comm>();
}
std::int64_t next_progress_phase() { return ++g_phase; }

}  // namespace saddlescope
