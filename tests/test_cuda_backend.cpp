// The CUDA backend against the CPU reference: batched evaluation (value and
// gradient, Hessian-vector products, dense Hessians) of every objective, the
// gaussian field, the mlp, the deep linear network and the spherical p-spin
// included, in both precisions (and the p-spin with TF32 GEMMs), symmetric
// eigendecompositions (values against LAPACK, vectors by residual and orthogonality), Sylvester
// counts (against LAPACK's sytrf and against eigenvalue counts), full descent
// ensembles for every optimizer and for the coupled objectives, the
// per-trajectory features (plateau statistics, plateau points and target
// steps; perturbed-gd and langevin, whose noise is keyed by global
// trajectory and coordinate, across chunks and on the sphere), run-to-run
// bitwise determinism, checkpoints (a run stopped and resumed, and an
// ensemble's saved state loaded into a fresh one, give the uninterrupted
// results bit for bit; a state that does not fit is refused), and the
// host-driven optimizers (saddle-free-newton, annealing) stepping through
// this backend's evaluations. Every test skips, saying why, when no CUDA
// device is usable, and fails instead under SADDLESCOPE_REQUIRE_CUDA=1 or
// with a driver that is installed but broken (cuda_required.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_required.hpp"
#include "kernels/rng.hpp"
#include "saddlescope/backend.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"
#include "saddlescope/run.hpp"
#include "src/core/checkpoint.hpp"

namespace ss = saddlescope;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------
// Inputs, built by hand so that the tests do not depend on config parsing.

// Quadratic eigenvalues spread over [lo, lo + 4]; other kinds ignore them.
// `rotated` adds a small symmetric coupling (entries depend on i + j and
// |i - j| only), which makes the objective coupled.
ss::ObjectiveData make_objective(ss::ObjectiveKind kind, std::int64_t n, bool rotated = false,
                                 double lo = -1.0) {
  ss::ObjectiveData d;
  d.kind = kind;
  d.dim = n;
  d.rastrigin_a = 10.0;
  if (kind == ss::ObjectiveKind::quadratic) {
    d.lambda.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      d.lambda[i] =
          lo + 4.0 * static_cast<double>(i) / static_cast<double>(std::max<std::int64_t>(n - 1, 1));
    if (rotated) {
      d.matrix.assign(static_cast<std::size_t>(n * n), 0.0);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j)
          d.matrix[i * n + j] =
              (i == j ? d.lambda[i] : 0.0) + 0.02 * std::cos(0.7 * static_cast<double>(i + j)) /
                                                 (1.0 + static_cast<double>(std::abs(i - j)));
    }
  }
  return d;
}

// `len` standard normals times `scale`, from the start stream of `seed`.
std::vector<double> normals(std::uint64_t seed, std::int64_t len, double scale) {
  std::vector<double> v(static_cast<std::size_t>(len));
  for (std::int64_t k = 0; k < len; ++k)
    v[k] = scale * ss::rng::normal(seed, ss::rng::kInitStart, static_cast<std::uint64_t>(k));
  return v;
}

// ---------------------------------------------------------------------------
// Comparisons. NaN must meet NaN; at most a few mismatches are printed.

// |got_i - want_i| <= rel * max(|want_i|, floor) for every i.
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rel,
                  double floor, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < want.size() && reported < 5; ++i) {
    const bool both_nan = std::isnan(got[i]) && std::isnan(want[i]);
    const double tol = rel * std::max(std::fabs(want[i]), floor);
    if (both_nan || std::fabs(got[i] - want[i]) <= tol) continue;
    ADD_FAILURE() << what << "[" << i << "]: cuda " << got[i] << ", cpu " << want[i]
                  << ", tolerance " << tol;
    ++reported;
  }
}

double magnitude(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}

// Relative to the magnitude of the whole reference array: single components
// may cancel (a gradient near a critical point), the array as a whole not.
void expect_close_to_magnitude(const std::vector<double>& got, const std::vector<double>& want,
                               double rel, const std::string& what) {
  expect_close(got, want, rel, magnitude(want), what);
}

template <class E>
bool same_bits(const std::vector<E>& a, const std::vector<E>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(E)) == 0);
}

// ---------------------------------------------------------------------------
// Batched evaluation of every objective kind, in both precisions.

struct EvalCase {
  const char* name;
  ss::ObjectiveKind kind;
  bool rotated;
};
// Readable parameter names in test listings (ctest, --gtest_list_tests).
void PrintTo(const EvalCase& c, std::ostream* os) { *os << c.name; }

const EvalCase kEvalCases[] = {
    {"quadratic", ss::ObjectiveKind::quadratic, false},
    {"quadratic_rotated", ss::ObjectiveKind::quadratic, true},
    {"double_well", ss::ObjectiveKind::double_well, false},
    {"styblinski_tang", ss::ObjectiveKind::styblinski_tang, false},
    {"rastrigin", ss::ObjectiveKind::rastrigin, false},
    {"rosenbrock", ss::ObjectiveKind::rosenbrock, false},
};

constexpr std::int64_t kEvalDim = 300;  // several warps per row, not a multiple of 32
constexpr std::int64_t kEvalBatch = 5;

class CudaEval : public ::testing::TestWithParam<std::tuple<EvalCase, ss::Precision>> {
 protected:
  ss::ObjectiveData objective() const {
    const EvalCase& c = std::get<0>(GetParam());
    return make_objective(c.kind, kEvalDim, c.rotated);
  }
  ss::Precision precision() const { return std::get<1>(GetParam()); }
  double rel() const { return precision() == ss::Precision::f64 ? 1e-12 : 1e-5; }
};

TEST_P(CudaEval, ValueGrad) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = objective();
  const auto x = normals(11, kEvalBatch * kEvalDim, 2.0);
  const auto cuda = ss::make_cuda_backend()->value_grad(obj, precision(), kEvalBatch, x);
  const auto cpu = ss::make_cpu_backend()->value_grad(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(cuda.f, cpu.f, rel(), "f");
  expect_close_to_magnitude(cuda.g, cpu.g, rel(), "g");
}

TEST_P(CudaEval, HessianVectorProduct) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = objective();
  const auto x = normals(12, kEvalBatch * kEvalDim, 2.0);
  const auto v = normals(13, kEvalBatch * kEvalDim, 1.0);
  const auto cuda = ss::make_cuda_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  const auto cpu = ss::make_cpu_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  expect_close_to_magnitude(cuda, cpu, rel(), "Hv");
}

TEST_P(CudaEval, Hessian) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = objective();
  const auto x = normals(14, kEvalBatch * kEvalDim, 2.0);
  const auto cuda = ss::make_cuda_backend()->hessian(obj, precision(), kEvalBatch, x);
  const auto cpu = ss::make_cpu_backend()->hessian(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(cuda, cpu, rel(), "H");
}

INSTANTIATE_TEST_SUITE_P(AllObjectives, CudaEval,
                         ::testing::Combine(::testing::ValuesIn(kEvalCases),
                                            ::testing::Values(ss::Precision::f64,
                                                              ss::Precision::f32)),
                         [](const ::testing::TestParamInfo<CudaEval::ParamType>& p) {
                           return std::string(std::get<0>(p.param).name) +
                                  (std::get<1>(p.param) == ss::Precision::f64 ? "_f64" : "_f32");
                         });

// ---------------------------------------------------------------------------
// The gaussian-field objective: GEMMs around per-feature weights (values per
// row in double, gradients mu x + W^T s, Hessian-vector products and dense
// Hessians mu I + W^T diag(h) W), in both precisions.

constexpr std::int64_t kFieldDim = 40;
constexpr std::int64_t kFieldFeatures = 64;

// Frequencies N(0, 1) / length_scale [m, n], amplitudes N(0, 1) and phases
// uniform in [0, 2 pi) [m], from the counter-based generator (deterministic).
ss::ObjectiveData make_field(std::int64_t n, std::int64_t m, double length_scale, double mu,
                             std::uint64_t seed) {
  ss::ObjectiveData d;
  d.kind = ss::ObjectiveKind::gaussian_field;
  d.dim = n;
  d.field_mu = mu;
  d.field_w.resize(static_cast<std::size_t>(m * n));
  d.field_a.resize(static_cast<std::size_t>(m));
  d.field_b.resize(static_cast<std::size_t>(m));
  for (std::int64_t k = 0; k < m * n; ++k)
    d.field_w[k] = ss::rng::normal(seed, ss::rng::kFieldFrequency, static_cast<std::uint64_t>(k)) /
                   length_scale;
  for (std::int64_t j = 0; j < m; ++j) {
    d.field_a[j] = ss::rng::normal(seed, ss::rng::kFieldAmplitude, static_cast<std::uint64_t>(j));
    d.field_b[j] = 6.283185307179586 *
                   ss::rng::uniform(seed, ss::rng::kFieldPhase, static_cast<std::uint64_t>(j));
  }
  return d;
}

ss::ObjectiveData field_objective() { return make_field(kFieldDim, kFieldFeatures, 2.0, 0.1, 77); }

class CudaFieldEval : public ::testing::TestWithParam<ss::Precision> {
 protected:
  ss::Precision precision() const { return GetParam(); }
  double rel() const { return precision() == ss::Precision::f64 ? 1e-12 : 1e-4; }
};

TEST_P(CudaFieldEval, ValueGrad) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = field_objective();
  const auto x = normals(21, kEvalBatch * kFieldDim, 1.0);
  const auto cuda = ss::make_cuda_backend()->value_grad(obj, precision(), kEvalBatch, x);
  const auto cpu = ss::make_cpu_backend()->value_grad(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(cuda.f, cpu.f, rel(), "f");
  expect_close_to_magnitude(cuda.g, cpu.g, rel(), "g");
}

TEST_P(CudaFieldEval, HessianVectorProduct) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = field_objective();
  const auto x = normals(22, kEvalBatch * kFieldDim, 1.0);
  const auto v = normals(23, kEvalBatch * kFieldDim, 1.0);
  const auto cuda = ss::make_cuda_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  const auto cpu = ss::make_cpu_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  expect_close_to_magnitude(cuda, cpu, rel(), "Hv");
}

TEST_P(CudaFieldEval, Hessian) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = field_objective();
  const auto x = normals(24, kEvalBatch * kFieldDim, 1.0);
  const auto cuda = ss::make_cuda_backend()->hessian(obj, precision(), kEvalBatch, x);
  const auto cpu = ss::make_cpu_backend()->hessian(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(cuda, cpu, rel(), "H");
}

INSTANTIATE_TEST_SUITE_P(GaussianField, CudaFieldEval,
                         ::testing::Values(ss::Precision::f64, ss::Precision::f32),
                         [](const ::testing::TestParamInfo<ss::Precision>& p) {
                           return std::string(p.param == ss::Precision::f64 ? "f64" : "f32");
                         });

// ---------------------------------------------------------------------------
// The teacher-student MLP: strided-batched GEMMs over the trajectories
// around small kernels (forward, residuals with the loss per row in double,
// backpropagation, column sums for the biases), Hessian-vector products by
// the R-operator and dense Hessians from batched columns H e_k, in both
// precisions.

// A small student (d = 5 inputs, h = 7 hidden, o = 2 outputs, n = 9 samples,
// dim = 70 parameters) with deterministic random inputs X [n, d] and labels
// Y [n, o].
ss::ObjectiveData mlp_objective() {
  ss::ObjectiveData d;
  d.kind = ss::ObjectiveKind::mlp;
  d.mlp.d = 5;
  d.mlp.h = 7;
  d.mlp.o = 2;
  d.mlp.n = 9;
  d.dim = d.mlp.params();
  d.mlp_x = normals(41, d.mlp.n * d.mlp.d, 1.0);
  d.mlp_y = normals(42, d.mlp.n * d.mlp.o, 0.5);
  return d;
}

class CudaMlpEval : public ::testing::TestWithParam<ss::Precision> {
 protected:
  ss::Precision precision() const { return GetParam(); }
  double rel() const { return precision() == ss::Precision::f64 ? 1e-11 : 1e-4; }
};

TEST_P(CudaMlpEval, ValueGrad) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = mlp_objective();
  const auto x = normals(43, kEvalBatch * obj.dim, 0.7);
  const auto cuda = ss::make_cuda_backend()->value_grad(obj, precision(), kEvalBatch, x);
  const auto cpu = ss::make_cpu_backend()->value_grad(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(cuda.f, cpu.f, rel(), "f");
  expect_close_to_magnitude(cuda.g, cpu.g, rel(), "g");
}

