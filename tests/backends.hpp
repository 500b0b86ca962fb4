// The backends a test runs on, and the one rule for a backend that cannot run
// here (docs/design.md, Part II, II.1): the test skips, saying why, unless
// SADDLESCOPE_REQUIRE_CUDA=1 is set (a session with a GPU,
// bench/gpu_session.sh), where a skip would hide that nothing was checked, so
// the test fails instead. A driver that is installed but does not work is
// never a skip: cuda_unavailable_reason() then starts with "CUDA driver", and
// the test fails saying so.
//
// A suite over backends derives from OnBackend<Case...>, whose parameter is
// (backend, case...) and whose SetUp applies the rule, and is instantiated by
//   SADDLESCOPE_ON_EVERY_BACKEND(Suite, (generator, ...));
//       cpu and cuda: checks that mean something on each backend (known
//       answers, residuals, chunk independence, determinism, resume);
//   SADDLESCOPE_ON_DEVICE_BACKENDS(Suite, (generator, ...));
//       cuda only: comparisons with the CPU reference, which the CPU would
//       pass by construction, and device-only behaviour.
// The generators give the cases (none: `()`). The backend's name is the first
// part of every test's name, cpu/Suite.Test/case or cuda/Suite.Test/case, so
// --gtest_filter='cuda/*' selects the CUDA tests (bench/gpu_session.sh).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>

#include "saddlescope/backend.hpp"

namespace saddlescope::testing {

// The backends, by Backend::name(); cpu is the reference.
enum class BackendId { cpu, cuda };

inline const char* backend_name(BackendId id) { return id == BackendId::cpu ? "cpu" : "cuda"; }
inline void PrintTo(BackendId id, std::ostream* os) { *os << backend_name(id); }

inline bool cuda_required() {
  const char* v = std::getenv("SADDLESCOPE_REQUIRE_CUDA");
  return v != nullptr && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0;
}

// Whether the reason names a broken driver rather than an absent device.
inline bool cuda_driver_broken(const std::string& reason) {
  return reason.rfind("CUDA driver", 0) == 0;
}

// Why backend `id` cannot run here; empty when it can.
inline std::string unavailable_reason(BackendId id) {
  if (id == BackendId::cpu || cuda_available()) return "";
  return cuda_unavailable_reason();
}

// A new instance of a backend that can run here.
inline std::unique_ptr<Backend> make_backend(BackendId id) {
  return id == BackendId::cpu ? make_cpu_backend() : make_cuda_backend();
}

// The rule. Sets `out` to a new instance of backend `id`, or records the skip
// or the failure in the running test and leaves `out` empty (GTEST_SKIP and
// FAIL return from this function only: a caller other than SetUp must check).
inline void acquire_backend(BackendId id, std::unique_ptr<Backend>& out) {
  const std::string why = unavailable_reason(id);
  if (!why.empty()) {
    if (cuda_required())
      FAIL() << "SADDLESCOPE_REQUIRE_CUDA is set but no CUDA device is usable: " << why;
    if (cuda_driver_broken(why)) FAIL() << why;
    GTEST_SKIP() << why;
  }
  out = make_backend(id);
  ASSERT_EQ(out->name(), backend_name(id));
}

// A test on one backend and cases of types Case... (gtest runs the body only
// when SetUp neither skipped nor failed).
template <class... Case>
class OnBackend : public ::testing::TestWithParam<std::tuple<BackendId, Case...>> {
 protected:
  void SetUp() override { acquire_backend(backend_id(), backend_); }
  BackendId backend_id() const { return std::get<0>(this->GetParam()); }
  Backend& backend() const { return *backend_; }
  // The I-th case (0: the first after the backend).
  template <std::size_t I>
  const auto& param() const {
    return std::get<I + 1>(this->GetParam());
  }

 private:
  std::unique_ptr<Backend> backend_;
};

// Parts of test names: a precision, or a case's `name`; other case types
// define case_name beside them (found by argument-dependent lookup).
inline std::string case_name(Precision p) { return p == Precision::f64 ? "f64" : "f32"; }
template <class C>
auto case_name(const C& c) -> decltype(std::string(c.name)) {
  return c.name;
}

// A test's name after its backend: its cases' names joined by '_' (the
// backend's name again when it has no cases; gtest wants one).
struct CaseName {
  template <class... Case>
  std::string operator()(
      const ::testing::TestParamInfo<std::tuple<BackendId, Case...>>& info) const {
    std::string s;
    std::apply(
        [&s](BackendId id, const Case&... c) {
          ((s += (s.empty() ? "" : "_") + case_name(c)), ...);
          if (s.empty()) s = backend_name(id);
        },
        info.param);
    return s;
  }
};

// The generator of (backend, case...) parameters.
struct On {
  BackendId id;
  template <class... Generator>
  auto operator()(const Generator&... cases) const {
    return ::testing::Combine(::testing::Values(id), cases...);
  }
};

}  // namespace saddlescope::testing

#define SADDLESCOPE_INSTANTIATE_ON_(backend, suite, cases)                          \
  INSTANTIATE_TEST_SUITE_P(                                                         \
      backend, suite,                                                               \
      ::saddlescope::testing::On{::saddlescope::testing::BackendId::backend} cases, \
      ::saddlescope::testing::CaseName{})

#define SADDLESCOPE_ON_EVERY_BACKEND(suite, cases) \
  SADDLESCOPE_INSTANTIATE_ON_(cpu, suite, cases);  \
  SADDLESCOPE_INSTANTIATE_ON_(cuda, suite, cases)

#define SADDLESCOPE_ON_DEVICE_BACKENDS(suite, cases) SADDLESCOPE_INSTANTIATE_ON_(cuda, suite, cases)
