// The spherical p-spin on the CPU backend against independent references:
// the value from the raw couplings J (drawn here from the same Philox
// stream, never symmetrized), Riemannian derivatives by finite differences
// along the retraction, the p = 2 critical points from LAPACK's
// eigenvectors of the coupling matrix, and the p = 3 statistics of random
// and gradient-descent points (energy variance, threshold energy,
// semicircle of the Riemannian Hessian).
#include <gtest/gtest.h>
#include <lapacke.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "kernels/rng.hpp"
#include "saddlescope/census.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/finder.hpp"
#include "saddlescope/run.hpp"
#include "src/core/npy.hpp"

using namespace saddlescope;

namespace {

std::string pspin_toml(int p, std::int64_t n, std::uint64_t seed, const std::string& extra = "") {
  return "seed = " + std::to_string(seed) +
         "\n[objective]\nkind = \"p-spin\"\ndim = " + std::to_string(n) +
         "\np = " + std::to_string(p) + "\n" + extra + "[[optimizer]]\nkind = \"gd\"\n";
}

ObjectiveData pspin(int p, std::int64_t n, std::uint64_t seed) {
  return build_objective(parse_experiment(pspin_toml(p, n, seed), "test"));
}

// H(s) = N^{-(p-1)/2} sum over ordered tuples J s..s, J read straight from
// the Philox stream (the docs/design.md definition, no symmetrization).
double direct_h(int p, std::int64_t n, std::uint64_t seed, const double* s) {
  double h = 0;
  auto j = [&](std::int64_t idx) {
    return rng::normal(seed, rng::kPspinCouplings, static_cast<std::uint64_t>(idx));
  };
  if (p == 2) {
    for (std::int64_t a = 0; a < n; ++a)
      for (std::int64_t b = 0; b < n; ++b) h += j(a * n + b) * s[a] * s[b];
    return h / std::sqrt(static_cast<double>(n));
  }
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t c = 0; c < n; ++c) h += j((a * n + b) * n + c) * s[a] * s[b] * s[c];
  return h / static_cast<double>(n);
}

std::vector<double> on_sphere(std::int64_t n, std::mt19937_64& gen) {
  std::normal_distribution<double> z;
  std::vector<double> x(static_cast<std::size_t>(n));
  double r = 0;
  for (auto& v : x) r += (v = z(gen)) * v;
  for (auto& v : x) v *= std::sqrt(static_cast<double>(n) / r);
  return x;
}

