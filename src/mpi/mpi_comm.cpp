// The MPI Comm (mpi_comm.hpp). Data moves on one duplicate of
// MPI_COMM_WORLD, progress and stop notes on a second, the end of the
// command meets on a third, so that a note never matches a collective's
// message and a rank stopped inside a collective can still end cleanly.
// Every wait is a poll (MPI_Ibarrier + MPI_Test), so a waiting rank sees a
// stop note from a rank that failed instead of waiting for ever.
#include "src/mpi/mpi_comm.hpp"

#include <fmt/format.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <map>

#include "saddlescope/errors.hpp"

namespace saddlescope {
namespace {

constexpr int kProgressTag = 1, kStopTag = 2, kDataTag = 3;
constexpr std::int64_t kPiece = std::int64_t{1} << 30;  // bytes per MPI call (counts are int)

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw Error(
        fmt::format("MPI: {} failed: {}", what, std::string(text, static_cast<std::size_t>(len))),
        1);
  }
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// "0-2, 4" for ranks {0, 1, 2, 4}.
std::string rank_list(const std::vector<int>& r) {
  std::string out;
  for (std::size_t i = 0; i < r.size();) {
    std::size_t j = i;
    while (j + 1 < r.size() && r[j + 1] == r[j] + 1) ++j;
    out += (out.empty() ? "" : ", ") +
           (j == i ? std::to_string(r[i]) : fmt::format("{}-{}", r[i], r[j]));
    i = j + 1;
  }
  return out;
}

class MpiComm final : public Comm {
 public:
  // Over `base` (MPI_COMM_WORLD, or a group split from a parent whose stop
  // notes it watches too).
  explicit MpiComm(MPI_Comm base, MpiComm* parent = nullptr) : parent_(parent) {
    check(MPI_Comm_dup(base, &data_), "MPI_Comm_dup");
    check(MPI_Comm_dup(base, &notes_), "MPI_Comm_dup");
    check(MPI_Comm_dup(base, &end_), "MPI_Comm_dup");
    MPI_Comm_rank(base, &rank_);
    MPI_Comm_size(base, &size_);
    MPI_Comm node;
    check(MPI_Comm_split_type(base, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_size(node, &local_size_);
    MPI_Comm_free(&node);
    latest_.assign(static_cast<std::size_t>(size_), {0.0, 0.0});
  }

  bool speaks() const override { return rank_ == 0 && (!parent_ || parent_->speaks()); }

  std::unique_ptr<Comm> split(int color) override {
    arrive();
    MPI_Comm group;
    check(MPI_Comm_split(data_, color, rank_, &group), "MPI_Comm_split");
    auto c = std::make_unique<MpiComm>(group, this);
    MPI_Comm_free(&group);
    return c;
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  Traffic traffic() const override { return traffic_; }

  std::vector<Bytes> allgather(const Bytes& mine) override {
    const std::vector<std::int64_t> sizes = sizes_of(mine);
    const double t0 = now();
    std::vector<Bytes> all(static_cast<std::size_t>(size_));
    for (int r = 0; r < size_; ++r) {
      Bytes& b = all[static_cast<std::size_t>(r)];
      if (r == rank_)
        b = mine;
      else
        b.resize(static_cast<std::size_t>(sizes[static_cast<std::size_t>(r)]));
      in_pieces(b.data(), static_cast<std::int64_t>(b.size()), [&](std::uint8_t* p, int c) {
        check(MPI_Bcast(p, c, MPI_BYTE, r, data_), "MPI_Bcast");
      });
    }
    moved(t0, sizes, true);
    return all;
  }

  std::vector<Bytes> gather(const Bytes& mine) override {
    const std::vector<std::int64_t> sizes = sizes_of(mine);
    const double t0 = now();
    std::vector<Bytes> all;
    if (rank_ != 0) {
      send(mine, 0);
      moved(t0, sizes, false);
      return all;
    }
    all.resize(static_cast<std::size_t>(size_));
    all[0] = mine;
    for (int r = 1; r < size_; ++r) {
      all[static_cast<std::size_t>(r)].resize(
          static_cast<std::size_t>(sizes[static_cast<std::size_t>(r)]));
      receive(all[static_cast<std::size_t>(r)], r);
    }
    moved(t0, sizes, true);
    return all;
  }

  Bytes scatter(const std::vector<Bytes>& parts) override {
    arrive();
    const double t0 = now();
    std::vector<std::int64_t> sizes(static_cast<std::size_t>(size_));
    if (rank_ == 0)
      for (int r = 0; r < size_; ++r)
        sizes[static_cast<std::size_t>(r)] =
            static_cast<std::int64_t>(parts.at(static_cast<std::size_t>(r)).size());
    std::int64_t n = 0;
    check(MPI_Scatter(sizes.data(), 1, MPI_INT64_T, &n, 1, MPI_INT64_T, 0, data_), "MPI_Scatter");
    Bytes mine;
    if (rank_ == 0) {
      mine = parts[0];
      for (int r = 1; r < size_; ++r) send(parts[static_cast<std::size_t>(r)], r);
    } else {
      mine.resize(static_cast<std::size_t>(n));
      receive(mine, 0);
      traffic_.bytes += static_cast<std::uint64_t>(n);
    }
    traffic_.transfer_s += now() - t0;
    return mine;
  }

  std::int64_t broadcast(std::int64_t v) override {
    arrive();
    check(MPI_Bcast(&v, 1, MPI_INT64_T, 0, data_), "MPI_Bcast");
    return v;
  }

  std::int64_t max(std::int64_t v) override {
    arrive();
    std::int64_t out = v;
    check(MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_MAX, data_), "MPI_Allreduce");
    return out;
  }

  void on_wait(std::function<void()> f) override { wait_hook_ = std::move(f); }

  bool stop_requested() override {
    poll();
    return stop_;
  }
  std::string why() const override { return why_; }

  double progress(std::int64_t phase, double fraction) override {
    poll();
    const double t = now();
    if (rank_ != 0) {
      if (t - last_sent_ < 0.25 && fraction < 1) return fraction;
      int done = 1;
      if (progress_req_ != MPI_REQUEST_NULL) MPI_Test(&progress_req_, &done, MPI_STATUS_IGNORE);
      if (!done) return fraction;
      progress_buf_[0] = static_cast<double>(phase);
      progress_buf_[1] = fraction;
      MPI_Isend(progress_buf_, 2, MPI_DOUBLE, 0, kProgressTag, notes_, &progress_req_);
      last_sent_ = t;
      return fraction;
    }
    latest_[0] = {static_cast<double>(phase), fraction};
    double sum = 0;
    for (const auto& [p, f] : latest_)
      sum += p > static_cast<double>(phase) ? 1.0 : p < static_cast<double>(phase) ? 0.0 : f;
    return sum / size_;
  }

  int finish(int code, const std::string& message, bool from_peer) override {
    std::vector<MPI_Request> sent;
    const std::string note = fmt::format("{}\n{}", code, message);
    if (code != 0 && !from_peer && !stop_)  // ask the others to stop
      for (int r = 0; r < size_; ++r) {
        if (r == rank_) continue;
        sent.emplace_back();
        MPI_Isend(note.data(), static_cast<int>(note.size()), MPI_CHAR, r, kStopTag, notes_,
                  &sent.back());
      }
    // Every rank arrives here: the failing ones at once, the others at their
    // next look (after checkpointing) or inside a collective's wait.
    MPI_Request req;
    MPI_Ibarrier(end_, &req);
    for (int done = 0;;) {
      MPI_Test(&req, &done, MPI_STATUS_IGNORE);
      if (done) break;
      poll();
      usleep(1000);
    }
    poll();
    if (!sent.empty()) MPI_Waitall(static_cast<int>(sent.size()), sent.data(), MPI_STATUSES_IGNORE);
    if (progress_req_ != MPI_REQUEST_NULL) MPI_Wait(&progress_req_, MPI_STATUS_IGNORE);
    // Rank 0 names each failure once, with the ranks that had it.
    const std::string mine = fmt::format("{}\n{}\n{}", code, from_peer ? 1 : 0, message);
    int len = static_cast<int>(mine.size());
    std::vector<int> lens(static_cast<std::size_t>(size_)), displs(lens.size());
    MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, end_);
    std::string all;
    if (rank_ == 0) {
      int total = 0;
      for (std::size_t r = 0; r < lens.size(); ++r) displs[r] = total, total += lens[r];
      all.resize(static_cast<std::size_t>(total));
    }
    MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, 0,
                end_);
    int worst = code;
    MPI_Allreduce(&code, &worst, 1, MPI_INT, MPI_MAX, end_);
    if (rank_ == 0) report(all, lens, displs);
    MPI_Finalize();
    return worst;
  }

