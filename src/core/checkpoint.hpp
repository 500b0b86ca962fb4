// Checkpoints (docs/design.md section 4, `--resume`): a little-endian binary record
// of where a run is (optimizer, chunk, last finished iteration), the results
// of every finished chunk, and the running chunk's ensemble state. Written
// to RUN_DIR/checkpoint.bin.tmp and renamed, so a killed writer leaves the
// previous checkpoint intact.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "saddlescope/run.hpp"

namespace saddlescope::ckpt {

// Appends plain values and vectors of plain values to a byte buffer.
class Writer {
 public:
  template <class T>
  void pod(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const std::size_t at = buf_.size();
    buf_.resize(at + sizeof(T));
    std::memcpy(buf_.data() + at, &v, sizeof(T));
  }
  template <class T>
  void vec(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    pod(static_cast<std::uint64_t>(v.size()));
    const auto* p = reinterpret_cast<const std::uint8_t*>(v.data());
    buf_.insert(buf_.end(), p, p + v.size() * sizeof(T));
  }
  void str(const std::string& s) { vec(std::vector<char>(s.begin(), s.end())); }
  const std::vector<std::uint8_t>& bytes() const { return buf_; }

 private:
  std::vector<std::uint8_t> buf_;
};

// Reads what a Writer wrote; throws InputError naming `what` when the data
// ends early or a size is implausible.
class Reader {
 public:
  Reader(const std::vector<std::uint8_t>& b, std::string what) : b_(b), what_(std::move(what)) {}
  template <class T>
  T pod() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, b_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  template <class T>
  std::vector<T> vec() {
    const auto n = pod<std::uint64_t>();
    if (n > (b_.size() - at_) / sizeof(T)) fail();
    std::vector<T> v(static_cast<std::size_t>(n));
    if (n) std::memcpy(v.data(), b_.data() + at_, static_cast<std::size_t>(n) * sizeof(T));
    at_ += static_cast<std::size_t>(n) * sizeof(T);
    return v;
  }
  std::string str() {
    const auto c = vec<char>();
    return {c.begin(), c.end()};
  }
  bool done() const { return at_ == b_.size(); }

 private:
  void need(std::size_t k) {
    if (b_.size() - at_ < k) fail();
  }
  [[noreturn]] void fail() const;
  const std::vector<std::uint8_t>& b_;
  std::string what_;
  std::size_t at_ = 0;
};

void write_result(Writer& w, const EnsembleResult& r);
EnsembleResult read_result(Reader& r);

// Where a run stands.
struct State {
  std::string config;  // the resolved experiment (config.toml) it belongs to
  std::string backend;
  std::uint64_t optimizer = 0;         // the optimizer running (== count: all done, census next)
  std::int64_t chunk = 0;              // its chunk running
  std::int64_t chunk_size = 0;         // trajectories per chunk when it was written
  std::int64_t iteration = -1;         // last finished iteration of that chunk (-1: none)
  std::vector<std::uint8_t> ensemble;  // its ensemble state (empty: restart the chunk)
  std::vector<OptimizerResult> done;   // optimizers so far; the last one partial (its chunks)
  std::vector<std::uint8_t>
      census;  // the census's own state (finder, Hessian groups); empty: not begun
};

void save(const std::string& path, const State& s);
// Throws InputError when the file is missing, truncated or not a checkpoint.
State load(const std::string& path);

}  // namespace saddlescope::ckpt
