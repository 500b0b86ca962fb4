// Batched evaluation on the device backends against the CPU reference: value
// and gradient, Hessian-vector products and dense Hessians of every objective
// kind, in both precisions (the CPU's own derivatives are checked against
// finite differences in test_objectives.cpp and test_pspin.cpp):
// - the separable objectives and the rotated quadratic (coupled by a GEMM),
//   at N = 300: several warps per row, not a multiple of 32;
// - the gaussian field: GEMMs around per-feature weights (values per row in
//   double, gradients mu x + W^T s, Hessian-vector products and dense
//   Hessians mu I + W^T diag(h) W);
// - the teacher-student MLP: strided-batched GEMMs over the trajectories
//   around small kernels (forward, residuals with the loss per row in double,
//   backpropagation, column sums for the biases), Hessian-vector products by
//   the R-operator and dense Hessians from batched columns H e_k;
// - the deep linear network: per layer one strided-batched GEMM over the rows
//   (X shared), the residual kernel (loss in double, dZ_L = R / n), the
//   backward GEMMs, the R-operator and batched columns H e_k;
// - the spherical p-spin (kernels/pspin.hpp): p = 2, G_E = X A by one GEMM;
//   p = 3, per block of rows the contraction Y = X T^T and the products
//   Y_r x_r as a strided-batched GEMM; the row epilogues are the CPU's.
//   Values (energy per spin), Riemannian gradients, Hessian-vector products
//   and embedded Riemannian Hessians, at points on the sphere |x|^2 = N and
//   off it (evaluated as given, not retracted); p = 3 over several
//   contraction tiles, and with TF32 GEMMs;
// and, on the device, that every coupled objective's results do not depend
// on the batch they are evaluated in (row tiles); and on every backend, that
// a prepared objective's kept data, work spaces and rows change no bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "backend_inputs.hpp"
#include "backends.hpp"
#include "saddlescope/backend.hpp"