std::vector<double> retracted(std::vector<double> y) {
  double r = 0;
  for (double v : y) r += v * v;
  for (auto& v : y) v *= std::sqrt(static_cast<double>(y.size()) / r);
  return y;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

struct Order : ::testing::TestWithParam<int> {};

TEST_P(Order, ValueIsTheEnergyPerSpinOfTheRawCouplings) {
  const int p = GetParam();
  const std::int64_t n = 9;
  const ObjectiveData d = pspin(p, n, 5);
  ASSERT_TRUE(d.sphere());
  EXPECT_EQ(d.hessian_dim(), n - 1);
  auto cpu = make_cpu_backend();
  std::mt19937_64 gen(1);
  for (int k = 0; k < 3; ++k) {
    const auto x = on_sphere(n, gen);
    const auto ev = cpu->value_grad(d, Precision::f64, 1, x);
    EXPECT_NEAR(ev.f[0], direct_h(p, n, 5, x.data()) / n, 1e-12);
    EXPECT_NEAR(dot(ev.g, x), 0.0, 1e-10) << "the Riemannian gradient is tangent";
  }
}

TEST_P(Order, RiemannianDerivativesMatchFiniteDifferencesAlongTheRetraction) {
  // Along a tangent v: d/dt H(R(x + t v)) = g_R . v and d^2/dt^2 H(R(x + t v))
  // = v . Hess v (the normalization is a second-order retraction). The
  // Hessian-vector product is also P d/dt g_R(x + t v) (the ambient extension
  // of the gradient), and the dense embedded Hessian gives the same product
  // and annihilates the normal.
  const int p = GetParam();
  const std::int64_t n = 8;
  const std::uint64_t seed = 11;
  const ObjectiveData d = pspin(p, n, seed);
  auto cpu = make_cpu_backend();
  std::mt19937_64 gen(2);
  std::normal_distribution<double> z;
  const double nd = static_cast<double>(n);
  for (int trial = 0; trial < 3; ++trial) {
    const auto x = on_sphere(n, gen);
    std::vector<double> v(static_cast<std::size_t>(n));
    for (auto& q : v) q = z(gen);
    const double c = dot(v, x) / nd;
    for (std::int64_t i = 0; i < n; ++i) v[i] -= c * x[i];  // tangent
    const auto ev = cpu->value_grad(d, Precision::f64, 1, x);
    const auto hv = cpu->hvp(d, Precision::f64, 1, x, v);
    const auto h = cpu->hessian(d, Precision::f64, 1, x);
    const double step = 1e-4;
    auto along = [&](double t) {
      std::vector<double> y(x);
      for (std::int64_t i = 0; i < n; ++i) y[i] += t * v[i];
      return y;
    };
    const double hp = direct_h(p, n, seed, retracted(along(step)).data());
    const double hm = direct_h(p, n, seed, retracted(along(-step)).data());
    const double h0 = direct_h(p, n, seed, x.data());
    const double scale = std::sqrt(dot(v, v)) * std::sqrt(dot(ev.g, ev.g)) + 1;
    EXPECT_NEAR(dot(ev.g, v), (hp - hm) / (2 * step), 1e-7 * scale) << "gradient";
    EXPECT_NEAR(dot(v, hv), (hp - 2 * h0 + hm) / (step * step), 2e-4 * (1 + dot(v, v)))
        << "v . Hess v";
    const auto gp = cpu->value_grad(d, Precision::f64, 1, along(step));
    const auto gm = cpu->value_grad(d, Precision::f64, 1, along(-step));
    std::vector<double> fd(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) fd[i] = (gp.g[i] - gm.g[i]) / (2 * step);
    const double cf = dot(fd, x) / nd;
    for (std::int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(hv[i], fd[i] - cf * x[i], 1e-6 * (1 + std::fabs(hv[i]))) << "Hv " << i;
      double hrow = 0, hx = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        hrow += h[i * n + j] * v[j];
        hx += h[i * n + j] * x[j];
        EXPECT_NEAR(h[i * n + j], h[j * n + i], 1e-12) << "symmetric";
      }
      EXPECT_NEAR(hrow, hv[i], 1e-10 * (1 + std::fabs(hv[i]))) << "dense H v " << i;
      EXPECT_NEAR(hx, 0.0, 1e-10) << "H x = 0 (the normal)";
    }
    // At |x|^2 = N the Weingarten coefficient is p E: tr over the tangent space
    // = tr(Y) - q.Y q - (N - 1) p E, checked through the tangent block.
    const auto t = tangent_hessians(n, 1, x.data(), h);
    double tr_t = 0, tr_h = 0;
    for (std::int64_t i = 0; i < n - 1; ++i) tr_t += t[i * (n - 1) + i];
    for (std::int64_t i = 0; i < n; ++i) tr_h += h[i * n + i];
    EXPECT_NEAR(tr_t, tr_h, 1e-10 * (1 + std::fabs(tr_h)));
  }
}

TEST_P(Order, Float32AgreesWithFloat64) {
  const int p = GetParam();
  const std::int64_t n = 12;
  const ObjectiveData d = pspin(p, n, 3);
  auto cpu = make_cpu_backend();
  std::mt19937_64 gen(3);
  auto x = on_sphere(n, gen);
  for (auto& v : x) v = static_cast<float>(v);
  const auto e64 = cpu->value_grad(d, Precision::f64, 1, x);
  const auto e32 = cpu->value_grad(d, Precision::f32, 1, x);
  EXPECT_NEAR(e32.f[0], e64.f[0], 1e-5);
  for (std::int64_t i = 0; i < n; ++i) EXPECT_NEAR(e32.g[i], e64.g[i], 1e-4);
}

INSTANTIATE_TEST_SUITE_P(PSpin, Order, ::testing::Values(2, 3),
                         [](const auto& info) { return "p" + std::to_string(info.param); });

