// The dense linear algebra of every backend: symmetric eigendecompositions
// (eigh) and Sylvester inertia counts (count_below).
//
// eigh: orders on both sides of the CUDA backend's batched/one-at-a-time
// threshold (n <= 64 batched), in both precisions. Values against the CPU's
// LAPACK values-only solve; eigenvectors are unique up to sign (and within
// degenerate eigenspaces), so they are checked by residual and orthogonality.
// A matrix gives the same bits alone or in a stack, and only the lower
// triangle is read. There is no NaN-input test: cuSOLVER does not document
// what syevd or syevBatched return for a matrix with NaN entries (a nonzero
// info, NaN values, or neither), so no outcome can be asserted.
//
// count_below: cuSOLVER's Bunch-Kaufman sytrf against LAPACK's, and every
// backend's counts against counting LAPACK eigenvalues. The shifts are 0 and
// the midpoints of the widest gaps between consecutive eigenvalues (CPU eigh,
// f64) in the lower and upper middle of the spectrum, each asserted to lie at
// least kShiftMargin max|lambda| from every eigenvalue. That is far beyond the
// f32 factorization's backward error (~ sqrt(n) eps max|lambda|, ~ 2e-5
// max|lambda| at n = 200), so every count is exact in both precisions and
// every backend, f32 and f64 must all agree.
#include <cblas.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "backends.hpp"
#include "saddlescope/backend.hpp"

namespace {

using namespace saddlescope;
using namespace saddlescope::testing;

// A matrix order, named n<order> in test names.
struct Order {
  std::int64_t n;
};
std::string case_name(Order o) { return "n" + std::to_string(o.n); }
void PrintTo(Order o, std::ostream* os) { *os << case_name(o); }

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

// The same matrices with NaN above the diagonal.
std::vector<double> lower_only(std::vector<double> h, std::int64_t batch, std::int64_t n) {
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = i + 1; j < n; ++j)
        h[(b * n + i) * n + j] = std::numeric_limits<double>::quiet_NaN();
  return h;
}

// ---------------------------------------------------------------------------
// eigh

// Tolerances, relative to max|lambda| of each matrix (values, residual) and
// scaled by n (residual, orthogonality). f32: eps ~ 1.2e-7, so 1e-4 on the
// values is ~ 800 eps, and 1e-5 n on residual and orthogonality ~ 80 n eps.
struct EighTolerance {
  double values, residual, orthogonality;
};
EighTolerance eigh_tolerance(Precision p) {
  return p == Precision::f64 ? EighTolerance{1e-10, 1e-10, 1e-10} : EighTolerance{1e-4, 1e-5, 1e-5};
}

