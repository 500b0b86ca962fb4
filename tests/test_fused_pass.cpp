// The CPU backend's fused pass (src/cpu/ensemble.cpp: lane-blocked,
// vectorized, compiled for AVX-512 / AVX2 / baseline x86-64 and chosen at
// load time) against a plain scalar replay of the shared per-coordinate rule
// (kernels/trajectory.hpp fused_element) with the documented summation order:
// coordinate i adds into lane i % 16 in order, the 16 lanes are then combined
// in order. Equality is exact (bit for bit): the vectorized pass performs the
// same IEEE operations, without contraction into FMAs, so any version the
// loader picks on any CPU must give these numbers. A pass that reordered the
// sums, contracted a product into an FMA or mishandled the row tail (n is not
// a multiple of 16) fails here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/rng.hpp"
#include "kernels/trajectory.hpp"
#include "saddlescope/backend.hpp"

using namespace saddlescope;

namespace {

constexpr std::int64_t kLanes = 16;  // the CPU pass's summation lanes

struct PassCase {
  std::string name;
  ObjectiveKind objective;
  OptimizerParams opt;
  bool keep_plateau_points = false;
};

void PrintTo(const PassCase& c, std::ostream* os) { *os << c.name; }

OptimizerParams params(OptimizerKind k) {
  OptimizerParams p;
  p.kind = k;
  p.lr = 1e-3;
  return p;
}

std::vector<PassCase> cases() {
  std::vector<PassCase> v;
  v.push_back({"gd_styblinski", ObjectiveKind::styblinski_tang, params(OptimizerKind::gd)});
  OptimizerParams m = params(OptimizerKind::momentum);
  m.momentum = 0.9;
  m.dampening = 0.1;
  v.push_back({"momentum_styblinski", ObjectiveKind::styblinski_tang, m});
  m.nesterov = true;
  m.dampening = 0;
  m.lr = 1e-5;  // rosenbrock's gradient reaches 1e4 on these starts
  v.push_back({"nesterov_rosenbrock", ObjectiveKind::rosenbrock, m});
  OptimizerParams a = params(OptimizerKind::adam);
  a.weight_decay = 1e-2;
  v.push_back({"adam_wd_styblinski", ObjectiveKind::styblinski_tang, a});
  a.weight_decay = 0;
  a.beta1 = 0.3;  // lerp's other branch (weight 1 - beta1 >= 0.5)
  v.push_back({"adam_rosenbrock", ObjectiveKind::rosenbrock, a, true});
  OptimizerParams r = params(OptimizerKind::rmsprop);
  r.momentum = 0.5;
  v.push_back({"rmsprop_momentum_double_well", ObjectiveKind::double_well, r});
  OptimizerParams g = params(OptimizerKind::adagrad);
  g.lr_decay = 0.01;
  g.initial_accumulator_value = 0.1;
  v.push_back({"adagrad_rastrigin", ObjectiveKind::rastrigin, g});
  OptimizerParams w = params(OptimizerKind::adamw);
  w.weight_decay = 0.1;
  v.push_back({"adamw_styblinski", ObjectiveKind::styblinski_tang, w});
  OptimizerParams na = params(OptimizerKind::nadam);
  na.weight_decay = 1e-2;
  v.push_back({"nadam_wd_rastrigin", ObjectiveKind::rastrigin, na});
  OptimizerParams ra = params(OptimizerKind::radam);
  v.push_back({"radam_double_well", ObjectiveKind::double_well, ra});
  OptimizerParams l = params(OptimizerKind::langevin);
  l.temperature = 1e-2;
  l.seed = 7;
  v.push_back({"langevin_styblinski", ObjectiveKind::styblinski_tang, l});
  return v;
}

// The scalar replay of `steps` iterations of one trajectory: x_0 .. x_steps
// (x_steps is evaluated, not updated) and the sums of every iteration.
template <class T>
void replay(const PassCase& c, std::int64_t n, std::uint64_t row, std::vector<T> x,
            std::int64_t steps, std::vector<std::vector<T>>& path,
            std::vector<IterationSums>& sums) {
  LocalObjective<T> obj{};
  obj.kind = c.objective;
  obj.n = n;
  obj.rastrigin_a = T(10);
  const int states = c.opt.state_count();
  std::vector<T> s1(static_cast<std::size_t>(n), static_cast<T>(c.opt.initial_s1()));
  std::vector<T> s2(static_cast<std::size_t>(n), T(0));
  std::vector<T> xn(static_cast<std::size_t>(n), T(0));
  for (std::int64_t t = 0; t <= steps; ++t) {
    path.push_back(x);
    const StepScalars sc = step_scalars(c.opt, t + 1);
    IterationSums lanes[kLanes];
    for (std::int64_t i = 0; i < n; ++i)
      fused_element<T>(obj, c.opt, sc, t < steps, x.data(), static_cast<const T*>(nullptr),
                       xn.data(), states >= 1 ? s1.data() : nullptr,
                       states >= 2 ? s2.data() : nullptr, i, lanes[i % kLanes], nullptr,
                       row * static_cast<std::uint64_t>(n));
    IterationSums s;
    for (const IterationSums& l : lanes) s.add(l);
    sums.push_back(s);
    std::swap(x, xn);
  }
}

template <class T>
void check(const PassCase& c) {
  const std::int64_t n = 16 * 63 + 11, count = 3, steps = 6;
  ObjectiveData data;
  data.kind = c.objective;
  data.dim = n;
  data.rastrigin_a = 10.0;
  std::vector<double> x0(static_cast<std::size_t>(count * n));
  for (std::size_t i = 0; i < x0.size(); ++i)
    x0[i] = static_cast<T>(rng::uniform(3, 0, i, 0) * 4.0 - 2.0);  // exactly representable in T

  EnsembleSpec spec;
  spec.objective = &data;
  spec.optimizer = c.opt;
  spec.precision = sizeof(T) == 8 ? Precision::f64 : Precision::f32;
  spec.count = count;
  spec.first = 5;  // keys langevin's noise by the global trajectory index
  spec.stop = StopRule{0.0, 1e300, steps};
  spec.record_count = count;
  spec.record_every = 1;
  spec.records = steps + 1;
  spec.record_paths = true;
  spec.keep_plateau_points = c.keep_plateau_points;
  auto ens = make_cpu_backend()->make_ensemble(spec);
  ens->set_starts(x0);
  for (std::int64_t t = 0; t <= steps; ++t) ens->iterate(t);
  const EnsembleResult res = ens->result(false);

  for (std::int64_t b = 0; b < count; ++b) {
    std::vector<T> start(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) start[i] = static_cast<T>(x0[b * n + i]);
    std::vector<std::vector<T>> path;
    std::vector<IterationSums> sums;
    replay<T>(c, n, static_cast<std::uint64_t>(spec.first + b), start, steps, path, sums);
    for (std::int64_t t = 0; t <= steps; ++t) {
      std::int64_t bad = -1;
      for (std::int64_t i = 0; i < n && bad < 0; ++i)
        if (static_cast<T>(res.paths[(b * spec.records + t) * n + i]) != path[t][i]) bad = i;
      ASSERT_LT(bad, 0) << "trajectory " << b << ", x_" << t << "[" << bad << "]: pass "
                        << res.paths[(b * spec.records + t) * n + bad] << ", scalar replay "
                        << path[t][bad];
      const float* cv = res.curves.data() + (b * spec.records + t) * 2;
      EXPECT_EQ(cv[0], static_cast<float>(sums[t].f)) << "f, trajectory " << b << ", t " << t;
      EXPECT_EQ(cv[1], static_cast<float>(std::sqrt(sums[t].gsq))) << "|g|, trajectory " << b;
    }
    // The double sums themselves, bit for bit.
    EXPECT_EQ(res.f_init[b], sums[0].f) << "trajectory " << b;
    EXPECT_EQ(res.f_final[b], sums[steps].f) << "trajectory " << b;
    EXPECT_EQ(res.gnorm_final[b], std::sqrt(sums[steps].gsq)) << "trajectory " << b;
    EXPECT_EQ(res.steps[b], steps);
  }
}

class CpuFusedPass : public ::testing::TestWithParam<PassCase> {};

TEST_P(CpuFusedPass, F32MatchesTheScalarReplayBitForBit) { check<float>(GetParam()); }
TEST_P(CpuFusedPass, F64MatchesTheScalarReplayBitForBit) { check<double>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Rules, CpuFusedPass, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// The lanes change the order of the sums, not their meaning: against one
// ordered sum in long double the lane sums agree to rounding.
TEST(CpuFusedPassSums, AgreeWithAnOrderedSumToRounding) {
  const std::int64_t n = 20000;
  ObjectiveData data;
  data.kind = ObjectiveKind::styblinski_tang;
  data.dim = n;
  std::vector<double> x0(static_cast<std::size_t>(n));
  long double f = 0, gsq = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double x = rng::uniform(4, 0, static_cast<std::uint64_t>(i), 0) * 8.0 - 4.0;
    x0[i] = x;
    f += 0.5L * (x * x * x * (long double)x - 16.0L * x * x + 5.0L * x);
    const long double g = 2.0L * x * x * x - 16.0L * x + 2.5L;
    gsq += g * g;
  }
  EnsembleSpec spec;
  spec.objective = &data;
  spec.optimizer = params(OptimizerKind::gd);
  spec.precision = Precision::f64;
  spec.count = 1;
  spec.stop = StopRule{0.0, 1e300, 0};
  auto ens = make_cpu_backend()->make_ensemble(spec);
  ens->set_starts(x0);
  ens->iterate(0);
  const EnsembleResult res = ens->result(false);
  EXPECT_NEAR(res.f_init[0], static_cast<double>(f), 1e-12 * std::fabs(static_cast<double>(f)));
  EXPECT_NEAR(res.gnorm_final[0], std::sqrt(static_cast<double>(gsq)),
              1e-12 * std::sqrt(static_cast<double>(gsq)));
}

}  // namespace
