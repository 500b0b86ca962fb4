// The census's Krylov methods (docs/experiment.md, analysis methods;
// src/core/krylov.cpp) against independent references: dense eigh of the
// same Hessians (LAPACK through the backend) on a GOE quadratic, a small mlp
// and the p-spin (tangent space); PyHessian and an exact spectrum from
// PyTorch on an mlp (tests/data/pyhessian_mlp.json, written by
// tools/pyhessian_reference.py, which says how to regenerate it). On every
// backend: extreme Ritz values, certification and the interlacing lower
// bounds, SLQ densities (Wasserstein-1), trace and index estimates within
// three standard errors, and results that do not depend on chunking.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "backend_inputs.hpp"
#include "backends.hpp"
#include "forwarding_backend.hpp"
#include "saddlescope/census.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/krylov.hpp"
#include "saddlescope/run.hpp"

namespace {

using namespace saddlescope;
using namespace saddlescope::testing;

ObjectiveData goe(std::int64_t n) {
  return build_objective(parse_experiment(
      "seed = 5\n[objective]\nkind = \"goe-quadratic\"\ndim = " + std::to_string(n) +
          "\n[[optimizer]]\nkind = \"gd\"\n",
      "test"));
}

// d = 12 inputs, h = 36 hidden, o = 2 outputs, n = 320 samples: N = 542
// (as many residuals as parameters, so that the spectrum does not crowd at 0
// where the index is decided; docs/experiment.md, slq).
ObjectiveData small_mlp() {
  NetworkShape s;
  s.widths = {12, 36, 2};
  s.samples = 320;
  return network_objective(s, normals(81, 320 * 12, 1.0), normals(82, 320 * 2, 0.5));
}

struct KrylovCase {
  const char* name;
  ObjectiveData (*objective)();
  double scale;  // points N(0, scale^2); 0: the p-spin's points on the sphere
};
void PrintTo(const KrylovCase& c, std::ostream* os) { *os << c.name; }

const KrylovCase kCases[] = {
    {"goe_500", [] { return goe(500); }, 1.0},
    {"mlp_542", small_mlp, 0.5},
    {"pspin_p2_500", [] { return pspin_objective(2, 500); }, 0.0},
    {"pspin_p3_120", [] { return pspin_objective(3, 120); }, 0.0},
};

std::vector<double> points_of(const KrylovCase& c, const ObjectiveData& obj, std::int64_t m,
                              std::uint64_t seed) {
  if (c.scale == 0.0) return pspin_points(seed, m, obj.dim);
  return normals(seed, m * obj.dim, c.scale);
}

// The exact spectra of the census's Hessians (tangent ones on the sphere).
std::vector<double> exact_spectra(Backend& be, const ObjectiveData& obj,
                                  const std::vector<double>& x, std::int64_t m) {
  AnalysisSpec a;
  a.method = "eigh";
  return analyze_points(obj, be, a, x, m, m).values;
}

AnalysisSpec krylov_spec(const char* method, std::int64_t steps) {
  AnalysisSpec a;
  a.method = method;
  a.lanczos_steps = steps;
  return a;
}

Spectra analyze(Backend& be, const ObjectiveData& obj, const AnalysisSpec& a,
                const std::vector<double>& x, std::int64_t m, std::int64_t chunk) {
  AnalysisHooks h;
  h.seed = 99;
  return analyze_points(obj, be, a, x, m, chunk, {}, h);
}

// Wasserstein-1 distance between two discrete measures on the line (weights
// normalized to 1 each): the integral of |F - G|.
double wasserstein1(std::vector<std::pair<double, double>> a,
                    std::vector<std::pair<double, double>> b) {
  auto normalize = [](auto& v) {
    double s = 0;
    for (const auto& p : v) s += p.second;
    for (auto& p : v) p.second /= s;
    std::sort(v.begin(), v.end());
  };
  normalize(a);
  normalize(b);
  std::vector<double> xs;
  for (const auto& p : a) xs.push_back(p.first);
  for (const auto& p : b) xs.push_back(p.first);
  std::sort(xs.begin(), xs.end());
  double fa = 0, fb = 0, w = 0;
  std::size_t ia = 0, ib = 0;
  for (std::size_t k = 0; k + 1 < xs.size(); ++k) {
    while (ia < a.size() && a[ia].first <= xs[k]) fa += a[ia++].second;
    while (ib < b.size() && b[ib].first <= xs[k]) fb += b[ib++].second;
    w += std::fabs(fa - fb) * (xs[k + 1] - xs[k]);
  }
  return w;
}

class Krylov : public OnBackend<KrylovCase> {
 protected:
  const KrylovCase& c() const { return param<0>(); }
};

// lanczos: the k = 10 lowest and highest Ritz values equal the dense
// spectrum's within 1e-8 relative to max |lambda| (f64), every kept pair
// converged, and the counts are lower bounds of the exact ones.
TEST_P(Krylov, LanczosExtremesAreTheDenseSpectrums) {
  const ObjectiveData obj = c().objective();
  const std::int64_t m = 2, nh = obj.hessian_dim();
  const auto x = points_of(c(), obj, m, 7);
  const std::vector<double> exact = exact_spectra(backend(), obj, x, m);
  AnalysisSpec a = krylov_spec("lanczos", 400);
  const Spectra s = analyze(backend(), obj, a, x, m, m);
  for (std::int64_t p = 0; p < m; ++p) {
    SCOPED_TRACE(p);
    ASSERT_EQ(s.info[p], 0);
    const double* lam = exact.data() + p * nh;
    const double amax = std::max(std::fabs(lam[0]), std::fabs(lam[nh - 1]));
    EXPECT_EQ(s.krylov.converged[p], 1) << s.krylov.lanczos_steps[p] << " steps";
    for (std::int64_t i = 0; i < a.k; ++i) {
      const double* lo = s.krylov.ritz.data() + (p * 4 * a.k + 2 * i);
      const double* hi = s.krylov.ritz.data() + (p * 4 * a.k + 2 * (a.k + i));
      EXPECT_NEAR(lo[0], lam[i], 1e-8 * amax) << "lowest " << i;
      EXPECT_NEAR(hi[0], lam[nh - a.k + i], 1e-8 * amax) << "highest " << i;
      EXPECT_LE(lo[1], a.lanczos_tol * amax * 1.001);
    }
    const Inertia& r = s.inertia[p];
    const Inertia e = count_inertia(lam, nh, r.tol, r.rule);
    EXPECT_LE(r.index, e.index);
    EXPECT_LE(r.n_pos, e.n_pos);
    EXPECT_NEAR(r.lambda_min, lam[0], 1e-8 * amax);
    EXPECT_NEAR(r.lambda_max, lam[nh - 1], 1e-8 * amax);
  }
}

// slq: the pooled quadrature within a Wasserstein-1 distance of 2% of the
// spectrum's range from the exact spectrum; the trace and the index estimate
// within three standard errors of the exact values (16 probes x 80 steps).
TEST_P(Krylov, SlqDensityTraceAndIndexMatchTheDenseSpectrum) {
  const ObjectiveData obj = c().objective();
  const std::int64_t m = 2, nh = obj.hessian_dim();
  const auto x = points_of(c(), obj, m, 8);
  const std::vector<double> exact = exact_spectra(backend(), obj, x, m);
  AnalysisSpec a = krylov_spec("slq", 80);
  a.probes = 16;
  const Spectra s = analyze(backend(), obj, a, x, m, m);
  for (std::int64_t p = 0; p < m; ++p) {
    SCOPED_TRACE(p);
    ASSERT_EQ(s.info[p], 0);
    const double* lam = exact.data() + p * nh;
    std::vector<std::pair<double, double>> want, got;
    double trace = 0;
    for (std::int64_t i = 0; i < nh; ++i) {
      want.emplace_back(lam[i], 1.0);
      trace += lam[i];
    }
    const double* q = s.krylov.quadrature.data() + p * a.probes * a.lanczos_steps * 2;
    for (std::int64_t j = 0; j < a.probes * a.lanczos_steps; ++j)
      if (std::isfinite(q[2 * j])) got.emplace_back(q[2 * j], q[2 * j + 1]);
    const double range = lam[nh - 1] - lam[0];
    const double w1 = wasserstein1(want, got);
    EXPECT_LT(w1, 0.02 * range) << "W1 / range = " << w1 / range;
    const Inertia e = count_inertia(lam, nh, s.inertia[p].tol, s.inertia[p].rule);
    const double tse = s.krylov.trace_stderr[p], ise = s.krylov.index_stderr[p];
    EXPECT_LE(std::fabs(s.krylov.trace_estimate[p] - trace), 3 * tse + 1e-9 * std::fabs(trace))
        << "trace " << s.krylov.trace_estimate[p] << " +- " << tse << ", exact " << trace;
    EXPECT_LE(std::fabs(s.krylov.index_estimate[p] - static_cast<double>(e.index)), 3 * ise + 1e-9)
        << "index " << s.krylov.index_estimate[p] << " +- " << ise << ", exact " << e.index;
    EXPECT_LE(s.inertia[p].index, e.index);  // the Ritz values' lower bound
  }
}

// A point's Krylov results do not depend on the points beside it: one
// chunk of three equals chunks of one, bit for bit.
TEST_P(Krylov, ResultsDoNotDependOnChunking) {
  const ObjectiveData obj = c().objective();
  const std::int64_t m = 3;
  const auto x = points_of(c(), obj, m, 9);
  for (const char* method : {"lanczos", "slq"}) {
    SCOPED_TRACE(method);
    AnalysisSpec a = krylov_spec(method, 30);
    a.probes = 3;
    const Spectra whole = analyze(backend(), obj, a, x, m, m);
    const Spectra ones = analyze(backend(), obj, a, x, m, 1);
    EXPECT_TRUE(same_bits(whole.krylov.ritz, ones.krylov.ritz));
    EXPECT_TRUE(same_bits(whole.krylov.quadrature, ones.krylov.quadrature));
    EXPECT_TRUE(same_bits(whole.krylov.index_estimate, ones.krylov.index_estimate));
    EXPECT_TRUE(same_bits(whole.krylov.trace_estimate, ones.krylov.trace_estimate));
    EXPECT_EQ(whole.krylov.lanczos_steps, ones.krylov.lanczos_steps);
    for (std::int64_t p = 0; p < m; ++p) EXPECT_EQ(whole.inertia[p].index, ones.inertia[p].index);
  }
}

SADDLESCOPE_ON_EVERY_BACKEND(Krylov, (::testing::ValuesIn(kCases)));

// Lanczos over the whole space certifies the counts: they equal eigh's
// exactly (a GOE quadratic of order 80, and the p-spin's 59 tangent
// directions).
TEST(KrylovCertified, FullSpaceCountsEqualEigh) {
  const auto be = make_cpu_backend();
  for (const ObjectiveData& obj : {goe(80), pspin_objective(3, 60)}) {
    const std::int64_t nh = obj.hessian_dim();
    const auto x = obj.sphere() ? pspin_points(4, 1, obj.dim) : normals(4, obj.dim, 1.0);
    AnalysisSpec e;
    e.method = "eigh";
    const Spectra d = analyze_points(obj, *be, e, x, 1, 1);
    const Spectra s = analyze(*be, obj, krylov_spec("lanczos", nh), x, 1, 1);
    EXPECT_EQ(s.krylov.certified[0], 1);
    EXPECT_EQ(s.krylov.lanczos_steps[0], nh);
    EXPECT_EQ(s.inertia[0].index, d.inertia[0].index);
    EXPECT_EQ(s.inertia[0].n_zero, d.inertia[0].n_zero);
    EXPECT_EQ(s.inertia[0].n_pos, d.inertia[0].n_pos);
    EXPECT_EQ(s.inertia[0].cls, d.inertia[0].cls);
    EXPECT_NEAR(s.inertia[0].lambda_min, d.inertia[0].lambda_min, 1e-10);
    // Fewer steps: not certified, and the counts stay below the exact ones.
    const Spectra few = analyze(*be, obj, krylov_spec("lanczos", 20), x, 1, 1);
    EXPECT_EQ(few.krylov.certified[0], 0);
    EXPECT_LE(few.inertia[0].index, d.inertia[0].index);
    EXPECT_LE(few.inertia[0].n_pos, d.inertia[0].n_pos);
  }
}

// PyHessian (pyhessian 0.1 with PyTorch, tools/pyhessian_reference.py) on
// an mlp of N = 266 parameters: our top eigenvalues within 1e-4 of
// PyHessian's power iteration (its vectors are normalized by |v| + 1e-6,
// about 2e-6 relative) and within 1e-10 of the exact spectrum; our SLQ
// density within a Wasserstein-1 distance of 3% of the range of PyHessian's
// (10 probes x 100 steps) and of the exact spectrum; our trace and index
// estimates within three standard errors of the exact values.
TEST(KrylovPyHessian, MlpSpectrumMatchesPyHessian) {
  std::ifstream in(SADDLESCOPE_TEST_DATA "/pyhessian_mlp.json");
  ASSERT_TRUE(in) << "tests/data/pyhessian_mlp.json";
  const nlohmann::json j = nlohmann::json::parse(in);
  NetworkShape shape;
  shape.widths = {j["shape"]["d"], j["shape"]["h"], j["shape"]["o"]};
  shape.samples = j["shape"]["n"];
  const ObjectiveData obj = network_objective(shape, j["X"].get<std::vector<double>>(),
                                              j["Y"].get<std::vector<double>>());
  ASSERT_EQ(obj.dim, j["dim"].get<std::int64_t>());
  const std::vector<double> x = j["x"].get<std::vector<double>>();
  const std::vector<double> exact = j["exact"]["eigenvalues"].get<std::vector<double>>();
  const auto be = make_cpu_backend();
  const std::int64_t n = obj.dim;
  const double amax = std::max(std::fabs(exact.front()), std::fabs(exact.back()));
  ASSERT_NEAR(be->value_grad(obj, Precision::f64, 1, x).f[0], j["loss"].get<double>(), 1e-13);

  AnalysisSpec a = krylov_spec("lanczos", 266);
  a.k = 5;
  const Spectra s = analyze(*be, obj, a, x, 1, 1);
  const std::vector<double> py = j["pyhessian"]["top_eigenvalues"]["values"];
  for (std::int64_t i = 0; i < a.k; ++i) {  // ours ascending; PyHessian's by magnitude, descending
    const double ours = s.krylov.ritz[2 * (2 * a.k - 1 - i)];
    EXPECT_NEAR(ours, exact[n - 1 - i], 1e-10 * amax) << i;
    EXPECT_NEAR(ours, py[i], 1e-4 * std::fabs(py[i])) << i;
  }
  EXPECT_NEAR(s.inertia[0].lambda_min, exact.front(), 1e-10 * amax);

  AnalysisSpec q = krylov_spec("slq", 100);
  q.probes = 10;
  const Spectra d = analyze(*be, obj, q, x, 1, 1);
  std::vector<std::pair<double, double>> ours, theirs, truth;
  for (std::int64_t k = 0; k < q.probes * q.lanczos_steps; ++k)
    if (std::isfinite(d.krylov.quadrature[2 * k]))
      ours.emplace_back(d.krylov.quadrature[2 * k], d.krylov.quadrature[2 * k + 1]);
  for (const auto& probe : j["pyhessian"]["density"]["probes"]) {
    const std::vector<double> nodes = probe["nodes"], weights = probe["weights"];
    for (std::size_t i = 0; i < nodes.size(); ++i) theirs.emplace_back(nodes[i], weights[i]);
  }
  for (double v : exact) truth.emplace_back(v, 1.0);
  const double range = exact.back() - exact.front();
  EXPECT_LT(wasserstein1(ours, theirs), 0.03 * range);
  EXPECT_LT(wasserstein1(ours, truth), 0.03 * range);
  const double trace = j["exact"]["trace"];
  EXPECT_LE(std::fabs(d.krylov.trace_estimate[0] - trace), 3 * d.krylov.trace_stderr[0]);
  const Inertia e = count_inertia(exact.data(), n, d.inertia[0].tol, d.inertia[0].rule);
  EXPECT_LE(std::fabs(d.krylov.index_estimate[0] - static_cast<double>(e.index)),
            3 * d.krylov.index_stderr[0]);
}

}  // namespace