// Checks one batch of results against the CPU's values and, when the result
// has vectors, the residual ||H V - V diag(w)||_max <= tol max|lambda| n and
// the orthogonality ||V^T V - I||_max <= tol n. The residual uses H as the
// solver saw it (rounded to float in f32).
void expect_eigh_matches(const EighResult& got, const EighResult& cpu, const std::vector<double>& h,
                         Precision p, std::int64_t batch, std::int64_t n, bool vectors) {
  const EighTolerance tol = eigh_tolerance(p);
  ASSERT_EQ(got.info.size(), static_cast<std::size_t>(batch));
  ASSERT_EQ(got.values.size(), static_cast<std::size_t>(batch * n));
  ASSERT_EQ(got.vectors.size(), vectors ? static_cast<std::size_t>(batch * n * n) : 0u);
  for (std::int64_t b = 0; b < batch; ++b) {
    SCOPED_TRACE(::testing::Message() << "matrix " << b);
    ASSERT_EQ(cpu.info[b], 0);
    EXPECT_EQ(got.info[b], 0);
    const double* w = got.values.data() + b * n;
    const double* want = cpu.values.data() + b * n;
    double scale = 0;
    for (std::int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(want[i]));
    int reported = 0;
    for (std::int64_t i = 0; i < n && reported < 5; ++i) {
      if (std::fabs(w[i] - want[i]) <= tol.values * scale) continue;
      ADD_FAILURE() << "lambda[" << i << "]: got " << w[i] << ", cpu " << want[i] << ", tolerance "
                    << tol.values * scale;
      ++reported;
    }
    for (std::int64_t i = 1; i < n; ++i) EXPECT_LE(w[i - 1], w[i]) << "ascending at " << i;
    if (!vectors) continue;

    const double* v = got.vectors.data() + b * n * n;  // column k = eigenvector k
    std::vector<double> a(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
    if (p == Precision::f32)
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

class BackendEigh : public OnBackend<Order, Precision> {
 protected:
  std::int64_t n() const { return param<0>().n; }
  Precision precision() const { return param<1>(); }
};

// On the CPU: its values with vectors against its values-only solve, and its
// vectors' residual and orthogonality.
TEST_P(BackendEigh, ValuesAndVectorsMatchCpu) {
  const auto h = random_symmetric(kEighBatch, n(), 1000 + static_cast<std::uint64_t>(n()));
  const auto cpu = make_cpu_backend()->eigh(precision(), kEighBatch, n(), h, false);
  const auto got = backend().eigh(precision(), kEighBatch, n(), h, true);
  expect_eigh_matches(got, cpu, h, precision(), kEighBatch, n(), true);
}

// A matrix's eigenvalues and vectors are the same bits whether it is solved
// alone or in a stack (the CPU backend solves a stack one matrix per thread;
// the CUDA backend's batched solver has its algorithm pinned), so census
// results do not depend on group sizes.
TEST_P(BackendEigh, StackedAndAloneGiveTheSameBits) {
  const std::int64_t n = this->n();
  const auto h = random_symmetric(kEighBatch, n, 4000 + static_cast<std::uint64_t>(n));
  const auto stacked = backend().eigh(precision(), kEighBatch, n, h, true);
  for (std::int64_t b = 0; b < kEighBatch; ++b) {
    SCOPED_TRACE(::testing::Message() << "matrix " << b);
    const std::vector<double> one(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
    const auto alone = backend().eigh(precision(), 1, n, one, true);
    EXPECT_TRUE(
        std::equal(alone.values.begin(), alone.values.end(), stacked.values.begin() + b * n));
    EXPECT_TRUE(std::equal(alone.vectors.begin(), alone.vectors.end(),
                           stacked.vectors.begin() + b * n * n));
  }
}

// Only the lower triangle may be trusted: NaN above the diagonal must not
// change the result.
TEST_P(BackendEigh, ReadsOnlyTheLowerTriangle) {
  const std::int64_t n = this->n();
  const auto h = random_symmetric(kEighBatch, n, 3000 + static_cast<std::uint64_t>(n));
  const auto cpu = make_cpu_backend()->eigh(precision(), kEighBatch, n, h, false);
  const auto got = backend().eigh(precision(), kEighBatch, n, lower_only(h, kEighBatch, n), true);
  expect_eigh_matches(got, cpu, h, precision(), kEighBatch, n, true);
}

const auto kEighOrders = ::testing::Values(Order{5}, Order{33}, Order{64}, Order{65}, Order{300});
const auto kPrecisions = ::testing::Values(Precision::f64, Precision::f32);

SADDLESCOPE_ON_EVERY_BACKEND(BackendEigh, (kEighOrders, kPrecisions));

// The same values-only call on both sides: a comparison with the CPU only.
class BackendEighAgainstCpu : public BackendEigh {};

TEST_P(BackendEighAgainstCpu, ValuesOnlyMatchCpu) {
  const auto h = random_symmetric(kEighBatch, n(), 2000 + static_cast<std::uint64_t>(n()));
  const auto cpu = make_cpu_backend()->eigh(precision(), kEighBatch, n(), h, false);
  const auto got = backend().eigh(precision(), kEighBatch, n(), h, false);
  expect_eigh_matches(got, cpu, h, precision(), kEighBatch, n(), false);
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendEighAgainstCpu, (kEighOrders, kPrecisions));

class BackendEighEmpty : public OnBackend<> {};

TEST_P(BackendEighEmpty, NoMatricesOrOrderZero) {
  const auto none = backend().eigh(Precision::f64, 0, 5, {}, true);
  EXPECT_TRUE(none.values.empty());
  EXPECT_TRUE(none.vectors.empty());
  EXPECT_TRUE(none.info.empty());
  const auto empty = backend().eigh(Precision::f32, 3, 0, {}, true);
  EXPECT_TRUE(empty.values.empty());
  EXPECT_TRUE(empty.vectors.empty());
  EXPECT_EQ(empty.info, std::vector<int>(3, 0));
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendEighEmpty, ());

// ---------------------------------------------------------------------------
// count_below

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
  const auto eig = make_cpu_backend()->eigh(Precision::f64, kCountBatch, n, in.h, false);
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

class BackendCountBelow : public OnBackend<Order, Precision> {
 protected:
  std::int64_t n() const { return param<0>().n; }
  Precision precision() const { return param<1>(); }
};

TEST_P(BackendCountBelow, MatchesEigenvalueCounts) {
  const auto in = count_inputs(n(), 4000 + static_cast<std::uint64_t>(n()));
  const auto got =
      backend().count_below(precision(), kCountBatch, n(), in.h, in.shifts, kCountShifts);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCountBatch * kCountShifts));
  EXPECT_EQ(got, in.eig_count);
}

// Only the lower triangle may be trusted: NaN above the diagonal must not
// change the counts.
TEST_P(BackendCountBelow, ReadsOnlyTheLowerTriangle) {
  const std::int64_t n = this->n();
  const auto in = count_inputs(n, 5000 + static_cast<std::uint64_t>(n));
  const auto got = backend().count_below(precision(), kCountBatch, n,
                                         lower_only(in.h, kCountBatch, n), in.shifts, kCountShifts);
  EXPECT_EQ(got, in.eig_count);
}

const auto kCountOrders = ::testing::Values(Order{5}, Order{64}, Order{200});

SADDLESCOPE_ON_EVERY_BACKEND(BackendCountBelow, (kCountOrders, kPrecisions));

// The same factorization's counts on both sides: a comparison with the CPU only.
class BackendCountBelowAgainstCpu : public BackendCountBelow {};

TEST_P(BackendCountBelowAgainstCpu, MatchesCpuSytrf) {
  const auto in = count_inputs(n(), 4000 + static_cast<std::uint64_t>(n()));
  const auto cpu =
      make_cpu_backend()->count_below(precision(), kCountBatch, n(), in.h, in.shifts, kCountShifts);
  const auto got =
      backend().count_below(precision(), kCountBatch, n(), in.h, in.shifts, kCountShifts);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCountBatch * kCountShifts));
  EXPECT_EQ(got, cpu);
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendCountBelowAgainstCpu, (kCountOrders, kPrecisions));

