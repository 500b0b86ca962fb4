// rastrigin: a N + sum_i x_i^2 - a cos(2 pi x_i) (kernels/objectives.hpp).
#include "common.hpp"

namespace saddlescope::objectives {

ObjectiveInfo rastrigin() {
  ObjectiveInfo o{
      "rastrigin",
      "f = a N + sum_i x_i^2 - a cos(2 pi x_i)",
      "f = sum_i (a + x_i^2 - a cos(2 pi x_i)): a bowl with a grid of local minima near the "
      "integers; the global minimum 0 is at the origin.",
      {dim_key("required", "1 to 100000000"),
       real_key("a", &ObjectiveSpec::a, 10.0, 0.0, 1e30, false, "amplitude of the cosine")},
      ObjectiveKind::rastrigin};
  o = without_data(o);
  o.build = [](const ObjectiveSpec& spec, std::uint64_t, const HostLinalg&, ObjectiveData& d) {
    d.rastrigin_a = spec.a;
  };
  return o;
}

}  // namespace saddlescope::objectives
