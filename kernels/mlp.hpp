// The teacher-student MLP objective's shared pieces: parameter layout and
// the tanh activation with its derivatives, used by the CPU and CUDA
// backends. A student with parameters x = [W1 (h x d), b1 (h), W2 (o x h),
// b2 (o)] maps n inputs X (n x d) to H = tanh(X W1^T + b1), out = H W2^T + b2,
// and the loss is L = 1/(2n) ||out - Y||_F^2 for teacher labels Y (n x o).
#pragma once

#include "hd.hpp"

namespace saddlescope {

struct MlpShape {
  std::int64_t d = 0, h = 0, o = 0, n = 0;  // inputs, hidden, outputs, samples
  SS_HD std::int64_t params() const { return h * d + h + o * h + o; }
  SS_HD std::int64_t w1() const { return 0; }
  SS_HD std::int64_t b1() const { return h * d; }
  SS_HD std::int64_t w2() const { return h * d + h; }
  SS_HD std::int64_t b2() const { return h * d + h + o * h; }
};

// The activation. The CPU backend applies it to whole arrays through SLEEF's
// vectorized tanh (src/cpu/vector_math.hpp, within 3.5 ulp of the exact one).
template <class T>
SS_HD T mlp_act(T a) {
  return tanh(a);
}
// Derivatives of tanh written through its value h = tanh(a).
template <class T>
SS_HD T mlp_act_d(T h) {
  return T(1) - h * h;
}
template <class T>
SS_HD T mlp_act_dd(T h) {
  return T(-2) * h * (T(1) - h * h);
}

}  // namespace saddlescope