TEST(PSpin, TangentBlockHasTheSpectrumWithoutTheNormal) {
  // The embedded Hessian's spectrum is the tangent spectrum plus one 0 (the
  // normal): shifting the normal far away (H + 1000 q q^T) and dropping the
  // largest eigenvalue must give the tangent block's eigenvalues (LAPACK).
  const std::int64_t n = 10;
  const ObjectiveData d = pspin(3, n, 9);
  auto cpu = make_cpu_backend();
  std::mt19937_64 gen(4);
  const auto x = on_sphere(n, gen);
  auto h = cpu->hessian(d, Precision::f64, 1, x);
  const auto t = tangent_hessians(n, 1, x.data(), h);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) h[i * n + j] += 1000.0 * x[i] * x[j] / n;
  std::vector<double> w(n), wt(n - 1), tt(t);
  ASSERT_EQ(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'L', n, h.data(), n, w.data()), 0);
  ASSERT_EQ(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'L', n - 1, tt.data(), n - 1, wt.data()), 0);
  EXPECT_NEAR(w[n - 1], 1000.0, 1e-9);
  for (std::int64_t i = 0; i < n - 1; ++i) EXPECT_NEAR(wt[i], w[i], 1e-10);
}

TEST(PSpin, CouplingTensorIsSymmetric) {
  const std::int64_t n = 6;
  const ObjectiveData d = pspin(3, n, 2);
  ASSERT_EQ(d.couplings.size(), static_cast<std::size_t>(n * n * n));
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t c = 0; c < n; ++c) {
        const double v = d.couplings[(a * n + b) * n + c];
        EXPECT_EQ(v, d.couplings[(b * n + a) * n + c]);
        EXPECT_EQ(v, d.couplings[(c * n + b) * n + a]);
        EXPECT_EQ(v, d.couplings[(a * n + c) * n + b]);
      }
}

TEST(PSpin, P2CriticalPointsAreTheEigenvectorsWithIndexK) {
  // p = 2 at N = 50: H = 1/2 s^T A s on |s|^2 = N has the critical points
  // +-sqrt(N) v_k (A v_k = mu_k v_k, ascending) with E = mu_k / 2 and index k.
  // Newton from starts near them must find them, and the census must count k.
  const std::int64_t n = 50;
  const std::uint64_t seed = 21;
  const ObjectiveData d = pspin(2, n, seed);
  std::vector<double> a = d.couplings, mu(n);
  ASSERT_EQ(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'L', n, a.data(), n, mu.data()), 0);
  const std::vector<std::int64_t> ks = {0, 1, 7, 24, 42, 48, 49};
  std::mt19937_64 gen(5);
  std::normal_distribution<double> z;
  std::vector<double> starts;
  for (std::size_t q = 0; q < ks.size(); ++q) {
    const double sign = q % 2 ? -1.0 : 1.0;
    for (std::int64_t i = 0; i < n; ++i)
      starts.push_back(sign * std::sqrt(double(n)) * a[i * n + ks[q]] + 0.03 * z(gen));
  }
  const auto dir = std::filesystem::temp_directory_path() /
                   ("saddlescope_p2_starts_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "starts.npy").string();
  npy::write_f64(file, {static_cast<std::int64_t>(ks.size()), n}, starts);
  const Experiment e =
      parse_experiment(pspin_toml(2, n, seed,
                                  "[init]\nkind = \"file\"\nfile = \"" + file +
                                      "\"\n[run]\ntrajectories = " + std::to_string(ks.size()) +
                                      "\n[analysis]\npoints = [\"critical\"]\ncrit_tol = 1e-9\n"
                                      "[finder]\nkind = \"newton\"\nmax_steps = 50\nstarts = " +
                                      std::to_string(ks.size()) + "\n"),
                       "test");
  auto cpu = make_cpu_backend();
  const FinderResult f = find_critical_points(e, d, *cpu);
  ASSERT_EQ(f.count(kFinderConverged), static_cast<std::int64_t>(ks.size()));
  ASSERT_EQ(f.points.size(), ks.size());
  const Spectra s =
      analyze_points(d, *cpu, e.analysis, f.coords, static_cast<std::int64_t>(ks.size()), 4);
  for (std::size_t q = 0; q < ks.size(); ++q) {
    SCOPED_TRACE("k = " + std::to_string(ks[q]));
    const std::int64_t start = f.points[q].start;
    const std::int64_t k = ks[static_cast<std::size_t>(start)];
    double overlap = 0;
    for (std::int64_t i = 0; i < n; ++i) overlap += f.coords[q * n + i] * a[i * n + k];
    EXPECT_NEAR(std::fabs(overlap) / std::sqrt(double(n)), 1.0, 1e-9);
    EXPECT_NEAR(f.points[q].f, mu[k] / 2, 1e-9);
    EXPECT_EQ(s.inertia[q].index, k);
    EXPECT_EQ(s.inertia[q].n_zero, 0);
    EXPECT_EQ(s.inertia[q].n_pos, n - 1 - k);
    // tangent spectrum: mu_j - mu_k for j != k
    std::vector<double> expect;
    for (std::int64_t j = 0; j < n; ++j)
      if (j != k) expect.push_back(mu[j] - mu[k]);
    for (std::int64_t j = 0; j < n - 1; ++j)
      EXPECT_NEAR(s.values[q * (n - 1) + j], expect[j], 1e-9);
  }
  std::filesystem::remove_all(dir);
}