TEST_P(CudaMlpEval, HessianVectorProduct) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = mlp_objective();
  const auto x = normals(44, kEvalBatch * obj.dim, 0.7);
  const auto v = normals(45, kEvalBatch * obj.dim, 1.0);
  const auto cuda = ss::make_cuda_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  const auto cpu = ss::make_cpu_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  expect_close_to_magnitude(cuda, cpu, rel(), "Hv");
}

TEST_P(CudaMlpEval, Hessian) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = mlp_objective();
  const auto x = normals(46, kEvalBatch * obj.dim, 0.7);
  const auto cuda = ss::make_cuda_backend()->hessian(obj, precision(), kEvalBatch, x);
  const auto cpu = ss::make_cpu_backend()->hessian(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(cuda, cpu, rel(), "H");
}

INSTANTIATE_TEST_SUITE_P(Mlp, CudaMlpEval,
                         ::testing::Values(ss::Precision::f64, ss::Precision::f32),
                         [](const ::testing::TestParamInfo<ss::Precision>& p) {
                           return std::string(p.param == ss::Precision::f64 ? "f64" : "f32");
                         });

// ---------------------------------------------------------------------------
// The deep linear network: per layer one strided-batched GEMM over the rows
// (X shared), the residual kernel (loss in double, dZ_L = R / n), the
// backward GEMMs, Hessian-vector products by the R-operator and dense
// Hessians from batched columns H e_k, in both precisions.

// Widths {3, 4, 2, 3} (three layers, dim = 4*3 + 2*4 + 3*2 = 26), n = 6
// samples, deterministic random inputs X [d_0, n] and targets Y [d_L, n].
ss::ObjectiveData deep_linear_objective() {
  ss::ObjectiveData d;
  d.kind = ss::ObjectiveKind::deep_linear;
  d.dl_widths = {3, 4, 2, 3};
  d.dl_samples = 6;
  d.dim = 4 * 3 + 2 * 4 + 3 * 2;
  d.dl_x = normals(51, d.dl_widths.front() * d.dl_samples, 1.0);
  d.dl_y = normals(52, d.dl_widths.back() * d.dl_samples, 0.5);
  return d;
}

class CudaDeepLinearEval : public ::testing::TestWithParam<ss::Precision> {
 protected:
  ss::Precision precision() const { return GetParam(); }
  double rel() const { return precision() == ss::Precision::f64 ? 1e-11 : 1e-4; }
};

TEST_P(CudaDeepLinearEval, ValueGrad) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = deep_linear_objective();
  const auto x = normals(53, kEvalBatch * obj.dim, 0.7);
  const auto cuda = ss::make_cuda_backend()->value_grad(obj, precision(), kEvalBatch, x);
  const auto cpu = ss::make_cpu_backend()->value_grad(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(cuda.f, cpu.f, rel(), "f");
  expect_close_to_magnitude(cuda.g, cpu.g, rel(), "g");
}

TEST_P(CudaDeepLinearEval, HessianVectorProduct) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = deep_linear_objective();
  const auto x = normals(54, kEvalBatch * obj.dim, 0.7);
  const auto v = normals(55, kEvalBatch * obj.dim, 1.0);
  const auto cuda = ss::make_cuda_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  const auto cpu = ss::make_cpu_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  expect_close_to_magnitude(cuda, cpu, rel(), "Hv");
}

TEST_P(CudaDeepLinearEval, Hessian) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = deep_linear_objective();
  const auto x = normals(56, kEvalBatch * obj.dim, 0.7);
  const auto cuda = ss::make_cuda_backend()->hessian(obj, precision(), kEvalBatch, x);
  const auto cpu = ss::make_cpu_backend()->hessian(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(cuda, cpu, rel(), "H");
}

INSTANTIATE_TEST_SUITE_P(DeepLinear, CudaDeepLinearEval,
                         ::testing::Values(ss::Precision::f64, ss::Precision::f32),
                         [](const ::testing::TestParamInfo<ss::Precision>& p) {
                           return std::string(p.param == ss::Precision::f64 ? "f64" : "f32");
                         });

// ---------------------------------------------------------------------------
// The spherical p-spin (kernels/pspin.hpp): p = 2, G_E = X A by one GEMM;
// p = 3, per block of rows the contraction Y = X T^T and the products Y_r x_r
// as a strided-batched GEMM; the row epilogues are the CPU's. Values (energy
// per spin), Riemannian gradients, Hessian-vector products and embedded
// Riemannian Hessians, at points on the sphere |x|^2 = N and off it (evaluated
// as given, not retracted), in both precisions. The objective is built from
// an experiment file, as the engine builds it.

constexpr std::int64_t kPspinDim = 40;

// An experiment with a p-spin objective of order p and dimension n (seed 3);
// objective_extra goes into [objective], rest after it (by default one gd
// optimizer).
std::string pspin_toml(int p, std::int64_t n, const std::string& objective_extra = "",
                       const std::string& rest = "[[optimizer]]\nkind = \"gd\"\n") {
  return "seed = 3\n[objective]\nkind = \"p-spin\"\ndim = " + std::to_string(n) +
         "\np = " + std::to_string(p) + "\n" + objective_extra + rest;
}

ss::ObjectiveData pspin_objective(int p, std::int64_t n, bool tf32 = false) {
  const std::string extra = tf32 ? "tf32 = true\n" : "";
  const std::string run = tf32 ? "[run]\nprecision = \"f32\"\n" : "";
  return ss::build_objective(ss::parse_experiment(
      pspin_toml(p, n, extra, run + "[[optimizer]]\nkind = \"gd\"\n"), "test"));
}

// `batch` points of dimension n from the start stream of `seed`: of every five
// rows, three scaled onto the sphere |x|^2 = N, one inside it (N / 2) and one
// outside (2 N).
std::vector<double> pspin_points(std::uint64_t seed, std::int64_t batch, std::int64_t n) {
  auto x = normals(seed, batch * n, 1.0);
  for (std::int64_t b = 0; b < batch; ++b) {
    const double want = b % 5 == 4 ? 2.0 : b % 5 == 3 ? 0.5 : 1.0;  // |x|^2 / N
    double r = 0;
    for (std::int64_t i = 0; i < n; ++i) r += x[b * n + i] * x[b * n + i];
    const double scale = std::sqrt(want * static_cast<double>(n) / r);
    for (std::int64_t i = 0; i < n; ++i) x[b * n + i] *= scale;
  }
  return x;
}

class CudaPspinEval : public ::testing::TestWithParam<std::tuple<int, ss::Precision>> {
 protected:
  int order() const { return std::get<0>(GetParam()); }
  ss::Precision precision() const { return std::get<1>(GetParam()); }
  double rel() const { return precision() == ss::Precision::f64 ? 1e-10 : 1e-4; }
};

TEST_P(CudaPspinEval, ValueGrad) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = pspin_objective(order(), kPspinDim);
  const auto x = pspin_points(61, kEvalBatch, kPspinDim);
  const auto cuda = ss::make_cuda_backend()->value_grad(obj, precision(), kEvalBatch, x);
  const auto cpu = ss::make_cpu_backend()->value_grad(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(cuda.f, cpu.f, rel(), "f");
  expect_close_to_magnitude(cuda.g, cpu.g, rel(), "g");
}

TEST_P(CudaPspinEval, HessianVectorProduct) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = pspin_objective(order(), kPspinDim);
  const auto x = pspin_points(62, kEvalBatch, kPspinDim);
  const auto v = normals(63, kEvalBatch * kPspinDim, 1.0);  // not tangent: P v is applied
  const auto cuda = ss::make_cuda_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  const auto cpu = ss::make_cpu_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  expect_close_to_magnitude(cuda, cpu, rel(), "Hv");
}

TEST_P(CudaPspinEval, Hessian) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = pspin_objective(order(), kPspinDim);
  const auto x = pspin_points(64, kEvalBatch, kPspinDim);
  const auto cuda = ss::make_cuda_backend()->hessian(obj, precision(), kEvalBatch, x);
  const auto cpu = ss::make_cpu_backend()->hessian(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(cuda, cpu, rel(), "H");
}

INSTANTIATE_TEST_SUITE_P(PSpin, CudaPspinEval,
                         ::testing::Combine(::testing::Values(2, 3),
                                            ::testing::Values(ss::Precision::f64,
                                                              ss::Precision::f32)),
                         [](const ::testing::TestParamInfo<CudaPspinEval::ParamType>& p) {
                           return "p" + std::to_string(std::get<0>(p.param)) +
                                  (std::get<1>(p.param) == ss::Precision::f64 ? "_f64" : "_f32");
                         });

// p = 3 with more rows than one contraction block holds: at N = 100 a block
// is kPspinWorkElements / N^2 = 838 rows, so 1700 rows take three blocks
// (838, 838, 24) and 845 Hessians two groups (838, 7).
TEST(CudaPspinBlocks, P3ManyBlocksMatchCpu) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = 100, batch = 1700, points = 845;
  ASSERT_EQ(ss::kPspinWorkElements / (n * n), 838);
  const auto obj = pspin_objective(3, n);
  auto cuda = ss::make_cuda_backend();
  auto cpu = ss::make_cpu_backend();
  const auto x = pspin_points(65, batch, n);
  const auto v = normals(66, batch * n, 1.0);
  const auto eg = cuda->value_grad(obj, ss::Precision::f64, batch, x);
  const auto ec = cpu->value_grad(obj, ss::Precision::f64, batch, x);
  expect_close_to_magnitude(eg.f, ec.f, 1e-10, "f");
  expect_close_to_magnitude(eg.g, ec.g, 1e-10, "g");
  expect_close_to_magnitude(cuda->hvp(obj, ss::Precision::f64, batch, x, v),
                            cpu->hvp(obj, ss::Precision::f64, batch, x, v), 1e-10, "Hv");
  const std::vector<double> xh(x.begin(), x.begin() + points * n);
  expect_close_to_magnitude(cuda->hessian(obj, ss::Precision::f64, points, xh),
                            cpu->hessian(obj, ss::Precision::f64, points, xh), 1e-10, "H");
}

// objective.tf32 on an f32 evaluation: the GEMMs may round their inputs to
// TF32 (about 1e-3 relative), so the agreement with the CPU's f32 is loose.
TEST(CudaPspinTf32, EvaluationAgreesLoosely) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = pspin_objective(3, kPspinDim, true);
  ASSERT_TRUE(obj.tf32);
  const auto x = pspin_points(67, kEvalBatch, kPspinDim);
  const auto v = normals(68, kEvalBatch * kPspinDim, 1.0);
  auto cuda = ss::make_cuda_backend();
  auto cpu = ss::make_cpu_backend();
  const auto eg = cuda->value_grad(obj, ss::Precision::f32, kEvalBatch, x);
  const auto ec = cpu->value_grad(obj, ss::Precision::f32, kEvalBatch, x);
  expect_close_to_magnitude(eg.f, ec.f, 2e-2, "f");
  expect_close_to_magnitude(eg.g, ec.g, 2e-2, "g");
  expect_close_to_magnitude(cuda->hvp(obj, ss::Precision::f32, kEvalBatch, x, v),
                            cpu->hvp(obj, ss::Precision::f32, kEvalBatch, x, v), 2e-2, "Hv");
  expect_close_to_magnitude(cuda->hessian(obj, ss::Precision::f32, kEvalBatch, x),
                            cpu->hessian(obj, ss::Precision::f32, kEvalBatch, x), 2e-2, "H");
}

// ---------------------------------------------------------------------------
// Symmetric eigendecompositions: cuSOLVER against LAPACK. Orders on both sides
// of the batched/one-at-a-time threshold (n <= 64 batched), in both
// precisions. Eigenvectors are unique up to sign (and within degenerate
// eigenspaces), so they are checked by residual and orthogonality, not
// against the CPU's.
//
// There is no NaN-input test: cuSOLVER does not document what syevd or
// syevBatched return for a matrix with NaN entries (a nonzero info, NaN
// values, or neither), so no outcome can be asserted.

// `batch` random symmetric n x n matrices A = (R + R^T) / 2, R uniform in
// [-1, 1), row-major, from a fixed generator.
std::vector<double> random_symmetric(std::int64_t batch, std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> h(static_cast<std::size_t>(batch * n * n)),
      r(static_cast<std::size_t>(n * n));
  for (std::int64_t b = 0; b < batch; ++b) {
    for (double& e : r) e = u(gen);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        h[(b * n + i) * n + j] = 0.5 * (r[i * n + j] + r[j * n + i]);
  }
  return h;
}

