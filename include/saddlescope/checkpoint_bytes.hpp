// The byte records of checkpoints (docs/design.md section 4): plain values
// and vectors of plain values appended to a buffer and read back in order.
// Core writes checkpoint files with them (src/core/checkpoint.hpp); the
// backends write their ensembles' states with them (Ensemble::save_state).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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

}  // namespace saddlescope::ckpt
