// The Hessian census: the eigensolver against residual and orthogonality
// checks and known spectra, the classification rule at its tolerance
// boundaries, and closed-form censuses: all 3^6 critical points of the
// double well and of Styblinski-Tang at N = 6 carry the index the product
// structure gives (C(6,k) 2^(6-k) of index k); quadratics of known inertia.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include "forwarding_backend.hpp"
#include "saddlescope/census.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"

using namespace saddlescope;

namespace {

std::string fmt_exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::vector<double> random_symmetric(std::int64_t batch, std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> d;
  std::vector<double> h(static_cast<std::size_t>(batch * n * n));
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j <= i; ++j)
        h[(b * n + i) * n + j] = h[(b * n + j) * n + i] = d(gen);
  return h;
}

TEST(Eigh, ResidualAndOrthogonality) {
  auto cpu = make_cpu_backend();
  for (std::int64_t n : {1, 2, 17, 64, 150}) {
    for (Precision p : {Precision::f64, Precision::f32}) {
      SCOPED_TRACE(::testing::Message() << "n = " << n << (p == Precision::f64 ? " f64" : " f32"));
      const std::int64_t batch = 3;
      const auto h = random_symmetric(batch, n, 7 + static_cast<std::uint64_t>(n));
      const EighResult r = cpu->eigh(p, batch, n, h, true);
      const double eps = p == Precision::f64 ? 1e-15 : 1e-6;
      for (std::int64_t b = 0; b < batch; ++b) {
        ASSERT_EQ(r.info[b], 0);
        const double* w = r.values.data() + b * n;
        const double* v = r.vectors.data() + b * n * n;
        const double* a = h.data() + b * n * n;
        double scale = 0;
        for (std::int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(w[i]));
        for (std::int64_t i = 1; i < n; ++i) EXPECT_LE(w[i - 1], w[i]) << "ascending";
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
        // Backward-stable solvers: residual ~ n eps ||H||, orthogonality ~ n eps.
        EXPECT_LE(res, 50.0 * static_cast<double>(n) * eps * std::max(1.0, scale));
        EXPECT_LE(orth, 50.0 * static_cast<double>(n) * eps);
      }
    }
  }
}

TEST(Eigh, KnownSpectrumAndPrecisionsAgree) {
  auto cpu = make_cpu_backend();
  const std::int64_t n = 40;
  // Eigenvalues -3, -2.5, ..., placed exactly by a Haar rotation.
  std::string eig = "[";
  for (std::int64_t i = 0; i < n; ++i)
    eig += (i ? ", " : "") + std::to_string(-3.0 + 0.5 * static_cast<double>(i));
  eig += "]";
  const Experiment e =
      parse_experiment("seed = 5\n[objective]\nkind = \"quadratic\"\neigenvalues = " + eig +
                           "\nrotate = true\n[[optimizer]]\nkind = \"gd\"\n",
                       "t");
  const ObjectiveData d = build_objective(e);
  const EighResult r64 = cpu->eigh(Precision::f64, 1, n, d.matrix, false);
  const EighResult r32 = cpu->eigh(Precision::f32, 1, n, d.matrix, false);
  for (std::int64_t i = 0; i < n; ++i) {
    EXPECT_NEAR(r64.values[i], -3.0 + 0.5 * static_cast<double>(i), 1e-12);
    EXPECT_NEAR(r32.values[i], -3.0 + 0.5 * static_cast<double>(i), 1e-4);
  }
}

// A symmetric matrix Q diag(lambda) Q^T with a Haar Q (row-major).
std::vector<double> with_spectrum(const std::vector<double>& lambda, std::uint64_t seed) {
  std::string eig = "[";
  for (std::size_t i = 0; i < lambda.size(); ++i) eig += (i ? ", " : "") + fmt_exact(lambda[i]);
  eig += "]";
  const Experiment e =
      parse_experiment("seed = " + std::to_string(seed) +
                           "\n[objective]\nkind = \"quadratic\"\neigenvalues = " + eig +
                           "\nrotate = true\n[[optimizer]]\nkind = \"gd\"\n",
                       "t");
  return build_objective(e).matrix;
}