// Tolerances, relative to max|lambda| of each matrix (values, residual) and
// scaled by n (residual, orthogonality). f32: eps ~ 1.2e-7, so 1e-4 on the
// values is ~ 800 eps, and 1e-5 n on residual and orthogonality ~ 80 n eps.
struct EighTolerance {
  double values, residual, orthogonality;
};
EighTolerance eigh_tolerance(ss::Precision p) {
  return p == ss::Precision::f64 ? EighTolerance{1e-10, 1e-10, 1e-10}
                                 : EighTolerance{1e-4, 1e-5, 1e-5};
}

// Checks one batch of CUDA results against the CPU's values and, when the
// CUDA result has vectors, the residual ||H V - V diag(w)||_max <= tol
// max|lambda| n and the orthogonality ||V^T V - I||_max <= tol n. The
// residual uses H as the solver saw it (rounded to float in f32).
void expect_eigh_matches(const ss::EighResult& cuda, const ss::EighResult& cpu,
                         const std::vector<double>& h, ss::Precision p, std::int64_t batch,
                         std::int64_t n, bool vectors) {
  const EighTolerance tol = eigh_tolerance(p);
  ASSERT_EQ(cuda.info.size(), static_cast<std::size_t>(batch));
  ASSERT_EQ(cuda.values.size(), static_cast<std::size_t>(batch * n));
  ASSERT_EQ(cuda.vectors.size(), vectors ? static_cast<std::size_t>(batch * n * n) : 0u);
  for (std::int64_t b = 0; b < batch; ++b) {
    SCOPED_TRACE(::testing::Message() << "matrix " << b);
    ASSERT_EQ(cpu.info[b], 0);
    EXPECT_EQ(cuda.info[b], 0);
    const double* w = cuda.values.data() + b * n;
    const double* want = cpu.values.data() + b * n;
    double scale = 0;
    for (std::int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(want[i]));
    int reported = 0;
    for (std::int64_t i = 0; i < n && reported < 5; ++i) {
      if (std::fabs(w[i] - want[i]) <= tol.values * scale) continue;
      ADD_FAILURE() << "lambda[" << i << "]: cuda " << w[i] << ", cpu " << want[i] << ", tolerance "
                    << tol.values * scale;
      ++reported;
    }
    for (std::int64_t i = 1; i < n; ++i) EXPECT_LE(w[i - 1], w[i]) << "ascending at " << i;
    if (!vectors) continue;

    const double* v = cuda.vectors.data() + b * n * n;  // column k = eigenvector k
    std::vector<double> a(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
    if (p == ss::Precision::f32)
      for (double& e : a) e = static_cast<float>(e);
    double res = 0, orth = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < n; ++k) {
        double hv = 0, vtv = 0;
        for (std::int64_t j = 0; j < n; ++j) {
          hv += a[i * n + j] * v[j * n + k];
          vtv += v[j * n + i] * v[j * n + k];
        }
        res = std::max(res, std::fabs(hv - w[k] * v[i * n + k]));
        orth = std::max(orth, std::fabs(vtv - (i == k ? 1.0 : 0.0)));
      }
    const double dn = static_cast<double>(n);
    EXPECT_LE(res, tol.residual * scale * dn) << "||H V - V diag(w)||_max";
    EXPECT_LE(orth, tol.orthogonality * dn) << "||V^T V - I||_max";
  }
}

constexpr std::int64_t kEighBatch = 7;

class CudaEigh : public ::testing::TestWithParam<std::tuple<std::int64_t, ss::Precision>> {
 protected:
  std::int64_t n() const { return std::get<0>(GetParam()); }
  ss::Precision precision() const { return std::get<1>(GetParam()); }
};

TEST_P(CudaEigh, ValuesAndVectorsMatchCpu) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto h = random_symmetric(kEighBatch, n(), 1000 + static_cast<std::uint64_t>(n()));
  const auto cpu = ss::make_cpu_backend()->eigh(precision(), kEighBatch, n(), h, false);
  const auto cuda = ss::make_cuda_backend()->eigh(precision(), kEighBatch, n(), h, true);
  expect_eigh_matches(cuda, cpu, h, precision(), kEighBatch, n(), true);
}

TEST_P(CudaEigh, ValuesOnlyMatchCpu) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto h = random_symmetric(kEighBatch, n(), 2000 + static_cast<std::uint64_t>(n()));
  const auto cpu = ss::make_cpu_backend()->eigh(precision(), kEighBatch, n(), h, false);
  const auto cuda = ss::make_cuda_backend()->eigh(precision(), kEighBatch, n(), h, false);
  expect_eigh_matches(cuda, cpu, h, precision(), kEighBatch, n(), false);
}

// A matrix's eigenvalues and vectors are the same bits whether it is solved
// alone or in a stack (the batched solver's algorithm is pinned, as the CPU
// backend's stacks are, tests/test_census.cpp Eigh.StackedAndAloneGiveTheSameBits).
TEST_P(CudaEigh, StackedAndAloneGiveTheSameBits) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const std::int64_t n = this->n();
  const auto h = random_symmetric(kEighBatch, n, 4000 + static_cast<std::uint64_t>(n));
  auto backend = ss::make_cuda_backend();
  const auto stacked = backend->eigh(precision(), kEighBatch, n, h, true);
  for (std::int64_t b = 0; b < kEighBatch; ++b) {
    SCOPED_TRACE(::testing::Message() << "matrix " << b);
    const std::vector<double> one(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
    const auto alone = backend->eigh(precision(), 1, n, one, true);
    EXPECT_TRUE(
        std::equal(alone.values.begin(), alone.values.end(), stacked.values.begin() + b * n));
    EXPECT_TRUE(std::equal(alone.vectors.begin(), alone.vectors.end(),
                           stacked.vectors.begin() + b * n * n));
  }
}

// Only the lower triangle may be trusted: NaN above the diagonal must not
// change the result.
TEST_P(CudaEigh, ReadsOnlyTheLowerTriangle) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const std::int64_t n = this->n();
  const auto h = random_symmetric(kEighBatch, n, 3000 + static_cast<std::uint64_t>(n));
  auto lower = h;
  for (std::int64_t b = 0; b < kEighBatch; ++b)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = i + 1; j < n; ++j)
        lower[(b * n + i) * n + j] = std::numeric_limits<double>::quiet_NaN();
  const auto cpu = ss::make_cpu_backend()->eigh(precision(), kEighBatch, n, h, false);
  const auto cuda = ss::make_cuda_backend()->eigh(precision(), kEighBatch, n, lower, true);
  expect_eigh_matches(cuda, cpu, h, precision(), kEighBatch, n, true);
}

INSTANTIATE_TEST_SUITE_P(Orders, CudaEigh,
                         ::testing::Combine(::testing::Values<std::int64_t>(5, 33, 64, 65, 300),
                                            ::testing::Values(ss::Precision::f64,
                                                              ss::Precision::f32)),
                         [](const ::testing::TestParamInfo<CudaEigh::ParamType>& p) {
                           return "n" + std::to_string(std::get<0>(p.param)) +
                                  (std::get<1>(p.param) == ss::Precision::f64 ? "_f64" : "_f32");
                         });

TEST(CudaEighEmpty, NoMatricesOrOrderZero) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  auto backend = ss::make_cuda_backend();
  const auto none = backend->eigh(ss::Precision::f64, 0, 5, {}, true);
  EXPECT_TRUE(none.values.empty());
  EXPECT_TRUE(none.vectors.empty());
  EXPECT_TRUE(none.info.empty());
  const auto empty = backend->eigh(ss::Precision::f32, 3, 0, {}, true);
  EXPECT_TRUE(empty.values.empty());
  EXPECT_TRUE(empty.vectors.empty());
  EXPECT_EQ(empty.info, std::vector<int>(3, 0));
}

// ---------------------------------------------------------------------------
// Sylvester counts (count_below): cuSOLVER's Bunch-Kaufman sytrf against
// LAPACK's, and both against counting LAPACK eigenvalues. The shifts are 0
// and the midpoints of the widest gaps between consecutive eigenvalues (CPU
// eigh, f64) in the lower and upper middle of the spectrum, each asserted to
// lie at least kShiftMargin max|lambda| from every eigenvalue. That is far
// beyond the f32 factorization's backward error (~ sqrt(n) eps max|lambda|,
// ~ 2e-5 max|lambda| at n = 200), so every count is exact in both precisions
// and CUDA, CPU, f32 and f64 must all agree.

constexpr std::int64_t kCountBatch = 4;
constexpr std::int64_t kCountShifts = 3;
constexpr double kShiftMargin = 1e-4;

// Midpoint of the widest gap w[i + 1] - w[i] over i in [lo, hi).
double widest_gap_midpoint(const double* w, std::int64_t lo, std::int64_t hi) {
  std::int64_t best = lo;
  for (std::int64_t i = lo; i < hi; ++i)
    if (w[i + 1] - w[i] > w[best + 1] - w[best]) best = i;
  return 0.5 * (w[best] + w[best + 1]);
}

struct CountInputs {
  std::vector<double> h;                // [batch, n, n]
  std::vector<double> shifts;           // [batch, kCountShifts]
  std::vector<std::int64_t> eig_count;  // [batch, kCountShifts]: CPU eigenvalues below each shift
};

// kCountBatch random symmetric n x n matrices (n >= 4) and their shifts.
CountInputs count_inputs(std::int64_t n, std::uint64_t seed) {
  CountInputs in;
  in.h = random_symmetric(kCountBatch, n, seed);
  const auto eig = ss::make_cpu_backend()->eigh(ss::Precision::f64, kCountBatch, n, in.h, false);
  for (std::int64_t b = 0; b < kCountBatch; ++b) {
    EXPECT_EQ(eig.info[b], 0) << "CPU eigh of matrix " << b;
    const double* w = eig.values.data() + b * n;
    double scale = 0;
    for (std::int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(w[i]));
    const double shifts[kCountShifts] = {0.0, widest_gap_midpoint(w, n / 4, n / 2),
                                         widest_gap_midpoint(w, n / 2, 3 * n / 4)};
    for (double s : shifts) {
      std::int64_t below = 0;
      double gap = std::numeric_limits<double>::infinity();
      for (std::int64_t i = 0; i < n; ++i) {
        below += w[i] < s;
        gap = std::min(gap, std::fabs(w[i] - s));
      }
      // A failure here is a bad test input (pick another seed), not a bug.
      EXPECT_GE(gap, kShiftMargin * scale)
          << "matrix " << b << ": shift " << s << " is too close to an eigenvalue";
      in.shifts.push_back(s);
      in.eig_count.push_back(below);
    }
  }
  return in;
}

class CudaCountBelow : public ::testing::TestWithParam<std::tuple<std::int64_t, ss::Precision>> {
 protected:
  std::int64_t n() const { return std::get<0>(GetParam()); }
  ss::Precision precision() const { return std::get<1>(GetParam()); }
};

TEST_P(CudaCountBelow, MatchesCpuSytrf) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto in = count_inputs(n(), 4000 + static_cast<std::uint64_t>(n()));
  const auto cpu = ss::make_cpu_backend()->count_below(precision(), kCountBatch, n(), in.h,
                                                       in.shifts, kCountShifts);
  const auto cuda = ss::make_cuda_backend()->count_below(precision(), kCountBatch, n(), in.h,
                                                         in.shifts, kCountShifts);
  ASSERT_EQ(cuda.size(), static_cast<std::size_t>(kCountBatch * kCountShifts));
  EXPECT_EQ(cuda, cpu);
}

TEST_P(CudaCountBelow, MatchesEigenvalueCounts) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto in = count_inputs(n(), 4000 + static_cast<std::uint64_t>(n()));
  const auto cuda = ss::make_cuda_backend()->count_below(precision(), kCountBatch, n(), in.h,
                                                         in.shifts, kCountShifts);
  EXPECT_EQ(cuda, in.eig_count);
}

// Only the lower triangle may be trusted: NaN above the diagonal must not
// change the counts.
TEST_P(CudaCountBelow, ReadsOnlyTheLowerTriangle) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const std::int64_t n = this->n();
  const auto in = count_inputs(n, 5000 + static_cast<std::uint64_t>(n));
  auto lower = in.h;
  for (std::int64_t b = 0; b < kCountBatch; ++b)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = i + 1; j < n; ++j)
        lower[(b * n + i) * n + j] = std::numeric_limits<double>::quiet_NaN();
  const auto cuda = ss::make_cuda_backend()->count_below(precision(), kCountBatch, n, lower,
                                                         in.shifts, kCountShifts);
  EXPECT_EQ(cuda, in.eig_count);
}

