// rosenbrock: sum_{i<N-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 (kernels/objectives.hpp).
#include "common.hpp"

namespace saddlescope::objectives {

ObjectiveInfo rosenbrock() {
  ObjectiveInfo o{"rosenbrock",
                  "f = sum_{i<N-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2",
                  "f = sum_{i=0}^{N-2} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2: a curved valley; "
                  "the global minimum 0 is at x = (1, ..., 1). Its Hessian is tridiagonal.",
                  {dim_key("required", "2 to 100000000")},
                  ObjectiveKind::rosenbrock};
  return without_data<2>(o);
}

}  // namespace saddlescope::objectives