TEST(PSpin, P3EnergyAtRandomPointsHasMeanZeroAndVarianceOneOverN) {
  // E = H/N at uniform points of the sphere: mean 0, variance 1/N (the
  // covariance N^{-(p-1)} (s . s')^p at s = s'). 3000 points, N = 60: the
  // sample mean's standard error is sqrt(1/N / 3000) ~ 0.0024, the
  // variance's relative standard error about sqrt(2/3000) ~ 2.6%, plus the
  // fluctuation of one draw of J (a few percent at this N).
  const std::int64_t n = 60, m = 3000;
  const ObjectiveData d = pspin(3, n, 31);
  auto cpu = make_cpu_backend();
  std::mt19937_64 gen(6);
  std::vector<double> x;
  for (std::int64_t k = 0; k < m; ++k) {
    const auto s = on_sphere(n, gen);
    x.insert(x.end(), s.begin(), s.end());
  }
  const auto ev = cpu->value_grad(d, Precision::f64, m, x);
  double mean = 0, var = 0;
  for (double e : ev.f) mean += e / m;
  for (double e : ev.f) var += (e - mean) * (e - mean) / (m - 1);
  EXPECT_NEAR(mean, 0.0, 4 * std::sqrt(1.0 / n / m));
  EXPECT_NEAR(var * n, 1.0, 0.15);
}