// The shifts sit midway between eigenvalues, so f32 and f64 give the same
// counts.
class BackendCountBelowPrecisions : public OnBackend<> {};

TEST_P(BackendCountBelowPrecisions, F32AgreesWithF64) {
  for (std::int64_t n : {5, 64, 200}) {
    SCOPED_TRACE(::testing::Message() << "n = " << n);
    const auto in = count_inputs(n, 4000 + static_cast<std::uint64_t>(n));
    const auto f64 =
        backend().count_below(Precision::f64, kCountBatch, n, in.h, in.shifts, kCountShifts);
    const auto f32 =
        backend().count_below(Precision::f32, kCountBatch, n, in.h, in.shifts, kCountShifts);
    EXPECT_EQ(f32, f64);
  }
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendCountBelowPrecisions, ());

// A shift equal to an eigenvalue of a diagonal matrix gives an exactly zero
// pivot (sytrf info > 0): the count is still valid and the zero eigenvalue of
// H - sI is not counted as negative.
class BackendCountBelowSingular : public OnBackend<> {};

TEST_P(BackendCountBelowSingular, ZeroPivotCountsStrictlyBelow) {
  constexpr std::int64_t n = 5, k = 4;
  std::vector<double> h(n * n, 0.0);
  for (std::int64_t i = 0; i < n; ++i) h[i * n + i] = static_cast<double>(i - 2);  // -2 .. 2
  const std::vector<double> shifts = {0.0, 1.0, -2.0, 2.5};
  const std::vector<std::int64_t> want = {2, 3, 0, 5};
  for (Precision p : {Precision::f64, Precision::f32}) {
    SCOPED_TRACE(saddlescope::testing::case_name(p));
    const auto got = backend().count_below(p, 1, n, h, shifts, k);
    const auto cpu = make_cpu_backend()->count_below(p, 1, n, h, shifts, k);
    EXPECT_EQ(got, want);
    EXPECT_EQ(got, cpu);
  }
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendCountBelowSingular, ());