 private:
  // MPI counts are int: large buffers move in pieces of kPiece bytes.
  template <class P, class F>
  static void in_pieces(P* p, std::int64_t n, F&& f) {
    for (std::int64_t at = 0; at < n; at += kPiece)
      f(p + at, static_cast<int>(std::min(kPiece, n - at)));
  }
  void send(const Bytes& b, int to) {
    in_pieces(b.data(), static_cast<std::int64_t>(b.size()), [&](const std::uint8_t* p, int c) {
      check(MPI_Send(p, c, MPI_BYTE, to, kDataTag, data_), "MPI_Send");
    });
  }
  // Into b, sized by the caller.
  void receive(Bytes& b, int from) {
    in_pieces(b.data(), static_cast<std::int64_t>(b.size()), [&](std::uint8_t* p, int c) {
      check(MPI_Recv(p, c, MPI_BYTE, from, kDataTag, data_, MPI_STATUS_IGNORE), "MPI_Recv");
    });
  }

  void moved(double t0, const std::vector<std::int64_t>& sizes, bool received) {
    traffic_.transfer_s += now() - t0;
    if (received)
      for (int r = 0; r < size_; ++r)
        if (r != rank_)
          traffic_.bytes += static_cast<std::uint64_t>(sizes[static_cast<std::size_t>(r)]);
  }

