// The CUDA backend's ensemble (docs/design.md, Part II), private to
// src/cuda/: B x N state of one optimizer on the device (src/cuda/ensemble.cu).
#pragma once

#include <memory>

#include "saddlescope/backend.hpp"

namespace saddlescope::cuda_detail {

// Backend::make_ensemble of the CUDA backend. The host-driven optimizers
// have no per-coordinate rule for a device ensemble: the engine runs them
// through make_host_ensemble (src/core/host_optimizers.cpp), which calls
// value_grad / hessian / eigh; they are refused here.
std::unique_ptr<Ensemble> make_cuda_ensemble(const EnsembleSpec& s);

}  // namespace saddlescope::cuda_detail
