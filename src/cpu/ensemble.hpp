// The CPU backend's ensemble (docs/design.md, Part II): B x N state of one
// optimizer in host memory, stepped by the fused row passes (src/cpu/ensemble.cpp).
// Private to src/cpu/.
#pragma once

#include <memory>

#include "saddlescope/backend.hpp"

namespace saddlescope::cpu_detail {

// Backend::make_ensemble of the CPU backend; refuses the host-driven optimizers.
std::unique_ptr<Ensemble> make_cpu_ensemble(const EnsembleSpec& s);

}  // namespace saddlescope::cpu_detail
