// The CPU backend's batched dense solvers (docs/design.md, Part II):
// Backend::eigh and count_below by LAPACKE, one matrix per OpenMP thread
// (src/cpu/linalg.cpp). Private to src/cpu/.
#pragma once

#include <cstdint>
#include <vector>

#include "saddlescope/backend.hpp"

namespace saddlescope::cpu_detail {

// Eigenvalues (and vectors) of `batch` symmetric n x n matrices (float and double).
template <class T>
EighResult eigh_t(std::int64_t batch, std::int64_t n, const std::vector<double>& h, bool vectors);

// Sylvester counts of `batch` matrices at their k shifts each (float and double).
template <class T>
std::vector<std::int64_t> count_below_t(std::int64_t batch, std::int64_t n,
                                        const std::vector<double>& h,
                                        const std::vector<double>& shifts, std::int64_t k);

}  // namespace saddlescope::cpu_detail
