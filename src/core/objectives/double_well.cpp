// double-well: sum_i x_i^4 - 4 x_i^2 + x_i (kernels/objectives.hpp).
#include "common.hpp"

namespace saddlescope::objectives {

ObjectiveInfo double_well() {
  ObjectiveInfo o{"double-well",
                  "f = sum_i x_i^4 - 4 x_i^2 + x_i; per coordinate minima -1.472998 (global), "
                  "1.346997 (local), maximum 0.126000: 3^N critical points",
                  "f = sum_i (x_i^4 - 4 x_i^2 + x_i). Per coordinate: global minimum -1.472998, "
                  "local maximum 0.126000, local minimum 1.346997, so 3^N critical points of "
                  "every index.",
                  {dim_key("required", "1 to 100000000")},
                  ObjectiveKind::double_well};
  return without_data(o);
}

}  // namespace saddlescope::objectives
