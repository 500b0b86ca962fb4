// Every objective's value, gradient, Hessian-vector product and dense Hessian
// on the CPU backend against independent references: direct formulas for
// the value, central finite differences (f64) for the derivatives, LAPACK
// for the spectrum of the rotated quadratic.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <lapacke.h>

#include <cmath>
#include <random>

#include "saddlescope/experiment.hpp"
#include "saddlescope/run.hpp"

using namespace saddlescope;

namespace {

struct Case {
  const char* name;
  ObjectiveData obj;
  double spread;  // random points drawn uniformly in [-spread, spread]
};

ObjectiveData make(ObjectiveKind k, std::int64_t n) {
  ObjectiveData d;
  d.kind = k;
  d.dim = n;
  if (k == ObjectiveKind::quadratic) {
    for (std::int64_t i = 0; i < n; ++i)
      d.lambda.push_back(i % 3 == 0 ? -1.5 + 0.1 * i : 0.7 + 0.2 * i);
  }
  return d;
}

ObjectiveData rotated(std::int64_t n) {
  Experiment e = parse_experiment(
      "seed = 3\n[objective]\nkind = \"quadratic\"\ndim = " + std::to_string(n) +
          "\nnegative = 2\ncurvature = 1.5\nrotate = true\n[[optimizer]]\nkind = \"gd\"\n",
      "test");
  return build_objective(e);
}

ObjectiveData goe(std::int64_t n) {
  Experiment e = parse_experiment(
      "seed = 4\n[objective]\nkind = \"goe-quadratic\"\ndim = " + std::to_string(n) +
          "\nsigma = 1.5\n[[optimizer]]\nkind = \"gd\"\n",
      "test");
  return build_objective(e);
}

ObjectiveData field(std::int64_t n) {
  Experiment e = parse_experiment(
      "seed = 6\n[objective]\nkind = \"gaussian-field\"\ndim = " + std::to_string(n) +
          "\nfeatures = 37\nlength_scale = 0.8\nmu = 0.3\n"
          "[[optimizer]]\nkind = \"gd\"\n",
      "test");
  return build_objective(e);
}

ObjectiveData mlp() {
  Experiment e = parse_experiment(
      "seed = 8\n[objective]\nkind = \"mlp\"\ninputs = 3\nhidden = 4\noutputs = 2\nsamples = 5\n"
      "teacher_hidden = 2\nnoise = 0.1\n[[optimizer]]\nkind = \"gd\"\n",
      "test");
  return build_objective(e);
}

ObjectiveData deep_linear() {
  Experiment e = parse_experiment(
      "seed = 8\n[objective]\nkind = \"deep-linear\"\nwidths = [3, 4, 2, 3]\nsamples = 6\n"
      "[[optimizer]]\nkind = \"gd\"\n",
      "test");
  return build_objective(e);
}

// A network of every activation on teacher-student data (both losses, bias
// on and off, weight decay).
ObjectiveData network(const char* activation, const char* loss, const char* layers,
                      bool bias = true, double decay = 0.0) {
  Experiment e = parse_experiment(
      fmt::format("seed = 9\n[objective]\nkind = \"network\"\nlayers = {}\nactivation = "
                  "\"{}\"\nloss = \"{}\"\nbias = {}\nweight_decay = {}\nsamples = 6\n"
                  "teacher_hidden = 3\nnoise = 0.2\n[[optimizer]]\nkind = \"gd\"\n",
                  layers, activation, loss, bias ? "true" : "false", decay),
      "test");
  return build_objective(e);
}

std::vector<Case> cases() {
  const std::int64_t n = 7;
  return {{"quadratic", make(ObjectiveKind::quadratic, n), 2.0},
          {"quadratic_rotated", rotated(n), 2.0},
          {"double_well", make(ObjectiveKind::double_well, n), 2.0},
          {"styblinski_tang", make(ObjectiveKind::styblinski_tang, n), 4.0},
          {"rastrigin", make(ObjectiveKind::rastrigin, n), 3.0},
          {"rosenbrock", make(ObjectiveKind::rosenbrock, n), 1.5},
          {"goe_quadratic", goe(n), 2.0},
          {"gaussian_field", field(n), 2.0},
          {"mlp", mlp(), 1.0},
          {"deep_linear", deep_linear(), 1.0},
          {"network_tanh_ce", network("tanh", "cross-entropy", "[3, 4, 3]"), 1.0},
          {"network_relu_mse", network("relu", "mse", "[3, 5, 2]", false), 1.0},
          {"network_softplus_mse", network("softplus", "mse", "[2, 3, 3, 2]", true, 0.05), 1.0},
          {"network_gelu_ce", network("gelu", "cross-entropy", "[3, 4, 4, 3]", true, 0.01), 1.0},
          {"network_sigmoid_ce", network("sigmoid", "cross-entropy", "[3, 4, 3]"), 1.5},
          {"network_linear_mse", network("linear", "mse", "[3, 2, 2]"), 1.0}};
}

// A network's value by straight loops over the samples, written apart
// from the GEMM pipeline and kernels/network.hpp.
double network_value(const ObjectiveData& d, const double* x) {
  const NetworkShape& s = d.net;
  const std::vector<std::int64_t>& w = s.widths;
  const std::int64_t n = s.samples, o = w.back();
  const auto act = [&](double a) {
    switch (s.activation) {
      case Activation::tanh:
        return std::tanh(a);
      case Activation::relu:
        return std::max(a, 0.0);
      case Activation::softplus:
        return std::log(1 + std::exp(a));
      case Activation::gelu:
        return 0.5 * a * (1 + std::erf(a / std::sqrt(2.0)));
      case Activation::sigmoid:
        return 1 / (1 + std::exp(-a));
      case Activation::linear:
        break;
    }
    return a;
  };
  double f = 0;
  for (std::int64_t q = 0; q < n; ++q) {
    std::vector<double> h(d.net_x.begin() + q * w[0], d.net_x.begin() + (q + 1) * w[0]);
    std::int64_t off = 0;
    for (std::size_t l = 1; l < w.size(); ++l) {
      std::vector<double> z(static_cast<std::size_t>(w[l]), 0.0);
      for (std::int64_t i = 0; i < w[l]; ++i)
        for (std::int64_t k = 0; k < w[l - 1]; ++k) z[i] += x[off + i * w[l - 1] + k] * h[k];
      off += w[l] * w[l - 1];
      if (s.bias) {
        for (std::int64_t i = 0; i < w[l]; ++i) z[i] += x[off + i];
        off += w[l];
      }
      if (l + 1 < w.size())
        for (double& zi : z) zi = act(zi);
      h = z;
    }
    if (s.loss == NetworkLoss::mse) {
      for (std::int64_t j = 0; j < o; ++j)
        f += std::pow(h[j] - d.net_y[q * o + j], 2) / (2.0 * static_cast<double>(n));
    } else {
      double total = 0;
      for (double z : h) total += std::exp(z);
      f += (std::log(total) - h[d.net_labels[q]]) / static_cast<double>(n);
    }
  }
  for (std::int64_t i = 0; i < d.dim; ++i) f += 0.5 * s.weight_decay * x[i] * x[i];
  return f;
}

// Direct value, written independently of kernels/objectives.hpp.
double direct_value(const ObjectiveData& d, const double* x) {
  const std::int64_t n = d.dim;
  double f = 0;
  switch (d.kind) {
    case ObjectiveKind::quadratic:
      if (d.coupled()) {
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j < n; ++j) f += 0.5 * x[i] * d.matrix[i * n + j] * x[j];
      } else {
        for (std::int64_t i = 0; i < n; ++i) f += 0.5 * d.lambda[i] * x[i] * x[i];
      }
      return f;
    case ObjectiveKind::double_well:
      for (std::int64_t i = 0; i < n; ++i) f += std::pow(x[i], 4) - 4 * x[i] * x[i] + x[i];
      return f;
    case ObjectiveKind::styblinski_tang:
      for (std::int64_t i = 0; i < n; ++i)
        f += 0.5 * (std::pow(x[i], 4) - 16 * x[i] * x[i] + 5 * x[i]);
      return f;
    case ObjectiveKind::rastrigin:
      f = d.rastrigin_a * static_cast<double>(n);
      for (std::int64_t i = 0; i < n; ++i)
        f += x[i] * x[i] - d.rastrigin_a * std::cos(2 * M_PI * x[i]);
      return f;
    case ObjectiveKind::gaussian_field: {
      const std::int64_t m = d.features();
      for (std::int64_t i = 0; i < n; ++i) f += 0.5 * d.field_mu * x[i] * x[i];
      for (std::int64_t j = 0; j < m; ++j) {
        double z = d.field_b[j];
        for (std::int64_t i = 0; i < n; ++i) z += d.field_w[j * n + i] * x[i];
        f += std::sqrt(2.0 / static_cast<double>(m)) * d.field_a[j] * std::cos(z);
      }
      return f;
    }
    case ObjectiveKind::network:
      return network_value(d, x);
    case ObjectiveKind::rosenbrock:
      for (std::int64_t i = 0; i + 1 < n; ++i)
        f += 100 * std::pow(x[i + 1] - x[i] * x[i], 2) + std::pow(1 - x[i], 2);
      return f;
  }
  return f;
}

