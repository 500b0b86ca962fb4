// Backend selection: the one place that knows both backends (target
// saddlescope_backends, docs/design.md, Part II); the command, the benchmarks
// and the tests link it, core does not (a sweep is handed it as a
// BackendSelector).
#include <fmt/format.h>

#include "saddlescope/backend.hpp"
#include "saddlescope/errors.hpp"

namespace saddlescope {

std::unique_ptr<Backend> select_backend(const std::string& requested, std::string& note) {
  if (requested == "cpu") {
    note = "backend: cpu (requested)";
    return make_cpu_backend();
  }
  if (requested == "cuda") {
    auto b = make_cuda_backend();  // throws BackendError with the reason
    note = "backend: cuda (requested), " + b->device();
    return b;
  }
  if (requested != "auto")
    throw InputError(fmt::format("--backend {}: allowed auto, cpu, cuda", requested));
  if (cuda_available()) {
    auto b = make_cuda_backend();
    note = "backend: cuda (auto), " + b->device();
    return b;
  }
  note = "backend: cpu (auto: " + cuda_unavailable_reason() + ")";
  return make_cpu_backend();
}

}  // namespace saddlescope
