// styblinski-tang: 1/2 sum_i x_i^4 - 16 x_i^2 + 5 x_i (kernels/objectives.hpp).
#include "common.hpp"

namespace saddlescope::objectives {

ObjectiveInfo styblinski_tang() {
  ObjectiveInfo o{"styblinski-tang",
                  "f = 1/2 sum_i x_i^4 - 16 x_i^2 + 5 x_i",
                  "f = 1/2 sum_i (x_i^4 - 16 x_i^2 + 5 x_i). Per coordinate: global minimum "
                  "-2.903534, maximum 0.156731, local minimum 2.746803.",
                  {dim_key("required", "1 to 100000000")},
                  ObjectiveKind::styblinski_tang};
  return without_data(o);
}

}  // namespace saddlescope::objectives
