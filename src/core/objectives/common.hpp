// Pieces shared by the objective kinds' files (src/core/objectives/).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../config.hpp"
#include "saddlescope/objective_registry.hpp"

namespace saddlescope::objectives {

constexpr std::int64_t kMaxDim = 100'000'000;

// dim given by the user, at least lo (most kinds need it).
inline void read_required_dim(const config::Section& s, ObjectiveSpec& o, std::int64_t lo) {
  if (!s.has("dim"))
    s.fail_section(fmt::format("needs dim (the number of parameters N) for kind = \"{}\"", o.kind));
  o.dim = s.integer("dim", 1, lo, kMaxDim);
}

// Kinds without data or work space.
inline void no_data(const ObjectiveSpec&, std::uint64_t, const HostLinalg&, ObjectiveData&) {}
inline std::uint64_t no_bytes(const ObjectiveSpec&, std::uint64_t) { return 0; }
inline bool never(const ObjectiveSpec&) { return false; }
inline bool always(const ObjectiveSpec&) { return true; }

// The networks' helpers (network.cpp, mlp.cpp, deep_linear.cpp): widths
// [d_0, ..., d_L] of `key` (at least 2, each 1 to 1e6); the class of every target
// row when each is one-hot (else empty: no accuracy); teacher-student data,
// Gaussian inputs X [n, d] labelled by a random tanh teacher of width th
// plus Gaussian noise, Y [n, o].
std::vector<std::int64_t> read_widths(const config::Section& s, const char* key);
std::vector<std::int32_t> one_hot_classes(const std::vector<double>& y, std::int64_t n,
                                          std::int64_t o);
void teacher_student(std::uint64_t seed, std::int64_t d, std::int64_t o, std::int64_t n,
                     std::int64_t th, double noise, std::vector<double>& x, std::vector<double>& y);

template <std::int64_t MinDim>
void read_dim_at_least(const config::Section& s, ObjectiveSpec& o) {
  read_required_dim(s, o, MinDim);
}

// A kind without data arrays or coupled work space (the separable ones): dim
// required, at least MinDim.
template <std::int64_t MinDim = 1>
ObjectiveInfo without_data(ObjectiveInfo o) {
  o.read = read_dim_at_least<MinDim>;
  o.build = no_data;
  o.coupled = never;
  o.data_bytes = no_bytes;
  o.work_bytes = no_bytes;
  return o;
}

}  // namespace saddlescope::objectives