TEST(Inertia, SylvesterCountsEqualEighCounts) {
  // Eigenvalues placed just inside and just outside +-tol, tol = zero_tol *
  // max|lambda| = 1e-3 * 50 = 0.05, by 2% of tol: the counts must agree
  // exactly with counting the eigh spectrum.
  auto cpu = make_cpu_backend();
  const double tol = 0.05;
  std::vector<double> lambda = {-50,        -3,         -tol * 1.02, -tol * 0.98, -1e-9, 0.0,
                                tol * 0.98, tol * 1.02, 2,           7,           50};
  for (int extra = 0; extra < 40; ++extra) lambda.push_back(-40.0 + 2.0 * extra + 0.37);
  const std::int64_t n = static_cast<std::int64_t>(lambda.size());
  for (Precision p : {Precision::f64, Precision::f32}) {
    SCOPED_TRACE(p == Precision::f64 ? "f64" : "f32");
    AnalysisSpec eigh;
    eigh.method = "eigh";
    eigh.zero_tol = 1e-3;
    eigh.precision = p;
    AnalysisSpec inertia = eigh;
    inertia.method = "inertia";
    ObjectiveData d;
    d.kind = ObjectiveKind::quadratic;
    d.dim = n;
    d.matrix = with_spectrum(lambda, 17);
    const std::vector<double> x(static_cast<std::size_t>(n), 0.0);
    const Inertia a = analyze_points(d, *cpu, eigh, x, 1, 1).inertia[0];
    const Inertia b = analyze_points(d, *cpu, inertia, x, 1, 1).inertia[0];
    EXPECT_EQ(a.index, b.index);
    EXPECT_EQ(a.n_zero, b.n_zero);
    EXPECT_EQ(a.n_pos, b.n_pos);
    EXPECT_EQ(a.cls, b.cls);
    EXPECT_NEAR(a.tol, b.tol, p == Precision::f64 ? 1e-9 : 1e-6);
    EXPECT_NEAR(b.lambda_min, -50, 1e-6);
    EXPECT_NEAR(b.lambda_max, 50, 1e-6);
    // And the exact counts the placement implies.
    std::int64_t below = 0, zero = 0;
    for (double l : lambda) {
      below += l < -tol;
      zero += std::fabs(l) <= tol;
    }
    EXPECT_EQ(b.index, below);
    EXPECT_EQ(b.n_zero, zero);
  }
}

TEST(Inertia, CountBelowMatchesSpectrumOnRandomMatrices) {
  auto cpu = make_cpu_backend();
  const std::int64_t n = 90, batch = 3;
  const auto h = random_symmetric(batch, n, 99);
  const EighResult e = cpu->eigh(Precision::f64, batch, n, h, false);
  std::vector<double> shifts;
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t j : {0, 10, 45, 89})  // midway between neighbours, and 0
      shifts.push_back(j == 0 ? 0.0 : 0.5 * (e.values[b * n + j - 1] + e.values[b * n + j]));
  const auto c = cpu->count_below(Precision::f64, batch, n, h, shifts, 4);
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t j = 0; j < 4; ++j) {
      std::int64_t want = 0;
      for (std::int64_t i = 0; i < n; ++i) want += e.values[b * n + i] < shifts[b * 4 + j];
      EXPECT_EQ(c[b * 4 + j], want);
    }
}