namespace {

// run.sharpness_every (docs/experiment.md, sharpness): on a quadratic of
// order 15 (20 Lanczos steps span its space) every measurement is the
// matrix's largest and smallest eigenvalue, while the trajectory runs, and
// NaN after its stop.
TEST(Sharpness, QuadraticGivesItsSpectrumsEnds) {
  const std::string toml =
      "seed = 4\n[objective]\nkind = \"goe-quadratic\"\ndim = 15\n[init]\nkind = \"gaussian\"\n"
      "[run]\ntrajectories = 3\nrecord_trajectories = 2\nmax_steps = 400\ngrad_tol = 1e-3\n"
      "record_every = 10\nsharpness_every = 20\nprecision = \"f64\"\n"
      "[[optimizer]]\nkind = \"gd\"\nlr = 0.05\n";
  const Experiment e = parse_experiment(toml, "test");
  const ObjectiveData obj = build_objective(e);
  const auto be = make_cpu_backend();
  const EighResult eig = be->eigh(Precision::f64, 1, 15, obj.matrix, false);
  const RunResult r = run_experiment(e, *be, nullptr);
  const auto& o = r.optimizers[0];
  const std::int64_t meas = 400 / 20 + 1;
  ASSERT_EQ(o.sharpness.size(), static_cast<std::size_t>(2 * meas * 2));
  EXPECT_TRUE(o.traj.paths.empty());  // kept for the measurement only (record_paths is off)
  for (std::int64_t b = 0; b < 2; ++b) {
    SCOPED_TRACE(b);
    for (std::int64_t m = 0; m < meas; ++m) {
      const double top = o.sharpness[(b * meas + m) * 2],
                   bottom = o.sharpness[(b * meas + m) * 2 + 1];
      if (m * 20 > o.traj.steps[b]) {
        EXPECT_TRUE(std::isnan(top)) << "after the stop, measurement " << m;
        continue;
      }
      EXPECT_NEAR(top, eig.values[14], 1e-10) << m;
      EXPECT_NEAR(bottom, eig.values[0], 1e-10) << m;
    }
  }
}

// The edge of stability (Cohen et al. 2021): full-batch gd on an mlp (20
// inputs, 64 hidden, 8 outputs, 256 samples, teacher of 16, init scale 0.05,
// f64) sharpens from 1.47 until its sharpness reaches 2/lr and hovers
// there: within 10% of 2/lr at some measurement, and within 20% of it over
// the second half of the run, for lr = 0.8 and 1.0 (2000 steps, every 50).
TEST(Sharpness, GradientDescentOnAnMlpReachesTheEdgeOfStability) {
  const std::string toml =
      "seed = 3\n[objective]\nkind = \"mlp\"\ninputs = 20\nhidden = 64\noutputs = 8\n"
      "samples = 256\nteacher_hidden = 16\n[init]\nkind = \"gaussian\"\nscale = 0.05\n"
      "[run]\ntrajectories = 1\nmax_steps = 2000\ngrad_tol = 1e-12\nrecord_every = 10\n"
      "sharpness_every = 50\nprecision = \"f64\"\n"
      "[[optimizer]]\nlabel = \"gd-0.8\"\nkind = \"gd\"\nlr = 0.8\n"
      "[[optimizer]]\nlabel = \"gd-1.0\"\nkind = \"gd\"\nlr = 1.0\n";
  const Experiment e = parse_experiment(toml, "test");
  const auto be = make_cpu_backend();
  const RunResult r = run_experiment(e, *be, nullptr);
  const std::int64_t meas = 2000 / 50 + 1;
  for (std::size_t o = 0; o < 2; ++o) {
    const double edge = 2 / e.optimizers[o].params.lr;
    const auto& s = r.optimizers[o].sharpness;
    SCOPED_TRACE(e.optimizers[o].label);
    ASSERT_EQ(s.size(), static_cast<std::size_t>(meas * 2));
    EXPECT_LT(s[0], 0.8 * edge) << "it starts well below the edge";
    bool reached = false;
    for (std::int64_t m = 0; m < meas; ++m)
      reached = reached || std::fabs(s[m * 2] - edge) <= 0.1 * edge;
    EXPECT_TRUE(reached);
    for (std::int64_t m = meas / 2; m < meas; ++m)
      EXPECT_LE(std::fabs(s[m * 2] - edge), 0.2 * edge) << "step " << m * 50 << ": " << s[m * 2];
  }
}

}  // namespace

