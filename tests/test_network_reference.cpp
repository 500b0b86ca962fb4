// The network objective (kernels/network.hpp, kernels/pipelines/networks.hpp)
// against PyTorch: loss, gradient, Hessian-vector product and dense Hessian
// by torch.autograd with double backward in float64, for every activation,
// both losses, depths 1 to 3, bias off and weight decay
// (tests/data/network_reference.json, from tools/network_reference.py, which
// says how to regenerate it). Every backend, f64, within 1e-10 relative.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend_inputs.hpp"
#include "backends.hpp"

namespace {

using namespace saddlescope;
using namespace saddlescope::testing;

const nlohmann::json& reference() {
  static const nlohmann::json j = [] {
    std::ifstream in(SADDLESCOPE_TEST_DATA "/network_reference.json");
    return in ? nlohmann::json::parse(in) : nlohmann::json();
  }();
  return j;
}

Activation activation(const std::string& s) {
  const char* names[] = {"tanh", "relu", "softplus", "gelu", "sigmoid", "linear"};
  for (int k = 0; k < 6; ++k)
    if (s == names[k]) return static_cast<Activation>(k);
  throw std::runtime_error("unknown activation " + s);
}

// The case's objective: its shape, data and labels.
ObjectiveData objective(const nlohmann::json& c) {
  NetworkShape s;
  s.widths = c["layers"].get<std::vector<std::int64_t>>();
  s.samples = c["samples"];
  s.activation = activation(c["activation"]);
  s.bias = c["bias"];
  s.loss = c["loss"] == "mse" ? NetworkLoss::mse : NetworkLoss::cross_entropy;
  s.weight_decay = c["weight_decay"];
  const auto x = c["x"].get<std::vector<double>>();
  if (s.loss == NetworkLoss::mse) return network_objective(s, x, c["y"].get<std::vector<double>>());
  std::vector<std::int32_t> labels;
  for (const auto& v : c["y"]) labels.push_back(v.get<std::int32_t>());
  return network_objective(s, x, {}, labels);
}

// max_i |a_i - b_i| <= tol * max(1, max_i |b_i|).
void expect_close(const std::vector<double>& a, const std::vector<double>& b, double tol,
                  const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 1, err = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    scale = std::max(scale, std::fabs(b[i]));
    err = std::max(err, std::fabs(a[i] - b[i]));
  }
  EXPECT_LE(err, tol * scale) << what;
}

std::string case_label(const nlohmann::json& c) {
  std::string s = c["activation"].get<std::string>() + "_" + (c["loss"] == "mse" ? "mse" : "ce") +
                  "_depth" + std::to_string(c["layers"].size() - 1);
  if (!c["bias"].get<bool>()) s += "_nobias";
  if (c["weight_decay"].get<double>() > 0) s += "_decay";
  return s;
}

class NetworkReference : public OnBackend<> {};

TEST_P(NetworkReference, MatchesTorchAutograd) {
  const nlohmann::json& j = reference();
  ASSERT_TRUE(j.contains("cases")) << "tests/data/network_reference.json";
  ASSERT_EQ(j["cases"].size(), 40u);
  for (const nlohmann::json& c : j["cases"]) {
    SCOPED_TRACE(case_label(c));
    const ObjectiveData obj = objective(c);
    const auto theta = c["theta"].get<std::vector<double>>();
    const auto v = c["v"].get<std::vector<double>>();
    ASSERT_EQ(obj.dim, static_cast<std::int64_t>(theta.size()));
    const auto prepared = backend().prepare(obj, Precision::f64);
    const ObjectiveEval ev = prepared->value_grad(1, theta);
    expect_close(ev.f, {c["value"].get<double>()}, 1e-10, "value");
    expect_close(ev.g, c["grad"].get<std::vector<double>>(), 1e-10, "gradient");
    expect_close(prepared->hvp(1, theta, v), c["hvp"].get<std::vector<double>>(), 1e-10,
                 "Hessian-vector product");
    expect_close(prepared->hessian(1, theta), c["hessian"].get<std::vector<double>>(), 1e-10,
                 "Hessian");
  }
}

SADDLESCOPE_ON_EVERY_BACKEND(NetworkReference, ());

}  // namespace