class BackendCountBelowEmpty : public OnBackend<> {};

TEST_P(BackendCountBelowEmpty, NoMatricesNoShiftsOrOrderZero) {
  EXPECT_TRUE(backend().count_below(Precision::f64, 0, 5, {}, {}, 3).empty());
  EXPECT_TRUE(
      backend().count_below(Precision::f32, 2, 3, std::vector<double>(18, 1.0), {}, 0).empty());
  EXPECT_EQ(backend().count_below(Precision::f64, 2, 0, {}, {0.0, 1.0, -1.0, 2.0}, 2),
            std::vector<std::int64_t>(4, 0));
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendCountBelowEmpty, ());

// ---------------------------------------------------------------------------
// Large matrices on the CPU: from order 1,000 each matrix is solved by all
// threads (OpenBLAS's), one after another (src/cpu/linalg.cpp). A matrix's
// result must still not depend on how many share the call, may depend on
// the thread count (docs/design.md, II.4) within rounding, and OpenBLAS is
// back at one thread afterwards (the OpenMP loops' GEMMs assume it).

// Runs f with `threads` OpenMP threads, then restores the count.
template <class F>
auto with_threads(int threads, F&& f) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  auto r = f();
  omp_set_num_threads(before);
  return r;
}

TEST(CpuLargeMatrices, StackedAndAloneGiveTheSameBitsOnAllThreads) {
  constexpr std::int64_t n = 1000, batch = 2;
  auto cpu = make_cpu_backend();
  const auto h = random_symmetric(batch, n, 6000);
  const std::vector<double> shifts = {0.0, 0.5, 0.0, -0.5};
  for (Precision p : {Precision::f64, Precision::f32}) {
    SCOPED_TRACE(saddlescope::testing::case_name(p));
    const auto stacked = cpu->eigh(p, batch, n, h, false);
    const auto counts = cpu->count_below(p, batch, n, h, shifts, 2);
    EXPECT_EQ(openblas_get_num_threads(), 1) << "OpenBLAS left with more than one thread";
    for (std::int64_t b = 0; b < batch; ++b) {
      SCOPED_TRACE(::testing::Message() << "matrix " << b);
      const std::vector<double> one(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
      const auto alone = cpu->eigh(p, 1, n, one, false);
      ASSERT_EQ(alone.info[0], 0);
      EXPECT_TRUE(
          std::equal(alone.values.begin(), alone.values.end(), stacked.values.begin() + b * n));
      const std::vector<double> s(shifts.begin() + 2 * b, shifts.begin() + 2 * b + 2);
      const auto c = cpu->count_below(p, 1, n, one, s, 2);
      EXPECT_EQ(c[0], counts[2 * b]);
      EXPECT_EQ(c[1], counts[2 * b + 1]);
    }
  }
}

TEST(CpuLargeMatrices, OneThreadAgreesWithinRounding) {
  constexpr std::int64_t n = 1000;
  auto cpu = make_cpu_backend();
  const auto h = random_symmetric(1, n, 7000);
  const auto all = cpu->eigh(Precision::f64, 1, n, h, false);
  const auto one = with_threads(1, [&] { return cpu->eigh(Precision::f64, 1, n, h, false); });
  double scale = 0, diff = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    scale = std::max(scale, std::fabs(one.values[i]));
    diff = std::max(diff, std::fabs(all.values[i] - one.values[i]));
  }
  EXPECT_LE(diff, 1e-12 * scale) << "thread counts disagree beyond rounding";
  // The counts are exact either way (shifts away from every eigenvalue).
  const std::vector<double> shifts = {0.5 * (one.values[n / 2] + one.values[n / 2 + 1])};
  const auto c_all = cpu->count_below(Precision::f64, 1, n, h, shifts, 1);
  const auto c_one =
      with_threads(1, [&] { return cpu->count_below(Precision::f64, 1, n, h, shifts, 1); });
  EXPECT_EQ(c_all, std::vector<std::int64_t>{n / 2 + 1});
  EXPECT_EQ(c_one, c_all);
}

}  // namespace