INSTANTIATE_TEST_SUITE_P(Orders, CudaCountBelow,
                         ::testing::Combine(::testing::Values<std::int64_t>(5, 64, 200),
                                            ::testing::Values(ss::Precision::f64,
                                                              ss::Precision::f32)),
                         [](const ::testing::TestParamInfo<CudaCountBelow::ParamType>& p) {
                           return "n" + std::to_string(std::get<0>(p.param)) +
                                  (std::get<1>(p.param) == ss::Precision::f64 ? "_f64" : "_f32");
                         });

// The shifts sit midway between eigenvalues, so f32 and f64 give the same
// counts on the device.
TEST(CudaCountBelowPrecisions, F32AgreesWithF64) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  auto backend = ss::make_cuda_backend();
  for (std::int64_t n : {5, 64, 200}) {
    SCOPED_TRACE(::testing::Message() << "n = " << n);
    const auto in = count_inputs(n, 4000 + static_cast<std::uint64_t>(n));
    const auto f64 =
        backend->count_below(ss::Precision::f64, kCountBatch, n, in.h, in.shifts, kCountShifts);
    const auto f32 =
        backend->count_below(ss::Precision::f32, kCountBatch, n, in.h, in.shifts, kCountShifts);
    EXPECT_EQ(f32, f64);
  }
}

// A shift equal to an eigenvalue of a diagonal matrix gives an exactly zero
// pivot (sytrf info > 0): the count is still valid and the zero eigenvalue of
// H - sI is not counted as negative.
TEST(CudaCountBelowSingular, ZeroPivotCountsStrictlyBelow) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = 5, k = 4;
  std::vector<double> h(n * n, 0.0);
  for (std::int64_t i = 0; i < n; ++i) h[i * n + i] = static_cast<double>(i - 2);  // -2 .. 2
  const std::vector<double> shifts = {0.0, 1.0, -2.0, 2.5};
  const std::vector<std::int64_t> want = {2, 3, 0, 5};
  for (ss::Precision p : {ss::Precision::f64, ss::Precision::f32}) {
    SCOPED_TRACE(p == ss::Precision::f64 ? "f64" : "f32");
    const auto cuda = ss::make_cuda_backend()->count_below(p, 1, n, h, shifts, k);
    const auto cpu = ss::make_cpu_backend()->count_below(p, 1, n, h, shifts, k);
    EXPECT_EQ(cuda, want);
    EXPECT_EQ(cuda, cpu);
  }
}

TEST(CudaCountBelowEmpty, NoMatricesNoShiftsOrOrderZero) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  auto backend = ss::make_cuda_backend();
  EXPECT_TRUE(backend->count_below(ss::Precision::f64, 0, 5, {}, {}, 3).empty());
  EXPECT_TRUE(
      backend->count_below(ss::Precision::f32, 2, 3, std::vector<double>(18, 1.0), {}, 0).empty());
  EXPECT_EQ(backend->count_below(ss::Precision::f64, 2, 0, {}, {0.0, 1.0, -1.0, 2.0}, 2),
            std::vector<std::int64_t>(4, 0));
}

// ---------------------------------------------------------------------------
// Full ensembles.

ss::EnsembleSpec ensemble_spec(const ss::ObjectiveData& obj, const ss::OptimizerParams& opt,
                               ss::Precision p, std::int64_t count) {
  ss::EnsembleSpec s;
  s.objective = &obj;
  s.optimizer = opt;
  s.precision = p;
  s.count = count;
  s.stop = ss::StopRule{1e-6, 1e10, 200};
  s.record_count = 5;
  s.record_every = 10;
  s.records = s.stop.max_steps / s.record_every + 1;
  s.record_paths = true;
  return s;
}

// Drives an ensemble as the engine does: iterations 0..max_steps, stopping
// early once no trajectory runs (checked every 16 iterations).
ss::EnsembleResult run(ss::Backend& backend, const ss::EnsembleSpec& spec,
                       const std::vector<double>& x0) {
  auto e = backend.make_ensemble(spec);
  e->set_starts(x0);
  for (std::int64_t t = 0; t <= spec.stop.max_steps; ++t) {
    e->iterate(t);
    if ((t + 1) % 16 == 0 && e->running() == 0) break;
  }
  return e->result(true);
}

// CUDA against CPU in f64. The per-element math is the same code on both
// sides, so trajectories agree to rounding (different summation orders, and
// the device compiler may fuse multiply-adds); outcomes and steps must agree
// exactly.
void expect_match(const ss::EnsembleResult& cuda, const ss::EnsembleResult& cpu) {
  EXPECT_EQ(cuda.outcome, cpu.outcome);
  EXPECT_EQ(cuda.steps, cpu.steps);
  expect_close(cuda.f_init, cpu.f_init, 1e-9, 1e-300, "f_init");
  expect_close(cuda.f_final, cpu.f_final, 1e-9, 1e-300, "f_final");
  // A converged gradient norm (~1e-6) is the remainder of O(10)-sized terms
  // that cancel, so its absolute rounding (~1e-13 with fused multiply-adds)
  // is far above 1e-9 of it: the floor is relative to that term size.
  expect_close(cuda.gnorm_final, cpu.gnorm_final, 1e-9, 1e-2, "gnorm_final");
  expect_close(cuda.finals, cpu.finals, 1e-9, 1.0, "finals");
  expect_close(cuda.paths, cpu.paths, 1e-9, 1.0, "paths");
  const std::vector<double> cuda_curves(cuda.curves.begin(), cuda.curves.end());
  const std::vector<double> cpu_curves(cpu.curves.begin(), cpu.curves.end());
  expect_close(cuda_curves, cpu_curves, 1e-5, 1e-30, "curves");
}

struct OptimizerCase {
  const char* name;
  ss::OptimizerParams params;
};
void PrintTo(const OptimizerCase& c, std::ostream* os) { *os << c.name; }

std::vector<OptimizerCase> optimizer_cases() {
  ss::OptimizerParams gd;
  gd.kind = ss::OptimizerKind::gd;
  gd.lr = 0.01;

  ss::OptimizerParams momentum;
  momentum.kind = ss::OptimizerKind::momentum;
  momentum.lr = 0.005;
  momentum.momentum = 0.9;
  momentum.nesterov = true;

  ss::OptimizerParams adagrad;
  adagrad.kind = ss::OptimizerKind::adagrad;
  adagrad.lr = 0.5;
  adagrad.eps = 1e-10;

  ss::OptimizerParams rmsprop;
  rmsprop.kind = ss::OptimizerKind::rmsprop;
  rmsprop.lr = 0.01;
  rmsprop.momentum = 0.5;

  ss::OptimizerParams adam;
  adam.kind = ss::OptimizerKind::adam;
  adam.lr = 0.05;

  ss::OptimizerParams adamw = adam;
  adamw.kind = ss::OptimizerKind::adamw;
  adamw.weight_decay = 0.1;

  ss::OptimizerParams nadam = adam;
  nadam.kind = ss::OptimizerKind::nadam;
  nadam.momentum_decay = 0.01;

  ss::OptimizerParams radam = adam;
  radam.kind =
      ss::OptimizerKind::radam;  // the un-adapted steps (rho_k <= 5) and the rectified ones

  return {{"gd", gd},     {"momentum", momentum}, {"adagrad", adagrad}, {"rmsprop", rmsprop},
          {"adam", adam}, {"adamw", adamw},       {"nadam", nadam},     {"radam", radam}};
}

class CudaEnsemble : public ::testing::TestWithParam<OptimizerCase> {};

TEST_P(CudaEnsemble, MatchesCpuOnStyblinskiTang) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = 300, count = 37;
  const auto obj = make_objective(ss::ObjectiveKind::styblinski_tang, n);
  const auto spec = ensemble_spec(obj, GetParam().params, ss::Precision::f64, count);
  const auto x0 = normals(2024, count * n, 1.5);
  const auto cuda = run(*ss::make_cuda_backend(), spec, x0);
  const auto cpu = run(*ss::make_cpu_backend(), spec, x0);
  expect_match(cuda, cpu);
}

INSTANTIATE_TEST_SUITE_P(AllOptimizers, CudaEnsemble, ::testing::ValuesIn(optimizer_cases()),
                         [](const ::testing::TestParamInfo<OptimizerCase>& p) {
                           return std::string(p.param.name);
                         });

// Rows longer than one block's slice: per-slice partial sums are combined by
// the status kernel.
TEST(CudaEnsembleMultiSlice, MatchesCpuOnStyblinskiTang) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = 2500, count = 37;
  const auto obj = make_objective(ss::ObjectiveKind::styblinski_tang, n);
  const auto spec = ensemble_spec(obj, optimizer_cases()[0].params, ss::Precision::f64, count);
  const auto x0 = normals(31, count * n, 1.5);
  const auto cuda = run(*ss::make_cuda_backend(), spec, x0);
  const auto cpu = run(*ss::make_cpu_backend(), spec, x0);
  expect_match(cuda, cpu);
}

// The coupled path: a GEMM per iteration feeds the fused step.
TEST(CudaEnsembleCoupled, MatchesCpuOnRotatedQuadratic) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = 64, count = 37;
  const auto obj = make_objective(ss::ObjectiveKind::quadratic, n, true, 1.0);  // convex
  ss::OptimizerParams gd;
  gd.kind = ss::OptimizerKind::gd;
  gd.lr = 0.3;
  const auto spec = ensemble_spec(obj, gd, ss::Precision::f64, count);
  const auto x0 = normals(7, count * n, 1.0);
  const auto cuda = run(*ss::make_cuda_backend(), spec, x0);
  const auto cpu = run(*ss::make_cpu_backend(), spec, x0);
  expect_match(cuda, cpu);
}

// The gaussian field: per iteration Z = X W^T, the value epilogue, G = mu X +
// S W, and the per-trajectory values added before the end of the iteration.
// The gradient tolerance is loose so that some trajectories converge within
// the 100 steps (on the CPU, about half of them, between steps 87 and 100)
// and the others stop at max_steps.
ss::EnsembleSpec field_spec(const ss::ObjectiveData& obj, ss::Precision p) {
  ss::OptimizerParams adam;
  adam.kind = ss::OptimizerKind::adam;
  adam.lr = 0.05;
  auto spec = ensemble_spec(obj, adam, p, 20);
  spec.stop.grad_tol = 0.05;
  spec.stop.max_steps = 100;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  return spec;
}

TEST(CudaEnsembleCoupled, MatchesCpuOnGaussianField) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = field_objective();
  const auto spec = field_spec(obj, ss::Precision::f64);
  const auto x0 = normals(8, spec.count * kFieldDim, 1.0);
  const auto cuda = run(*ss::make_cuda_backend(), spec, x0);
  const auto cpu = run(*ss::make_cpu_backend(), spec, x0);
  expect_match(cuda, cpu);
}

// The MLP: per iteration the batched forward and backward pass over the
// trajectories, and the per-trajectory losses added before the end of the
// iteration. 60 Adam steps from small random parameters.
TEST(CudaEnsembleCoupled, MatchesCpuOnMlp) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = mlp_objective();
  ss::OptimizerParams adam;
  adam.kind = ss::OptimizerKind::adam;
  adam.lr = 0.02;
  auto spec = ensemble_spec(obj, adam, ss::Precision::f64, 12);
  spec.stop.max_steps = 60;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  const auto x0 = normals(47, spec.count * obj.dim, 0.5);
  const auto cuda = run(*ss::make_cuda_backend(), spec, x0);
  const auto cpu = run(*ss::make_cpu_backend(), spec, x0);
  expect_match(cuda, cpu);
}

// The deep linear network: per iteration the batched forward and backward
// pass over the trajectories, and the per-trajectory losses added before the
// end of the iteration. 80 gradient-descent steps from small random weights.
TEST(CudaEnsembleCoupled, MatchesCpuOnDeepLinear) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = deep_linear_objective();
  ss::OptimizerParams gd;
  gd.kind = ss::OptimizerKind::gd;
  gd.lr = 0.05;
  auto spec = ensemble_spec(obj, gd, ss::Precision::f64, 10);
  spec.stop.max_steps = 80;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  const auto x0 = normals(57, spec.count * obj.dim, 0.5);
  const auto cuda = run(*ss::make_cuda_backend(), spec, x0);
  const auto cpu = run(*ss::make_cpu_backend(), spec, x0);
  expect_match(cuda, cpu);
}

// The p-spin on the sphere: per iteration the running trajectories are
// retracted onto |x|^2 = N, then the contraction pass gives the energies and
// Riemannian gradients (p = 3, N = 30). Starts off the sphere (scale 2), so
// the first retraction moves them. Some trajectories reach the loose gradient
// tolerance within the 300 steps, the others stop at max_steps; every final
// point lies on the sphere, and the CUDA Hessians there match the CPU's.
constexpr std::int64_t kPspinEnsembleDim = 30;

