// The CUDA entry points of a build without the CUDA toolkit: the backend is
// reported as unavailable, with the way to get it.
#include "saddlescope/backend.hpp"
#include "saddlescope/errors.hpp"

namespace saddlescope {

std::unique_ptr<Backend> make_cuda_backend() {
  throw BackendError(
      "this saddlescope was built without CUDA; rebuild with the CUDA toolkit installed "
      "(cmake --preset default) or use --backend cpu");
}

bool cuda_available() { return false; }

std::string cuda_unavailable_reason() { return "built without CUDA"; }

int cuda_device_count() { return 0; }

void cuda_use_device(int) {}

}  // namespace saddlescope