namespace {

using namespace saddlescope;
using namespace saddlescope::testing;

constexpr std::int64_t kEvalBatch = 5;
constexpr std::int64_t kEvalDim = 300;  // the objectives built by kind
constexpr std::int64_t kPspinDim = 40;

// One objective and its points: value_grad at points from `seed`,
// hvp at points from seed + 1 along vectors N(0, 1) from seed + 2, hessian at
// points from seed + 3. Points are N(0, scale^2), or (scale 0) the p-spin's
// points on, inside and outside the sphere.
struct EvalCase {
  const char* name;
  ObjectiveData (*objective)();
  std::uint64_t seed;
  double scale;
  double rel_f64, rel_f32;  // relative to the magnitude of the CPU's array
};
void PrintTo(const EvalCase& c, std::ostream* os) { *os << c.name; }

template <ObjectiveKind kind, bool rotated = false>
ObjectiveData by_kind() {
  return make_objective(kind, kEvalDim, rotated);
}
template <int p>
ObjectiveData pspin() {
  return pspin_objective(p, kPspinDim);
}

const EvalCase kEvalCases[] = {
    {"quadratic", by_kind<ObjectiveKind::quadratic>, 11, 2.0, 1e-12, 1e-5},
    {"quadratic_rotated", by_kind<ObjectiveKind::quadratic, true>, 11, 2.0, 1e-12, 1e-5},
    {"double_well", by_kind<ObjectiveKind::double_well>, 11, 2.0, 1e-12, 1e-5},
    {"styblinski_tang", by_kind<ObjectiveKind::styblinski_tang>, 11, 2.0, 1e-12, 1e-5},
    {"rastrigin", by_kind<ObjectiveKind::rastrigin>, 11, 2.0, 1e-12, 1e-5},
    {"rosenbrock", by_kind<ObjectiveKind::rosenbrock>, 11, 2.0, 1e-12, 1e-5},
    {"gaussian_field", field_objective, 21, 1.0, 1e-12, 1e-4},
    {"mlp", mlp_objective, 43, 0.7, 1e-11, 1e-4},
    {"deep_linear", deep_linear_objective, 53, 0.7, 1e-11, 1e-4},
    {"classifier", classifier_objective, 57, 0.7, 1e-11, 1e-4},
    {"pspin_p2", pspin<2>, 61, 0.0, 1e-10, 1e-4},
    {"pspin_p3", pspin<3>, 61, 0.0, 1e-10, 1e-4},
};

class BackendEval : public OnBackend<EvalCase, Precision> {
 protected:
  const EvalCase& c() const { return param<0>(); }
  Precision precision() const { return param<1>(); }
  double rel() const { return precision() == Precision::f64 ? c().rel_f64 : c().rel_f32; }
  std::vector<double> points(const ObjectiveData& obj, std::uint64_t seed) const {
    if (c().scale == 0.0) return pspin_points(seed, kEvalBatch, obj.dim);
    return normals(seed, kEvalBatch * obj.dim, c().scale);
  }
};

TEST_P(BackendEval, ValueGrad) {
  const auto obj = c().objective();
  const auto x = points(obj, c().seed);
  const auto got = backend().value_grad(obj, precision(), kEvalBatch, x);
  const auto cpu = make_cpu_backend()->value_grad(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(got.f, cpu.f, rel(), "f");
  expect_close_to_magnitude(got.g, cpu.g, rel(), "g");
}

TEST_P(BackendEval, HessianVectorProduct) {
  const auto obj = c().objective();
  const auto x = points(obj, c().seed + 1);
  const auto v = normals(c().seed + 2, kEvalBatch * obj.dim, 1.0);  // p-spin: P v is applied
  const auto got = backend().hvp(obj, precision(), kEvalBatch, x, v);
  const auto cpu = make_cpu_backend()->hvp(obj, precision(), kEvalBatch, x, v);
  expect_close_to_magnitude(got, cpu, rel(), "Hv");
}

TEST_P(BackendEval, Hessian) {
  const auto obj = c().objective();
  const auto x = points(obj, c().seed + 3);
  const auto got = backend().hessian(obj, precision(), kEvalBatch, x);
  const auto cpu = make_cpu_backend()->hessian(obj, precision(), kEvalBatch, x);
  expect_close_to_magnitude(got, cpu, rel(), "H");
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendEval, (::testing::ValuesIn(kEvalCases),
                                             ::testing::Values(Precision::f64, Precision::f32)));

// Prepared objectives (Backend::prepare, docs/design.md II.1) on every
// backend, every objective kind, both precisions: the data converted or
// uploaded once and the work spaces kept must not change a bit. Calls of
// different sizes in turn give what one-off calls give; the Hessians'
// spectra straight from their assembly (hessian_eigh: on CUDA assembled in
// the solver's arrays) equal eigh of the Hessians; rows kept with the
// backend (a gradient fed back as a direction) give what host arrays give;
// the objective's bytes are paid once.
class BackendPrepared : public BackendEval {};

TEST_P(BackendPrepared, KeptWorkSpacesGiveTheOneOffBits) {
  const auto obj = c().objective();
  const std::int64_t n = obj.dim;
  const auto prepared = backend().prepare(obj, precision());
  const auto x5 = points(obj, c().seed), x2 = points(obj, c().seed + 1);
  const std::vector<double> x2r(x2.begin(), x2.begin() + 2 * n);
  const auto v5 = normals(c().seed + 2, kEvalBatch * n, 1.0);
  const std::vector<double> v2(v5.begin(), v5.begin() + 2 * n);
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    for (const auto* x : {&x5, &x2r}) {
      const std::int64_t b = static_cast<std::int64_t>(x->size()) / n;
      const auto& v = b == kEvalBatch ? v5 : v2;
      const ObjectiveEval got = prepared->value_grad(b, *x);
      const ObjectiveEval want = backend().value_grad(obj, precision(), b, *x);
      EXPECT_TRUE(same_bits(got.f, want.f)) << "f, batch " << b;
      EXPECT_TRUE(same_bits(got.g, want.g)) << "g, batch " << b;
      EXPECT_TRUE(same_bits(prepared->hvp(b, *x, v), backend().hvp(obj, precision(), b, *x, v)))
          << "Hv, batch " << b;
      EXPECT_TRUE(same_bits(prepared->hessian(b, *x), backend().hessian(obj, precision(), b, *x)))
          << "H, batch " << b;
    }
  }
}

TEST_P(BackendPrepared, HessianEighIsEighOfTheHessian) {
  const auto obj = c().objective();
  const auto prepared = backend().prepare(obj, precision());
  const auto x = points(obj, c().seed + 3);
  const std::vector<double> x3(x.begin(), x.begin() + 3 * obj.dim);
  for (const bool vectors : {false, true}) {
    const EighResult got = prepared->hessian_eigh(3, x3, vectors);
    const EighResult want = backend().eigh(precision(), 3, obj.dim,
                                           backend().hessian(obj, precision(), 3, x3), vectors);
    EXPECT_EQ(got.info, want.info);
    EXPECT_TRUE(same_bits(got.values, want.values)) << "values, vectors " << vectors;
    EXPECT_TRUE(same_bits(got.vectors, want.vectors)) << "vectors";
    EXPECT_EQ(got.vectors.size(), vectors ? want.values.size() * obj.dim : 0u);
  }
}

TEST_P(BackendPrepared, ResidentRowsGiveTheHostArraysBits) {
  const auto obj = c().objective();
  const std::int64_t n = obj.dim;
  const auto prepared = backend().prepare(obj, precision());
  const auto x = points(obj, c().seed);
  const auto xr = prepared->rows(), gr = prepared->rows(), hr = prepared->rows();
  prepared->put(*xr, x);
  ASSERT_EQ(xr->count(), kEvalBatch);
  const std::vector<double> f = prepared->value_grad(*xr, *gr);
  prepared->hvp(*xr, *gr, *hr);  // the gradient, kept on the backend, as the direction
  const ObjectiveEval host = backend().value_grad(obj, precision(), kEvalBatch, x);
  EXPECT_TRUE(same_bits(f, host.f));
  EXPECT_TRUE(same_bits(prepared->get(*gr), host.g));
  EXPECT_TRUE(
      same_bits(prepared->get(*hr), backend().hvp(obj, precision(), kEvalBatch, x, host.g)));
  // The points as kept: rounded to the precision.
  const std::vector<double> back = prepared->get(*xr);
  ASSERT_EQ(back.size(), x.size());
  for (std::int64_t k = 0; k < kEvalBatch * n; ++k)
    EXPECT_EQ(back[k], precision() == Precision::f32 ? double(float(x[k])) : x[k]);
}

TEST_P(BackendPrepared, TheObjectiveIsPaidOnce) {
  const auto obj = c().objective();
  const auto prepared = backend().prepare(obj, precision());
  const std::uint64_t t = precision_bytes(precision());
  const std::uint64_t data =
      t * (obj.lambda.size() + obj.matrix.size() + obj.field_w.size() + obj.field_a.size() +
           obj.field_b.size() + obj.net_x.size() + obj.net_y.size() + obj.couplings.size()) +
      sizeof(std::int32_t) * obj.net_labels.size();
  EXPECT_EQ(prepared->host_bytes(), data);
  const auto x = points(obj, c().seed);
  prepared->value_grad(kEvalBatch, x);
  const std::uint64_t first = prepared->host_bytes() - data;
  prepared->value_grad(kEvalBatch, x);
  const std::uint64_t second = prepared->host_bytes() - data - first;
  EXPECT_EQ(first, second);                        // the rows only, the objective not again
  EXPECT_GE(first, 2 * kEvalBatch * obj.dim * t);  // the points in, the gradients out
}

// The Krylov methods' row algebra (docs/design.md, II.5): dots, combine and
// project_out on resident rows equal the same sums on the host, and a row's
// result does not depend on the other rows (one row alone gives its bits).
TEST_P(BackendPrepared, RowAlgebraIsTheHostsAndRowLocal) {
  const auto obj = c().objective();
  const std::int64_t n = obj.dim, b = kEvalBatch;
  const auto prepared = backend().prepare(obj, precision());
  const double tol = precision() == Precision::f64 ? 1e-13 : 1e-5;
  const auto a = normals(c().seed + 5, b * n, 1.0), w = normals(c().seed + 6, b * n, 1.0),
             q2 = normals(c().seed + 7, b * n, 1.0);
  const auto ar = prepared->rows(), wr = prepared->rows(), qr = prepared->rows(),
             yr = prepared->rows();
  prepared->put(*ar, a);
  prepared->put(*wr, w);
  prepared->put(*qr, q2);
  const std::vector<double> ra = prepared->get(*ar), rw = prepared->get(*wr),
                            rq = prepared->get(*qr);  // rounded to the precision
  auto dot = [n](const std::vector<double>& u, const std::vector<double>& v, std::int64_t r) {
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += u[r * n + i] * v[r * n + i];
    return s;
  };
  const std::vector<double> d = prepared->dots(*ar, *wr);
  ASSERT_EQ(d.size(), static_cast<std::size_t>(b));
  for (std::int64_t r = 0; r < b; ++r)
    EXPECT_NEAR(d[r], dot(ra, rw, r), 1e-13 * static_cast<double>(n)) << "row " << r;
  // combine: y = a x (b = 0: y unread), then y = 2 y - 0.5 x.
  std::vector<double> c1(static_cast<std::size_t>(b)), zero(c1.size(), 0.0), two(c1.size(), 2.0),
      half(c1.size(), -0.5);
  for (std::int64_t r = 0; r < b; ++r) c1[r] = 0.25 * static_cast<double>(r + 1);
  prepared->combine(c1, *ar, zero, *yr);
  prepared->combine(half, *ar, two, *yr);
  const std::vector<double> y = prepared->get(*yr);
  for (std::int64_t r = 0; r < b; ++r)
    for (std::int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(y[r * n + i], (2 * c1[r] - 0.5) * ra[r * n + i],
                  tol * (1 + std::fabs(ra[r * n + i])));
  // project_out against two rows: the coefficients, then w minus their combination.
  const std::vector<double> coef = prepared->project_out({ar.get(), qr.get()}, *wr, {});
  ASSERT_EQ(coef.size(), static_cast<std::size_t>(2 * b));
  const std::vector<double> after = prepared->get(*wr);
  for (std::int64_t r = 0; r < b; ++r) {
    EXPECT_NEAR(coef[r], dot(ra, rw, r), 1e-13 * static_cast<double>(n));
    EXPECT_NEAR(coef[b + r], dot(rq, rw, r), 1e-13 * static_cast<double>(n));
    for (std::int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(after[r * n + i],
                  rw[r * n + i] - coef[r] * ra[r * n + i] - coef[b + r] * rq[r * n + i],
                  tol * static_cast<double>(n));
  }
  // Row-local: row 3 alone gives the same bits.
  const std::int64_t k = 3;
  const auto a1 = prepared->rows(), w1 = prepared->rows(), q1 = prepared->rows();
  prepared->put(*a1, std::vector<double>(a.begin() + k * n, a.begin() + (k + 1) * n));
  prepared->put(*w1, std::vector<double>(w.begin() + k * n, w.begin() + (k + 1) * n));
  prepared->put(*q1, std::vector<double>(q2.begin() + k * n, q2.begin() + (k + 1) * n));
  EXPECT_TRUE(same_bits(prepared->dots(*a1, *w1), std::vector<double>{d[k]}));
  const std::vector<double> c1k = prepared->project_out({a1.get(), q1.get()}, *w1, {});
  EXPECT_TRUE(same_bits(c1k, std::vector<double>{coef[k], coef[b + k]}));
  EXPECT_TRUE(same_bits(prepared->get(*w1),
                        std::vector<double>(after.begin() + k * n, after.begin() + (k + 1) * n)));
  // A mask: rows marked 0 keep their values and get zero coefficients; the
  // others get what they get unmasked.
  prepared->put(*wr, w);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(b), 0);
  mask[1] = mask[3] = 1;
  const std::vector<double> cm = prepared->project_out({ar.get(), qr.get()}, *wr, mask);
  const std::vector<double> wm = prepared->get(*wr);
  for (std::int64_t r = 0; r < b; ++r) {
    SCOPED_TRACE(r);
    const std::vector<double> got(wm.begin() + r * n, wm.begin() + (r + 1) * n);
    const std::vector<double> want =
        mask[r] ? std::vector<double>(after.begin() + r * n, after.begin() + (r + 1) * n)
                : std::vector<double>(rw.begin() + r * n, rw.begin() + (r + 1) * n);
    EXPECT_TRUE(same_bits(got, want));
    EXPECT_EQ(cm[r], mask[r] ? coef[r] : 0.0);
    EXPECT_EQ(cm[b + r], mask[r] ? coef[b + r] : 0.0);
  }
}

// Products at the same rows may reuse what they computed there (the CPU
// keeps the networks' passes): rows changed by put or by a row primitive
// must give the one-off product at their new values, bit for bit.
TEST_P(BackendPrepared, ProductsFollowRowsThatChange) {
  const auto obj = c().objective();
  const std::int64_t n = obj.dim, b = kEvalBatch;
  const auto prepared = backend().prepare(obj, precision());
  const auto x1 = points(obj, c().seed), x2 = points(obj, c().seed + 9);
  const auto v = normals(c().seed + 10, b * n, 1.0);
  const auto xr = prepared->rows(), vr = prepared->rows(), hr = prepared->rows();
  prepared->put(*vr, v);
  prepared->put(*xr, x1);
  prepared->hvp(*xr, *vr, *hr);
  EXPECT_TRUE(same_bits(prepared->get(*hr), backend().hvp(obj, precision(), b, x1, v)));
  prepared->hvp(*xr, *vr, *hr);  // again at the same rows
  EXPECT_TRUE(same_bits(prepared->get(*hr), backend().hvp(obj, precision(), b, x1, v)));
  prepared->put(*xr, x2);
  prepared->hvp(*xr, *vr, *hr);
  EXPECT_TRUE(same_bits(prepared->get(*hr), backend().hvp(obj, precision(), b, x2, v)));
  // x <- 0.5 x (combine writes the rows).
  prepared->combine(std::vector<double>(static_cast<std::size_t>(b), 0.5), *xr,
                    std::vector<double>(static_cast<std::size_t>(b), 0.0), *xr);
  const std::vector<double> half = prepared->get(*xr);
  prepared->hvp(*xr, *vr, *hr);
  EXPECT_TRUE(same_bits(prepared->get(*hr), backend().hvp(obj, precision(), b, half, v)));
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendPrepared, (::testing::ValuesIn(kEvalCases),
                                               ::testing::Values(Precision::f64, Precision::f32)));

class BackendPspinBlocks : public OnBackend<> {};

// p = 3 with more rows than one contraction block holds: at N = 100 the
// CPU's block is kPspinWorkElements / N^2 = 838 rows, so 1700 rows take three
// blocks (838, 838, 24) and 845 Hessians two groups (838, 7); the CUDA
// backend's contraction tile is 128 rows (its row tile, which 838 exceeds),
// so 14 tiles and 7 groups.
TEST_P(BackendPspinBlocks, P3ManyBlocksMatchCpu) {
  constexpr std::int64_t n = 100, batch = 1700, points = 845;
  ASSERT_EQ(kPspinWorkElements / (n * n), 838);
  const auto obj = pspin_objective(3, n);
  auto cpu = make_cpu_backend();
  const auto x = pspin_points(65, batch, n);
  const auto v = normals(66, batch * n, 1.0);
  const auto eg = backend().value_grad(obj, Precision::f64, batch, x);
  const auto ec = cpu->value_grad(obj, Precision::f64, batch, x);
  expect_close_to_magnitude(eg.f, ec.f, 1e-10, "f");
  expect_close_to_magnitude(eg.g, ec.g, 1e-10, "g");
  expect_close_to_magnitude(backend().hvp(obj, Precision::f64, batch, x, v),
                            cpu->hvp(obj, Precision::f64, batch, x, v), 1e-10, "Hv");
  const std::vector<double> xh(x.begin(), x.begin() + points * n);
  expect_close_to_magnitude(backend().hessian(obj, Precision::f64, points, xh),
                            cpu->hessian(obj, Precision::f64, points, xh), 1e-10, "H");
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendPspinBlocks, ());

// Row tiles (docs/design.md II.4, src/cuda/objectives.cuh kRowTile): the
// GEMMs that mix rows run on whole tiles of a fixed shape, so a point's
// value, gradient, Hessian-vector product and Hessian are the same bits
// whether it is evaluated with 149 others (two row tiles) or in batches of 7
// (or 5 Hessians in batches of 2), at any place in its batch. Every coupled
// objective in both precisions; the p = 3 p-spin also at N = 260, whose
// contraction tile (pspin_tile: kPspinWorkElements / N^2 = 124 rows, so 64)
// is smaller than the row tile.
struct TileCase {
  const char* name;
  ObjectiveData (*objective)();
};
void PrintTo(const TileCase& c, std::ostream* os) { *os << c.name; }

template <int p, std::int64_t n>
ObjectiveData pspin_n() {
  return pspin_objective(p, n);
}

const TileCase kTileCases[] = {
    {"quadratic_rotated", by_kind<ObjectiveKind::quadratic, true>},
    {"gaussian_field", field_objective},
    {"mlp", mlp_objective},
    {"deep_linear", deep_linear_objective},
    {"classifier", classifier_objective},
    {"pspin_p2", pspin<2>},
    {"pspin_p3", pspin<3>},
    {"pspin_p3_n260", pspin_n<3, 260>},
};

class BackendRowTiles : public OnBackend<TileCase, Precision> {
 protected:
  void SetUp() override {
    OnBackend::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    obj_ = param<0>().objective();
  }
  std::vector<double> points(std::uint64_t seed, std::int64_t batch) const {
    if (obj_.kind == ObjectiveKind::p_spin) return pspin_points(seed, batch, obj_.dim);
    return normals(seed, batch * obj_.dim, 0.7);
  }
  // Rows [b0, b0 + rows) of a [batch, width] array.
  static std::vector<double> slice(const std::vector<double>& a, std::int64_t b0, std::int64_t rows,
                                   std::int64_t width) {
    return {a.begin() + b0 * width, a.begin() + (b0 + rows) * width};
  }
  // `call(b0, rows)` for consecutive batches of `part` rows of `batch`,
  // concatenated.
  template <class F>
  static std::vector<double> in_parts(std::int64_t batch, std::int64_t part, F&& call) {
    std::vector<double> out;
    for (std::int64_t b0 = 0; b0 < batch; b0 += part) {
      const std::vector<double> r = call(b0, std::min(part, batch - b0));
      out.insert(out.end(), r.begin(), r.end());
    }
    return out;
  }
  Precision precision() const { return param<1>(); }
  ObjectiveData obj_;
};

constexpr std::int64_t kTileBatch = 150;

TEST_P(BackendRowTiles, ValueGradDoesNotDependOnTheBatch) {
  const std::int64_t n = obj_.dim;
  const auto x = points(81, kTileBatch);
  const ObjectiveEval whole = backend().value_grad(obj_, precision(), kTileBatch, x);
  std::vector<double> f, g;
  for (std::int64_t b0 = 0; b0 < kTileBatch; b0 += 7) {
    const std::int64_t rows = std::min<std::int64_t>(7, kTileBatch - b0);
    const ObjectiveEval part = backend().value_grad(obj_, precision(), rows, slice(x, b0, rows, n));
    f.insert(f.end(), part.f.begin(), part.f.end());
    g.insert(g.end(), part.g.begin(), part.g.end());
  }
  EXPECT_TRUE(same_bits(whole.f, f)) << "f";
  EXPECT_TRUE(same_bits(whole.g, g)) << "g";
}

TEST_P(BackendRowTiles, HvpDoesNotDependOnTheBatch) {
  const std::int64_t n = obj_.dim;
  const auto x = points(82, kTileBatch);
  const auto v = normals(83, kTileBatch * n, 1.0);
  const auto whole = backend().hvp(obj_, precision(), kTileBatch, x, v);
  const auto parts = in_parts(kTileBatch, 7, [&](std::int64_t b0, std::int64_t rows) {
    return backend().hvp(obj_, precision(), rows, slice(x, b0, rows, n), slice(v, b0, rows, n));
  });
  EXPECT_TRUE(same_bits(whole, parts)) << "Hv";
}

TEST_P(BackendRowTiles, HessianDoesNotDependOnTheBatch) {
  constexpr std::int64_t batch = 5;
  const std::int64_t n = obj_.dim;
  const auto x = points(84, batch);
  const auto whole = backend().hessian(obj_, precision(), batch, x);
  const auto parts = in_parts(batch, 2, [&](std::int64_t b0, std::int64_t rows) {
    return backend().hessian(obj_, precision(), rows, slice(x, b0, rows, n));
  });
  EXPECT_TRUE(same_bits(whole, parts)) << "H";
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendRowTiles,
                               (::testing::ValuesIn(kTileCases),
                                ::testing::Values(Precision::f64, Precision::f32)));

class BackendPspinTf32 : public OnBackend<> {};

// objective.tf32 on an f32 evaluation: the GEMMs may round their inputs to
// TF32 (about 1e-3 relative), so the agreement with the CPU's f32 is loose.
TEST_P(BackendPspinTf32, EvaluationAgreesLoosely) {
  const auto obj = pspin_objective(3, kPspinDim, true);
  ASSERT_TRUE(obj.tf32);
  const auto x = pspin_points(67, kEvalBatch, kPspinDim);
  const auto v = normals(68, kEvalBatch * kPspinDim, 1.0);
  auto cpu = make_cpu_backend();
  const auto eg = backend().value_grad(obj, Precision::f32, kEvalBatch, x);
  const auto ec = cpu->value_grad(obj, Precision::f32, kEvalBatch, x);
  expect_close_to_magnitude(eg.f, ec.f, 2e-2, "f");
  expect_close_to_magnitude(eg.g, ec.g, 2e-2, "g");
  expect_close_to_magnitude(backend().hvp(obj, Precision::f32, kEvalBatch, x, v),
                            cpu->hvp(obj, Precision::f32, kEvalBatch, x, v), 2e-2, "Hv");
  expect_close_to_magnitude(backend().hessian(obj, Precision::f32, kEvalBatch, x),
                            cpu->hessian(obj, Precision::f32, kEvalBatch, x), 2e-2, "H");
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendPspinTf32, ());

}  // namespace