ss::EnsembleSpec pspin_spec(const ss::ObjectiveData& obj, const ss::OptimizerParams& opt,
                            ss::Precision p) {
  auto spec = ensemble_spec(obj, opt, p, 6);
  spec.stop.grad_tol = 1e-3;
  spec.stop.max_steps = 300;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  return spec;
}

void expect_on_sphere(const ss::EnsembleResult& r, std::int64_t n, double rel) {
  ASSERT_EQ(r.finals.size(), r.outcome.size() * static_cast<std::size_t>(n));
  for (std::size_t b = 0; b < r.outcome.size(); ++b) {
    if (r.outcome[b] == ss::kDiverged) continue;
    double r2 = 0;
    for (std::int64_t i = 0; i < n; ++i) r2 += r.finals[b * n + i] * r.finals[b * n + i];
    EXPECT_NEAR(r2, static_cast<double>(n), rel * static_cast<double>(n))
        << "trajectory " << b << " off the sphere";
  }
}

std::vector<OptimizerCase> pspin_optimizers() {
  ss::OptimizerParams gd;
  gd.kind = ss::OptimizerKind::gd;
  gd.lr = 0.05;
  ss::OptimizerParams adam;
  adam.kind = ss::OptimizerKind::adam;
  adam.lr = 0.02;
  return {{"gd", gd}, {"adam", adam}};
}

class CudaPspinEnsemble : public ::testing::TestWithParam<OptimizerCase> {};

TEST_P(CudaPspinEnsemble, MatchesCpuOnTheSphere) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = kPspinEnsembleDim;
  const auto obj = pspin_objective(3, n);
  const auto spec = pspin_spec(obj, GetParam().params, ss::Precision::f64);
  const auto x0 = normals(71, spec.count * n, 2.0);
  auto cuda_backend = ss::make_cuda_backend();
  auto cpu_backend = ss::make_cpu_backend();
  const auto cuda = run(*cuda_backend, spec, x0);
  const auto cpu = run(*cpu_backend, spec, x0);
  expect_match(cuda, cpu);
  expect_on_sphere(cuda, n, 1e-12);
  for (std::size_t b = 0; b < cuda.outcome.size(); ++b) {
    EXPECT_NE(cuda.outcome[b], ss::kDiverged) << "trajectory " << b;
    EXPECT_LT(cuda.f_final[b], cuda.f_init[b]) << "trajectory " << b << " descended";
  }
  expect_close_to_magnitude(cuda_backend->hessian(obj, ss::Precision::f64, spec.count, cuda.finals),
                            cpu_backend->hessian(obj, ss::Precision::f64, spec.count, cuda.finals),
                            1e-10, "H at the finals");
}

INSTANTIATE_TEST_SUITE_P(PSpin, CudaPspinEnsemble, ::testing::ValuesIn(pspin_optimizers()),
                         [](const ::testing::TestParamInfo<OptimizerCase>& p) {
                           return std::string(p.param.name);
                         });

// p = 2 as well (one GEMM G_E = X A per iteration).
TEST(CudaPspinEnsembleP2, MatchesCpuOnTheSphere) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = kPspinEnsembleDim;
  const auto obj = pspin_objective(2, n);
  const auto spec = pspin_spec(obj, pspin_optimizers()[0].params, ss::Precision::f64);
  const auto x0 = normals(72, spec.count * n, 2.0);
  const auto cuda = run(*ss::make_cuda_backend(), spec, x0);
  const auto cpu = run(*ss::make_cpu_backend(), spec, x0);
  expect_match(cuda, cpu);
  expect_on_sphere(cuda, n, 1e-12);
}

// objective.tf32 with f32: the ensemble's GEMMs may use TF32 tensor cores,
// so trajectories agree with the CPU's f32 only loosely: the energies reached
// within 2e-2 (relative), and the final points on the sphere.
TEST(CudaPspinTf32, EnsembleAgreesLoosely) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = kPspinEnsembleDim;
  const auto obj = pspin_objective(3, n, true);
  ASSERT_TRUE(obj.tf32);
  ss::OptimizerParams gd;
  gd.kind = ss::OptimizerKind::gd;
  gd.lr = 0.02;
  auto spec = pspin_spec(obj, gd, ss::Precision::f32);
  spec.stop.max_steps = 150;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  const auto x0 = normals(73, spec.count * n, 2.0);
  const auto cuda = run(*ss::make_cuda_backend(), spec, x0);
  const auto cpu = run(*ss::make_cpu_backend(), spec, x0);
  ASSERT_EQ(cuda.outcome.size(), cpu.outcome.size());
  for (std::size_t b = 0; b < cuda.outcome.size(); ++b) {
    EXPECT_NE(cuda.outcome[b], ss::kDiverged) << "trajectory " << b;
    EXPECT_NE(cuda.outcome[b], ss::kRunning) << "trajectory " << b;
  }
  expect_close(cuda.f_init, cpu.f_init, 2e-2, 1.0, "f_init");  // random starts: E near 0
  expect_close(cuda.f_final, cpu.f_final, 2e-2, 1e-30, "f_final");
  expect_on_sphere(cuda, n, 1e-5);
}

// Two runs of the same ensemble give the same bits: every reduction on the
// device has a fixed order.
void expect_deterministic(const ss::EnsembleSpec& spec, const std::vector<double>& x0) {
  auto backend = ss::make_cuda_backend();
  const auto a = run(*backend, spec, x0);
  const auto b = run(*backend, spec, x0);
  EXPECT_TRUE(same_bits(a.outcome, b.outcome));
  EXPECT_TRUE(same_bits(a.steps, b.steps));
  EXPECT_TRUE(same_bits(a.f_init, b.f_init));
  EXPECT_TRUE(same_bits(a.f_final, b.f_final));
  EXPECT_TRUE(same_bits(a.gnorm_final, b.gnorm_final));
  EXPECT_TRUE(same_bits(a.curves, b.curves));
  EXPECT_TRUE(same_bits(a.paths, b.paths));
  EXPECT_TRUE(same_bits(a.finals, b.finals));
  EXPECT_TRUE(same_bits(a.plateau_count, b.plateau_count));
  EXPECT_TRUE(same_bits(a.plateau_steps, b.plateau_steps));
  EXPECT_TRUE(same_bits(a.plateau_step, b.plateau_step));
  EXPECT_TRUE(same_bits(a.target_step, b.target_step));
  EXPECT_TRUE(same_bits(a.plateau_g, b.plateau_g));
  EXPECT_TRUE(same_bits(a.plateau_points, b.plateau_points));
}

TEST(CudaDeterminism, SeparableMultiSliceF32) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = 2500, count = 37;  // rows span several blocks
  const auto obj = make_objective(ss::ObjectiveKind::styblinski_tang, n);
  ss::OptimizerParams adam;
  adam.kind = ss::OptimizerKind::adam;
  adam.lr = 0.05;
  expect_deterministic(ensemble_spec(obj, adam, ss::Precision::f32, count),
                       normals(99, count * n, 1.5));
}

TEST(CudaDeterminism, StyblinskiTangF64) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = 300, count = 37;
  const auto obj = make_objective(ss::ObjectiveKind::styblinski_tang, n);
  for (const auto& c : optimizer_cases()) {
    SCOPED_TRACE(c.name);
    expect_deterministic(ensemble_spec(obj, c.params, ss::Precision::f64, count),
                         normals(2024, count * n, 1.5));
  }
}

TEST(CudaDeterminism, CoupledF32) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = 64, count = 37;
  const auto obj = make_objective(ss::ObjectiveKind::quadratic, n, true);  // a saddle
  ss::OptimizerParams rmsprop;
  rmsprop.kind = ss::OptimizerKind::rmsprop;
  rmsprop.lr = 0.01;
  rmsprop.momentum = 0.5;
  expect_deterministic(ensemble_spec(obj, rmsprop, ss::Precision::f32, count),
                       normals(5, count * n, 1.0));
}

TEST(CudaDeterminism, GaussianFieldF32) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = field_objective();
  const auto spec = field_spec(obj, ss::Precision::f32);
  expect_deterministic(spec, normals(9, spec.count * kFieldDim, 1.0));
}

// The noisy optimizers (perturbation kernel, noise in the fused step) with
// plateau points kept, in f32 on rows of several blocks.
TEST(CudaDeterminism, NoisyOptimizersWithPlateauPointsF32) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = 2500, count = 13;
  const auto obj = make_objective(ss::ObjectiveKind::styblinski_tang, n);
  ss::OptimizerParams pgd;
  pgd.kind = ss::OptimizerKind::perturbed_gd;
  pgd.lr = 0.01;
  pgd.g_thres = 1.0;
  pgd.t_thres = 3;
  ss::OptimizerParams langevin;
  langevin.kind = ss::OptimizerKind::langevin;
  langevin.lr = 0.01;
  langevin.temperature = 0.01;
  for (const auto& opt : {pgd, langevin}) {
    auto spec = ensemble_spec(obj, opt, ss::Precision::f32, count);
    spec.first = 5;
    spec.keep_plateau_points = true;
    spec.plateau = ss::PlateauRule{1.0, 3, 1e-3};
    expect_deterministic(spec, normals(98, count * n, 1.5));
  }
}

TEST(CudaDeterminism, PspinF32) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = kPspinEnsembleDim;
  const auto obj = pspin_objective(3, n);
  ss::OptimizerParams adam;
  adam.kind = ss::OptimizerKind::adam;
  adam.lr = 0.02;
  const auto spec = pspin_spec(obj, adam, ss::Precision::f32);
  expect_deterministic(spec, normals(74, spec.count * n, 2.0));
}

// ---------------------------------------------------------------------------
// Per-trajectory features: plateau detection (statistics, plateau points,
// target steps) and the noisy optimizers (perturbed-gd, langevin), both
// backends driven by run_experiment as the CLI drives them.

// Integer fields that count steps: equal, or within `slack` in f32, where a
// comparison against a threshold may fall one step apart.
void expect_steps_near(const std::vector<std::int64_t>& got, const std::vector<std::int64_t>& want,
                       std::int64_t slack, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < want.size() && reported < 5; ++i) {
    const bool none = got[i] < 0 || want[i] < 0;  // -1: none, on either side
    if (none ? got[i] == want[i] : std::abs(got[i] - want[i]) <= slack) continue;
    ADD_FAILURE() << what << "[" << i << "]: cuda " << got[i] << ", cpu " << want[i];
    ++reported;
  }
}

// Every plateau field of EnsembleResult, and target_step. f64: the same
// steps and relative agreement `rel` of the losses, gradient norms and
// plateau points; f32 (`slack` 1): steps within one.
void expect_plateaus_match(const ss::EnsembleResult& cuda, const ss::EnsembleResult& cpu,
                           double rel, std::int64_t slack = 0) {
  EXPECT_EQ(cuda.plateau_count, cpu.plateau_count);
  expect_steps_near(cuda.plateau_steps, cpu.plateau_steps, slack, "plateau_steps");
  expect_steps_near(cuda.longest_plateau, cpu.longest_plateau, slack, "longest_plateau");
  expect_steps_near(cuda.first_escape_step, cpu.first_escape_step, slack, "first_escape_step");
  expect_steps_near(cuda.plateau_step, cpu.plateau_step, slack, "plateau_step");
  expect_steps_near(cuda.target_step, cpu.target_step, slack, "target_step");
  expect_close(cuda.plateau_f, cpu.plateau_f, rel, 1e-300, "plateau_f");
  expect_close(cuda.plateau_g, cpu.plateau_g, rel, 1e-300, "plateau_g");
  expect_close(cuda.plateau_points, cpu.plateau_points, rel, 1e-300, "plateau_points");
}

// f32 CUDA against f32 CPU: the same outcomes, steps within one, values to
// f32 roundings accumulated over the run (losses are sums of f32 terms that
// partly cancel, hence the floors). finals allow one perturbed-gd
// perturbation a step apart (a gradient norm within rounding of g_thres).
void expect_match_f32(const ss::EnsembleResult& cuda, const ss::EnsembleResult& cpu) {
  EXPECT_EQ(cuda.outcome, cpu.outcome);
  expect_steps_near(cuda.steps, cpu.steps, 1, "steps");
  expect_close(cuda.f_init, cpu.f_init, 1e-4, 1e-2, "f_init");
  expect_close(cuda.f_final, cpu.f_final, 1e-4, 1.0, "f_final");
  expect_close(cuda.finals, cpu.finals, 1e-3, 1.0, "finals");
}