  std::vector<std::int64_t> sizes_of(const Bytes& mine) {
    const double t0 = now();
    arrive();
    traffic_.wait_s += now() - t0;
    std::int64_t n = static_cast<std::int64_t>(mine.size());
    std::vector<std::int64_t> sizes(static_cast<std::size_t>(size_));
    check(MPI_Allgather(&n, 1, MPI_INT64_T, sizes.data(), 1, MPI_INT64_T, data_), "MPI_Allgather");
    return sizes;
  }

  // Waits until every rank has arrived at the next collective, watching the notes.
  void arrive() {
    if (size_ == 1) return;
    MPI_Request req;
    check(MPI_Ibarrier(data_, &req), "MPI_Ibarrier");
    double shown = now();
    for (int done = 0;;) {
      MPI_Test(&req, &done, MPI_STATUS_IGNORE);
      if (done) return;
      poll();
      if (stop_) throw Interrupted(why_);
      if (wait_hook_ && now() - shown >= 0.25) {
        wait_hook_();
        shown = now();
      }
      usleep(500);
    }
  }

  void poll() {
    if (parent_) {  // a stop anywhere in the job
      parent_->poll();
      if (parent_->stop_ && !stop_) {
        stop_ = true;
        why_ = parent_->why_;
      }
    }
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, notes_, &flag, &st);
      if (!flag) return;
      if (st.MPI_TAG == kProgressTag) {
        double b[2];
        MPI_Recv(b, 2, MPI_DOUBLE, st.MPI_SOURCE, kProgressTag, notes_, MPI_STATUS_IGNORE);
        latest_[static_cast<std::size_t>(st.MPI_SOURCE)] = {b[0], b[1]};
        continue;
      }
      int n = 0;
      MPI_Get_count(&st, MPI_CHAR, &n);
      std::string text(static_cast<std::size_t>(n), '\0');
      MPI_Recv(text.data(), n, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, notes_, MPI_STATUS_IGNORE);
      if (!stop_) {
        stop_ = true;
        why_ = fmt::format("stopped because rank {} of {} stopped", st.MPI_SOURCE, size_);
      }
    }
  }

  void report(const std::string& all, const std::vector<int>& lens,
              const std::vector<int>& displs) const {
    std::map<std::string, std::vector<int>> failures, stopped;  // message -> ranks
    for (int r = 0; r < size_; ++r) {
      const std::string s =
          all.substr(static_cast<std::size_t>(displs[static_cast<std::size_t>(r)]),
                     static_cast<std::size_t>(lens[static_cast<std::size_t>(r)]));
      const std::size_t a = s.find('\n'), b = s.find('\n', a + 1);
      const int c = std::atoi(s.substr(0, a).c_str());
      const bool peer = s.substr(a + 1, b - a - 1) == "1";
      const std::string msg = s.substr(b + 1);
      if (c != 0 && !msg.empty()) (peer ? stopped : failures)[msg].push_back(r);
    }
    for (const auto& [msg, ranks] : failures)
      std::fprintf(stderr, "saddlescope: error (%s %s of %d): %s\n",
                   ranks.size() == 1 ? "rank" : "ranks", rank_list(ranks).c_str(), size_,
                   msg.c_str());
    // What the others did about it (each says where its finished work is), once.
    if (!failures.empty() && !stopped.empty() &&
        stopped.begin()->first.find("finished work saved") != std::string::npos)
      std::fprintf(stderr, "saddlescope: the other ranks stopped: %s\n",
                   stopped.begin()->first.c_str());
  }

  MpiComm* parent_ = nullptr;
  MPI_Comm data_ = MPI_COMM_NULL, notes_ = MPI_COMM_NULL, end_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool stop_ = false;
  std::string why_;
  Traffic traffic_;
  std::function<void()> wait_hook_;
  std::vector<std::pair<double, double>> latest_;  // rank 0: each rank's (phase, fraction)
  MPI_Request progress_req_ = MPI_REQUEST_NULL;
  double progress_buf_[2] = {0, 0};
  double last_sent_ = -1e300;
};

}  // namespace

std::unique_ptr<Comm> make_mpi_comm(int* argc, char*** argv) {
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  return std::make_unique<MpiComm>(MPI_COMM_WORLD);
}

}  // namespace saddlescope