namespace {

// A CPU backend with a small memory budget.
class SmallBackend final : public saddlescope::testing::ForwardingBackend {
 public:
  explicit SmallBackend(std::uint64_t bytes) : bytes_(bytes) {}
  std::uint64_t memory_budget() const override { return bytes_; }

 private:
  std::uint64_t bytes_;
};

// The memory plan counts the Krylov bases (columns x (steps + 4) vectors of
// N plus twice the work rows): the group shrinks with the budget, a point that
// cannot fit is refused at plan time naming the keys to lower, and the dense
// solvers' order limits do not apply.
TEST(KrylovPlan, BasesAreCountedAndRefusedWhenTheyCannotFit) {
  const std::string toml =
      "[objective]\nkind = \"goe-quadratic\"\ndim = 1000\n[run]\ntrajectories = 4\n"
      "[[optimizer]]\nkind = \"gd\"\n[analysis]\nmethod = \"slq\"\nprobes = 16\nlanczos_steps = "
      "296\n";
  const Experiment e = parse_experiment(toml, "t");
  const std::uint64_t per_point = 16 * (296 + 4) * 1000 * 8;  // no work rows for a quadratic
  const MemoryPlan roomy = plan_memory(e, SmallBackend(std::uint64_t{1} << 30));
  EXPECT_EQ(roomy.census_bytes_per_point, per_point);
  const MemoryPlan tight = plan_memory(e, SmallBackend(3 * per_point + 8'000'000));
  EXPECT_GE(tight.census_chunk, 1);
  EXPECT_LE(tight.census_chunk, 3);
  try {
    plan_memory(e, SmallBackend(per_point / 2));  // the objective (4 MB) fits
    ADD_FAILURE() << "a point that cannot fit was planned";
  } catch (const ResourceError& err) {
    EXPECT_NE(std::string(err.what()).find("analysis.lanczos_steps"), std::string::npos)
        << err.what();
    EXPECT_NE(std::string(err.what()).find("analysis.probes"), std::string::npos) << err.what();
  }
}

}  // namespace
