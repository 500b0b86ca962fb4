// How a CUDA test behaves without a usable device (docs/design.md section 9):
// it skips, saying why, unless SADDLESCOPE_REQUIRE_CUDA=1 is set (a session
// with a GPU, bench/gpu_session.sh), where a skip would hide that nothing was
// checked, so the test fails instead. A driver that is installed but does not
// work is never a skip: cuda_unavailable_reason() then starts with "CUDA
// driver", and the test fails saying so.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "saddlescope/backend.hpp"

namespace saddlescope::testing {

inline bool cuda_required() {
  const char* v = std::getenv("SADDLESCOPE_REQUIRE_CUDA");
  return v != nullptr && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0;
}

// Whether the reason names a broken driver rather than an absent device.
inline bool cuda_driver_broken(const std::string& reason) {
  return reason.rfind("CUDA driver", 0) == 0;
}

}  // namespace saddlescope::testing

// First statement of every CUDA test.
#define SADDLESCOPE_CUDA_TEST_OR_SKIP()                                                     \
  do {                                                                                      \
    if (!::saddlescope::cuda_available()) {                                                 \
      const std::string why_ = ::saddlescope::cuda_unavailable_reason();                    \
      if (::saddlescope::testing::cuda_required())                                          \
        FAIL() << "SADDLESCOPE_REQUIRE_CUDA is set but no CUDA device is usable: " << why_; \
      if (::saddlescope::testing::cuda_driver_broken(why_)) FAIL() << why_;                 \
      GTEST_SKIP() << why_;                                                                 \
    }                                                                                       \
  } while (0)