// The CPU backend spreads a stack of matrices over its threads, one
// single-threaded LAPACK call each: a matrix's eigenvalues, vectors and
// inertia shifts are the same bits whether it is solved alone or in a stack
// (the census's results do not depend on its chunk size).
TEST(Eigh, StackedAndAloneGiveTheSameBits) {
  auto cpu = make_cpu_backend();
  const std::int64_t n = 70, batch = 7;
  const auto h = random_symmetric(batch, n, 17);
  for (Precision p : {Precision::f64, Precision::f32}) {
    const EighResult all = cpu->eigh(p, batch, n, h, true);
    const InertiaShifts shifts_all = inertia_shifts(h.data(), batch, n, 1e-6);
    for (std::int64_t b = 0; b < batch; ++b) {
      const std::vector<double> one(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
      const EighResult r = cpu->eigh(p, 1, n, one, true);
      for (std::int64_t i = 0; i < n; ++i)
        ASSERT_EQ(r.values[i], all.values[b * n + i]) << "matrix " << b << ", eigenvalue " << i;
      for (std::int64_t i = 0; i < n * n; ++i)
        ASSERT_EQ(r.vectors[i], all.vectors[b * n * n + i]) << "matrix " << b;
      const InertiaShifts s1 = inertia_shifts(one.data(), 1, n, 1e-6);
      EXPECT_EQ(s1.shifts[0], shifts_all.shifts[2 * b]);
      EXPECT_EQ(s1.extremes[0], shifts_all.extremes[b]);
    }
  }
}

TEST(Classify, FollowsTheDefinitionAtTheTolerance) {
  // max|lambda| = 100, zero_tol 1e-3: tol = 0.1.
  const double tol = 0.1;
  auto inertia = [](std::vector<double> l) {
    return classify(l.data(), static_cast<std::int64_t>(l.size()), 1e-3);
  };
  Inertia r = inertia({-100, -0.10000001, -0.1, 0.0999, 0.1000001, 5});
  EXPECT_DOUBLE_EQ(r.tol, tol);
  EXPECT_EQ(r.index, 2);
  EXPECT_EQ(r.n_zero, 2);
  EXPECT_EQ(r.n_pos, 2);
  EXPECT_EQ(r.cls, PointClass::degenerate);
  EXPECT_EQ(inertia({-100, -1, 2}).cls, PointClass::saddle);
  EXPECT_EQ(inertia({0.5, 100}).cls, PointClass::minimum);
  EXPECT_EQ(inertia({-100, -0.5}).cls, PointClass::maximum);
  // Below max|lambda| = 1 the tolerance is absolute: zero_tol itself.
  EXPECT_EQ(inertia({-0.5, 0.0009}).cls, PointClass::degenerate);
  EXPECT_EQ(inertia({-0.5, std::nan("")}).cls, PointClass::failed);
}

// Roots of a cubic by Newton from a start (independent of the library).
double newton_root(double (*g)(double), double (*dg)(double), double x) {
  for (int k = 0; k < 100; ++k) x -= g(x) / dg(x);
  return x;
}

struct SeparableCensus {
  const char* name;
  ObjectiveKind kind;
  double roots[3];  // minimum, maximum, minimum of the 1-D term (maximum in the middle)
};

TEST(Census, AllCriticalPointsOfSeparableObjectivesAtN6) {
  auto dw_g = [](double x) { return 4 * x * x * x - 8 * x + 1; };
  auto dw_h = [](double x) { return 12 * x * x - 8; };
  auto st_g = [](double x) { return 2 * x * x * x - 16 * x + 2.5; };
  auto st_h = [](double x) { return 6 * x * x - 16; };
  const SeparableCensus cases[] = {
      {"double-well",
       ObjectiveKind::double_well,
       {newton_root(dw_g, dw_h, -1.5), newton_root(dw_g, dw_h, 0.1), newton_root(dw_g, dw_h, 1.3)}},
      {"styblinski-tang",
       ObjectiveKind::styblinski_tang,
       {newton_root(st_g, st_h, -2.9), newton_root(st_g, st_h, 0.15),
        newton_root(st_g, st_h, 2.7)}}};
  auto cpu = make_cpu_backend();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_NEAR(c.roots[1], c.kind == ObjectiveKind::double_well ? 0.126000 : 0.156731, 1e-6);
    const std::int64_t n = 6, count = 729;
    ObjectiveData d;
    d.kind = c.kind;
    d.dim = n;
    std::vector<double> x(static_cast<std::size_t>(count * n));
    std::vector<std::int64_t> expected(static_cast<std::size_t>(count));
    for (std::int64_t p = 0; p < count; ++p) {
      std::int64_t code = p, at_max = 0;
      for (std::int64_t i = 0; i < n; ++i, code /= 3) {
        x[p * n + i] = c.roots[code % 3];
        at_max += code % 3 == 1;
      }
      expected[p] = at_max;  // the index: one negative curvature per coordinate at the maximum
    }
    AnalysisSpec spec;
    spec.method = "eigh";
    const Spectra s = analyze_points(d, *cpu, spec, x, count, 100);
    std::vector<std::int64_t> per_index(7, 0);
    for (std::int64_t p = 0; p < count; ++p) {
      ASSERT_EQ(s.info[p], 0);
      EXPECT_EQ(s.inertia[p].index, expected[p]) << "point " << p;
      EXPECT_EQ(s.inertia[p].n_zero, 0);
      per_index[s.inertia[p].index]++;
      const PointClass want = expected[p] == 0   ? PointClass::minimum
                              : expected[p] == n ? PointClass::maximum
                                                 : PointClass::saddle;
      EXPECT_EQ(s.inertia[p].cls, want);
    }
    // Binomial law: C(6, k) 2^(6 - k) points of index k.
    const std::int64_t binom[7] = {1, 6, 15, 20, 15, 6, 1};
    for (int k = 0; k <= 6; ++k)
      EXPECT_EQ(per_index[k], binom[k] * (1 << (6 - k))) << "index " << k;
  }
}