// Both runs, optimizer by optimizer.
void expect_runs_match(const ss::RunResult& cuda, const ss::RunResult& cpu, ss::Precision p,
                       double plateau_rel) {
  ASSERT_EQ(cuda.optimizers.size(), cpu.optimizers.size());
  for (std::size_t k = 0; k < cpu.optimizers.size(); ++k) {
    SCOPED_TRACE(cpu.optimizers[k].label);
    const auto& a = cuda.optimizers[k].traj;
    const auto& b = cpu.optimizers[k].traj;
    if (p == ss::Precision::f64) {
      expect_match(a, b);
      expect_plateaus_match(a, b, plateau_rel);
    } else {
      expect_match_f32(a, b);
      expect_plateaus_match(a, b, plateau_rel, 1);
    }
  }
}

// The saddle of f = 1/2 (-x^2 + 2 y^2), starts N(0, 1e-4^2) around it: every
// trajectory sits on a low-gradient plateau (||grad|| <= 0.01 from step 0)
// until x has grown, leaves it (one episode, confirmed by the loss drop) and
// ends at |x| > 1.5 ("diverged"); the plateau point is the iteration of the
// smallest gradient (y decays while x grows), copied into its buffer by the
// next iteration's fused pass. max_steps cuts the slowest ones (from the
// smallest |x_0|) off while still on the plateau or before the target loss,
// so counts 0 and target steps -1 occur too. perturbed-gd perturbs every
// start at step 0 (||grad|| <= g_thres), from noise keyed by trajectory.
// The census of the plateau points (analysis.points = ["plateaus"]) runs on
// each backend too.
std::string saddle_plateau_experiment(ss::Precision p) {
  return std::string("name = \"plateaus\"\nseed = 3\n") +
         "[objective]\nkind = \"quadratic\"\neigenvalues = [-1.0, 2.0]\n"
         "[init]\nkind = \"gaussian\"\nscale = 1e-4\n"
         "[run]\ntrajectories = 40\nmax_steps = 110\ndiverge_above = 1.5\ngrad_tol = 1e-12\n"
         "record_every = 5\ntarget_loss = -0.5\nsave_final_points = true\nprecision = \"" +
         (p == ss::Precision::f64 ? "f64" : "f32") +
         "\"\n[plateau]\ngrad_threshold = 0.01\nmin_steps = 5\n"
         "[analysis]\npoints = [\"plateaus\"]\n"
         "[[optimizer]]\nkind = \"gd\"\nlr = 0.1\n"
         "[[optimizer]]\nkind = \"momentum\"\nlr = 0.05\n"
         "[[optimizer]]\nkind = \"perturbed-gd\"\nlr = 0.1\nradius = 1e-3\ng_thres = 1e-3\n"
         "t_thres = 20\n";
}

// The runs must exercise what is compared: plateaus found and missed,
// plateau points kept, target reached and missed.
void expect_plateau_variety(const ss::RunResult& r) {
  for (const auto& o : r.optimizers) {
    SCOPED_TRACE(o.label);
    const auto& t = o.traj;
    ASSERT_EQ(t.plateau_points.size(), t.outcome.size() * 2);
    std::int64_t with = 0, reached = 0;
    for (std::size_t b = 0; b < t.outcome.size(); ++b) {
      with += t.plateau_count[b] > 0;
      reached += t.target_step[b] >= 0;
      EXPECT_EQ(std::isnan(t.plateau_points[b * 2]), t.plateau_step[b] < 0) << "trajectory " << b;
    }
    EXPECT_GT(with, 0);
    EXPECT_GT(reached, 0);
  }
  std::int64_t without = 0, missed = 0, later_point = 0;
  for (const auto& o : r.optimizers)
    for (std::size_t b = 0; b < o.traj.outcome.size(); ++b) {
      without += o.traj.plateau_count[b] == 0;
      missed += o.traj.target_step[b] < 0;
      later_point += o.traj.plateau_step[b] > 0;
    }
  EXPECT_GT(without, 0);
  EXPECT_GT(missed, 0);
  EXPECT_GT(later_point, 0);
}

// The census of the plateau points: the same points, the same inertia.
void expect_census_match(const ss::RunResult& cuda, const ss::RunResult& cpu, double rel) {
  ASSERT_TRUE(cuda.has_census);
  ASSERT_TRUE(cpu.has_census);
  ASSERT_EQ(cuda.census.points.size(), cpu.census.points.size());
  for (std::size_t k = 0; k < cpu.census.points.size(); ++k) {
    const auto& a = cuda.census.points[k];
    const auto& b = cpu.census.points[k];
    EXPECT_EQ(a.source, b.source) << "point " << k;
    EXPECT_EQ(a.group, b.group) << "point " << k;
    EXPECT_EQ(a.trajectory, b.trajectory) << "point " << k;
    EXPECT_EQ(a.step, b.step) << "point " << k;
    EXPECT_EQ(a.inertia.index, b.inertia.index) << "point " << k;
    EXPECT_EQ(a.inertia.cls, b.inertia.cls) << "point " << k;
  }
  expect_close(cuda.census.spectra, cpu.census.spectra, rel, 1.0, "census spectra");
}

class CudaPlateaus : public ::testing::TestWithParam<ss::Precision> {};

TEST_P(CudaPlateaus, SaddleEscapeMatchesCpuAcrossChunks) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const ss::Precision p = GetParam();
  const ss::Experiment whole = ss::parse_experiment(saddle_plateau_experiment(p), "t");
  ss::Experiment chunked = whole;
  chunked.run.chunk_size = 7;  // 6 chunks: plateau states and noise per chunk
  auto cuda_backend = ss::make_cuda_backend();
  auto cpu_backend = ss::make_cpu_backend();
  const ss::RunResult cuda = ss::run_experiment(chunked, *cuda_backend, nullptr);
  const ss::RunResult cpu = ss::run_experiment(whole, *cpu_backend, nullptr);
  ASSERT_EQ(cuda.plan.chunk, 7);
  expect_plateau_variety(cpu);
  expect_runs_match(cuda, cpu, p, p == ss::Precision::f64 ? 1e-12 : 1e-4);
  expect_census_match(cuda, cpu, p == ss::Precision::f64 ? 1e-9 : 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaPlateaus,
                         ::testing::Values(ss::Precision::f64, ss::Precision::f32),
                         [](const ::testing::TestParamInfo<ss::Precision>& p) {
                           return std::string(p.param == ss::Precision::f64 ? "f64" : "f32");
                         });

// The deep linear network from small starts (scale 0.001): the loss falls
// in stages, with two or three plateau episodes per trajectory (the origin,
// then saddles after one and two modes are learned; the longest is not the
// first, so the plateau point buffers change roles between episodes), on the
// coupled GEMM path. All trajectories converge, some after the target loss.
std::string deep_linear_stages_experiment() {
  return "name = \"stages\"\nseed = 2\n[objective]\nkind = \"deep-linear\"\n"
         "widths = [4, 4, 4]\nsamples = 50\n[init]\nkind = \"gaussian\"\nscale = 0.001\n"
         "[run]\ntrajectories = 8\nmax_steps = 3000\ngrad_tol = 1e-6\nprecision = \"f64\"\n"
         "target_loss = 0.01\nsave_final_points = true\n"
         "[plateau]\ngrad_threshold = 0.02\nmin_steps = 20\n"
         "[analysis]\npoints = [\"plateaus\"]\n"
         "[[optimizer]]\nkind = \"gd\"\nlr = 0.05\n";
}

TEST(CudaPlateausDeepLinear, StagesMatchCpu) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const ss::Experiment e = ss::parse_experiment(deep_linear_stages_experiment(), "t");
  auto cuda_backend = ss::make_cuda_backend();
  auto cpu_backend = ss::make_cpu_backend();
  const ss::RunResult cuda = ss::run_experiment(e, *cuda_backend, nullptr);
  const ss::RunResult cpu = ss::run_experiment(e, *cpu_backend, nullptr);
  const auto& t = cpu.optimizers[0].traj;
  std::int64_t later_longest = 0;
  for (std::size_t b = 0; b < t.outcome.size(); ++b) {
    EXPECT_GE(t.plateau_count[b], 2) << "trajectory " << b;
    later_longest += t.plateau_step[b] > t.first_escape_step[b];
  }
  EXPECT_GT(later_longest, 0);
  const auto& a = cuda.optimizers[0].traj;
  EXPECT_EQ(a.outcome, t.outcome);
  EXPECT_EQ(a.steps, t.steps);
  expect_close(a.f_init, t.f_init, 1e-9, 1e-300, "f_init");
  expect_close(a.finals, t.finals, 1e-7, 1.0, "finals");
  expect_plateaus_match(a, t, 1e-7);
  expect_census_match(cuda, cpu, 1e-7);
}

// langevin and perturbed-gd on styblinski-tang (N = 50) from small starts:
// the same noise on both backends (Philox keyed by the global trajectory,
// coordinate and step), so the same trajectories. The CUDA run is cut into
// chunks of 6 (6, 6, 6, 2 trajectories), the CPU run is one chunk: the noise
// must not depend on the chunking. perturbed-gd is perturbed every 6
// iterations once near a minimum (||grad|| <= 0.1 and t_thres = 5).
std::string noisy_experiment(ss::Precision p) {
  return std::string("name = \"noisy\"\nseed = 11\n") +
         "[objective]\nkind = \"styblinski-tang\"\ndim = 50\n"
         "[init]\nkind = \"gaussian\"\nscale = 0.01\n"
         "[run]\ntrajectories = 20\nmax_steps = 300\nrecord_every = 10\nrecord_paths = true\n"
         "save_final_points = true\ntarget_loss = -1950\nprecision = \"" +
         (p == ss::Precision::f64 ? "f64" : "f32") +
         "\"\n[[optimizer]]\nkind = \"langevin\"\nlr = 0.01\ntemperature = 0.01\n"
         "[[optimizer]]\nkind = \"perturbed-gd\"\nlr = 0.01\nradius = 1e-2\ng_thres = 1e-1\n"
         "t_thres = 5\n";
}

class CudaNoisyOptimizers : public ::testing::TestWithParam<ss::Precision> {};

TEST_P(CudaNoisyOptimizers, MatchCpuAcrossChunks) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const ss::Precision p = GetParam();
  const ss::Experiment whole = ss::parse_experiment(noisy_experiment(p), "t");
  ss::Experiment chunked = whole;
  chunked.run.chunk_size = 6;
  auto cuda_backend = ss::make_cuda_backend();
  auto cpu_backend = ss::make_cpu_backend();
  const ss::RunResult cuda = ss::run_experiment(chunked, *cuda_backend, nullptr);
  const ss::RunResult cpu = ss::run_experiment(whole, *cpu_backend, nullptr);
  ASSERT_EQ(cuda.plan.chunks, 4);
  expect_runs_match(cuda, cpu, p, p == ss::Precision::f64 ? 1e-10 : 1e-4);
  // The noise matters: the two optimizers end apart, and no trajectory
  // converges (each keeps being kicked).
  for (const auto& o : cpu.optimizers)
    for (std::size_t b = 0; b < o.traj.outcome.size(); ++b)
      EXPECT_EQ(o.traj.outcome[b], ss::kMaxSteps) << o.label << " trajectory " << b;
  EXPECT_NE(cpu.optimizers[0].traj.finals, cpu.optimizers[1].traj.finals);
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaNoisyOptimizers,
                         ::testing::Values(ss::Precision::f64, ss::Precision::f32),
                         [](const ::testing::TestParamInfo<ss::Precision>& p) {
                           return std::string(p.param == ss::Precision::f64 ? "f64" : "f32");
                         });

// The noisy optimizers on the sphere (p-spin, p = 3): perturbed-gd's
// perturbation of x_t comes before the retraction onto |x|^2 = N, which
// comes before the contraction pass, on both backends. The chunk is the
// third of a run (first = 12), which keys the noise.
std::vector<OptimizerCase> noisy_optimizers() {
  ss::OptimizerParams pgd;
  pgd.kind = ss::OptimizerKind::perturbed_gd;
  pgd.lr = 0.05;
  pgd.radius = 0.05;
  pgd.g_thres = 0.05;
  pgd.t_thres = 10;
  pgd.seed = 77;
  ss::OptimizerParams langevin;
  langevin.kind = ss::OptimizerKind::langevin;
  langevin.lr = 0.05;
  langevin.temperature = 1e-3;
  langevin.temperature_decay = 0.99;
  langevin.seed = 77;
  return {{"perturbed_gd", pgd}, {"langevin", langevin}};
}

class CudaNoisyPspin : public ::testing::TestWithParam<OptimizerCase> {};

