// The fully connected networks' shared pieces (objective kinds network, mlp
// and deep-linear; docs/experiment.md, [objective]): the activations with
// their first and second derivatives, and the layout of a parameter row and
// of a pass's work row, used by the CPU and CUDA backends and the memory
// plan. The passes themselves are kernels/pipelines/networks.hpp.
//
// A parameter row holds, for l = 1 .. L: W_l [d_l, d_(l-1)] row-major, then
// b_l [d_l] when bias is on. For inputs X [n, d_0]: A_l = H_(l-1) W_l^T +
// b_l (H_0 = X), H_l = act(A_l) for l < L, and the output Z = A_L is linear.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "hd.hpp"

namespace saddlescope {

enum class Activation : int { tanh = 0, relu = 1, softplus = 2, gelu = 3, sigmoid = 4, linear = 5 };
enum class NetworkLoss : int { mse = 0, cross_entropy = 1 };

// Activations whose derivatives need the pre-activation a (the others read
// the activation h = act(a), or nothing).
SS_HD bool keeps_pre(Activation f) { return f == Activation::softplus || f == Activation::gelu; }

template <class T>
SS_HD T sigmoid_of(T a) {
  return T(1) / (T(1) + exp(-a));
}

// act(a). softplus is log(1 + e^a) written stably (max(a, 0) + log1p(e^-|a|));
// gelu the exact a Phi(a) with erf. The activation is a template argument,
// so that each kind's element loops are its own (vectorized on the CPU);
// with_activation turns the run-time value into it.
template <Activation F, class T>
SS_HD T act_value(T a) {
  switch (F) {
    case Activation::tanh:
      return tanh(a);
    case Activation::relu:
      return a > T(0) ? a : T(0);
    case Activation::softplus:
      return (a > T(0) ? a : T(0)) + log1p(exp(-fabs(a)));
    case Activation::gelu:
      return T(0.5) * a * (T(1) + erf(a * T(0.70710678118654752440)));
    case Activation::sigmoid:
      return sigmoid_of(a);
    case Activation::linear:
      break;
  }
  return a;
}

// The standard normal density phi(a) (gelu's derivatives).
template <class T>
SS_HD T normal_density(T a) {
  return T(0.39894228040143267794) * exp(T(-0.5) * a * a);
}

// act'(a) from the pre-activation a and the activation h = act(a) (each
// kind reads the one it is written with; tanh's is the mlp's 1 - h^2).
template <Activation F, class T>
SS_HD T act_d(T a, T h) {
  switch (F) {
    case Activation::tanh:
      return T(1) - h * h;
    case Activation::relu:
      return h > T(0) ? T(1) : T(0);
    case Activation::softplus:
      return sigmoid_of(a);
    case Activation::gelu:
      return T(0.5) * (T(1) + erf(a * T(0.70710678118654752440))) + a * normal_density(a);
    case Activation::sigmoid:
      return h * (T(1) - h);
    case Activation::linear:
      break;
  }
  return T(1);
}

// act''(a); relu's is taken as 0 (also at a = 0, as autograd's), linear's is 0.
template <Activation F, class T>
SS_HD T act_dd(T a, T h) {
  switch (F) {
    case Activation::tanh:
      return T(-2) * h * (T(1) - h * h);
    case Activation::softplus: {
      const T s = sigmoid_of(a);
      return s * (T(1) - s);
    }
    case Activation::gelu:
      return normal_density(a) * (T(2) - a * a);
    case Activation::sigmoid:
      return h * (T(1) - h) * (T(1) - T(2) * h);
    case Activation::relu:
    case Activation::linear:
      break;
  }
  return T(0);
}

// fn(std::integral_constant<Activation, f>{}): the run-time activation as a
// compile-time one.
template <class Fn>
void with_activation(Activation f, Fn&& fn) {
  switch (f) {
    case Activation::tanh:
      return fn(std::integral_constant<Activation, Activation::tanh>{});
    case Activation::relu:
      return fn(std::integral_constant<Activation, Activation::relu>{});
    case Activation::softplus:
      return fn(std::integral_constant<Activation, Activation::softplus>{});
    case Activation::gelu:
      return fn(std::integral_constant<Activation, Activation::gelu>{});
    case Activation::sigmoid:
      return fn(std::integral_constant<Activation, Activation::sigmoid>{});
    case Activation::linear:
      return fn(std::integral_constant<Activation, Activation::linear>{});
  }
}

// A network: widths d_0 .. d_L, n samples, the activation of the hidden
// layers, bias on or off, the loss and the weight decay lambda (the term
// lambda/2 |theta|^2 on every parameter).
struct NetworkShape {
  std::vector<std::int64_t> widths;
  std::int64_t samples = 0;
  Activation activation = Activation::tanh;
  bool bias = true;
  NetworkLoss loss = NetworkLoss::mse;
  double weight_decay = 0.0;

  std::int64_t layers() const { return static_cast<std::int64_t>(widths.size()) - 1; }
  std::int64_t params() const {
    std::int64_t p = 0;
    for (std::size_t l = 1; l < widths.size(); ++l)
      p += widths[l] * widths[l - 1] + (bias ? widths[l] : 0);
    return p;
  }
};

// Offsets in a parameter row (w, b: index l = 1 .. L) and in a pass's work
// row (work elements). Per hidden layer l < L, slots of n d_l elements: H_l,
// A_l, dH_l and dA_l; the linear activation needs neither A_l nor dA_l (a =
// h, da = dh). Then the output Z [n, d_L] (overwritten by dZ), and for
// cross-entropy the softmax probabilities P [n, d_L]. The forward pass keeps
// the pre-activation in A_l only when keeps_pre (else it becomes H_l in
// place); a Hessian-vector pass uses the same layout for the R-operator's
// arrays: R{H_l}, R{A_l}, R{dH_l} (R{dA_l} in place), R{Z}.
struct NetworkLayout {
  std::int64_t L = 0, n = 0, dim = 0, work = 0, out = 0, prob = 0;
  std::vector<std::int64_t> w, b, h, a, dh, da;

  explicit NetworkLayout(const NetworkShape& s) : L(s.layers()), n(s.samples), dim(s.params()) {
    if (L < 1) return;  // no network (the other kinds)
    const std::size_t size = s.widths.size();
    w.assign(size, 0);
    b.assign(size, -1);
    h.assign(size, 0);
    a.assign(size, 0);
    dh.assign(size, 0);
    da.assign(size, 0);
    std::int64_t p = 0;
    for (std::int64_t l = 1; l <= L; ++l) {
      w[l] = p;
      p += s.widths[l] * s.widths[l - 1];
      if (s.bias) {
        b[l] = p;
        p += s.widths[l];
      }
    }
    const bool linear = s.activation == Activation::linear;
    for (std::int64_t l = 1; l < L; ++l) {
      const std::int64_t slot = n * s.widths[l];
      h[l] = work;
      work += slot;
      a[l] = linear ? h[l] : work;
      work += linear ? 0 : slot;
      dh[l] = work;
      work += slot;
      da[l] = linear ? dh[l] : work;
      work += linear ? 0 : slot;
    }
    out = work;
    work += n * s.widths[L];
    prob = work;
    if (s.loss == NetworkLoss::cross_entropy) work += n * s.widths[L];
  }
};

}  // namespace saddlescope