Inertia inertia_at_origin(const std::string& objective) {
  const Experiment e = parse_experiment(
      "seed = 11\n[objective]\n" + objective + "\n[[optimizer]]\nkind = \"gd\"\n", "t");
  const ObjectiveData d = build_objective(e);
  AnalysisSpec spec;
  spec.method = "eigh";
  auto cpu = make_cpu_backend();
  const std::vector<double> x(static_cast<std::size_t>(d.dim), 0.0);
  return analyze_points(d, *cpu, spec, x, 1, 1).inertia[0];
}

TEST(Census, QuadraticsOfKnownInertia) {
  Inertia r = inertia_at_origin(
      "kind = \"quadratic\"\ndim = 30\nnegative = 7\ncurvature = 2\nrotate = true");
  EXPECT_EQ(r.index, 7);
  EXPECT_EQ(r.n_pos, 23);
  EXPECT_EQ(r.cls, PointClass::saddle);
  r = inertia_at_origin("kind = \"saddle-2d\"");
  EXPECT_EQ(r.index, 1);
  EXPECT_EQ(r.cls, PointClass::saddle);
  EXPECT_EQ(inertia_at_origin("kind = \"bowl-2d\"").cls, PointClass::minimum);
  // A flat direction (like a monkey saddle's vanishing curvature): degenerate.
  r = inertia_at_origin("kind = \"quadratic\"\neigenvalues = [1.0, 0.0, -1.0]\nrotate = true");
  EXPECT_EQ(r.n_zero, 1);
  EXPECT_EQ(r.cls, PointClass::degenerate);
}

TEST(Census, GoeSpectrumIsTheSemicircle) {
  // Wigner: the spectrum of a GOE matrix with off-diagonal variance sigma^2/N
  // tends to the semicircle on [-2 sigma, 2 sigma]. At N = 1000 the
  // Kolmogorov-Smirnov distance to the semicircle CDF is O(1/N) in the bulk
  // plus edge effects; 0.01 is a comfortable bound, while a spectrum scaled
  // by 10% (a variance 20% off) is well above it.
  const std::int64_t n = 1000;
  const double sigma = 1.5, radius = 2 * sigma;
  const Experiment e = parse_experiment(
      "seed = 9\n[objective]\nkind = \"goe-quadratic\"\ndim = 1000\n"
      "sigma = 1.5\n[[optimizer]]\nkind = \"gd\"\n",
      "t");
  const ObjectiveData d = build_objective(e);
  AnalysisSpec spec;
  spec.method = "eigh";
  auto cpu = make_cpu_backend();
  const Spectra s = analyze_points(d, *cpu, spec, std::vector<double>(n, 0.0), 1, 1);
  auto cdf = [&](double x) {
    x = std::clamp(x, -radius, radius);
    return 0.5 + x * std::sqrt(radius * radius - x * x) / (M_PI * radius * radius) +
           std::asin(x / radius) / M_PI;
  };
  auto ks = [&](double scale) {
    double worst = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double f = cdf(scale * s.values[i]);
      worst = std::max({worst, std::fabs(f - static_cast<double>(i) / n),
                        std::fabs(f - static_cast<double>(i + 1) / n)});
    }
    return worst;
  };
  std::printf("KS distance to the semicircle: %.4f (spectrum scaled by 1.1: %.4f)\n", ks(1.0),
              ks(1.1));
  EXPECT_LT(ks(1.0), 0.01);
  EXPECT_GT(ks(1.1), 0.02) << "the test can tell a 20% wrong variance";
  EXPECT_EQ(s.inertia[0].cls, PointClass::saddle);
  EXPECT_NEAR(static_cast<double>(s.inertia[0].index) / n, 0.5, 0.05);
}