TEST_P(CudaNoisyPspin, MatchesCpuOnTheSphere) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  constexpr std::int64_t n = kPspinEnsembleDim;
  const auto obj = pspin_objective(3, n);
  auto spec = pspin_spec(obj, GetParam().params, ss::Precision::f64);
  spec.first = 12;
  spec.keep_plateau_points = true;
  spec.plateau = ss::PlateauRule{0.05, 5, 1e-3};
  const auto x0 = normals(75, spec.count * n, 2.0);
  const auto cuda = run(*ss::make_cuda_backend(), spec, x0);
  const auto cpu = run(*ss::make_cpu_backend(), spec, x0);
  expect_match(cuda, cpu);
  expect_plateaus_match(cuda, cpu, 1e-9);
  expect_on_sphere(cuda, n, 1e-12);
  // Another chunk position gives other noise.
  auto other = spec;
  other.first = 0;
  const auto cpu0 = run(*ss::make_cpu_backend(), other, x0);
  EXPECT_NE(cpu0.finals, cpu.finals);
}

INSTANTIATE_TEST_SUITE_P(PSpin, CudaNoisyPspin, ::testing::ValuesIn(noisy_optimizers()),
                         [](const ::testing::TestParamInfo<OptimizerCase>& p) {
                           return std::string(p.param.name);
                         });

// Plateau points are kept only when asked: without keep_plateau_points the
// statistics are there and the points are not, on both backends.
TEST(CudaPlateauPoints, OnlyWhenKept) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const ss::ObjectiveData obj = make_objective(ss::ObjectiveKind::quadratic, 2);  // [-1, 3]
  ss::OptimizerParams gd;
  gd.kind = ss::OptimizerKind::gd;
  gd.lr = 0.1;
  auto spec = ensemble_spec(obj, gd, ss::Precision::f64, 9);
  spec.stop.diverge_above = 1.5;
  spec.plateau = ss::PlateauRule{0.01, 5, 1e-3};
  const auto x0 = normals(76, spec.count * 2, 1e-4);
  for (const bool keep : {false, true}) {
    SCOPED_TRACE(keep ? "kept" : "not kept");
    spec.keep_plateau_points = keep;
    const auto cuda = run(*ss::make_cuda_backend(), spec, x0);
    const auto cpu = run(*ss::make_cpu_backend(), spec, x0);
    EXPECT_EQ(cuda.plateau_points.size(), keep ? x0.size() : 0u);
    EXPECT_EQ(cuda.plateau_count.size(), static_cast<std::size_t>(spec.count));
    EXPECT_GT(*std::max_element(cpu.plateau_count.begin(), cpu.plateau_count.end()), 0);
    expect_match(cuda, cpu);
    expect_plateaus_match(cuda, cpu, 1e-12);
  }
}

// ---------------------------------------------------------------------------
// Checkpoints and the host-driven optimizers: a CUDA run stopped and resumed
// gives the uninterrupted CUDA run's results bit for bit; an ensemble's
// saved state loaded into a fresh ensemble continues identically, and a
// state that does not fit is refused; saddle-free-newton and annealing,
// which step through this backend's value_grad / hessian / eigh, agree with
// the CPU, and a device ensemble refuses them.

// Every array of two chunk results, bit for bit (NaN marks "none" in several).
void expect_same_result(const ss::EnsembleResult& a, const ss::EnsembleResult& b) {
  EXPECT_TRUE(same_bits(a.outcome, b.outcome)) << "outcome";
  EXPECT_TRUE(same_bits(a.steps, b.steps)) << "steps";
  EXPECT_TRUE(same_bits(a.f_init, b.f_init)) << "f_init";
  EXPECT_TRUE(same_bits(a.f_final, b.f_final)) << "f_final";
  EXPECT_TRUE(same_bits(a.gnorm_final, b.gnorm_final)) << "gnorm_final";
  EXPECT_TRUE(same_bits(a.curves, b.curves)) << "curves";
  EXPECT_TRUE(same_bits(a.paths, b.paths)) << "paths";
  EXPECT_TRUE(same_bits(a.finals, b.finals)) << "finals";
  EXPECT_TRUE(same_bits(a.plateau_count, b.plateau_count)) << "plateau_count";
  EXPECT_TRUE(same_bits(a.plateau_steps, b.plateau_steps)) << "plateau_steps";
  EXPECT_TRUE(same_bits(a.longest_plateau, b.longest_plateau)) << "longest_plateau";
  EXPECT_TRUE(same_bits(a.first_escape_step, b.first_escape_step)) << "first_escape_step";
  EXPECT_TRUE(same_bits(a.plateau_step, b.plateau_step)) << "plateau_step";
  EXPECT_TRUE(same_bits(a.target_step, b.target_step)) << "target_step";
  EXPECT_TRUE(same_bits(a.plateau_f, b.plateau_f)) << "plateau_f";
  EXPECT_TRUE(same_bits(a.plateau_g, b.plateau_g)) << "plateau_g";
  EXPECT_TRUE(same_bits(a.plateau_points, b.plateau_points)) << "plateau_points";
}

// Two runs of one experiment: every optimizer's results and the census, bit for bit.
void expect_same_run(const ss::RunResult& a, const ss::RunResult& b) {
  ASSERT_EQ(a.optimizers.size(), b.optimizers.size());
  for (std::size_t o = 0; o < a.optimizers.size(); ++o) {
    SCOPED_TRACE(a.optimizers[o].label);
    expect_same_result(a.optimizers[o].traj, b.optimizers[o].traj);
    EXPECT_EQ(a.optimizers[o].trajectory_steps, b.optimizers[o].trajectory_steps);
  }
  ASSERT_EQ(a.has_census, b.has_census);
  ASSERT_EQ(a.census.points.size(), b.census.points.size());
  for (std::size_t k = 0; k < a.census.points.size(); ++k) {
    const auto& p = a.census.points[k];
    const auto& q = b.census.points[k];
    EXPECT_EQ(p.source, q.source) << "point " << k;
    EXPECT_EQ(p.group, q.group) << "point " << k;
    EXPECT_EQ(p.trajectory, q.trajectory) << "point " << k;
    EXPECT_EQ(p.step, q.step) << "point " << k;
    EXPECT_TRUE(
        same_bits(std::vector<double>{p.f, p.grad_norm}, std::vector<double>{q.f, q.grad_norm}))
        << "point " << k;
    EXPECT_EQ(p.inertia.index, q.inertia.index) << "point " << k;
  }
  EXPECT_TRUE(same_bits(a.census.spectra, b.census.spectra)) << "census spectra";
}

// The CPU resume test's experiment (tests/test_checkpoint.cpp) with the
// fused and noisy device ensembles only (adam; perturbed-gd and langevin,
// whose noise is keyed by the step and whose perturbation schedule is
// state), paths recorded: two chunks of six trajectories on the deep linear
// network (the coupled GEMM path, whose work arrays are not saved), plateau
// points kept for the census (the role buffers), a target loss.
std::string resume_experiment(ss::Precision p) {
  return std::string("name = \"cuda-resume\"\nseed = 9\n") +
         "[objective]\nkind = \"deep-linear\"\nwidths = [3, 3, 3]\nsamples = 20\n"
         "[init]\nkind = \"gaussian\"\nscale = 0.05\n"
         "[run]\ntrajectories = 12\nchunk_size = 6\nmax_steps = 500\nprecision = \"" +
         (p == ss::Precision::f64 ? "f64" : "f32") +
         "\"\nrecord_every = 5\nrecord_trajectories = 10\nrecord_paths = true\n"
         "target_loss = 0.05\nsave_final_points = true\n"
         "[plateau]\ngrad_threshold = 0.02\nmin_steps = 5\n"
         "[[optimizer]]\nkind = \"adam\"\nlr = 0.005\n"
         "[[optimizer]]\nkind = \"perturbed-gd\"\nlr = 0.05\ng_thres = 0.02\nt_thres = 10\n"
         "[[optimizer]]\nkind = \"langevin\"\nlr = 0.05\ntemperature = 1e-6\n"
         "[analysis]\npoints = [\"stops\", \"plateaus\"]\nmax_points = 40\n";
}

// Where the run is stopped (the first host look at or after `step` of that
// optimizer's chunk), and the iteration its checkpoint must record (-1: a
// checkpoint between chunks, which holds no ensemble state).
struct ResumeStop {
  const char* what;
  std::size_t optimizer;
  std::int64_t chunk, step, iteration;
};
void PrintTo(const ResumeStop& s, std::ostream* os) { *os << s.what; }

class CudaResume : public ::testing::TestWithParam<std::tuple<ResumeStop, ss::Precision>> {};

TEST_P(CudaResume, GivesTheUninterruptedResults) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const ResumeStop at = std::get<0>(GetParam());
  const ss::Precision p = std::get<1>(GetParam());
  const ss::Experiment e = ss::parse_experiment(resume_experiment(p), "t");
  auto backend = ss::make_cuda_backend();
  const ss::RunResult whole = ss::run_experiment(e, *backend, nullptr);
  ASSERT_EQ(whole.plan.chunks, 2);

  const fs::path dir =
      fs::temp_directory_path() / (std::string("saddlescope_cuda_resume_") + at.what +
                                   (p == ss::Precision::f64 ? "_f64" : "_f32"));
  fs::remove_all(dir);
  ss::prepare_run_dir(dir.string(), e);
  volatile std::sig_atomic_t stop = 0;
  ss::Checkpointing cp;
  cp.path = (dir / "checkpoint.bin").string();
  cp.every_seconds = 1e9;  // only the forced checkpoint
  cp.stop = &stop;
  const ss::ProgressFn trip = [&](std::size_t oi, std::int64_t t, std::int64_t, std::int64_t c,
                                  std::int64_t) {
    if (oi == at.optimizer && c == at.chunk && t >= at.step) stop = 1;
  };
  EXPECT_THROW(ss::run_experiment(e, *backend, trip, &cp), ss::Interrupted);
  ASSERT_TRUE(fs::exists(cp.path));
  // The checkpoint holds the CUDA ensemble's state inside a chunk (an
  // empty state would restart the chunk and pass without testing it).
  const ss::ckpt::State saved = ss::ckpt::load(cp.path);
  EXPECT_EQ(saved.backend, "cuda");
  EXPECT_EQ(saved.optimizer, at.optimizer);
  EXPECT_EQ(saved.iteration, at.iteration);
  EXPECT_EQ(saved.chunk, at.iteration >= 0 ? at.chunk : at.chunk + 1);
  EXPECT_EQ(saved.ensemble.empty(), at.iteration < 0);

  stop = 0;
  cp.resume = true;
  const ss::RunResult resumed = ss::run_experiment(e, *backend, nullptr, &cp);
  expect_same_run(whole, resumed);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    AtSeveralPoints, CudaResume,
    ::testing::Combine(::testing::Values(ResumeStop{"inside_first_chunk", 0, 0, 63, 63},
                                         ResumeStop{"inside_second_chunk", 1, 1, 95, 95},
                                         ResumeStop{"langevin_inside_chunk", 2, 0, 200, 223},
                                         ResumeStop{"between_chunks", 2, 0, 500, -1}),
                       ::testing::Values(ss::Precision::f64, ss::Precision::f32)),
    [](const ::testing::TestParamInfo<std::tuple<ResumeStop, ss::Precision>>& p) {
      return std::string(std::get<0>(p.param).what) +
             (std::get<1>(p.param) == ss::Precision::f64 ? "_f64" : "_f32");
    });

// Iterations from..to of an ensemble, every one (no early exit).
void iterate_range(ss::Ensemble& e, std::int64_t from, std::int64_t to) {
  for (std::int64_t t = from; t <= to; ++t) e.iterate(t);
}

// Ensembles with every kind of state: adam (two optimizer states),
// perturbed-gd (its schedule and pending perturbations) and langevin (noise
// keyed by the step), plateau points kept, paths recorded, a target loss.
// On the deep linear network (the coupled path) the starts grow from row to
// row (scale (b + 1) / count times `scale`): the small ones sit on plateaus
// (the longest not always the first, so the buffers change roles), the
// others converge, at odd and even steps before and after the saves, or run
// to max_steps; one converges at step 0. On styblinski-tang rows span
// several slices (per-slice partial sums), perturbed-gd is perturbed near
// the minima, and the two largest starts diverge at steps 3 and 4.
struct SavedCase {
  const char* name;
  ss::ObjectiveData objective;
  ss::OptimizerParams optimizer;
  double scale;        // of the starts
  double grad_tol;     // stop rule
  double plateau;      // plateau gradient threshold
  double target_loss;  // stop rule's target
};
void PrintTo(const SavedCase& c, std::ostream* os) { *os << c.name; }