class ObjectiveDerivatives : public ::testing::TestWithParam<int> {};

TEST_P(ObjectiveDerivatives, MatchFiniteDifferences) {
  const Case c = cases()[GetParam()];
  SCOPED_TRACE(c.name);
  auto cpu = make_cpu_backend();
  const std::int64_t n = c.obj.dim, batch = 4;
  std::mt19937_64 gen(42 + GetParam());
  std::uniform_real_distribution<double> u(-c.spread, c.spread);
  std::vector<double> x(batch * n), v(batch * n);
  for (auto& xi : x) xi = u(gen);
  for (auto& vi : v) vi = u(gen) / c.spread;

  const ObjectiveEval ev = cpu->value_grad(c.obj, Precision::f64, batch, x);
  const std::vector<double> hv = cpu->hvp(c.obj, Precision::f64, batch, x, v);
  const std::vector<double> h = cpu->hessian(c.obj, Precision::f64, batch, x);

  const double step = 1e-5;
  for (std::int64_t b = 0; b < batch; ++b) {
    const double* xb = x.data() + b * n;
    EXPECT_NEAR(ev.f[b], direct_value(c.obj, xb), 1e-12 * (1 + std::fabs(ev.f[b])));
    double scale_g = 1, scale_h = 1;
    for (std::int64_t i = 0; i < n; ++i) scale_g = std::max(scale_g, std::fabs(ev.g[b * n + i]));
    for (std::int64_t k = 0; k < n * n; ++k)
      scale_h = std::max(scale_h, std::fabs(h[b * n * n + k]));
    for (std::int64_t i = 0; i < n; ++i) {
      // gradient: central difference of the direct value
      std::vector<double> xp(xb, xb + n), xm(xb, xb + n);
      xp[i] += step;
      xm[i] -= step;
      const double fd =
          (direct_value(c.obj, xp.data()) - direct_value(c.obj, xm.data())) / (2 * step);
      EXPECT_NEAR(ev.g[b * n + i], fd, 1e-6 * scale_g) << "gradient, coordinate " << i;
      // Hessian column i: central difference of the gradient
      const ObjectiveEval gp = cpu->value_grad(c.obj, Precision::f64, 1, xp);
      const ObjectiveEval gm = cpu->value_grad(c.obj, Precision::f64, 1, xm);
      for (std::int64_t j = 0; j < n; ++j) {
        const double fdh = (gp.g[j] - gm.g[j]) / (2 * step);
        EXPECT_NEAR(h[b * n * n + j * n + i], fdh, 1e-6 * scale_h) << "H[" << j << "," << i << "]";
      }
    }
    // Hessian-vector product: central difference of the gradient along v
    std::vector<double> xp(xb, xb + n), xm(xb, xb + n);
    for (std::int64_t i = 0; i < n; ++i) {
      xp[i] += step * v[b * n + i];
      xm[i] -= step * v[b * n + i];
    }
    const ObjectiveEval gp = cpu->value_grad(c.obj, Precision::f64, 1, xp);
    const ObjectiveEval gm = cpu->value_grad(c.obj, Precision::f64, 1, xm);
    for (std::int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(hv[b * n + i], (gp.g[i] - gm.g[i]) / (2 * step), 1e-6 * scale_h) << "Hv " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllObjectives, ObjectiveDerivatives, ::testing::Range(0, 10),
                         [](const auto& info) { return std::string(cases()[info.param].name); });

TEST(Objectives, Float32AgreesWithFloat64) {
  auto cpu = make_cpu_backend();
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::int64_t n = c.obj.dim;
    std::vector<double> x(n);
    for (std::int64_t i = 0; i < n; ++i) x[i] = c.spread * std::sin(1.0 + i);
    // Round the point to float first so both precisions see the same x.
    for (auto& xi : x) xi = static_cast<float>(xi);
    const auto e64 = cpu->value_grad(c.obj, Precision::f64, 1, x);
    const auto e32 = cpu->value_grad(c.obj, Precision::f32, 1, x);
    double gmax = 1;
    for (auto g : e64.g) gmax = std::max(gmax, std::fabs(g));
    EXPECT_NEAR(e32.f[0], e64.f[0], 1e-5 * (1 + std::fabs(e64.f[0])) * n);
    for (std::int64_t i = 0; i < n; ++i) EXPECT_NEAR(e32.g[i], e64.g[i], 1e-5 * gmax);
  }
}

TEST(Objectives, RotatedQuadraticHasTheRequestedSpectrum) {
  // The spectrum of A = Q diag(lambda) Q^T must be lambda (LAPACK dsyev as the reference),
  // and the rotation must not be the identity.
  const std::int64_t n = 12;
  const ObjectiveData d = rotated(n);
  ASSERT_TRUE(d.coupled());
  std::vector<double> a = d.matrix, w(n);
  ASSERT_EQ(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', static_cast<int>(n), a.data(),
                          static_cast<int>(n), w.data()),
            0);
  std::vector<double> expect = d.lambda;
  std::sort(expect.begin(), expect.end());
  for (std::int64_t i = 0; i < n; ++i) EXPECT_NEAR(w[i], expect[i], 1e-12);
  double off = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      if (i != j) off += std::fabs(d.matrix[i * n + j]);
  EXPECT_GT(off, 0.5);
}