TEST(Census, SelectStopsSamplesEvenlyAndSkipsDiverged) {
  std::vector<std::vector<std::int8_t>> outcomes = {std::vector<std::int8_t>(100, kConverged),
                                                    std::vector<std::int8_t>(100, kMaxSteps),
                                                    std::vector<std::int8_t>(100, kDiverged)};
  outcomes[1][3] = kDiverged;
  const auto picks = select_stops(outcomes, 10);
  ASSERT_EQ(picks.size(), 10u);
  std::int64_t from[3] = {0, 0, 0};
  for (const auto& [o, b] : picks) {
    from[o]++;
    EXPECT_NE(outcomes[o][b], kDiverged);
  }
  EXPECT_EQ(from[0], 5);
  EXPECT_EQ(from[1], 5);
  EXPECT_EQ(from[2], 0);
  EXPECT_EQ(select_stops(outcomes, 1000).size(), 199u);
}

TEST(Census, RunWritesPointsSpectraDensityAndSummary) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("saddlescope_census_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "e.toml")
      << "name = \"c\"\nseed = 2\n[objective]\nkind = \"double-well\"\ndim = 5\n"
         "[init]\nkind = \"uniform\"\nscale = 2\n[run]\ntrajectories = 30\n"
         "max_steps = 4000\nprecision = \"f64\"\n[[optimizer]]\nkind = \"gd\"\n"
         "lr = 0.01\n[[optimizer]]\nkind = \"adam\"\nlr = 0.05\n"
         "[analysis]\nmax_points = 20\nsave_point_coords = true\n";
  const std::string cmd = std::string(SADDLESCOPE_BINARY) + " run " + (dir / "e.toml").string() +
                          " -o " + (dir / "run").string() + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  for (const char* f :
       {"points.csv", "spectra.npy", "density.csv", "point_coords.npy", "summary.json"})
    EXPECT_TRUE(fs::exists(dir / "run" / f)) << f;
  std::ifstream pts(dir / "run" / "points.csv");
  std::string line;
  int rows = -1;
  while (std::getline(pts, line)) ++rows;
  EXPECT_EQ(rows, 20);
  // Each group's density integrates to 1.
  std::ifstream den(dir / "run" / "density.csv");
  std::getline(den, line);
  std::map<std::string, double> integral;
  while (std::getline(den, line)) {
    std::stringstream ss(line);
    std::string g, lo, hi, v;
    std::getline(ss, g, ',');
    std::getline(ss, lo, ',');
    std::getline(ss, hi, ',');
    std::getline(ss, v, ',');
    integral[g] += std::stod(v) * (std::stod(hi) - std::stod(lo));
  }
  EXPECT_FALSE(integral.empty());
  for (const auto& [g, total] : integral) EXPECT_NEAR(total, 1.0, 1e-9) << g;
  fs::remove_all(dir);
}