std::vector<SavedCase> saved_cases() {
  ss::OptimizerParams adam;
  adam.kind = ss::OptimizerKind::adam;
  adam.lr = 0.015;
  ss::OptimizerParams pgd;
  pgd.kind = ss::OptimizerKind::perturbed_gd;
  pgd.lr = 0.1;
  pgd.radius = 0.01;
  pgd.g_thres = 0.02;
  pgd.t_thres = 10;
  pgd.seed = 5;
  ss::OptimizerParams langevin;
  langevin.kind = ss::OptimizerKind::langevin;
  langevin.lr = 0.1;
  langevin.temperature = 1e-4;
  langevin.seed = 5;
  ss::OptimizerParams pgd_st = pgd;
  pgd_st.lr = 0.01;
  pgd_st.g_thres = 1.0;
  ss::OptimizerParams langevin_st = langevin;
  langevin_st.lr = 0.01;
  langevin_st.temperature = 0.01;
  const auto dl = deep_linear_objective();
  const auto st = make_objective(ss::ObjectiveKind::styblinski_tang, 2500);
  return {{"adam_deep_linear", dl, adam, 0.3, 3e-3, 0.03, 0.2},
          {"pgd_deep_linear", dl, pgd, 0.3, 3e-3, 0.02, 0.2},
          {"langevin_deep_linear", dl, langevin, 0.3, 3e-3, 0.02, 0.2},
          {"pgd_styblinski_tang", st, pgd_st, 3.0, 1e-3, 1.0, -8.2e4},
          {"langevin_styblinski_tang", st, langevin_st, 3.0, 1e-3, 1.0, -8.2e4}};
}

ss::EnsembleSpec saved_spec(const SavedCase& c, ss::Precision p) {
  auto spec = ensemble_spec(c.objective, c.optimizer, p, 10);
  spec.first = 6;  // keys the noise
  spec.stop.grad_tol = c.grad_tol;
  spec.stop.max_steps = 150;
  spec.stop.target_loss = c.target_loss;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  spec.keep_plateau_points = true;
  spec.plateau = ss::PlateauRule{c.plateau, 5, 1e-3};
  return spec;
}

// Starts of row b scaled by c.scale (b + 1) / count.
std::vector<double> saved_starts(const SavedCase& c, const ss::EnsembleSpec& spec,
                                 std::uint64_t seed) {
  const std::int64_t n = c.objective.dim;
  std::vector<double> x = normals(seed, spec.count * n, 1.0);
  for (std::int64_t b = 0; b < spec.count; ++b)
    for (std::int64_t i = 0; i < n; ++i)
      x[b * n + i] *= c.scale * static_cast<double>(b + 1) / static_cast<double>(spec.count);
  return x;
}

class CudaSavedState : public ::testing::TestWithParam<std::tuple<SavedCase, ss::Precision>> {};

// An ensemble saved after iteration `at` (even and odd: the current point
// in either buffer) and loaded into a fresh ensemble given other starts
// (which the state replaces) continues as the saved one does, and as one
// never paused. The saved one's result(true) before saving (it gathers the
// stopped rows' finals into buffer 0) changes nothing either.
TEST_P(CudaSavedState, ContinuesInAFreshEnsemble) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const SavedCase& c = std::get<0>(GetParam());
  const ss::EnsembleSpec spec = saved_spec(c, std::get<1>(GetParam()));
  const std::int64_t last = spec.stop.max_steps;
  const auto x0 = saved_starts(c, spec, 61);
  auto backend = ss::make_cuda_backend();
  auto whole = backend->make_ensemble(spec);
  whole->set_starts(x0);
  iterate_range(*whole, 0, last);
  const ss::EnsembleResult want = whole->result(true);
  for (const std::int64_t at : {40, 77, 101, 120}) {
    SCOPED_TRACE("saved after iteration " + std::to_string(at));
    auto a = backend->make_ensemble(spec);
    a->set_starts(x0);
    iterate_range(*a, 0, at);
    a->result(true);
    const std::vector<std::uint8_t> state = a->save_state();
    ASSERT_FALSE(state.empty());
    auto b = backend->make_ensemble(spec);
    b->set_starts(saved_starts(c, spec, 62));
    b->load_state(state);
    EXPECT_TRUE(b->save_state() == state) << "the loaded state saved again";
    iterate_range(*a, at + 1, last);
    iterate_range(*b, at + 1, last);
    SCOPED_TRACE("saved");
    expect_same_result(a->result(true), want);
    SCOPED_TRACE("loaded");
    expect_same_result(b->result(true), want);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ensembles, CudaSavedState,
    ::testing::Combine(::testing::ValuesIn(saved_cases()),
                       ::testing::Values(ss::Precision::f64, ss::Precision::f32)),
    [](const ::testing::TestParamInfo<std::tuple<SavedCase, ss::Precision>>& p) {
      return std::string(std::get<0>(p.param).name) +
             (std::get<1>(p.param) == ss::Precision::f64 ? "_f64" : "_f32");
    });

// The state must fit the ensemble: another count, another precision, a
// truncated or extended state, or damaged plateau buffer roles are refused
// (InputError), and the refused ensemble still runs from its own state.
TEST(CudaSavedStateRefused, WhenItDoesNotFit) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const SavedCase c = saved_cases()[1];  // perturbed-gd on the deep linear network
  const ss::EnsembleSpec spec = saved_spec(c, ss::Precision::f64);
  const auto x0 = saved_starts(c, spec, 63);
  auto backend = ss::make_cuda_backend();
  auto a = backend->make_ensemble(spec);
  a->set_starts(x0);
  iterate_range(*a, 0, 20);
  const std::vector<std::uint8_t> state = a->save_state();

  auto fresh = [&](const ss::EnsembleSpec& s) {
    auto e = backend->make_ensemble(s);
    e->set_starts(saved_starts(c, s, 63));
    return e;
  };
  ss::EnsembleSpec fewer = spec;
  fewer.count = spec.count - 1;
  EXPECT_THROW(fresh(fewer)->load_state(state), ss::InputError);
  ss::EnsembleSpec single = spec;
  single.precision = ss::Precision::f32;
  EXPECT_THROW(fresh(single)->load_state(state), ss::InputError);
  ss::EnsembleSpec no_points = spec;
  no_points.keep_plateau_points = false;
  EXPECT_THROW(fresh(no_points)->load_state(state), ss::InputError);
  EXPECT_THROW(fresh(spec)->load_state({state.begin(), state.end() - 1}), ss::InputError);
  std::vector<std::uint8_t> longer = state;
  longer.push_back(0);
  EXPECT_THROW(fresh(spec)->load_state(longer), ss::InputError);

  // The same state with one trajectory's buffer roles damaged: the arrays
  // are re-read and re-written in the layout save_state writes.
  ss::ckpt::Reader rd(state, "test");
  ss::ckpt::Writer w;
  for (int k = 0; k < 8; ++k) w.vec(rd.vec<double>());
  w.vec(rd.vec<std::int8_t>());
  w.vec(rd.vec<std::int64_t>());
  for (int k = 0; k < 3; ++k) w.vec(rd.vec<double>());
  w.vec(rd.vec<float>());
  std::vector<ss::PlateauState> plateau = rd.vec<ss::PlateauState>();
  ASSERT_EQ(plateau.size(), static_cast<std::size_t>(spec.count));
  plateau[3].role[1] = plateau[3].role[0];
  w.vec(plateau);
  w.vec(rd.vec<std::int64_t>());
  w.vec(rd.vec<std::int8_t>());
  ASSERT_TRUE(rd.done());
  auto damaged = fresh(spec);
  EXPECT_THROW(damaged->load_state(w.bytes()), ss::InputError);
  // Nothing was uploaded: it runs from its own starts like any other.
  iterate_range(*damaged, 0, 20);
  auto clean = fresh(spec);
  iterate_range(*clean, 0, 20);
  EXPECT_TRUE(damaged->save_state() == clean->save_state());
}

// The host-driven optimizers on the CUDA backend: their steps call this
// backend's value_grad, hessian and eigh (cuSOLVER; eigenvectors may differ
// in sign, which the saddle-free Newton step does not see), and agree with
// the CPU in f64 to ~1e-9, with the same outcomes and steps. Annealing
// decides on each proposal: at temperature 0 (chosen for this) it accepts
// exactly when f' <= f, which the backends' rounding difference (~1e-16 of
// f) could flip only if a Gaussian proposal of step 0.02 changed f by less
// than that, which practically never happens; so its accepted points, which
// are sums of the same proposals, agree bit for bit in practice. Two
// objectives: the deep linear network (coupled: GEMM passes, Hessians from
// batched columns) and the double well (separable: banded Hessians), two
// chunks each.
std::string host_driven_experiment(const std::string& objective) {
  return "name = \"host-driven\"\nseed = 4\n[objective]\n" + objective +
         "[init]\nkind = \"gaussian\"\nscale = 0.3\n"
         "[run]\ntrajectories = 8\nchunk_size = 5\nmax_steps = 80\nprecision = \"f64\"\n"
         "grad_tol = 1e-8\nrecord_every = 2\nrecord_trajectories = 6\nrecord_paths = true\n"
         "save_final_points = true\n"
         "[[optimizer]]\nkind = \"saddle-free-newton\"\nlr = 0.5\ndamping = 0.1\n"
         "[[optimizer]]\nkind = \"annealing\"\ntemperature = 0\nstep_size = 0.02\n";
}

TEST(CudaHostDriven, SaddleFreeNewtonAndAnnealingMatchCpu) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  for (const char* objective : {"kind = \"deep-linear\"\nwidths = [3, 3, 3]\nsamples = 20\n",
                                "kind = \"double-well\"\ndim = 5\n"}) {
    SCOPED_TRACE(objective);
    const ss::Experiment e = ss::parse_experiment(host_driven_experiment(objective), "t");
    auto cuda_backend = ss::make_cuda_backend();
    auto cpu_backend = ss::make_cpu_backend();
    const ss::RunResult cuda = ss::run_experiment(e, *cuda_backend, nullptr);
    const ss::RunResult cpu = ss::run_experiment(e, *cpu_backend, nullptr);
    ASSERT_EQ(cuda.plan.chunks, 2);
    ASSERT_EQ(cuda.optimizers.size(), cpu.optimizers.size());
    for (std::size_t k = 0; k < cpu.optimizers.size(); ++k) {
      SCOPED_TRACE(cpu.optimizers[k].label);
      const auto& a = cuda.optimizers[k].traj;
      const auto& t = cpu.optimizers[k].traj;
      EXPECT_EQ(a.outcome, t.outcome);
      EXPECT_EQ(a.steps, t.steps);
      // Losses relative to the objective's scale (floor 1): saddle-free
      // Newton drives the deep linear network's loss to ~1e-17, the square
      // of its residuals' rounding, where relative agreement means nothing.
      expect_close(a.f_init, t.f_init, 1e-9, 1.0, "f_init");
      expect_close(a.f_final, t.f_final, 1e-9, 1.0, "f_final");
      expect_close(a.gnorm_final, t.gnorm_final, 1e-9, 1e-2, "gnorm_final");
      expect_close(a.finals, t.finals, 1e-9, 1.0, "finals");
      expect_close(a.paths, t.paths, 1e-9, 1.0, "paths");
      const std::vector<double> a_curves(a.curves.begin(), a.curves.end());
      const std::vector<double> t_curves(t.curves.begin(), t.curves.end());
      expect_close(a_curves, t_curves, 1e-5, 1e-6, "curves");
      // The runs move: every trajectory's loss fell.
      for (std::size_t b = 0; b < t.outcome.size(); ++b)
        EXPECT_LT(t.f_final[b], t.f_init[b]) << "trajectory " << b;
    }
  }
}

// A device ensemble refuses them clearly (the engine never asks for one).
TEST(CudaHostDriven, DeviceEnsembleRefusesThem) {
  SADDLESCOPE_CUDA_TEST_OR_SKIP();
  const auto obj = make_objective(ss::ObjectiveKind::double_well, 4);
  auto backend = ss::make_cuda_backend();
  for (const auto kind : {ss::OptimizerKind::saddle_free_newton, ss::OptimizerKind::annealing}) {
    ss::OptimizerParams opt;
    opt.kind = kind;
    try {
      backend->make_ensemble(ensemble_spec(obj, opt, ss::Precision::f64, 3));
      ADD_FAILURE() << ss::optimizer_kind_name(kind) << " was accepted";
    } catch (const ss::BackendError& err) {
      EXPECT_NE(std::string(err.what()).find("host-driven"), std::string::npos) << err.what();
      EXPECT_NE(std::string(err.what()).find(ss::optimizer_kind_name(kind)), std::string::npos)
          << err.what();
    }
  }
}

}  // namespace