TEST(PSpin, P3GradientDescentStopsAboveTheThresholdOnASemicircle) {
  // Gradient descent on the sphere from random starts at N = 150 ends above
  // the threshold energy E_th = -2 sqrt(2/3) (finite N: 0.03 of slack), and
  // the Riemannian Hessian there is a GOE semicircle of radius 2 sqrt(6)
  // centred at -3E: its eigenvalue mean is -3E and its variance 6 (within the
  // finite-N tolerances below), the spectrum's KS distance to the semicircle
  // is small, and no point is below the threshold's marginality by much.
  const std::int64_t n = 150;
  const Experiment e = parse_experiment(
      pspin_toml(3, n, 41,
                 "[init]\nkind = \"sphere\"\n[run]\ntrajectories = 8\nmax_steps = 600\n"
                 "grad_tol = 1e-3\nrecord_trajectories = 2\nsave_final_points = true\n"
                 "[analysis]\nmax_points = 8\n") +
          "lr = 0.05\n",
      "test");
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu, nullptr);
  ASSERT_TRUE(r.has_census);
  const auto& t = r.optimizers[0].traj;
  const double e_th = -2 * std::sqrt(2.0 / 3.0);
  const std::int64_t nh = n - 1;
  for (std::size_t b = 0; b < t.f_final.size(); ++b) {
    SCOPED_TRACE("trajectory " + std::to_string(b));
    double r2 = 0;
    for (std::int64_t i = 0; i < n; ++i) r2 += t.finals[b * n + i] * t.finals[b * n + i];
    EXPECT_NEAR(r2, static_cast<double>(n), 1e-3 * n) << "on the sphere";
    EXPECT_GT(t.f_final[b], e_th - 0.03);
    EXPECT_LT(t.f_final[b], -1.45) << "descended to near the threshold";
    EXPECT_LT(t.f_final[b], t.f_init[b]);
  }
  ASSERT_EQ(r.census.points.size(), 8u);
  for (std::size_t q = 0; q < r.census.points.size(); ++q) {
    const auto& pt = r.census.points[q];
    const double* lam = r.census.spectra.data() + q * nh;
    double mean = 0, var = 0;
    for (std::int64_t i = 0; i < nh; ++i) mean += lam[i] / nh;
    for (std::int64_t i = 0; i < nh; ++i) var += (lam[i] - mean) * (lam[i] - mean) / nh;
    EXPECT_NEAR(mean, -3 * pt.f, 0.12) << "centre -3E";
    EXPECT_NEAR(var, 6.0, 0.5) << "radius 2 sqrt(6)";
    // KS distance to the semicircle centred at -3E with radius R = 2 sqrt(6).
    const double rad = 2 * std::sqrt(6.0), c = -3 * pt.f;
    double ks = 0;
    for (std::int64_t i = 0; i < nh; ++i) {
      const double u = std::clamp((lam[i] - c) / rad, -1.0, 1.0);
      const double cdf = 0.5 + (u * std::sqrt(1 - u * u) + std::asin(u)) / M_PI;
      ks = std::max({ks, std::fabs(cdf - double(i) / nh), std::fabs(cdf - double(i + 1) / nh)});
    }
    EXPECT_LT(ks, 0.04);
    EXPECT_GT(pt.inertia.lambda_min, -0.6) << "near-marginal: few, small negative directions";
  }
}

TEST(PSpin, EnsembleStaysOnTheSphereAndRecordsEnergies) {
  // Every optimizer: the final points lie on |x|^2 = N, the recorded loss is
  // E (the value at the recorded point), and a 1-trajectory run's f_init is
  // the energy of the retracted start.
  const std::int64_t n = 20;
  for (const char* opt : {"gd", "momentum", "adagrad", "rmsprop", "adam"}) {
    SCOPED_TRACE(opt);
    const Experiment e = parse_experiment(
        "seed = 2\n[objective]\nkind = \"p-spin\"\ndim = 20\np = 3\n[init]\nkind = \"gaussian\"\n"
        "scale = 3\n[run]\ntrajectories = 3\nmax_steps = 50\nsave_final_points = true\n"
        "precision = \"f64\"\n[[optimizer]]\nkind = \"" +
            std::string(opt) + "\"\nlr = 0.01\n",
        "test");
    auto cpu = make_cpu_backend();
    const RunResult r = run_experiment(e, *cpu, nullptr);
    const ObjectiveData d = build_objective(e);
    const auto& t = r.optimizers[0].traj;
    const auto ev = cpu->value_grad(d, Precision::f64, 3, t.finals);
    for (std::int64_t b = 0; b < 3; ++b) {
      double r2 = 0;
      for (std::int64_t i = 0; i < n; ++i) r2 += t.finals[b * n + i] * t.finals[b * n + i];
      EXPECT_NEAR(r2, double(n), 1e-9);
      EXPECT_NEAR(t.f_final[b], ev.f[b], 1e-12);
      EXPECT_LT(t.f_final[b], t.f_init[b]);
    }
    auto x0 = make_starts(e, 0, 1);
    const auto e0 = cpu->value_grad(d, Precision::f64, 1, retracted(x0));
    EXPECT_NEAR(t.f_init[0], e0.f[0], 1e-12);
  }
}

TEST(PSpin, MemoryPlanRefusesCouplingsThatDoNotFit) {
  const Experiment e = parse_experiment(pspin_toml(3, 20000, 1), "test");
  auto cpu = make_cpu_backend();
  try {
    plan_memory(e, *cpu);
    FAIL() << "expected ResourceError";
  } catch (const ResourceError& err) {
    const std::string msg = err.what();
    EXPECT_NE(msg.find("N^3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lower objective.dim"), std::string::npos) << msg;
    EXPECT_EQ(err.exit_code(), 3);
  }
}

}  // namespace