// A backend whose Sylvester counts or eigensolver stop at a smaller order
// (as CUDA's 32-bit sytrf does at 46,340, and cuSOLVER's eigensolver
// workspace query near 23,000-25,000): the CPU backend otherwise.
class LimitedBackend final : public saddlescope::testing::ForwardingBackend {
 public:
  LimitedBackend(std::int64_t count_limit, std::int64_t eigh_limit)
      : count_limit_(count_limit), eigh_limit_(eigh_limit) {}
  std::string name() const override { return "limited"; }
  std::int64_t max_count_order() const override { return count_limit_; }
  std::int64_t max_eigh_order() const override { return eigh_limit_; }

 private:
  std::int64_t count_limit_, eigh_limit_;
};
constexpr std::int64_t kUnlimited = std::numeric_limits<std::int64_t>::max();

TEST(Census, InertiaBeyondTheBackendsCountOrderIsRefusedAtPlanTime) {
  const auto experiment = [](const char* method) {
    return parse_experiment(
        std::string("[objective]\nkind = \"goe-quadratic\"\ndim = 40\n[run]\ntrajectories = 2\n"
                    "[[optimizer]]\nkind = \"gd\"\n[analysis]\nmethod = \"") +
            method + "\"\n",
        "t");
  };
  LimitedBackend limited(39, kUnlimited), enough(40, kUnlimited);
  EXPECT_NO_THROW(plan_memory(experiment("inertia"), enough));
  EXPECT_NO_THROW(plan_memory(experiment("eigh"), limited));
  try {
    plan_memory(experiment("inertia"), limited);
    FAIL() << "accepted";
  } catch (const ResourceError& err) {
    for (const char* want : {"inertia", "39", "objective.dim is 40", "--backend cpu", "eigh"})
      EXPECT_NE(std::string(err.what()).find(want), std::string::npos) << err.what();
  }
  EXPECT_EQ(make_cpu_backend()->max_count_order(), std::numeric_limits<std::int64_t>::max());
}

// Eigh censuses and saddle-free Newton beyond the backend's eigensolver
// order are refused at plan time, inertia is not.
TEST(Census, EighBeyondTheBackendsEighOrderIsRefusedAtPlanTime) {
  const auto experiment = [](const char* method, const char* optimizer) {
    return parse_experiment(
        std::string("[objective]\nkind = \"goe-quadratic\"\ndim = 40\n[run]\ntrajectories = 2\n"
                    "[[optimizer]]\nkind = \"") +
            optimizer + "\"\n[analysis]\nmethod = \"" + method + "\"\n",
        "t");
  };
  LimitedBackend limited(kUnlimited, 39), enough(kUnlimited, 40);
  EXPECT_NO_THROW(plan_memory(experiment("eigh", "gd"), enough));
  EXPECT_NO_THROW(plan_memory(experiment("none", "saddle-free-newton"), enough));
  EXPECT_NO_THROW(plan_memory(experiment("inertia", "gd"), limited));
  EXPECT_NO_THROW(plan_memory(experiment("none", "gd"), limited));
  const auto refused = [&](const Experiment& e, std::vector<const char*> want) {
    try {
      plan_memory(e, limited);
      ADD_FAILURE() << "accepted";
    } catch (const ResourceError& err) {
      for (const char* w : want)
        EXPECT_NE(std::string(err.what()).find(w), std::string::npos) << err.what();
    }
  };
  refused(experiment("eigh", "gd"),
          {"eigh", "39", "objective.dim is 40", "inertia", "--backend cpu"});
  refused(experiment("none", "saddle-free-newton"),
          {"saddle-free-newton", "39", "objective.dim is 40", "--backend cpu"});
  EXPECT_EQ(make_cpu_backend()->max_eigh_order(), std::numeric_limits<std::int64_t>::max());
}