TEST(Objectives, GaussianFieldHasTheSquaredExponentialCovariance) {
  // Over independent draws (seeds) of the field with mu = 0, Cov[f(x), f(y)]
  // = E_w cos(w . (x - y)) = exp(-|x - y|^2 / (2 l^2)) for any number of
  // features M; f(x) has variance 1. 4000 draws: standard error ~ 0.016.
  auto cpu = make_cpu_backend();
  const double l = 0.7;
  const std::int64_t n = 3, draws = 4000;
  const std::vector<double> dists = {0.0, 0.35, 0.7, 1.4};
  std::vector<double> cov(dists.size(), 0.0);
  for (std::int64_t s = 0; s < draws; ++s) {
    const Experiment e = parse_experiment(
        "seed = " + std::to_string(1000 + s) +
            "\n[objective]\nkind = \"gaussian-field\"\ndim = 3\nfeatures = 64\nlength_scale = 0.7\n"
            "mu = 0\n[[optimizer]]\nkind = \"gd\"\n",
        "t");
    const ObjectiveData d = build_objective(e);
    std::vector<double> x;
    for (double r : dists) x.insert(x.end(), {0.3 + r, -0.2, 0.1});
    x.insert(x.end(), {0.3, -0.2, 0.1});
    const auto ev =
        cpu->value_grad(d, Precision::f64, static_cast<std::int64_t>(dists.size()) + 1, x);
    for (std::size_t k = 0; k < dists.size(); ++k) cov[k] += ev.f[k] * ev.f.back();
  }
  for (std::size_t k = 0; k < dists.size(); ++k) {
    const double expect = std::exp(-dists[k] * dists[k] / (2 * l * l));
    EXPECT_NEAR(cov[k] / draws, expect, 0.06) << "distance " << dists[k];
  }
  (void)n;
}

TEST(Objectives, DoubleWellCriticalPoints) {
  // Published values: local minimum 1.346997, global minimum -1.472998, maximum 0.126000.
  auto cpu = make_cpu_backend();
  const ObjectiveData d = make(ObjectiveKind::double_well, 1);
  for (double xc : {1.346997, -1.472998, 0.126000}) {
    const auto ev = cpu->value_grad(d, Precision::f64, 1, {xc});
    EXPECT_NEAR(ev.g[0], 0.0, 2e-5) << xc;
  }
}

}  // namespace