// Banded Hessians (separable objectives, the unrotated quadratic,
// rosenbrock) are solved on the host (structured.hpp): no solver order
// applies, and a point needs O(n) bytes; the coupled ones keep both.
TEST(Census, BandedHessiansNeedNoSolverOrderAndLinearMemory) {
  const auto experiment = [](const std::string& objective, const char* method) {
    return parse_experiment("[objective]\n" + objective +
                                "\n[run]\ntrajectories = 2\n[[optimizer]]\nkind = \"gd\"\n"
                                "[analysis]\nmethod = \"" +
                                method + "\"\n",
                            "t");
  };
  LimitedBackend limited(39, 39);
  for (const char* method : {"eigh", "inertia"}) {
    SCOPED_TRACE(method);
    for (const char* objective :
         {"kind = \"double-well\"\ndim = 40", "kind = \"rosenbrock\"\ndim = 40",
          "kind = \"quadratic\"\ndim = 40\nnegative = 3"})
      EXPECT_EQ(plan_memory(experiment(objective, method), limited).census_bytes_per_point,
                64u * 40u)
          << objective;
    for (const char* objective :
         {"kind = \"goe-quadratic\"\ndim = 40", "kind = \"quadratic\"\ndim = 40\nrotate = true"})
      EXPECT_THROW(plan_memory(experiment(objective, method), limited), ResourceError) << objective;
    const MemoryPlan big = plan_memory(
        experiment("kind = \"styblinski-tang\"\ndim = 400000", method), *make_cpu_backend());
    EXPECT_EQ(big.census_bytes_per_point, 64u * 400000u);
    EXPECT_EQ(big.census_chunk, 64);
  }
}

// A backend with its own memory (CUDA) stages the census's Hessians on the
// host in double: groups are capped by the host's memory, and a point that
// does not fit there is refused before anything runs.
class SeparateHostBackend final : public saddlescope::testing::ForwardingBackend {
 public:
  explicit SeparateHostBackend(std::uint64_t host) : host_(host) {}
  std::uint64_t separate_host_budget() const override { return host_; }

 private:
  std::uint64_t host_;
};

TEST(Census, HostStagingIsPlannedForBackendsWithTheirOwnMemory) {
  const Experiment e = parse_experiment(
      "[objective]\nkind = \"goe-quadratic\"\ndim = 100\n[run]\ntrajectories = 4\n"
      "[[optimizer]]\nkind = \"gd\"\n[analysis]\nmethod = \"eigh\"\n",
      "t");
  const std::uint64_t point = 100 * 100 * 8;  // one Hessian in double
  const MemoryPlan shared = plan_memory(e, *make_cpu_backend());
  EXPECT_EQ(shared.host_budget, 0u);
  ASSERT_GT(shared.census_chunk, 3);
  const std::uint64_t results = shared.host_result_bytes;
  const MemoryPlan three = plan_memory(e, SeparateHostBackend(results + 3 * point + point / 2));
  EXPECT_EQ(three.census_chunk, 3);
  EXPECT_NE(three.describe().find("host memory"), std::string::npos) << three.describe();
  EXPECT_EQ(plan_memory(e, SeparateHostBackend(results + point)).census_chunk, 1);
  try {
    plan_memory(e, SeparateHostBackend(results + point - 1));
    FAIL() << "accepted";
  } catch (const ResourceError& err) {
    EXPECT_NE(std::string(err.what()).find("per census point"), std::string::npos) << err.what();
  }
  // A banded Hessian is solved on the host in O(n) bytes.
  Experiment banded = e;
  banded.objective.kind = "double-well";
  const MemoryPlan band = plan_memory(banded, SeparateHostBackend(results + 3 * 64 * 100 + 10));
  EXPECT_EQ(band.census_bytes_per_point, 64u * 100u);
  EXPECT_EQ(band.census_chunk, 3);
}

TEST(Census, HessiansThatFitNowhereAreRefusedBeforeRunning) {
  const Experiment e = parse_experiment(
      "[objective]\nkind = \"gaussian-field\"\ndim = 400000\nfeatures = 1\n"
      "[run]\ntrajectories = 2\n"
      "[[optimizer]]\nkind = \"gd\"\n[analysis]\nmethod = \"eigh\"\n",
      "t");
  auto cpu = make_cpu_backend();
  try {
    plan_memory(e, *cpu);
    FAIL() << "accepted";
  } catch (const ResourceError& err) {
    EXPECT_NE(std::string(err.what()).find("census"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("analysis.method"), std::string::npos) << err.what();
  }
}

}  // namespace
